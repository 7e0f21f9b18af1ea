"""Threat categories (closed vocabulary) and targets (in the text's own words).

A category needs weight: one cue in a sentence that gives advice or reports the
advisory counts double, a cue elsewhere once, and a category needs two points, so a
passing "the war in Ukraine" in a story about a terror warning does not make it an
armed-conflict advisory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

from monitor.models import Category

# Cue words and phrases per category, lower case; a trailing "*" matches any ending
# ("terror*": terrorist, terrorism). Matched on words, not with one regex per cue.
_CUES: dict[Category, str] = {
    Category.TERRORISM: """terror* extremis* jihad* suicide_bomb* bombing bombings bomber bombers
        car_bomb* explosive_device* ied ieds isis isil islamic_state al-qaeda al_qaeda al-qaida
        al-shabaab al_shabaab al-shabab boko_haram daesh militant_group* plans_to_attack
        plans_to_target plan_to_attack plan_to_target mass-casualty mass_casualty
        vehicle-ramming vehicle_ramming stabbing_attack* hostile_reconnaissance
        target_large_gatherings targeting_tourists targeting_foreigners targeting_westerners""",
    Category.CIVIL_UNREST: """protest* demonstration demonstrations demonstrator demonstrators
        riot* unrest civil_disorder curfew curfews tear_gas rally rallies marches
        general_strike disturbances looting violent_clashes street_violence
        civil_disturbance*""",
    Category.ARMED_CONFLICT: """war wars war-torn wartime armed_conflict armed_group*
        military_operation* military_action military_activity military_situation
        military_invasion military_escalation worsening_military missile missiles
        drone_attack* drone_strike* drones airstrike* air_strike* shelling artillery invasion
        hostilities rocket rockets combat fighting insurgen* landmine* unexploded_ordnance
        ceasefire occupied_territor*""",
    Category.CRIME: """crime crimes criminal* robber* theft thieves mugging* carjack*
        pickpocket* homicide homicides murder murders gang gangs gang-related sexual_assault*
        scam scams fraud burglar* armed_robbery express_kidnapping cartel* drug_trafficking
        petty_crime""",
    Category.KIDNAPPING: "kidnap* abduct* hostage hostages hostage-taking ransom",
    Category.HEALTH: """disease diseases outbreak outbreaks virus viruses viral zika ebola cholera
        dengue malaria measles covid covid-19 coronavirus pandemic epidemic mpox monkeypox
        yellow_fever infection infections infected mosquito* vaccinat* public_health
        health_emergenc* health_risk health_risks polio plague avian_influenza bird_flu
        marburg typhoid""",
    Category.NATURAL_DISASTER: """earthquake earthquakes tsunami tsunamis cyclone cyclones
        hurricane hurricanes typhoon typhoons tropical_storm* flood floods flooding wildfire
        wildfires bushfire bushfires forest_fire* volcan* eruption eruptions drought droughts
        landslide landslides mudslide* avalanche* severe_weather tornado* heatwave heatwaves
        extreme_heat storm_surge blizzard* gale gales monsoon""",
    Category.POLITICAL: """election elections electoral political_tension political_unrest
        political_situation political_crisis political_instability political_atmosphere
        political_violence political_turmoil coup coup_d'etat referendum martial_law
        state_of_emergency political_rallies opposition_party opposition_parties""",
    Category.TRANSPORT: """flights_cancelled flights_canceled flight_cancellations
        flights_suspended flights_disrupted airport_closure airport_closures airport_closed
        airspace_closure airspace_closed border_crossing border_crossings road_closure
        road_closures roads_closed roads_blocked traffic_disruption transport_strike*
        port_closure* disrupted_at_times""",
}
_WORD = re.compile(r"[a-z0-9][a-z0-9'\-]*")
_ORDER = tuple(Category)


def _index() -> tuple[
    dict[str, tuple[tuple[str, Category], ...]], tuple[tuple[str, Category], ...]
]:
    """Each cue as a needle in the sentence's words joined by single spaces and padded
    with one: " war " (a word), " armed group" + any ending (a starred last word),
    " terror" (a starred single word: any word that starts so). Cues opened by an exact
    word are indexed by that word; starred single words are listed apart."""
    by_first: dict[str, list[tuple[str, Category]]] = {}
    stems: list[tuple[str, Category]] = []
    for category, cues in _CUES.items():
        for cue in cues.split():
            words = cue.split("_")
            needle = " " + " ".join(words).rstrip("*") + ("" if cue.endswith("*") else " ")
            if len(words) == 1 and cue.endswith("*"):
                stems.append((needle, category))
            else:
                by_first.setdefault(words[0], []).append((needle, category))
    return {word: tuple(cues) for word, cues in by_first.items()}, tuple(stems)


_BY_FIRST, _STEMS = _index()
_FIRST_WORDS = frozenset(_BY_FIRST)
_ANY_STEM = re.compile("|".join(re.escape(needle) for needle, _ in _STEMS))


@lru_cache(maxsize=8192)
def find_categories(sentence: str) -> frozenset[Category]:
    """Categories whose cues occur in the sentence's words: one set intersection finds
    the words that open a cue, substring tests on the joined words do the rest."""
    words = _WORD.findall(sentence.lower())
    joined = f" {' '.join(words)} "
    found: set[Category] = set()
    for first in _FIRST_WORDS.intersection(words):
        for needle, category in _BY_FIRST[first]:
            if needle in joined:
                found.add(category)
    if _ANY_STEM.search(joined):
        for needle, category in _STEMS:
            if needle in joined:
                found.add(category)
    return frozenset(found)


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
        for category in find_categories(sentence):
            scores[category] = scores.get(category, 0) + (2 if relevant else 1)
            if relevant and category not in evidence:
                evidence[category] = sentence
            evidence.setdefault(category, sentence)
    chosen = [cat for cat in _ORDER if scores.get(cat, 0) >= 2]
    chosen.sort(key=lambda cat: (-scores[cat], _ORDER.index(cat)))
    return chosen, {cat: evidence[cat] for cat in chosen}


_MODIFIERS = frozenset(
    """large larger public crowded mass political religious tourist popular major sporting
    cultural government western foreign busy big night-time outdoor local jewish christian
    muslim israeli american diplomatic military holiday""".split()
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
_TARGET = re.compile(rf"\b(?:{_HEADS})\b")
# The first word of every head: a sentence without one of them names no target.
_HEAD_WORDS = frozenset(
    """protest gathering gatherings crowd crowds concert concerts demonstration demonstrations
    protests rally rallies marches places synagogue synagogues churches church mosque mosques
    temple temples hotel hotels market markets shopping mall malls restaurant restaurants
    nightclub nightclubs airport airports train railway transportation transport public
    tourist embassies government school schools universities sporting stadium stadiums
    festival festivals celebration celebrations parade parades religious institutions
    military beaches resort resorts entertainment venues events border polling""".split()
)
_TARGET_CONTEXT = re.compile(
    r"\b(?:avoid\w*|target\w*|steer clear|stay away|away from|near|attack\w*|threat\w*|"
    r"plann?\w*|risks?|caution|including|include|against|such as|crowded|vigilant|in or near)\b"
)
_TOO_GENERIC = frozenset({"events", "venues", "institutions", "local events"})
_WORD_BEFORE = re.compile(r"([\w-]+)\s+$")


def find_targets(sentence: str) -> list[str]:
    """What the sentence says is threatened or to be avoided, lower case, with up to two
    modifiers ("large public gatherings")."""
    low = sentence.lower()
    heads = _HEAD_WORDS.intersection(_WORD.findall(low))
    if not heads or not _TARGET_CONTEXT.search(low):
        return []
    found: list[str] = []
    for match in _targets_in(low, heads):
        start = match.start()
        for _ in range(2):
            before = _WORD_BEFORE.search(low, max(0, start - 30), start)
            if before is None or before.group(1) not in _MODIFIERS:
                break
            start = before.start(1)
        value = " ".join(low[start : match.end()].split())
        if value not in _TOO_GENERIC and value not in found:
            found.append(value)
    return found


def _targets_in(low: str, heads: frozenset[str]) -> Iterator[re.Match[str]]:
    """``_TARGET.finditer(low)``. A match opens with a head's first word at a word
    boundary; in text without hyphens or apostrophes (which join words into one token)
    that word is a whole token, one of ``heads`` (the head words among the tokens), so
    the pattern is tried only where those words occur."""
    if "-" in low or "'" in low:
        yield from _TARGET.finditer(low)
        return
    starts: set[int] = set()
    for word in heads:
        at = low.find(word)
        while at >= 0:
            starts.add(at)
            at = low.find(word, at + 1)
    end = 0
    for at in sorted(starts):
        if at >= end and (match := _TARGET.match(low, at)) is not None:
            yield match
            end = match.end()
