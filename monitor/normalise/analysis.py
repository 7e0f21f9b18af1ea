"""Sentence-level reading of an item's text: who advises what, about where, and when.

The text is read sentence by sentence. A sentence is *advisory* when it gives advice,
states a level, or reports an advisory act ("issued a warning", "urged citizens").
Only advisory sentences (and the headline, and every sentence of a first-party alert)
can make a country a subject, an area an area, or a date the start or end of the
advice; everything else in a news story is context, so the countries it names are
merely mentioned.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.models import Area, Category
from monitor.normalise import timeframe
from monitor.normalise.advice import extract_advice
from monitor.normalise.categories import find_categories as find_categories_cached
from monitor.normalise.categories import find_targets, score_categories
from monitor.normalise.issuers import Ref, find_refs, names_issuer
from monitor.normalise.levels import LevelMatch, find_levels
from monitor.normalise.places import Gazetteer, Mention, Place, PlaceKind, gazetteer
from monitor.normalise.text import (
    finditer_at_stems,
    iter_sentences,
    search_at_stems,
    split_sentences,
)

_SECTION = re.compile(
    r"^(Location|Locations|Event|Events|Actions?\s+to\s+Take|Assistance|Contact|Contacts|"
    r"Resources|Background|Summary|Recommended\s+Actions?)\s*:\s*",
    re.I,
)
_IGNORED_SECTIONS = frozenset({"assistance", "contact", "contacts", "resources"})
_CUE = re.compile(
    r"\b(?:advis(?:e|es|ed|ing|ory|ories)|warn(?:s|ed|ing|ings)?|urg(?:e|es|ed|ing)|"
    r"caution(?:s|ed|ing)?|recommend\w*|alerts?|travel advice|travel notice|"
    r"security (?:message|notice)|do not travel|reconsider|avoid\w*|told (?:its )?citizens|"
    r"asked (?:its |their )?citizens|called on|evacuat\w*)\b",
    re.I,
)
# The stems the matches of these case-insensitive word patterns open with, so that on
# ASCII text they are tried only where a stem is (text.search_at_stems).
_CUE_STEMS = ("advis", "warn", "urg", "caution", "recommend", "alert", "travel ", "security ",
              "do not travel", "reconsider", "avoid", "told ", "asked ", "called on",
              "evacuat")  # fmt: skip
_ACT_WORD = re.compile(
    r"\b(?:issu\w*|warn\w*|advis\w*|urg\w*|said|says|told|ask\w*|caution\w*|recommend\w*|"
    r"relaunch\w*|releas\w*|publish\w*|post(?:ed|s)|join\w*|called|updat\w*|raised|"
    r"announc\w*|statement|notice|alert|advisory|warning|emphasi[sz]ed|stated|cited|"
    r"retained|declared|extended)\b",
    re.I,
)
_ACT_STEMS = ("issu", "warn", "advis", "urg", "said", "says", "told", "ask", "caution",
              "recommend", "relaunch", "releas", "publish", "post", "join", "called", "updat",
              "raised", "announc", "statement", "notice", "alert", "emphasi", "stated", "cited",
              "retained", "declared", "extended")  # fmt: skip
_EVENT_WORD = re.compile(
    r"\b(?:protests?|demonstrations?|rall(?:y|ies)|march(?:es)?|gatherings?|strikes?|"
    r"elections?|vote|referendum|events?|celebrations?|concerts?|matches|match|parades?|"
    r"festivals?|commemorations?|funerals?|summit|holiday|anniversary|planned|scheduled|"
    r"curfew)\b",
    re.I,
)
_EVENT_STEMS = ("protest", "demonstration", "rall", "march", "gathering", "strike", "election",
                "vote", "referendum", "event", "celebration", "concert", "match", "parade",
                "festival", "commemoration", "funeral", "summit", "holiday", "anniversary",
                "planned", "scheduled", "curfew")  # fmt: skip
_LOCATIVE_BEFORE = re.compile(
    r"(?:\b(?:in|inside|within|across|throughout|into|near|around|outside|towards?|leave|"
    r"leaving|left|depart(?:ing|ure)?(?:\s+from)?|exit(?:ing)?|evacuat\w*(?:\s+from)?|"
    r"out\s+of|visit(?:s|ing)?|enter(?:ing)?|avoid(?:ing)?|(?:area|areas|parts?|outskirts|"
    r"city|centre|center|suburbs?|region|province|north|south|east|west|capital)\s+of)"
    r"\s+(?:the\s+)?(?:downtown\s+|central\s+|northern\s+|southern\s+|eastern\s+|western\s+)?$"
    r"|\b(?:travel\w*|trips?|visit\w*|go|going|flights?|journeys?|head\w*|relocat\w*|"
    r"mov(?:e|ing)|access)\b(?:\s+[\w-]+){0,3}?\s+to\s+(?:the\s+)?$"
    r"|\b(?:advisor(?:y|ies)|warnings?|alerts?|notices?|level\s*[1-4]|advice)\b"
    r"(?:\s+[\w-]+){0,2}?\s+(?:for|on|about)\s+(?:the\s+)?$)",
    re.I,
)


def _mirror(words: str) -> str:
    return "|".join(word[::-1] for word in words.split())


# _LOCATIVE_BEFORE read right to left. Every alternative of _LOCATIVE_BEFORE ends at the
# end of the context ($, which also allows one final newline), so searching it there is
# matching this at the start of the reversed context: one anchored attempt instead of the
# alternation tried at every character. Keep the two in step: same words, same order of
# parts reversed (checked equal on every fixture and bench context and 1.2M fuzzed ones).
_LOCATIVE_BEFORE_MIRRORED = re.compile(
    r"\n?(?:"
    rf"(?:\s+(?:{_mirror('downtown central northern southern eastern western')}))?"
    r"(?:\s+eht)?\s+"
    rf"(?:{_mirror('in inside within across throughout into near around outside toward')}"
    rf"|{_mirror('towards leave leaving left exit exiting visit visits visiting enter')}"
    rf"|{_mirror('entering avoid avoiding')}"
    rf"|(?:morf\s+)?(?:{_mirror('depart departing departure')})|(?:morf\s+)?\w*taucave"
    r"|fo\s+tuo"
    rf"|fo\s+(?:{_mirror('area areas part parts outskirts city centre center suburb')}"
    rf"|{_mirror('suburbs region province north south east west capital')}))\b"
    r"|(?:\s+eht)?\s+ot\s+(?:[\w-]+\s+){0,3}\b"
    rf"(?:\w*(?:{_mirror('travel visit head relocat')})"
    rf"|{_mirror('trip trips go going flight flights journey journeys move moving access')})\b"
    rf"|(?:\s+eht)?\s+(?:{_mirror('for on about')})\s+(?:[\w-]+\s+){{0,2}}\b"
    rf"(?:{_mirror('advisory advisories warning warnings alert alerts notice notices advice')}"
    r"|[1-4]\s*level)\b"
    r")",
    re.I,
)
_SUBJECT_AFTER = re.compile(
    r"^(?:'s)?\s+(?:travel\s+(?:advisory|advisories|warnings?|alerts?|alarms?|notices?|advice)|"
    r"cities|city|capital|border|towns?|regions?|provinces?|territory|soil|airspace)\b",
    re.I,
)
_SEAT_BEFORE = re.compile(
    r"\b(?:embass(?:y|ies)|consulates?(?:[\s-]general)?|high commission|mission|diplomats|"
    r"officials|ambassador|representation)\s+(?:in\s+|to\s+)?(?:the\s+)?$",
    re.I,
)
_FOLLOWED_BY_COUNTRY = re.compile(r"^,\s*[A-Z]")
_NEIGHBOURHOOD = re.compile(
    r"(?:\b([A-Z][\w.-]+)'s\s+)?\b([A-Z][\w-]+(?:\s+[A-Z][\w-]+)?)\s+(?:[a-z]+\s+)?"
    r"(neighbou?rhoods?|district|quarter|suburb|governorate|oblast|prefecture|county)\b"
)
_NOT_PLACE_WORDS = frozenset(
    """The This That These Those A An Every Each Our Their Its Any Some Central Business
    North South East West Northern Southern Eastern Western Financial Historic Old New
    Red Light Arts Diplomatic Government Capital Federal Special Administrative""".split()
)
_MONTH_NAMES = frozenset(m.capitalize() for m in timeframe.MONTHS) | {"Sept"}
_WEEKDAY_NAMES = frozenset(d.capitalize() for d in timeframe.WEEKDAYS)
_REGIONAL_AFTER = re.compile(
    r"^\s*(?:to|in|within|of|for)\s+(?:the\s+)?(?:(?:parts?|areas?|regions?|provinces?|"
    r"states?|districts?|border|north|south|east|west|northern|southern|eastern|western|"
    r"[\w\s]{0,30}\bborder|[\w\s]{0,30}\bregion)\b|(?:\d+\s*(?:km|kilometres|kilometers|"
    r"miles)))",
    re.I,
)
_LAST_WORDS = re.compile(r"[a-z0-9-]+")
_SEAT_WORDS = frozenset(
    """embassy embassies consulate consulates consulate-general general commission mission
    diplomats officials ambassador representation""".split()
)
_LOCATIVE_WORDS = frozenset(
    """in inside within across throughout into near around outside toward towards leave
    leaving left depart departing departure from exit exiting evacuate evacuated evacuating
    evacuation out of visit visits visiting enter entering avoid avoiding to for on about""".split()
)
_CONSULAR = re.compile(r"\bconsular|\bthe embassy will\b|\bresume", re.I)
# "returning (home) to (the)" just before a name; matched as its mirror image on the
# reversed context, like _LOCATIVE_BEFORE.
_RETURN_TO = re.compile(r"\breturn\w*\s+(?:home\s+)?to\s+(?:the\s+)?$", re.I)
_RETURN_TO_MIRRORED = re.compile(r"\n?(?:\s+eht)?\s+ot(?:\s+emoh)?\s+\w*nruter\b", re.I)
_LONGER_NAME = re.compile(r"\s+[A-Z]")
_LEFT = 90  # characters of left context the position patterns look at


@dataclass(slots=True)
class Sentence:
    index: int
    text: str
    section: str | None
    is_title: bool
    bullet: bool
    refs: tuple[Ref, ...] = ()
    levels: tuple[LevelMatch, ...] = ()
    advice: tuple[str, ...] = ()
    advisory: bool = False
    _dates: list[timeframe.DateMention] | None = None

    def dates(self, anchor: date) -> list[timeframe.DateMention]:
        if self._dates is None:
            self._dates = list(timeframe.find_dates(self.text, anchor))
        return self._dates

    @property
    def speaking(self) -> bool:
        """Gives advice, states a level, or has an issuer speak (not merely named)."""
        if self.advice or self.levels:
            return True
        for ref in self.refs:  # noqa: SIM110 - ~4x cheaper than any() over a generator
            if ref.spoke:
                return True
        return False


@dataclass(slots=True)
class IssuerFacts:
    code: str
    name: str
    level: int | None = None
    level_label: str | None = None
    level_evidence: str | None = None
    advice: list[str] = field(default_factory=list)
    evidence: str | None = None
    body_named: bool = False


@dataclass(slots=True)
class Reading:
    """Everything the text says, before the structure of the source is merged in."""

    issuers: dict[str, IssuerFacts]
    countries: list[str]
    country_evidence: str | None
    areas: list[Area]
    advice: list[str]
    categories: list[Category]
    category_evidence: dict[Category, str]
    targets: list[str]
    effective: datetime | None
    effective_evidence: str | None
    expires: datetime | None
    expires_evidence: str | None
    open_ended: bool
    advisory: bool
    zone: tzinfo


# What a sentence says does not depend on the item around it, and the boilerplate of a
# feed (embassy "Actions to Take", State's closing paragraphs) recurs in item after item,
# so the per-sentence readings are memoised. Results are immutable.
_MEMO = 8192


@lru_cache(maxsize=_MEMO)
def _mentions(text: str) -> tuple[Mention, ...]:
    return tuple(gazetteer().scan(text))


@lru_cache(maxsize=_MEMO)
def _levels(text: str) -> tuple[LevelMatch, ...]:
    return tuple(find_levels(text))


@lru_cache(maxsize=_MEMO)
def _advice(text: str, imperative: bool) -> tuple[str, ...]:
    return tuple(p.text for p in extract_advice(text, imperative=imperative))


@lru_cache(maxsize=_MEMO)
def _refs(text: str) -> tuple[Ref, ...]:
    return tuple(find_refs(text, list(_mentions(text))))


@lru_cache(maxsize=_MEMO)
def _act_positions(text: str) -> tuple[int, ...]:
    """Where the sentence reports an advisory act ("issued", "warned", "statement")."""
    return tuple(m.start() for m in finditer_at_stems(_ACT_WORD, text, _ACT_STEMS))


@lru_cache(maxsize=_MEMO)
def _line_sentences(line: str) -> tuple[str, ...]:
    if "\n" in line or line != line.strip():
        return tuple(sentence for _, sentence in iter_sentences(line))
    return tuple(split_sentences(line))  # what iter_sentences does with one stripped line


@lru_cache(maxsize=_MEMO)
def _cue(text: str) -> bool:
    return search_at_stems(_CUE, text, _CUE_STEMS) is not None


@lru_cache(maxsize=_MEMO)
def _targets(text: str) -> tuple[str, ...]:
    return tuple(find_targets(text))


@dataclass(frozen=True, slots=True)
class PlaceClue:
    """What one sentence says about one place: a weight towards its country being a
    subject, and the area to list when it names a city, province or neighbourhood."""

    country: str | None
    weight: float
    unless_issuer: bool = False  # counts only when that country does not itself speak
    area: Area | None = None
    key: str = ""  # the place's words in the text
    place: Place | None = None


@lru_cache(maxsize=_MEMO)
def _place_clues(
    text: str,
    in_location: bool,
    is_title: bool,
    speaking: bool,
    with_refs: bool,
    structured: tuple[str, ...],
) -> tuple[PlaceClue, ...]:
    """Subject and area clues of one sentence (pure: memoised on its arguments)."""
    g = gazetteer()
    clues: list[PlaceClue] = []
    refs = _refs(text) if with_refs else ()
    ref_spans = [(r.start, r.end) for r in refs if r.agent or r.addressed or r.body]
    subject_hint = set(structured)
    for mention in _mentions(text):
        if ref_spans and _within(mention.start, ref_spans):
            continue
        place = _place_for(mention, subject_hint)
        code = place.country
        after = text[mention.end :]
        if place.kind is PlaceKind.DEMONYM:
            if _SUBJECT_AFTER.match(after):
                clues.append(PlaceClue(code, 2))
            continue
        left = text[max(0, mention.start - _LEFT) : mention.start]
        if place.kind is PlaceKind.COUNTRY:
            if _RETURN_TO_MIRRORED.match(left[::-1]):  # _RETURN_TO.search(left)
                continue  # "consider returning to the United States": where to go
            if in_location:
                clues.append(PlaceClue(code, 3))
                continue
            last = _last_words(left)
            if _is_seat(left, last):
                clues.append(PlaceClue(code, 0.5))
            elif _is_locative(left, last):
                clues.append(PlaceClue(code, 2))
            elif _SUBJECT_AFTER.match(after):
                clues.append(PlaceClue(code, 2, unless_issuer=True))
            else:
                clues.append(PlaceClue(code, 1 if is_title else 0.25))
            continue
        if mention.text in _MONTH_NAMES or mention.text in _WEEKDAY_NAMES:
            continue
        possessive = text[mention.end : mention.end + 2] == "'s"
        qualified = bool(_FOLLOWED_BY_COUNTRY.match(after))
        if _LONGER_NAME.match(after) and not qualified:
            continue  # the start of a longer name: "Central Business District"
        last = _last_words(left)
        if _is_seat(left, last):
            clues.append(PlaceClue(code, 0.5))
            continue
        if not (in_location or _is_locative(left, last) or possessive or qualified):
            continue
        if not (in_location or speaking):
            continue
        area = None
        if not is_title:
            admin1 = place.admin1 if place.kind is PlaceKind.CITY else place.name
            area = Area(name=place.name, country=code, admin1=admin1, lat=place.lat,
                        lon=place.lon)  # fmt: skip
        clues.append(PlaceClue(code, 3 if in_location else 2, area=area,
                               key=mention.text, place=place))  # fmt: skip
    if speaking and not is_title and _may_name_neighbourhood(text):
        for found in _NEIGHBOURHOOD.finditer(text):
            name = found.group(2)
            if name.split()[0] in _NOT_PLACE_WORDS or g.lookup_country(name):
                continue
            owner = g.lookup(found.group(1)) if found.group(1) else ()
            country = owner[0].country if owner else None
            area = Area(name=name, country=country, admin1=owner[0].admin1 if owner else None)
            clues.append(PlaceClue(country, 2 if country else 0, area=area, key=name))
    return tuple(clues)


# The position patterns look at the words just before a name; most names are not preceded
# by any of their words, so those are checked first.
def _last_words(left: str) -> list[str]:
    return _LAST_WORDS.findall(left[-40:].lower())[-4:]


def _is_seat(left: str, last: list[str]) -> bool:
    return not _SEAT_WORDS.isdisjoint(last) and _SEAT_BEFORE.search(left) is not None


def _is_locative(left: str, last: list[str]) -> bool:
    # _LOCATIVE_BEFORE.search(left), through its mirror image
    return not _LOCATIVE_WORDS.isdisjoint(last) and (
        _LOCATIVE_BEFORE_MIRRORED.match(left[::-1]) is not None
    )


def _within(position: int, spans: list[tuple[int, int]]) -> bool:
    for start, end in spans:  # noqa: SIM110 - ~4x cheaper than any() over a generator
        if start <= position < end:
            return True
    return False


def _may_name_neighbourhood(text: str) -> bool:
    """False when _NEIGHBOURHOOD (case-sensitive) cannot match: each match holds one of
    these words."""
    return (
        "neighbo" in text or "district" in text or "quarter" in text or "suburb" in text
        or "governorate" in text or "oblast" in text or "prefecture" in text or "county" in text
    )  # fmt: skip


def memo_clear() -> None:
    """Forget memoised sentence readings (benchmarks measure with and without them)."""
    for function in (_mentions, _levels, _advice, _refs, _targets, _cue, _place_clues,
                     _act_positions, _line_sentences, _regional_after, timeframe.find_dates,
                     timeframe._expressions, find_categories_cached):  # fmt: skip
        function.cache_clear()
    gazetteer().run_names.cache_clear()


_BLANK_LINE = re.compile(r"\n\s*\n")
_WHITESPACE = re.compile(r"\s+")


def _sentences(title: str, body: str) -> list[Sentence]:
    """The headline and the body's sentences, with their section and bullet position.
    Place names are looked up later, only in the sentences whose places can count."""
    out: list[Sentence] = []
    if title:
        out.append(Sentence(0, title, None, True, False))
    section: str | None = None
    for block in _BLANK_LINE.split(body):
        lines = [stripped for line in block.split("\n") if (stripped := line.strip())]
        for line_index, line in enumerate(lines):
            label = _SECTION.match(line)
            if label:
                section = _WHITESPACE.sub(" ", label.group(1).lower())
                line = line[label.end() :]
                if not line:
                    continue
            if section in _IGNORED_SECTIONS:
                continue
            bullet = (len(lines) > 1 and line_index > 0) or section == "actions to take"
            for sentence in _line_sentences(line):
                out.append(Sentence(len(out), sentence, section, False, bullet))
    return out


def _resolve_bare(ref: Ref, history: list[Ref]) -> str | None:
    """The government a bare "the embassy" or "the department" refers to."""
    for previous in reversed(history):
        if previous.code and ref.body and previous.body and ref.body in previous.body:
            return previous.code
    for previous in reversed(history):
        if previous.code:
            return previous.code
    return None


def _place_for(mention: Mention, subject_hint: set[str]) -> Place:
    for place in mention.candidates:
        if place.country in subject_hint:
            return place
    return mention.candidates[0]


@lru_cache(maxsize=512)
def _zone_named(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _zone(areas: list[Area], places: dict[str, Place]) -> tzinfo:
    """The time zone of the first area the gazetteer knows, for "today"-style bounds."""
    for area in areas:
        place = places.get(area.name)
        zone = _zone_named(place.timezone) if place and place.timezone else None
        if zone is not None:
            return zone
    return UTC


def read(
    title: str,
    body: str,
    *,
    published: datetime | None,
    first_party: bool,
    issuer_hint: tuple[str, str] | None,
    structured_countries: tuple[str, ...] = (),
) -> Reading:
    """Read title and body. ``issuer_hint`` is (country, name) of a first-party source."""
    g = gazetteer()
    sentences = _sentences(title, body)
    anchor = (published or datetime(1970, 1, 1, tzinfo=UTC)).astimezone(UTC).date()

    # Pass 1: per sentence, references, levels, advice, and whether it is advisory.
    for s in sentences:
        s.levels = _levels(s.text)
        imperative = first_party or s.bullet or s.section is not None
        s.advice = _advice(s.text, imperative)
        s.advisory = bool(s.levels or s.advice or _cue(s.text)) or (
            first_party and s.section in {"event", "events", "location", "locations", "summary"}
        )
        if s.advisory and not first_party:
            s.refs = _refs(s.text)

    issuers: dict[str, IssuerFacts] = {}
    history: list[Ref] = []
    pending_advice: list[tuple[str, str]] = []
    pending_levels: list[tuple[LevelMatch, str]] = []

    def issuer(code: str, name: str, sentence: str, body_named: bool) -> IssuerFacts:
        facts = issuers.get(code)
        if facts is None:
            facts = issuers[code] = IssuerFacts(code, name, evidence=sentence,
                                                body_named=body_named)  # fmt: skip
        elif body_named and not facts.body_named:
            facts.name, facts.body_named = name, True
        return facts

    def give(
        facts: IssuerFacts, advice: Sequence[str], levels: Sequence[LevelMatch], text: str
    ) -> None:
        for phrase in advice:
            if phrase not in facts.advice:
                facts.advice.append(phrase)
        for match in levels:
            if _is_regional(text, match):
                continue
            if facts.level is None or match.level > facts.level:
                facts.level, facts.level_label, facts.level_evidence = (
                    match.level, match.label, text)  # fmt: skip

    if first_party and issuer_hint:
        hint_facts = issuer(issuer_hint[0], issuer_hint[1], title, True)
        for s in sentences:
            if s.advisory or s.advice or s.levels:
                give(hint_facts, s.advice, s.levels, s.text)
    else:
        for s in sentences:
            if not s.advisory:
                continue
            speakers: list[str] = []
            for ref in s.refs:
                code = ref.code or (_resolve_bare(ref, history) if ref.agent else None)
                if code is None or not (ref.agent or ref.addressed):
                    continue
                named = names_issuer(ref)
                display = ref.name[:1].upper() + ref.name[1:] if named else g.country_name(code)
                issuer(code, display, s.text, named)
                if ref.agent and code not in speakers:
                    speakers.append(code)
            primary = _primary(s.refs, history)
            if primary is None and speakers:
                primary = [speakers[0]]
            if primary is None:
                addressed = [r.code for r in s.refs if r.addressed and r.code]
                primary = addressed[:1] or None
            history.extend(r for r in s.refs if r.agent or r.addressed)
            if primary is None:
                last = next((r for r in reversed(history) if r.code and (r.agent or r.addressed)),
                            None)  # fmt: skip
                primary = [last.code] if last and last.code else None
            if primary is None:
                pending_advice.extend((a, s.text) for a in s.advice)
                pending_levels.extend((m, s.text) for m in s.levels)
                continue
            for code in primary:
                if code not in issuers:
                    issuer(code, g.country_name(code), s.text, False)
                give(issuers[code], s.advice, s.levels, s.text)
        if issuers and (pending_advice or pending_levels):
            first = next(iter(issuers.values()))
            for phrase, text in pending_advice:
                give(first, [phrase], [], text)
            for match, text in pending_levels:
                give(first, [], [match], text)

    # Subjects and areas.
    issuer_codes = set(issuers)
    scores: dict[str, float] = {}
    evidence_for: dict[str, str] = {}
    area_places: dict[str, Place | None] = {}
    places_by_name: dict[str, Place] = {}
    areas: list[Area] = []
    area_countries: set[str] = set()

    def score(code: str, value: float, text: str) -> None:
        scores[code] = scores.get(code, 0.0) + value
        evidence_for.setdefault(code, text)

    for code in structured_countries:
        score(code, 10, "")
    for s in sentences:
        if not (s.advisory or s.is_title or first_party):
            continue
        clues = _place_clues(
            s.text,
            s.section in {"location", "locations"},
            s.is_title,
            s.speaking or first_party,
            bool(s.refs),
            structured_countries,
        )
        for clue in clues:
            if clue.unless_issuer and clue.country in issuer_codes:
                continue
            if clue.country and clue.weight:
                score(clue.country, clue.weight, s.text)
            if clue.area is None or clue.key in area_places:
                continue
            if any(a.name == clue.area.name for a in areas):
                continue
            area_places[clue.key] = clue.place
            if clue.place is not None:
                places_by_name[clue.area.name] = clue.place
            if clue.country:
                area_countries.add(clue.country)
            areas.append(clue.area)

    allowed_issuer_subjects = area_countries | set(structured_countries)
    subjects = [
        code
        for code, value in sorted(scores.items(), key=lambda kv: -kv[1])
        if value >= 2 and (code not in issuer_codes or code in allowed_issuer_subjects)
    ]
    if not subjects and scores:
        best = max(scores.items(), key=lambda kv: kv[1])
        if best[1] >= 0.5 and (best[0] not in issuer_codes or len(scores) == 1):
            subjects = [best[0]]
    areas = [a for a in areas if a.country is None or a.country in subjects]
    zone = _zone(areas, places_by_name)

    # Regional levels go to areas.
    areas = _regional_levels(sentences, areas, g, subjects)

    # Categories and targets.
    categories, category_evidence = score_categories(
        (s.text, s.advisory or first_party or s.is_title) for s in sentences
    )
    targets: list[str] = []
    for s in sentences:
        if s.speaking or (first_party and not s.is_title):
            for target in _targets(s.text):
                if target not in targets:
                    targets.append(target)

    advice: list[str] = []
    for s in sentences:
        for phrase in s.advice:
            if phrase not in advice:
                advice.append(phrase)

    effective, effective_evidence, expires, expires_evidence, open_ended = _timeframe(
        sentences, anchor, published, first_party, zone
    )
    advisory = any(s.advisory for s in sentences) and bool(
        issuers or any(s.advice or s.levels for s in sentences)
    )
    return Reading(
        issuers=issuers,
        countries=subjects,
        country_evidence=evidence_for.get(subjects[0]) if subjects else None,
        areas=areas,
        advice=advice,
        categories=categories,
        category_evidence=category_evidence,
        targets=targets,
        effective=effective,
        effective_evidence=effective_evidence,
        expires=expires,
        expires_evidence=expires_evidence,
        open_ended=open_ended,
        advisory=advisory,
        zone=zone,
    )


def _primary(refs: Sequence[Ref], history: list[Ref]) -> list[str] | None:
    """The speaking group of a sentence: the first group of coordinated speakers."""
    group: list[str] = []
    last_end = -1
    for ref in refs:
        if not ref.agent or ref.addressed:
            continue
        code = ref.code or _resolve_bare(ref, history)
        if code is None:
            continue
        if group and last_end >= 0 and ref.start - last_end > 12:
            break
        if code not in group:
            group.append(code)
        last_end = ref.end
    return group or None


def _is_regional(text: str, match: LevelMatch) -> bool:
    return _regional_after(text, match.end)


_PLACE_AFTER = re.compile(r"^\s*(?:to|in|within)\s+(?:the\s+)?([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)")


@lru_cache(maxsize=_MEMO)
def _regional_after(text: str, end: int) -> bool:
    """Whether a level phrase ending at ``end`` is followed by a sub-national place
    (asked for each level twice: when it is given and when areas take their levels)."""
    after = text[end:]
    if _REGIONAL_AFTER.match(after):
        return True
    phrase = _PLACE_AFTER.match(after)
    if phrase:
        name = phrase.group(1)
        g = gazetteer()
        if g.lookup_country(name):
            return False
        places = g.lookup(name)
        return bool(places) and places[0].kind in (PlaceKind.CITY, PlaceKind.ADMIN)
    return False


_NAMED_REGION = re.compile(
    r"\b((?-i:[A-Z][\w'-]+)(?:\s+(?-i:[A-Z][\w'-]+))*)\s+(border(?:\s+areas?)?|region|province|"
    r"state|governorate|district|county|oblast)\b",
    re.I,
)
_CAPITALISED = re.compile(r"(?-i:[A-Z][\w'-]*)(?:\s+(?:of\s+|de\s+)?(?-i:[A-Z][\w'-]*))*")


def _regional_places(window: str, g: Gazetteer) -> list[tuple[str, str | None]]:
    """Places a regional level names: gazetteer places, or "Yemen border"-style regions."""
    found: list[tuple[str, str | None]] = []
    for match in _NAMED_REGION.finditer(window):
        head = match.group(1)
        places = g.lookup(head)
        if places and places[0].kind is PlaceKind.ADMIN:
            found.append((places[0].name, places[0].country))
        else:
            found.append((f"{head} {match.group(2).lower()}", None))
    for match in _CAPITALISED.finditer(window):
        name = match.group()
        places = g.lookup(name)
        known = places and places[0].kind in (PlaceKind.CITY, PlaceKind.ADMIN)
        if known and all(name not in seen for seen, _ in found):
            found.append((places[0].name, places[0].country))
    return found


def _regional_levels(
    sentences: list[Sentence], areas: list[Area], g: Gazetteer, subjects: list[str]
) -> list[Area]:
    result = list(areas)
    for s in sentences:
        for match in s.levels:
            if not _is_regional(s.text, match):
                continue
            window = re.split(r"[.;]\s", s.text[match.end : match.end + 200])[0]
            for name, country in _regional_places(window, g):
                country = country or (subjects[0] if subjects else None)
                for i, area in enumerate(result):
                    if area.name == name:
                        if area.level is None or match.level > area.level:
                            result[i] = area.model_copy(
                                update={"level": match.level, "level_label": match.label}
                            )
                        break
                else:
                    result.append(Area(name=name, country=country, level=match.level,
                                       level_label=match.label))  # fmt: skip
    return result


def _timeframe(
    sentences: list[Sentence],
    anchor: date,
    published: datetime | None,
    first_party: bool,
    zone: tzinfo,
) -> tuple[datetime | None, str | None, datetime | None, str | None, bool]:
    act_dates: list[tuple[date, str]] = []
    bounds: list[tuple[datetime, str, bool]] = []  # (end, evidence, explicit)
    durations: list[tuple[float, date | None, str]] = []
    open_ended = False
    for s in sentences:
        if not (s.advisory or (first_party and not s.is_title)):
            continue
        mentions = s.dates(anchor)
        if not mentions:
            continue
        acts: tuple[int, ...] | None = None  # read only for a day that may date an act
        sentence_act: date | None = None
        for mention in mentions:
            if mention.kind is timeframe.Kind.POINT and mention.day is not None:
                # The day of a reported act: a past day near an advisory act, unless the
                # sentence looks forward to an event. Cheapest tests first.
                reported = False
                if (
                    not first_party
                    and mention.day <= anchor
                    and not (mention.future and search_at_stems(_EVENT_WORD, s.text, _EVENT_STEMS))
                ):
                    if acts is None:
                        acts = _act_positions(s.text)
                    reported = any(_word_distance(s.text, mention.start, mention.end, a) <= 6
                                   for a in acts)  # fmt: skip
                if reported:
                    act_dates.append((mention.day, s.text))
                    sentence_act = sentence_act or mention.day
                elif (
                    not s.is_title
                    and mention.day >= anchor
                    and search_at_stems(_EVENT_WORD, s.text, _EVENT_STEMS)
                    and not _CONSULAR.search(s.text)
                ):
                    bounds.append((timeframe.end_of_day(mention.day, zone), s.text, False))
            elif (mention.kind is timeframe.Kind.UNTIL and mention.day is not None) or (
                mention.kind is timeframe.Kind.WEEKEND and mention.day is not None
            ):
                if mention.day >= anchor:
                    bounds.append((timeframe.end_of_day(mention.day, zone), s.text, True))
            elif mention.kind is timeframe.Kind.DURATION and mention.hours is not None:
                durations.append((mention.hours, sentence_act, s.text))
            elif mention.kind is timeframe.Kind.OPEN:
                open_ended = True
    effective: datetime | None
    effective_evidence: str | None = None
    if act_dates and not first_party:
        day, effective_evidence = min(act_dates, key=lambda item: item[0])
        effective = timeframe.start_of_day(day)
        if published and day == anchor:
            effective = published
    else:
        effective = published
        if published:
            effective_evidence = _published_evidence(sentences, anchor)
    ends: list[tuple[datetime, str]] = []
    for hours, act_day, text in durations:
        base = timeframe.start_of_day(act_day) if act_day else effective
        if base is not None:
            ends.append((base + timedelta(hours=hours), text))
    ends.extend((end, text) for end, text, explicit in bounds if explicit or not open_ended)
    if not ends:
        return effective, effective_evidence, None, None, open_ended
    expires, expires_evidence = max(ends, key=lambda item: item[0])
    return effective, effective_evidence, expires, expires_evidence, open_ended


def _published_evidence(sentences: list[Sentence], anchor: date) -> str | None:
    """The headline or an opening sentence that states the published day, else the first."""
    for s in sentences[:4]:
        for mention in s.dates(anchor):
            if mention.day == anchor:
                return s.text
    return sentences[0].text if sentences else None


def _word_distance(text: str, start: int, end: int, other: int) -> int:
    if other >= end:
        between = text[end:other]
    elif other < start:
        between = text[other:start]
    else:
        return 0
    return len(between.split())


def iter_advisory_sentences(sentences: list[Sentence]) -> Iterator[Sentence]:
    return (s for s in sentences if s.advisory)
