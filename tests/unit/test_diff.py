"""Typed changes between two advisory snapshots, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.diff import ORDER, diff
from monitor.models import Advisory, Category, Issuer, Kind

BASE = Advisory(
    id="us-state:ru",
    source="us-state",
    kind=Kind.TRAVEL_ADVISORY,
    title="Russia - Level 3: Reconsider Travel",
    issuers=(
        Issuer(
            country="US", name="U.S. Department of State", level=3, advice=("reconsider travel",)
        ),
    ),
    countries=("RU",),
    level=3,
    categories=(Category.TERRORISM,),
    targets=("tourists",),
    advice=("reconsider travel",),
).to_dict()


def changed(**fields: Any) -> dict[str, Any]:
    return {**BASE, **fields}


def issuer(country: str, level: int | None = None, *advice: str) -> dict[str, Any]:
    return {"country": country, "name": country, "level": level, "advice": list(advice)}


def area(name: str, country: str | None = "RU", level: int | None = None) -> dict[str, Any]:
    return {"name": name, "country": country, "level": level}


CASES: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = [
    ("no material change", changed(), []),
    (
        "editorial fields only",
        changed(title="Russia travel advisory", summary="New wording.", evidence={"x": "y"}),
        [],
    ),
    ("reordering is no change", changed(countries=["RU"], categories=["terrorism"]), []),
    ("level", changed(level=4), [{"field": "level", "old": 3, "new": 4}]),
    ("level cleared", changed(level=None), [{"field": "level", "old": 3, "new": None}]),
    (
        "countries",
        changed(countries=["UA", "RU", "BY"]),
        [{"field": "countries", "added": ["UA", "BY"], "removed": []}],
    ),
    (
        "countries removed",
        changed(countries=[]),
        [{"field": "countries", "added": [], "removed": ["RU"]}],
    ),
    (
        "categories",
        changed(categories=["armed_conflict"]),
        [{"field": "categories", "added": ["armed_conflict"], "removed": ["terrorism"]}],
    ),
    (
        "targets",
        changed(targets=["tourists", "crowds"]),
        [{"field": "targets", "added": ["crowds"], "removed": []}],
    ),
    (
        "advice",
        changed(advice=["do not travel"]),
        [{"field": "advice", "added": ["do not travel"], "removed": ["reconsider travel"]}],
    ),
    (
        "areas by name",
        changed(areas=[area("Moscow")]),
        [{"field": "areas", "added": ["Moscow"], "removed": []}],
    ),
    (
        "expires",
        changed(expires="2024-03-10T00:00:00Z"),
        [{"field": "expires", "old": None, "new": "2024-03-10T00:00:00Z"}],
    ),
    (
        "msg_type",
        changed(msg_type="cancel"),
        [{"field": "msg_type", "old": "alert", "new": "cancel"}],
    ),
    (
        "kind",
        changed(kind="security_alert"),
        [{"field": "kind", "old": "travel_advisory", "new": "security_alert"}],
    ),
    (
        "severity",
        changed(severity="Severe"),
        [{"field": "severity", "old": "Unknown", "new": "Severe"}],
    ),
    (
        "urgency",
        changed(urgency="Immediate"),
        [{"field": "urgency", "old": "Unknown", "new": "Immediate"}],
    ),
    (
        "issuer level",
        changed(issuers=[issuer("US", 4, "reconsider travel")]),
        [{"field": "issuers.US.level", "old": 3, "new": 4}],
    ),
    (
        "issuer advice",
        changed(issuers=[issuer("US", 3, "reconsider travel", "leave now")]),
        [{"field": "issuers.US.advice", "added": ["leave now"], "removed": []}],
    ),
    (
        "issuer added, with its level and advice",
        changed(issuers=[*BASE["issuers"], issuer("GB", 2, "avoid crowds")]),
        [
            {"field": "issuers", "added": ["GB"], "removed": []},
            {"field": "issuers.GB.level", "old": None, "new": 2},
            {"field": "issuers.GB.advice", "added": ["avoid crowds"], "removed": []},
        ],
    ),
    (
        "issuer removed",
        changed(issuers=[]),
        [
            {"field": "issuers", "added": [], "removed": ["US"]},
            {"field": "issuers.US.level", "old": 3, "new": None},
            {"field": "issuers.US.advice", "added": [], "removed": ["reconsider travel"]},
        ],
    ),
    (
        "two issuers of one country read as one, at the highest level",
        changed(issuers=[issuer("US", 2, "reconsider travel"), issuer("US", 3, "leave now")]),
        [{"field": "issuers.US.advice", "added": ["leave now"], "removed": []}],
    ),
    (
        "level rise: the overall level and the issuer's, in the fixed order",
        changed(level=4, issuers=[issuer("US", 4, "reconsider travel")], countries=["RU", "BY"]),
        [
            {"field": "level", "old": 3, "new": 4},
            {"field": "countries", "added": ["BY"], "removed": []},
            {"field": "issuers.US.level", "old": 3, "new": 4},
        ],
    ),
]


@pytest.mark.parametrize(("new", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_diff(new: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    assert diff(BASE, new) == expected


def test_new_advisory_has_no_changes() -> None:
    assert diff(None, BASE) == []


def test_area_level_and_country_by_name() -> None:
    old = changed(areas=[area("Kharkiv", "UA", 3)])
    new = changed(areas=[area("Kharkiv", "UA", 4), area("Odesa", "UA")])
    assert diff(old, new) == [
        {"field": "areas", "added": ["Odesa"], "removed": []},
        {"field": "areas.Kharkiv.level", "old": 3, "new": 4},
    ]


def test_a_snapshot_from_an_older_release_reads_missing_fields_as_defaults() -> None:
    old = {k: v for k, v in BASE.items() if k not in {"urgency", "targets", "areas"}}
    assert diff(old, BASE) == [{"field": "targets", "added": ["tourists"], "removed": []}]


def test_order_is_fixed_whatever_the_input_order() -> None:
    new = changed(urgency="Past", kind="other", level=1, advice=[], expires="2030-01-01T00:00:00Z")
    fields = [c["field"] for c in diff(BASE, new)]
    assert fields == sorted(fields, key=lambda f: ORDER.index(f.split(".")[0]))
    assert diff(BASE, new) == diff(dict(reversed(BASE.items())), dict(reversed(new.items())))
