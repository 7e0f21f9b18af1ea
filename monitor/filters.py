"""Which events a notifier wants: a pure function of the event and the notifier's filter.

The event is the decoded stream entry (``events.decode_entry``): ``advisory`` and ``changes``
are JSON values. Every non-empty criterion of the :class:`~monitor.config.Filter` must hold;
within a list, any value matches.

- ``events``: the event's type is listed. Empty means every ``advisory.*`` type: source-health
  events (``source.*``) carry no advisory and reach only a notifier that lists their type, and
  then no advisory criterion applies to them.
- ``countries``: the advisory's ``countries`` or one of its areas' countries.
- ``issuers``: the country of one of its issuers.
- ``categories``, ``kinds``: one of its categories; its kind.
- ``min_level``: its level is at least this; an advisory without a level never passes.

A change is judged on both sides: an ``advisory.changed`` (or ``cancelled``) event matches when
the advisory matches as it is now *or* as it was before this change, read back from the typed
changes (``{"field": "level", "old": 4, "new": 2}``, ``{"field": "countries", "removed": [...]}``).
So a subscriber to level 3 and above hears that an advisory it was told about dropped to 2, and a
subscriber to ``RU`` hears that ``RU`` was taken off an advisory, instead of being left with the
last alert it received. An ``advisory.expired`` event carries the advisory as it stood and no
changes, so it reaches exactly the subscribers its advisory matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.config import Filter

ADVISORY_PREFIX = "advisory."


@dataclass(frozen=True, slots=True)
class Facets:
    """The parts of an advisory a filter looks at."""

    countries: frozenset[str]
    issuers: frozenset[str]
    categories: frozenset[str]
    kind: str | None
    level: int | None


def matches(flt: Filter, event: Mapping[str, Any]) -> bool:
    """Whether ``event`` passes ``flt``."""
    event_type = event.get("type")
    if not isinstance(event_type, str):
        return False
    is_advisory = event_type.startswith(ADVISORY_PREFIX)
    if flt.events:
        if event_type not in flt.events:
            return False
    elif not is_advisory:
        return False
    if not is_advisory:
        return True
    if not _has_criteria(flt):
        return True
    advisory = event.get("advisory")
    now = facets(advisory if isinstance(advisory, Mapping) else {})
    if _passes(flt, now):
        return True
    changes = event.get("changes")
    if not isinstance(changes, list) or not changes:
        return False
    return _passes(flt, before(now, changes))


def event_countries(event: Mapping[str, Any]) -> tuple[str, ...]:
    """The countries an event is about, sorted: its advisory's and its areas' (none for source
    events). The pub/sub mirror publishes to one channel per country."""
    advisory = event.get("advisory")
    if not isinstance(advisory, Mapping):
        return ()
    return tuple(sorted(facets(advisory).countries))


def facets(advisory: Mapping[str, Any]) -> Facets:
    """What a filter reads from an advisory snapshot (``Advisory.to_dict()`` shape); missing or
    malformed fields read as empty."""
    countries = set(_strings(advisory.get("countries")))
    countries.update(_field_of(advisory.get("areas"), "country"))
    level = advisory.get("level")
    kind = advisory.get("kind")
    return Facets(
        countries=frozenset(countries),
        issuers=frozenset(_field_of(advisory.get("issuers"), "country")),
        categories=frozenset(_strings(advisory.get("categories"))),
        kind=kind if isinstance(kind, str) else None,
        level=_level(level),
    )


def before(now: Facets, changes: Sequence[Any]) -> Facets:
    """The facets as they were before ``changes`` (the event's typed changes) were made."""
    sets = {"countries": now.countries, "issuers": now.issuers, "categories": now.categories}
    kind, level = now.kind, now.level
    for change in changes:
        if not isinstance(change, Mapping):
            continue
        name = change.get("field")
        if name in sets:
            added = set(_strings(change.get("added")))
            removed = set(_strings(change.get("removed")))
            sets[name] = frozenset((sets[name] - added) | removed)
        elif name == "level" and "old" in change:
            level = _level(change["old"])
        elif name == "kind" and "old" in change:
            old = change["old"]
            kind = old if isinstance(old, str) else None
    return Facets(
        countries=sets["countries"],
        issuers=sets["issuers"],
        categories=sets["categories"],
        kind=kind,
        level=level,
    )


def _has_criteria(flt: Filter) -> bool:
    return bool(
        flt.countries or flt.issuers or flt.categories or flt.kinds or flt.min_level is not None
    )


def _passes(flt: Filter, facet: Facets) -> bool:
    if flt.countries and facet.countries.isdisjoint(flt.countries):
        return False
    if flt.issuers and facet.issuers.isdisjoint(flt.issuers):
        return False
    if flt.categories and facet.categories.isdisjoint(flt.categories):
        return False
    if flt.kinds and facet.kind not in flt.kinds:
        return False
    return flt.min_level is None or (facet.level is not None and facet.level >= flt.min_level)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, list | tuple):
        return (item for item in value if isinstance(item, str))
    return ()


def _field_of(records: Any, name: str) -> Iterable[str]:
    """``record[name]`` of each record (issuers, areas) that has it as a string."""
    if not isinstance(records, list | tuple):
        return ()
    found = (record.get(name) for record in records if isinstance(record, Mapping))
    return (value for value in found if isinstance(value, str))


def _level(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


__all__ = ["Facets", "before", "event_countries", "facets", "matches"]
