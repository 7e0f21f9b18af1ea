"""The fields of an entry on the events stream, built and read back. Pure.

Every consumer (webhook, email, ``monitor tail``) reads the same flat stream entry, so its
shape is decided here once. Stream values are strings: the advisory snapshot and the typed
changes travel as JSON text and :func:`decode_entry` turns them back into values.

Event ids are deterministic, so that a consumer can deduplicate and a webhook receiver can
use them as idempotency keys:

- advisory events: ``{advisory_id}:{version}``; the version is bumped by the emit script
  only when the fingerprint changes, so one version is one event;
- source events: ``{source_id}:{type}:{n}``, ``n`` counting the source's health events in its
  hash (``event_seq``), incremented by the same script that appends the event.

The Lua scripts in :mod:`monitor.store` append these fields; the source scripts add the two
values only Redis knows at that moment: ``event_id`` and ``consecutive_failures``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

ADVISORY_NEW: Final = "advisory.new"
ADVISORY_CHANGED: Final = "advisory.changed"
ADVISORY_CANCELLED: Final = "advisory.cancelled"
ADVISORY_EXPIRED: Final = "advisory.expired"
SOURCE_FAILING: Final = "source.failing"
SOURCE_RECOVERED: Final = "source.recovered"
SOURCE_SILENT: Final = "source.silent"
EVENT_TYPES: Final = (
    ADVISORY_NEW,
    ADVISORY_CHANGED,
    ADVISORY_CANCELLED,
    ADVISORY_EXPIRED,
    SOURCE_FAILING,
    SOURCE_RECOVERED,
    SOURCE_SILENT,
)

JSON_FIELDS: Final = frozenset({"advisory", "changes"})
INT_FIELDS: Final = frozenset({"version", "consecutive_failures"})


@lru_cache(maxsize=16)
def utc_iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``: emission times are compared in seconds.

    Cached: one emit call stamps every event of its batch with the same time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def advisory_event_type(msg_type: str, version: int) -> str:
    """The type of the event that announces ``version``.

    ``msg_type`` is the CAP message type (``alert``, ``update``, ``cancel``), or ``expire``
    for the version the expiry sweep records. A cancel is always ``advisory.cancelled``, even
    as the first version: a CAP Cancel has an
    identifier of its own (``sender/identifier``), so it usually *is* the first version of its
    id, and announcing it as "new" would read as a fresh alert.
    """
    if msg_type == "cancel":
        return ADVISORY_CANCELLED
    if msg_type == "expire":  # the version that records that ``expires`` passed
        return ADVISORY_EXPIRED
    return ADVISORY_NEW if version == 1 else ADVISORY_CHANGED


def advisory_event_id(advisory_id: str, version: int) -> str:
    return f"{advisory_id}:{version}"


def advisory_event(
    *,
    advisory_id: str,
    source: str,
    version: int,
    msg_type: str,
    advisory_json: str,
    changes: Sequence[Mapping[str, Any]],
    emitted_at: datetime,
) -> dict[str, str]:
    """Stream fields announcing ``version`` of an advisory; the snapshot JSON comes last.

    ``advisory_json`` is passed already serialised: the emit script stores the same string as
    the snapshot, and serialising once is measurably cheaper than twice.
    """
    return {
        "type": advisory_event_type(msg_type, version),
        "event_id": advisory_event_id(advisory_id, version),
        "advisory_id": advisory_id,
        "version": str(version),
        "source": source,
        "emitted_at": utc_iso(emitted_at),
        "changes": json.dumps(list(changes), ensure_ascii=False, separators=(",", ":")),
        "advisory": advisory_json,
    }


def source_event_id_prefix(source_id: str, event_type: str) -> str:
    """``{source_id}:{type}:``; the script appends ``n`` from the source hash."""
    if not event_type.startswith("source."):
        raise ValueError(f"not a source event type: {event_type!r}")
    return f"{source_id}:{event_type}:"


def source_event_id(source_id: str, event_type: str, n: int) -> str:
    return f"{source_event_id_prefix(source_id, event_type)}{n}"


def source_event(
    *, source_id: str, emitted_at: datetime, detail: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Stream fields of a source-health event, without ``type``, ``event_id`` and the count.

    Whether the event happens at all, its ``n`` and the failure count are decided inside
    the script that appends it, so two processes cannot both announce one failure.
    """
    fields = {"source": source_id, "emitted_at": utc_iso(emitted_at)}
    fields.update(detail or {})
    return fields


def decode_entry(fields: Mapping[bytes | str, bytes | str]) -> dict[str, Any]:
    """A stream entry as values: ``advisory`` and ``changes`` as JSON, counts as ints.

    Unknown fields pass through as strings, so an entry written by a newer release still
    reads; a JSON field that does not parse stays a string rather than losing the entry.

    Every notifier decodes every entry it reads, and the advisory's JSON is most of that
    work: it is read with msgspec's decoder when msgspec is installed (about 2.5x faster than
    the standard library's), and whatever that refuses (``NaN``, ``Infinity``, numbers past a
    float's range, lone surrogates, text that is not JSON) is read again by :func:`json.loads`,
    so the values are the standard library's in every case.
    """
    out: dict[str, Any] = {}
    for raw_key, raw_value in fields.items():
        if isinstance(raw_key, bytes):
            key = _FIELD_NAMES.get(raw_key) or raw_key.decode()
        else:
            key = raw_key
        if key in JSON_FIELDS:
            out[key] = _json_value(raw_value)
            continue
        value = raw_value.decode() if isinstance(raw_value, bytes) else raw_value
        out[key] = int(value) if key in INT_FIELDS and value.lstrip("-").isdigit() else value
    return out


def _json_value(raw: bytes | str) -> Any:
    """The JSON value of ``raw``, or its text when it is not JSON."""
    if _FAST_JSON is not None:
        try:
            return _FAST_JSON(raw)
        except (ValueError, RecursionError):  # not JSON, or JSON only the standard library reads
            pass
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        return json.loads(text)
    except ValueError:
        return text


def _fast_json() -> Callable[[bytes | str], Any] | None:
    """msgspec's JSON decoder; ``None`` without msgspec (the standard library then reads all)."""
    try:
        from msgspec.json import Decoder
    except ImportError:  # pragma: no cover - msgspec is a dependency; the fallback still reads
        return None
    decoder: Decoder[Any] = Decoder()
    return decoder.decode


_FAST_JSON: Final = _fast_json()
_FIELD_NAMES: Final = {
    name.encode(): name
    for name in (
        "type",
        "event_id",
        "advisory_id",
        "version",
        "source",
        "emitted_at",
        "changes",
        "advisory",
        "consecutive_failures",
    )
}
"""The field names an entry has, as Redis answers them: one shared string each, no decoding."""
