"""One checker for the fact files (``*.expected.json``) of the reference and the examples.

Fact keys (see tests/fixtures/examples/README.md): lists marked ``_exactly`` match as
sets, ``_contains`` lists are subsets, phrases compare case-insensitively as substrings
of the produced phrases, ``kind_not_in`` and ``categories_excludes`` name wrong values,
``advice_max`` caps the number of advice phrases. Day facts compare UTC calendar days,
with ``day_slack`` days either way.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from monitor.models import Advisory


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _has_phrase(produced: list[str] | tuple[str, ...], wanted: str) -> bool:
    return any(wanted.lower() in phrase.lower() for phrase in produced)


def check_facts(advisory: Advisory, facts: dict[str, Any], *, day_slack: int = 0) -> list[str]:
    """Every fact that does not hold, as a readable line; empty when all hold."""
    problems: list[str] = []
    issuers = {i.country: i for i in advisory.issuers}

    def fail(key: str, want: Any, got: Any) -> None:
        problems.append(f"{key}: wanted {want!r}, got {got!r}")

    def day_ok(key: str, got: datetime | None) -> None:
        want = date.fromisoformat(facts[key])
        day = _day(got)
        if day is None or abs((day - want).days) > day_slack:
            fail(key, facts[key], got.isoformat() if got else None)

    for key, want in facts.items():
        if key.startswith("_"):
            continue
        if key == "kind" and advisory.kind.value != want:
            fail(key, want, advisory.kind.value)
        elif key == "kind_not_in" and advisory.kind.value in want:
            fail(key, f"not one of {want}", advisory.kind.value)
        elif key == "published_day":
            day_ok(key, advisory.published)
        elif key == "effective_day":
            day_ok(key, advisory.effective)
        elif key == "expires_day":
            day_ok(key, advisory.expires)
        elif key == "countries_exactly" and set(advisory.countries) != set(want):
            fail(key, sorted(want), list(advisory.countries))
        elif key == "issuers_exactly" and set(issuers) != set(want):
            fail(key, sorted(want), list(issuers))
        elif key == "areas_contains":
            names = [a.name for a in advisory.areas]
            for name in want:
                if not _has_phrase(names, name):
                    fail(key, name, names)
        elif key == "issuer_advice_contains":
            for code, phrases in want.items():
                advice = issuers[code].advice if code in issuers else ()
                for phrase in phrases:
                    if not _has_phrase(advice, phrase):
                        fail(f"{key}[{code}]", phrase, list(advice))
        elif key == "issuer_level":
            for code, level in want.items():
                got = issuers[code].level if code in issuers else "no such issuer"
                if got != level:
                    fail(f"{key}[{code}]", level, got)
        elif key == "level" and advisory.level != want:
            fail(key, want, advisory.level)
        elif key == "severity" and advisory.severity.value != want:
            fail(key, want, advisory.severity.value)
        elif key == "urgency" and advisory.urgency.value != want:
            fail(key, want, advisory.urgency.value)
        elif key == "categories_contains":
            got = [c.value for c in advisory.categories]
            for category in want:
                if category not in got:
                    fail(key, category, got)
        elif key == "categories_excludes":
            got = [c.value for c in advisory.categories]
            for category in want:
                if category in got:
                    fail(key, f"not {category}", got)
        elif key == "targets_contains":
            for target in want:
                if not _has_phrase(advisory.targets, target):
                    fail(key, target, list(advisory.targets))
        elif key == "evidence_contains":
            for field, phrase in want.items():
                got = advisory.evidence.get(field, "")
                if phrase.lower() not in got.lower():
                    fail(f"{key}[{field}]", phrase, got)
        elif key == "advice_max" and len(advisory.advice) > want:
            fail(key, want, list(advisory.advice))
        elif key not in KNOWN_KEYS:
            fail("fact file", "known keys only", key)
    return problems


KNOWN_KEYS = frozenset(
    """kind kind_not_in published_day effective_day expires_day countries_exactly
    issuers_exactly areas_contains issuer_advice_contains issuer_level level severity
    urgency categories_contains categories_excludes targets_contains evidence_contains
    advice_max""".split()
)


def one_day() -> timedelta:
    return timedelta(days=1)
