"""Issuer advice scales mapped onto the common 1-4 level scale.

The table in ``docs/advisory-schema.md`` is encoded here once: each issuer's own
wording (State's "Level 3: Reconsider Travel", the FCDO's ``alert_status`` values and
prose, Canada's ``advisory-state`` and texts, Australia, New Zealand, Ireland). Phrases
match case-insensitively, longest first, after dashes and entities are normalised, so
"all but essential travel" wins over "all travel".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Issuer-specific wording first; generic wording that any issuer may use last.
# (pattern, level, issuers it belongs to or () for any, the lower-case words every match
# opens with: on ASCII text a pattern is tried only where one of them is)
_PHRASES: tuple[tuple[str, int, tuple[str, ...], tuple[str, ...]], ...] = (
    (r"level\s*4\s*[:\-]?\s*do\s+not\s+travel", 4, ("US",), ("level",)),
    (r"level\s*3\s*[:\-]?\s*reconsider\s+travel", 3, ("US",), ("level",)),
    (r"level\s*2\s*[:\-]?\s*exercise\s+increased\s+caution", 2, ("US",), ("level",)),
    (r"level\s*1\s*[:\-]?\s*exercise\s+normal\s+precautions?", 1, ("US",), ("level",)),
    (
        r"(?:advises?|advising|advised)\s+against\s+all\s+but\s+essential\s+travel",
        3,
        ("GB",),
        ("advis",),
    ),
    (r"against\s+all\s+but\s+essential\s+travel", 3, ("GB",), ("against",)),
    (r"(?:advises?|advising|advised)\s+against\s+all\s+travel", 4, ("GB",), ("advis",)),
    (r"against\s+all\s+travel", 4, ("GB",), ("against",)),
    (r"avoid\s+all\s+but\s+essential\s+travel", 3, (), ("avoid",)),
    (r"avoid\s+non[\s\-]?essential\s+travel", 3, ("CA", "NZ", "IE"), ("avoid",)),
    (r"avoid\s+all\s+non[\s\-]?essential\s+travel", 3, (), ("avoid",)),
    (r"avoid\s+(?:all|any)\s+travel", 4, ("CA",), ("avoid",)),
    (
        r"reconsider\s+(?:your\s+|their\s+|the\s+)?need\s+(?:for|to)\s+travel",
        3,
        ("AU",),
        ("reconsider",),
    ),
    (r"reconsider\s+(?:all\s+)?travel", 3, ("US",), ("reconsider",)),
    (r"do\s+not\s+travel", 4, ("US", "AU", "NZ", "IE"), ("do",)),
    (r"exercise\s+a\s+high\s+degree\s+of\s+caution", 2, ("CA", "AU"), ("exercise",)),
    (r"high\s+degree\s+of\s+caution", 2, ("CA", "AU", "IE"), ("high",)),
    (r"exercise\s+increased\s+caution", 2, ("US", "NZ"), ("exercise",)),
    (r"exercise\s+normal\s+safety\s+and\s+security\s+precautions?", 1, ("NZ",), ("exercise",)),
    (
        r"(?:exercise|take)\s+normal\s+(?:safety|security)\s+precautions?",
        1,
        ("CA", "AU"),
        ("exercise", "take"),
    ),
    (r"exercise\s+normal\s+precautions?", 1, ("US",), ("exercise",)),
    (r"normal\s+precautions?", 1, ("IE",), ("normal",)),
    (r"\blevel\s*([1-4])\b(?!\s*(?:hurricane|storm|cyclone|alert\s+for))", 0, (), ("level",)),
    (
        r"highest(?:\s+possible)?\s+(?:travel\s+)?(?:advisory\s+|warning\s+|alert\s+)?level",
        4,
        (),
        ("highest",),
    ),
)


@dataclass(frozen=True, slots=True)
class LevelMatch:
    level: int
    label: str
    start: int
    end: int


_COMPILED = tuple(
    (re.compile(pattern, re.IGNORECASE), level, issuers, stems)
    for pattern, level, issuers, stems in _PHRASES
)
_STEMS = tuple(sorted({stem for *_, stems in _PHRASES for stem in stems}))


_ANY_SCALE_WORD = re.compile(r"travel|caution|precaution|level", re.I)


def find_levels(text: str, issuer: str | None = None) -> list[LevelMatch]:
    """Every scale phrase in ``text``, longest first, without overlaps, in text order."""
    runs: list[tuple[int, Iterable[re.Match[str]]]] = []
    if text.isascii():
        # Case-insensitive matching of ASCII text is matching its lower case, so a match
        # can start only where one of its pattern's stems is; other scripts have case
        # folds lower() lacks and take the plain scan.
        low = text.lower()
        if "travel" not in low and "caution" not in low and "level" not in low:
            return []
        where: dict[str, list[int]] = {}
        for stem in _STEMS:
            at = low.find(stem)
            while at >= 0:
                where.setdefault(stem, []).append(at)
                at = low.find(stem, at + 1)
        if not where:
            return []
        for pattern, level, _, stems in _COMPILED:
            if len(stems) == 1:
                starts = where.get(stems[0])
            else:
                starts = sorted({at for stem in stems for at in where.get(stem, ())})
            if starts:
                runs.append((level, _matches_at(pattern, text, starts)))
    elif _ANY_SCALE_WORD.search(text):
        runs = [(level, pattern.finditer(text)) for pattern, level, _, _ in _COMPILED]
    else:
        return []
    taken: list[tuple[int, int]] = []
    found: list[LevelMatch] = []
    for level, matches in runs:
        for match in matches:
            start, end = match.span()
            if taken and _overlaps(start, end, taken):
                continue
            value = int(match.group(1)) if level == 0 else level
            taken.append((start, end))
            found.append(LevelMatch(value, text[start:end], start, end))
    found.sort(key=lambda m: m.start)
    return found


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    for s, e in spans:  # noqa: SIM110 - ~4x cheaper than any() over a generator
        if start < e and s < end:
            return True
    return False


def _matches_at(pattern: re.Pattern[str], text: str, starts: list[int]) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)`` when every match starts at one of ``starts``."""
    end = 0
    for at in starts:
        if at >= end and (match := pattern.match(text, at)) is not None:
            yield match
            end = match.end()


