"""Dates in advisory text, resolved against the item's own published date.

Nothing here reads the clock: every relative expression ("yesterday", "on Saturday",
"Friday, November 9", "over the next 48 hours", "the coming weekend") is resolved
against an anchor the caller passes in, so the same input gives the same record on
any day, on any machine.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import Enum
from functools import lru_cache
from typing import Any

from monitor.normalise.text import search_at_stems

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august",
    "september", "october", "november", "december",
)  # fmt: skip
_MONTH_ABBR = {m[:3]: i + 1 for i, m in enumerate(MONTHS)} | {"sept": 9}
_MONTH_RE = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_WEEKDAY_RE = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fourteen": 14,
    "twenty-four": 24, "twenty four": 24, "thirty": 30, "thirty-six": 36, "forty-eight": 48,
    "forty eight": 48, "seventy-two": 72, "seventy two": 72, "a few": 3, "several": 3,
}  # fmt: skip
_UNIT_HOURS = {"hour": 1, "day": 24, "week": 24 * 7, "month": 24 * 30}


class Kind(Enum):
    POINT = "point"  # a day: "yesterday", "on Friday", "March 7"
    DURATION = "duration"  # "over the next 48 hours"
    WEEKEND = "weekend"  # "over the coming weekend"
    UNTIL = "until"  # "until March 9", "through Sunday"
    OPEN = "open"  # "indefinitely", "until further notice"


@dataclass(frozen=True, slots=True)
class DateMention:
    kind: Kind
    start: int
    end: int
    text: str
    day: date | None = None  # POINT / UNTIL / WEEKEND (its last day)
    hours: float | None = None  # DURATION
    future: bool = False  # the text looks forward ("will", "planned", "next")


_RELATIVE = re.compile(
    r"\b(?:(yesterday|today|tonight|tomorrow)|(?:this|last)\s+(morning|afternoon|evening|night))\b",
    re.I,
)
_WEEKDAY = re.compile(
    r"\b(?:(?:on|from|until|through|by)\s+)?(?:(last|next|this|coming)\s+)?"
    rf"({_WEEKDAY_RE})\b(?:,?\s+(?:the\s+)?({_MONTH_RE})\s+(\d{{1,2}})(?:st|nd|rd|th)?"
    rf"(?:,?\s+(\d{{4}}))?|,?\s+(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE})(?:\s+(\d{{4}}))?)?",
    re.I,
)
_MONTH_DAY = re.compile(
    rf"\b({_MONTH_RE})\s+(\d{{1,2}})(?:st|nd|rd|th)?(?!\d)(?:,?\s+(\d{{4}}))?(?![\d:])"
    rf"|\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_RE})(?:,?\s+(\d{{4}}))?\b",
    re.I,
)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DURATION = re.compile(
    r"\b(?:over|in|for|during|within|throughout)\s+the\s+(?:next|coming|following)\s+"
    r"(\d{1,3}|[a-z]+(?:[\s-][a-z]+)?)\s+(hour|day|week|month)s?\b",
    re.I,
)
_WEEKEND = re.compile(
    r"\b(?:over|during|for|on|at|this|through(?:out)?)\s+(?:the\s+)?(?:(coming|next|this|upcoming)\s+)?weekend\b",
    re.I,
)
_UNTIL = re.compile(r"\b(?:until|till|through|thru|to)\s*$", re.I)
_OPEN_ENDED = re.compile(
    r"\b(?:indefinitely|until further notice|for the foreseeable future|open-ended)\b", re.I
)
_HOLIDAY_BEFORE = re.compile(r"(?:easter|palm|bloody|super|black|good|holy|ash)\s+$", re.I)
_FUTURE = re.compile(
    r"\b(?:will|planned|plans?|scheduled|expected|upcoming|set to|going to|is to|are to)\b", re.I
)

_FUTURE_STEMS = ("will", "plan", "scheduled", "expected", "upcoming", "set to", "going to", "is to",
                 "are to")  # fmt: skip


def _year_for(month: int, day: int, anchor: date) -> int:
    """The year that puts month/day closest to the anchor (a report of last December...)."""
    best = anchor.year
    best_gap: int | None = None
    for year in (anchor.year - 1, anchor.year, anchor.year + 1):
        try:
            gap = abs((date(year, month, day) - anchor).days)
        except ValueError:
            continue
        if best_gap is None or gap < best_gap:
            best, best_gap = year, gap
    return best


def _folded(token: str) -> str:
    """Lower case after compatibility folding: the case-insensitive patterns also match
    letters such as the long s ("ſunday") that plain lower() keeps."""
    return unicodedata.normalize("NFKC", token).lower()


def _month_number(token: str) -> int:
    low = _folded(token).rstrip(".")
    return _MONTH_ABBR[low[:4] if low.startswith("sept") else low[:3]]


def _make_date(year: int | None, month: int, day: int, anchor: date) -> date | None:
    try:
        return date(year if year else _year_for(month, day, anchor), month, day)
    except ValueError:
        return None


def _weekday_date(name: str, modifier: str | None, anchor: date, future: bool) -> date:
    target = WEEKDAYS.index(_folded(name))
    delta_back = (anchor.weekday() - target) % 7
    modifier = (modifier or "").lower()
    if modifier in {"next", "coming"} or (future and modifier != "last"):
        return anchor + timedelta(days=(target - anchor.weekday()) % 7)
    if modifier == "last" and delta_back == 0:
        return anchor - timedelta(days=7)
    return anchor - timedelta(days=delta_back)


def _hours(amount: str) -> float | None:
    amount = amount.lower().strip()
    if amount.isdigit():
        return float(amount)
    return float(_NUMBER_WORDS[amount]) if amount in _NUMBER_WORDS else None


# The words of a sentence decide which of the expensive patterns need to run.
_WORDS = re.compile(r"[a-z]+|\d")
# A word (a run of letters) that starts like a month name: ``w[:3] in MONTHS``. The
# look-behind comes after the letters so that the engine can skip to candidate letters.
_MONTH_WORD = re.compile(r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)(?<![a-z]...)")
_DIGIT = re.compile(r"\d")
# Where a weekday name is (in the lower-cased sentence), and how far back its "on next"
# can reach: two words of letters, each after a run of whitespace (read reversed).
_DAY_NAME = re.compile(r"(?:mon|tues|wednes|thurs|fri|satur|sun)day")
_TWO_WORDS_BACK = re.compile(r"(?:\s+[A-Za-z]+){0,2}")
_RELATIVE_WORDS = frozenset(
    "yesterday today tonight tomorrow morning afternoon evening night".split()
)
_DURATION_WORDS = frozenset({"next", "coming", "following"})
_OPEN_WORDS = frozenset({"indefinitely", "further", "foreseeable", "open"})
_LEADING_UNTIL = re.compile(r"(?:until|till|through|thru)\b", re.I)
_FORWARD = frozenset({"coming", "next", "this", "upcoming"})
_OFFSETS = {"yesterday": -1, "tomorrow": 1}

# How a found expression becomes a day once the anchor is known.
_NO_DAY, _WEEKEND_DAY, _CALENDAR_DAY, _WEEKDAY_DAY, _OFFSET_DAY = range(5)
# (kind, start, end, text, rule, a, b, c, hours, future): a, b, c are the rule's arguments.
_Found = tuple[Kind, int, int, str, int, Any, Any, Any, float | None, bool]


def _expr(
    kind: Kind,
    match: re.Match[str],
    rule: int = _NO_DAY,
    args: tuple[Any, Any, Any] = (None, None, None),
    hours: float | None = None,
    future: bool = False,
) -> _Found:
    return (kind, match.start(), match.end(), match.group(), rule, *args, hours, future)


@lru_cache(maxsize=8192)
def _expressions(sentence: str) -> tuple[_Found, ...]:
    """The date expressions of a sentence before they are resolved: what the text says
    does not depend on the anchor, so it is found once however many items repeat it."""
    low = sentence.lower()
    ascii_only = sentence.isascii()
    if ascii_only:
        # Case-insensitive matching of ASCII text is matching its lower case, so each
        # pattern needs only a substring test of its words (a test that can pass where
        # the pattern then finds nothing, never fail where it would find something).
        has_digit = _DIGIT.search(sentence) is not None
        day_name = _DAY_NAME.search(low)
        weekday = day_name is not None
        relative = (
            "yesterday" in low or "today" in low or "tonight" in low or "tomorrow" in low
            or "morning" in low or "afternoon" in low or "evening" in low or "night" in low
        )  # fmt: skip
        duration = "next" in low or "coming" in low or "following" in low
        weekend = "weekend" in low
        open_ended = (
            "indefinitely" in low or "further" in low or "foreseeable" in low or "open" in low
        )
    else:
        # Other scripts have case folds lower() lacks: the words decide exactly.
        day_name = None
        words = set(_WORDS.findall(low))
        has_digit = not words.isdisjoint("0123456789")
        weekday = not words.isdisjoint(WEEKDAYS)
        relative = not words.isdisjoint(_RELATIVE_WORDS)
        duration = not words.isdisjoint(_DURATION_WORDS)
        weekend = "weekend" in words
        open_ended = not words.isdisjoint(_OPEN_WORDS)
    months = has_digit and _MONTH_WORD.search(low) is not None
    if not (has_digit or weekday or relative or duration or weekend or open_ended):
        return ()
    future_found: bool | None = None

    def looks_forward() -> bool:
        nonlocal future_found
        if future_found is None:
            future_found = search_at_stems(_FUTURE, sentence, _FUTURE_STEMS) is not None
        return future_found

    found: list[_Found] = []
    for match in _OPEN_ENDED.finditer(sentence) if open_ended else ():
        found.append(_expr(Kind.OPEN, match))
    for match in _DURATION.finditer(sentence) if duration else ():
        amount = _hours(match.group(1))
        if amount is not None:
            hours = amount * _UNIT_HOURS[match.group(2).lower()]
            found.append(_expr(Kind.DURATION, match, hours=hours, future=True))
    for match in _WEEKEND.finditer(sentence) if weekend else ():
        ahead = (match.group(1) or "").lower() in _FORWARD or looks_forward()
        modifier = "coming" if ahead else "last"
        found.append(_expr(Kind.WEEKEND, match, _WEEKEND_DAY, (modifier, ahead, None), None, ahead))
    for match in _ISO_DATE.finditer(sentence) if has_digit and "-" in sentence else ():
        ymd: tuple[int | None, int, int] = (
            int(match.group(1)),
            int(match.group(2)),
            int(match.group(3)),
        )
        found.append(_point_or_until(sentence, match, _CALENDAR_DAY, ymd, looks_forward()))
    weekdays: Iterable[re.Match[str]] = ()
    if day_name is not None:
        weekdays = _weekday_matches(sentence, low, day_name.start())
    elif weekday and not ascii_only:
        weekdays = _WEEKDAY.finditer(sentence)
    for match in weekdays:
        if _HOLIDAY_BEFORE.search(sentence[max(0, match.start(2) - 12) : match.start(2)]):
            continue
        if match.group(3) or match.group(7):
            month = _month_number(match.group(3) or match.group(7))
            number = int(match.group(4) or match.group(6))
            year = match.group(5) or match.group(8)
            ymd = (int(year) if year else None, month, number)
            found.append(_point_or_until(sentence, match, _CALENDAR_DAY, ymd, looks_forward()))
        else:
            named = (match.group(2), match.group(1), None)
            found.append(_point_or_until(sentence, match, _WEEKDAY_DAY, named, looks_forward()))
    for match in _MONTH_DAY.finditer(sentence) if months else ():
        if match.group(1):
            name, digits, year_text = match.group(1), match.group(2), match.group(3)
        else:
            name, digits, year_text = match.group(5), match.group(4), match.group(6)
        ymd = (int(year_text) if year_text else None, _month_number(name), int(digits))
        found.append(_point_or_until(sentence, match, _CALENDAR_DAY, ymd, looks_forward()))
    for match in _RELATIVE.finditer(sentence) if relative else ():
        word = (match.group(1) or match.group(2) or "").lower()
        offset = _OFFSETS.get(word, 0)
        if match.group(2) and match.group(0).lower().startswith("last"):
            offset = -1 if word in {"night", "evening"} else 0
        found.append(_expr(Kind.POINT, match, _OFFSET_DAY, (offset, None, None), None, offset > 0))
    return tuple(found)


def _weekday_matches(sentence: str, low: str, name_at: int) -> Iterator[re.Match[str]]:
    """``_WEEKDAY.finditer(sentence)`` for ASCII text, tried only around weekday names.

    Every match holds a weekday name and starts at most two words of letters before it
    ("on next Friday"), and neither of those words contains a weekday name; so no match
    starts before ``_back(name)`` of the first name at or after where the scan is, and a
    scan with no name left ahead finds nothing. ``name_at`` is the first name's offset."""
    start = _back(sentence, name_at)
    while (match := _WEEKDAY.search(sentence, start)) is not None:
        yield match
        name = _DAY_NAME.search(low, match.end())
        if name is None:
            return
        start = max(match.end(), _back(sentence, name.start()))


