"""Durations as operators write them: ``"90s"``, ``"5m"``, ``"1h30m"``, ``"250ms"``, or seconds.

Intervals, timeouts and thresholds are all durations in the configuration, so one parser reads
them all and one message explains the syntax. A duration is one or more ``<number><unit>`` parts
(units ``ms``, ``s``, ``m``, ``h``, ``d``; lower case, because ``M`` reads as months to some) that
add up; a bare number, in TOML or in a string, is seconds. Lower bounds that depend on the use
(an interval of at least one second, a timeout above zero) are checked by the caller, which knows
the key to blame.
"""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\s*\d+(?:\.\d+)?(?:ms|s|m|h|d))+\s*")
_SECONDS = re.compile(r"\s*\d+(?:\.\d+)?\s*")
HINT = "use e.g. 90s, 5m, 1h"


def parse_duration(value: str | int | float) -> float:
    """Seconds in ``value``; raises ``ValueError`` saying what a duration looks like.

    ``bool`` is refused although it is an ``int``: ``interval = true`` in TOML is a mistake,
    not one second.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a duration ({HINT})")
    if isinstance(value, str):
        return _parse_text(value)
    return _checked(float(value), value)


def _parse_text(text: str) -> float:
    """Sum the parts of a duration string, or a bare number of seconds."""
    if text.strip().startswith("-"):
        raise ValueError(f"{text!r} is negative; a duration is at least 0 ({HINT})")
    if _SECONDS.fullmatch(text):
        return _checked(float(text), text)
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"{text!r} is not a duration ({HINT})")
    total = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(text))
    return _checked(total, text)


def _checked(seconds: float, original: object) -> float:
    """Refuse what no schedule can use: negative, infinite or not-a-number seconds."""
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"{original!r} is not a finite duration ({HINT})")
    if seconds < 0:
        raise ValueError(f"{original!r} is negative; a duration is at least 0 ({HINT})")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest spelling ``parse_duration`` reads back, for messages: 5400 → ``"1h30m"``."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    parts: list[str] = []
    rest = seconds
    for unit in ("d", "h", "m"):
        count, rest = divmod(rest, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count:g}{unit}")
    if rest or not parts:
        parts.append(f"{rest:g}s")
    return "".join(parts)


__all__ = ["HINT", "format_duration", "parse_duration"]
