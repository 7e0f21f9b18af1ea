"""Filters: which events each notifier wants, a pure function of the event, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.config import Filter
from monitor.filters import before, event_countries, facets, matches


def advisory(**fields: Any) -> dict[str, Any]:
    """An advisory snapshot in the ``Advisory.to_dict()`` shape, with the fields a filter reads."""
    snapshot: dict[str, Any] = {
        "id": "us-state:ru",
        "source": "us-state",
        "kind": "travel_advisory",
        "title": "Russia - Level 3: Reconsider Travel",
        "issuers": [{"country": "US", "name": "U.S. Department of State", "level": 3}],
        "countries": ["RU"],
        "areas": [],
        "level": 3,
        "categories": ["armed_conflict"],
    }
    snapshot.update(fields)
    return snapshot


def event(
    event_type: str = "advisory.new",
    changes: list[Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    return {
        "type": event_type,
        "event_id": "us-state:ru:1",
        "advisory_id": "us-state:ru",
        "version": 1,
        "source": "us-state",
        "emitted_at": "2024-03-08T12:00:00.000Z",
        "advisory": advisory(**fields),
        "changes": changes or [],
    }


def source_event(event_type: str = "source.failing") -> dict[str, Any]:
    return {
        "type": event_type,
        "event_id": f"us-embassy-ru:{event_type}:1",
        "source": "us-embassy-ru",
        "emitted_at": "2024-03-08T12:00:00.000Z",
        "consecutive_failures": 3,
        "outcome": "timeout",
        "error": "read timed out",
    }


UNLEVELLED = event(level=None)
KYIV = event(countries=[], areas=[{"name": "Kyiv", "country": "UA", "level": 4}])
LEVEL_DROP = event(
    "advisory.changed", changes=[{"field": "level", "old": 4, "new": 2}], level=2, version=2
)
RU_REMOVED = event(
    "advisory.changed",
    changes=[{"field": "countries", "added": ["BY"], "removed": ["RU"]}],
    countries=["BY"],
)
ISSUER_ADDED = event(
    "advisory.changed",
    changes=[{"field": "issuers", "added": ["GB"], "removed": []}],
    issuers=[{"country": "US", "name": "State"}, {"country": "GB", "name": "FCDO"}],
)
KIND_CHANGED = event(
    "advisory.changed",
    changes=[{"field": "kind", "old": "security_alert", "new": "news_report"}],
    kind="news_report",
)


@pytest.mark.parametrize(
    ("case", "flt", "ev", "wanted"),
    [
        # the empty filter: every advisory event, no source event
        ("all advisory events", Filter(), event(), True),
        ("changed too", Filter(), event("advisory.changed"), True),
        ("cancelled too", Filter(), event("advisory.cancelled"), True),
        ("expired too", Filter(), event("advisory.expired"), True),
        ("no source events by default", Filter(), source_event(), False),
        ("no recovered by default", Filter(), source_event("source.recovered"), False),
        ("unknown type", Filter(), {"type": "advisory.new"}, True),
        ("no type at all", Filter(), {"advisory": advisory()}, False),
        # events
        ("listed type", Filter(events=("advisory.new",)), event(), True),
        ("unlisted type", Filter(events=("advisory.new",)), event("advisory.changed"), False),
        ("source listed", Filter(events=("source.failing",)), source_event(), True),
        (
            "source listed passes advisory criteria",
            Filter(events=("source.failing",), countries=("UA",), min_level=4),
            source_event(),
            True,
        ),
        (
            "other source type",
            Filter(events=("source.failing",)),
            source_event("source.silent"),
            False,
        ),
        # countries: the advisory's and its areas'
        ("country listed", Filter(countries=("RU",)), event(), True),
        ("any of the countries", Filter(countries=("UA", "RU")), event(), True),
        ("country not listed", Filter(countries=("UA",)), event(), False),
        ("area's country", Filter(countries=("UA",)), KYIV, True),
        ("no countries at all", Filter(countries=("UA",)), event(countries=[]), False),
        # issuers: the issuing governments' countries
        ("issuer listed", Filter(issuers=("US",)), event(), True),
        ("issuer not listed", Filter(issuers=("GB", "CA")), event(), False),
        ("issuer is not a country", Filter(issuers=("RU",)), event(), False),
        # categories and kinds
        ("category listed", Filter(categories=("armed_conflict", "crime")), event(), True),
        ("category not listed", Filter(categories=("terrorism",)), event(), False),
        ("kind listed", Filter(kinds=("travel_advisory",)), event(), True),
        ("kind not listed", Filter(kinds=("security_alert",)), event(), False),
        # min_level
        ("level at the minimum", Filter(min_level=3), event(), True),
        ("level above", Filter(min_level=2), event(), True),
        ("level below", Filter(min_level=4), event(), False),
        ("no level, a minimum", Filter(min_level=1), UNLEVELLED, False),
        ("no level, no minimum", Filter(), UNLEVELLED, True),
        ("no level, other criteria", Filter(countries=("RU",)), UNLEVELLED, True),
        # every criterion must hold
        (
            "all hold",
            Filter(countries=("RU",), min_level=3, issuers=("US",), kinds=("travel_advisory",)),
            event(),
            True,
        ),
        ("one fails", Filter(countries=("RU",), min_level=4), event(), False),
        (
            "the issue's example",
            Filter(
                countries=("RU", "UA"),
                min_level=3,
                categories=("terrorism",),
                issuers=("US", "GB"),
                kinds=("security_alert", "travel_advisory"),
                events=("advisory.new", "advisory.changed"),
            ),
            event(categories=["terrorism"], level=4),
            True,
        ),
        # a change is judged on both of its sides
        ("level dropped below the minimum", Filter(min_level=3), LEVEL_DROP, True),
        ("never at the minimum", Filter(min_level=4), event(level=2, version=2), False),
        ("country taken off", Filter(countries=("RU",)), RU_REMOVED, True),
        ("country put on", Filter(countries=("BY",)), RU_REMOVED, True),
        ("neither side", Filter(countries=("UA",)), RU_REMOVED, False),
        ("issuer added", Filter(issuers=("GB",)), ISSUER_ADDED, True),
        ("kind it was", Filter(kinds=("security_alert",)), KIND_CHANGED, True),
        ("kind it is", Filter(kinds=("news_report",)), KIND_CHANGED, True),
        # malformed input never raises
        (
            "advisory not JSON",
            Filter(countries=("RU",)),
            {"type": "advisory.new", "advisory": "{"},
            False,
        ),
        (
            "advisory not JSON, no criteria",
            Filter(),
            {"type": "advisory.new", "advisory": "{"},
            True,
        ),
        (
            "odd shapes",
            Filter(countries=("RU",), issuers=("US",), min_level=1),
            event(countries="RU", issuers=[1, None], areas=[None], level="3", changes=["x"]),
            False,
        ),
        ("boolean level", Filter(min_level=1), event(level=True), False),
    ],
)
def test_filter(case: str, flt: Filter, ev: dict[str, Any], wanted: bool) -> None:
    assert matches(flt, ev) is wanted, case


def test_matching_does_not_change_the_event() -> None:
    ev = RU_REMOVED
    snapshot = repr(ev)
    matches(Filter(countries=("RU",), min_level=1), ev)
    assert repr(ev) == snapshot


def test_event_countries_are_the_advisory_and_area_countries_sorted() -> None:
    ev = event(countries=["UA", "RU"], areas=[{"name": "Minsk", "country": "BY"}, {"name": "x"}])
    assert event_countries(ev) == ("BY", "RU", "UA")
    assert event_countries(source_event()) == ()


def test_before_reads_the_old_side_of_each_change() -> None:
    now = facets(advisory(level=2, countries=["BY"], categories=["crime"], kind="news_report"))
    old = before(
        now,
        [
            {"field": "level", "old": 4, "new": 2},
            {"field": "countries", "added": ["BY"], "removed": ["RU"]},
            {"field": "categories", "added": ["crime"], "removed": []},
            {"field": "kind", "old": "security_alert", "new": "news_report"},
            {"field": "issuers.US.level", "old": 4, "new": 2},
        ],
    )
    assert (old.level, old.countries, old.categories, old.kind) == (
        4,
        frozenset({"RU"}),
        frozenset(),
        "security_alert",
    )
