"""What changed between two snapshots of one advisory, as typed changes. Pure.

A notifier says "level 3 -> 4" or "countries +[LB]" rather than "something changed", and a
filter can match on a change ("only level rises"). The inputs are snapshots in the
``Advisory.to_dict()`` shape: the new advisory, and the old one as stored in Redis (JSON
decoded), which may come from an older release, so a missing key reads as its default.

Changes come in a fixed order, the order of :data:`ORDER`, so equal inputs give equal lists:

- scalars (``level``, ``expires``, ``msg_type``, ``kind``, ``severity``, ``urgency``):
  ``{"field": "level", "old": 3, "new": 4}``;
- sets (``countries``, ``categories``, ``targets``, ``advice``, ``areas`` by name, ``issuers``
  by country): ``{"field": "countries", "added": [...], "removed": [...]}``, added in the new
  snapshot's order, removed in the old one's; a reordering alone is no change;
- per area and per issuer: ``{"field": "areas.Kyiv.level", "old": 3, "new": 4}``,
  ``{"field": "issuers.GB.level", ...}`` and ``{"field": "issuers.GB.advice", "added": ...}``.
  An issuer absent on one side counts there as level null with no advice, so an added issuer
  also shows its level and advice. Two issuers of one country (an embassy and its ministry)
  are read as one: the highest level, the advice of both.

Only material fields are compared; titles, summaries and evidence are editorial.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

Change = dict[str, Any]
Snapshot = Mapping[str, Any]

SCALAR_DEFAULTS: Final[Mapping[str, Any]] = {
    "level": None,
    "expires": None,
    "msg_type": "alert",
    "kind": "other",
    "severity": "Unknown",
    "urgency": "Unknown",
}
SET_FIELDS: Final = ("countries", "categories", "targets", "advice")
ORDER: Final = (
    "level",
    "countries",
    "areas",
    "categories",
    "targets",
    "advice",
    "issuers",
    "expires",
    "msg_type",
    "kind",
    "severity",
    "urgency",
)
AREA_FIELDS: Final = ("country", "level")


def diff(old: Snapshot | None, new: Snapshot) -> list[Change]:
    """Typed changes from ``old`` to ``new``; ``[]`` when nothing material changed.

    With no old snapshot (a new advisory) there is nothing to compare: the event carries the
    whole advisory instead, so the result is ``[]``.
    """
    if old is None:
        return []
    changes: list[Change] = []
    for field in ORDER:
        if field in SCALAR_DEFAULTS:
            changes.extend(_scalar(field, old, new))
        elif field in SET_FIELDS:
            changes.extend(_members(field, _list(old, field), _list(new, field)))
        elif field == "areas":
            changes.extend(_areas(old, new))
        else:
            changes.extend(_issuers(old, new))
    return changes


def _scalar(field: str, old: Snapshot, new: Snapshot) -> list[Change]:
    default = SCALAR_DEFAULTS[field]
    before, after = old.get(field, default), new.get(field, default)
    return [] if before == after else [{"field": field, "old": before, "new": after}]


def _list(snapshot: Snapshot, field: str) -> list[Any]:
    value = snapshot.get(field)
    return list(value) if isinstance(value, list | tuple) else []


def _members(field: str, old: Iterable[Any], new: Iterable[Any]) -> list[Change]:
    before, after = _unique(old), _unique(new)
    added = [v for v in after if v not in before]
    removed = [v for v in before if v not in after]
    if not added and not removed:
        return []
    return [{"field": field, "added": added, "removed": removed}]


def _unique(values: Iterable[Any]) -> dict[Any, None]:
    """Values in first-seen order (a dict keeps order and answers ``in`` quickly)."""
    return dict.fromkeys(values)


def _areas(old: Snapshot, new: Snapshot) -> list[Change]:
    before, after = _by_name(_list(old, "areas")), _by_name(_list(new, "areas"))
    changes = _members("areas", before, after)
    for name, area in after.items():
        if name in before:
            for attr in AREA_FIELDS:
                was, now = before[name].get(attr), area.get(attr)
                if was != now:
                    changes.append({"field": f"areas.{name}.{attr}", "old": was, "new": now})
    return changes


def _by_name(areas: list[Any]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for area in areas:
        if isinstance(area, Mapping) and isinstance(area.get("name"), str):
            out.setdefault(area["name"], area)
    return out


def _issuers(old: Snapshot, new: Snapshot) -> list[Change]:
    before, after = _by_country(_list(old, "issuers")), _by_country(_list(new, "issuers"))
    changes = _members("issuers", before, after)
    absent: tuple[int | None, list[str]] = (None, [])
    for country in [*after, *(c for c in before if c not in after)]:
        (was_level, was_advice), (level, advice) = (
            before.get(country, absent),
            after.get(country, absent),
        )
        if was_level != level:
            changes.append({"field": f"issuers.{country}.level", "old": was_level, "new": level})
        changes.extend(_members(f"issuers.{country}.advice", was_advice, advice))
    return changes


def _by_country(issuers: list[Any]) -> dict[str, tuple[int | None, list[str]]]:
    """Country -> (highest level, advice of all its issuers in first-seen order)."""
    out: dict[str, tuple[int | None, list[str]]] = {}
    for issuer in issuers:
        if not isinstance(issuer, Mapping) or not isinstance(issuer.get("country"), str):
            continue
        level, advice = out.get(issuer["country"], (None, []))
        own = issuer.get("level")
        if isinstance(own, int) and (level is None or own > level):
            level = own
        extra = issuer.get("advice") or ()
        out[issuer["country"]] = (level, list(_unique([*advice, *extra])))
    return out
