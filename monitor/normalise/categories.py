"""Threat categories (closed vocabulary) and targets (in the text's own words).

A category needs weight: one cue in a sentence that gives advice or reports the
advisory counts double, a cue elsewhere once, and a category needs two points, so a
passing "the war in Ukraine" in a story about a terror warning does not make it an
armed-conflict advisory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from monitor.models import Category

_CUES: dict[Category, str] = {
    Category.TERRORISM: (
        r"terror\w*|extremis\w*|jihad\w*|suicide bomb\w*|bombings?|bomber?s?|car bombs?|"
        r"explosive devices?|\bIEDs?\b|\bISIS\b|\bISIL\b|Islamic State|al[- ]Qa[e']?ida|"
        r"al[- ]Shabaa?b|Boko Haram|Daesh|militant groups?|(?:imminent\s+)?plans? to (?:attack|target)|"
        r"target(?:ed|ing)? (?:large )?(?:gatherings|crowds|concerts|tourists|westerners|foreigners)|"
        r"mass[- ]casualty|vehicle[- ]ramming|stabbing attacks?|hostile reconnaissance"
    ),
    Category.CIVIL_UNREST: (
        r"protest\w*|demonstrat(?:ion|ions|ors?)|riot\w*|unrest|civil disorder|curfews?|"
        r"tear gas|rall(?:y|ies)|marches|general strike|disturbances|looting|"
        r"violent clashes|street violence|civil disturbances?"
    ),
    Category.ARMED_CONFLICT: (
        r"\bwars?\b|war-torn|wartime|armed conflict|armed groups?|military (?:operations?|action|"
        r"activity|situation|invasion|escalation)|worsening military|missiles?|drone (?:attacks?|strikes?)|"
        r"drones|air ?strikes?|shelling|artillery|invasion|hostilities|rockets?|combat|"
        r"\bfighting\b|insurgen\w*|landmines?|unexploded ordnance|ceasefire|occupied territor\w*"
    ),
    Category.CRIME: (
        r"\bcrimes?\b|criminal\w*|robber\w*|\btheft\b|thieves|mugging\w*|carjack\w*|"
        r"pickpocket\w*|homicides?|murders?|gang\w*|sexual assault\w*|scams?|fraud|burglar\w*|"
        r"armed robbery|express kidnapping|cartel\w*|drug trafficking|petty crime"
    ),
    Category.KIDNAPPING: r"kidnap\w*|abduct\w*|hostages?|hostage-taking|ransom",
    Category.HEALTH: (
        r"diseases?|outbreaks?|\bvirus\w*|viral|Zika|Ebola|cholera|dengue|malaria|measles|"
        r"COVID(?:-19)?|coronavirus|pandemic|epidemic|mpox|monkeypox|yellow fever|"
        r"infections?|infected|mosquito\w*|vaccinat\w*|public health|health emergenc\w*|"
        r"health risks?|polio|plague|avian influenza|bird flu|Marburg|typhoid"
    ),
    Category.NATURAL_DISASTER: (
        r"earthquakes?|tsunamis?|cyclones?|hurricanes?|typhoons?|tropical storms?|floods?|"
        r"flooding|wildfires?|bushfires?|forest fires?|volcan\w*|eruptions?|droughts?|"
        r"landslides?|mudslides?|avalanches?|severe weather|tornado\w*|heatwaves?|extreme heat|"
        r"storm surge|blizzards?|gales?|monsoon"
    ),
    Category.POLITICAL: (
        r"elections?|electoral|political (?:tension|unrest|situation|crisis|instability|"
        r"atmosphere|violence|turmoil)|\bcoup\b|coup d'etat|referendum|martial law|"
        r"state of emergency|political rallies|opposition part(?:y|ies)"
    ),
    Category.TRANSPORT: (
        r"flights? (?:cancell\w*|cancel\w*|suspend\w*|disrupt\w*|are operational)|"
        r"airport (?:closures?|closed)|airspace (?:closures?|closed)|"
        r"border crossings?|road closures?|roads? (?:closed|blocked)|traffic disruption|"
        r"public transport\w* (?:strike|disruption)|transport strikes?|port closures?|"
        r"ferry services?|rail services?|disrupted at times"
    ),
}
_COMPILED = {cat: re.compile(rf"(?:{pattern})", re.I) for cat, pattern in _CUES.items()}
_ORDER = tuple(Category)

# Event types of hazard feeds (GDACS, CAP) mapped onto the vocabulary.
HAZARD_CATEGORIES: dict[str, Category] = {
    "tc": Category.NATURAL_DISASTER, "eq": Category.NATURAL_DISASTER,
    "fl": Category.NATURAL_DISASTER, "vo": Category.NATURAL_DISASTER,
    "dr": Category.NATURAL_DISASTER, "wf": Category.NATURAL_DISASTER,
    "ts": Category.NATURAL_DISASTER, "geo": Category.NATURAL_DISASTER,
    "met": Category.NATURAL_DISASTER, "fire": Category.NATURAL_DISASTER,
    "env": Category.NATURAL_DISASTER, "health": Category.HEALTH,
    "security": Category.TERRORISM, "transport": Category.TRANSPORT,
    "cbrne": Category.OTHER, "infra": Category.OTHER, "rescue": Category.OTHER,
    "safety": Category.OTHER, "other": Category.OTHER,
}  # fmt: skip


def score_categories(
    sentences: Iterable[tuple[str, bool]],
) -> tuple[list[Category], dict[Category, str]]:
    """Categories with enough weight, in vocabulary order, and the sentence for each.

    ``sentences`` yields (sentence, relevant) where relevant marks sentences that carry
    the advice or report the advisory.
    """
    scores: dict[Category, int] = {}
    evidence: dict[Category, str] = {}
    for sentence, relevant in sentences:
        for category, pattern in _COMPILED.items():
            if pattern.search(sentence):
                scores[category] = scores.get(category, 0) + (2 if relevant else 1)
                if relevant and category not in evidence:
                    evidence[category] = sentence
                evidence.setdefault(category, sentence)
    chosen = [cat for cat in _ORDER if scores.get(cat, 0) >= 2]
    chosen.sort(key=lambda cat: (-scores[cat], _ORDER.index(cat)))
    return chosen, {cat: evidence[cat] for cat in chosen}


_MODIFIER = (
    r"(?:(?:large|larger|public|crowded|mass|political|religious|tourist|popular|major|"
    r"sporting|cultural|government|western|foreign|busy|big|night-time|outdoor|local|"
    r"jewish|christian|muslim|israeli|american|diplomatic|military|holiday)\s+){0,2}"
)
_HEADS = (
    r"protest (?:zones|areas|sites|locations|routes)|gatherings?|crowds?|concerts?|"
    r"demonstrations?|protests?|rall(?:y|ies)|marches|places of (?:religious )?worship|synagogues?|"
    r"churches|church|mosques?|temples?|hotels?|markets?|shopping (?:malls?|cent(?:re|er)s?|"
    r"areas)|malls?|restaurants?|nightclubs?|airports?|train stations?|railway stations?|"
    r"(?:transportation|transport) hubs?|public transport(?:ation)?|tourist (?:sites|"
    r"locations|attractions|areas|destinations)|embassies|government (?:buildings|facilities|"
    r"offices)|schools?|universities|sporting events?|stadiums?|festivals?|celebrations?|"
    r"parades?|religious (?:sites|institutions|events|holidays|celebrations)|"
    r"(?:religious )?institutions|military (?:sites|bases|installations)|beaches|resorts?|"
    r"entertainment venues|venues|events|border areas?|polling stations"
)
_TARGET = re.compile(rf"\b({_MODIFIER}(?:{_HEADS}))\b", re.I)
_TARGET_CONTEXT = re.compile(
    r"\b(?:avoid\w*|target\w*|steer clear|stay away|away from|near|attack\w*|threat\w*|"
    r"plann?\w*|risks?|caution|including|include|against|such as|crowded|vigilant|in or near)\b",
    re.I,
)
_TOO_GENERIC = frozenset({"events", "venues", "institutions", "local events"})


def find_targets(sentence: str) -> list[str]:
    """What the sentence says is threatened or to be avoided, lower case."""
    if not _TARGET_CONTEXT.search(sentence):
        return []
    found: list[str] = []
    for match in _TARGET.finditer(sentence):
        value = " ".join(match.group(1).lower().split())
        if value not in _TOO_GENERIC and value not in found:
            found.append(value)
    return found