def _back(sentence: str, at: int) -> int:
    """Where the two words of letters before ``at`` begin (``at`` if there are none)."""
    words = _TWO_WORDS_BACK.match(sentence[at - 1 :: -1]) if at else None
    return at - words.end() if words else at


@lru_cache(maxsize=8192)
def find_dates(sentence: str, anchor: date) -> tuple[DateMention, ...]:
    """Every date expression in one sentence, resolved against ``anchor``."""
    expressions = _expressions(sentence)
    if not expressions:
        return ()
    day: date | None
    found: list[DateMention] = []
    taken: list[tuple[int, int]] = []
    for kind, start, end, text, rule, a, b, c, hours, future in expressions:
        if rule == _NO_DAY:
            day = None
        elif rule == _CALENDAR_DAY:
            day = _make_date(a, b, c, anchor)
            if day is None:
                continue
        elif rule == _WEEKDAY_DAY:
            day = _weekday_date(a, b, anchor, future)
        elif rule == _WEEKEND_DAY:
            day = _weekday_date("saturday", a, anchor, b) + timedelta(days=1)
        else:
            day = anchor + timedelta(days=a)
        if taken and _overlaps(start, end, taken):
            continue
        taken.append((start, end))
        found.append(DateMention(kind, start, end, text, day=day, hours=hours, future=future))
    found.sort(key=lambda m: m.start)
    return tuple(found)


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    for s, e in spans:  # noqa: SIM110 - ~4x cheaper than any() over a generator
        if start < e and s < end:
            return True
    return False


def _point_or_until(
    sentence: str, match: re.Match[str], rule: int, args: tuple[Any, Any, Any], future: bool
) -> _Found:
    before = sentence[max(0, match.start() - 12) : match.start()]
    text = match.group().strip()
    leading = _LEADING_UNTIL.match(text)
    kind = Kind.UNTIL if _UNTIL.search(before) or leading else Kind.POINT
    return (kind, match.start(), match.end(), text, rule, *args, None, future)


def start_of_day(day: date, zone: tzinfo = UTC) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)


def end_of_day(day: date, zone: tzinfo = UTC) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=zone).astimezone(UTC)