# GOV.UK Content API ``details.alert_status`` values.
GOVUK_ALERT_STATUS: dict[str, int] = {
    "avoid_all_travel_to_whole_country": 4,
    "avoid_all_but_essential_travel_to_whole_country": 3,
}
GOVUK_REGIONAL_STATUS: dict[str, int] = {
    "avoid_all_travel_to_parts": 4,
    "avoid_all_but_essential_travel_to_parts": 3,
}
GOVUK_LABELS: dict[int, str] = {
    4: "FCDO advises against all travel",
    3: "FCDO advises against all but essential travel",
}

# Global Affairs Canada ``advisory-state`` 0-3.
CANADA_STATE: dict[int, int] = {0: 1, 1: 2, 2: 3, 3: 4}
CANADA_LABELS: dict[int, str] = {
    1: "Take normal security precautions",
    2: "Exercise a high degree of caution",
    3: "Avoid non-essential travel",
    4: "Avoid all travel",
}

US_LABELS: dict[int, str] = {
    1: "Level 1: Exercise Normal Precautions",
    2: "Level 2: Exercise Increased Caution",
    3: "Level 3: Reconsider Travel",
    4: "Level 4: Do Not Travel",
}


def canada_level(state: object) -> int | None:
    try:
        return CANADA_STATE.get(int(str(state)))
    except ValueError:
        return None


# GDACS alert colours describe hazards: they set severity, never the travel level.
GDACS_SEVERITY: dict[str, str] = {"green": "Minor", "orange": "Moderate", "red": "Severe"}
