"""The dead-letter stream: deliveries given up, kept until an operator replays or purges them.

Each entry of ``{prefix}dead`` names the notifier (its consumer group), the event id and the
events-stream id, the attempts made, the last error (and HTTP status when there was one), when
it was given up, and a copy of the stream entry itself (``entry``: its fields as JSON). The
copy is what makes a replay independent of the events stream: once dead-lettered, an entry no
longer holds back trimming, so it may be gone from the stream when the operator replays it.

A replay hands the event back to the notifier's own group, with the same stream id and so the
same event id (a webhook receiver that saw an earlier attempt recognises the ``webhook-id``):
in one transaction, the copy goes into the group's replay hash, the stream id into its retry
set due now, its attempt count is reset, and the dead letter is deleted. The delivery engine
then takes it like any retry, with the notifier's whole retry schedule ahead of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import redis.asyncio as aioredis

from monitor.groups import resolved, text, texts
from monitor.keys import Keys

ERROR_CHARS: Final = 500


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-lettered delivery; ``id`` is its entry id in the dead-letter stream."""

    id: str
    notifier: str
    event_id: str
    stream_id: str
    type: str
    attempts: int
    error: str
    status: int | None
    failed_at: str
    entry: dict[str, str]

    def row(self) -> dict[str, Any]:
        """What ``monitor dlq list --json`` prints (the entry copy left out: it is bulky)."""
        return {
            "id": self.id,
            "notifier": self.notifier,
            "event_id": self.event_id,
            "type": self.type,
            "stream_id": self.stream_id,
            "attempts": self.attempts,
            "status": self.status,
            "error": self.error,
            "failed_at": self.failed_at,
        }


def letter_fields(
    *,
    notifier: str,
    stream_id: str,
    entry: Mapping[str, str],
    attempts: int,
    error: str,
    status: int | None,
    failed_at: str,
) -> dict[str, str]:
    """The dead-letter stream fields of one delivery given up (pure)."""
    return {
        "notifier": notifier,
        "event_id": entry.get("event_id", ""),
        "stream_id": stream_id,
        "type": entry.get("type", ""),
        "attempts": str(attempts),
        "error": _one_line(error)[:ERROR_CHARS],
        "status": "" if status is None else str(status),
        "failed_at": failed_at,
        "entry": json.dumps(dict(entry), ensure_ascii=False, separators=(",", ":")),
    }


def parse(entry_id: str, fields: Mapping[str, str]) -> DeadLetter:
    """A dead letter from its stream entry (tolerant: a missing field reads as empty)."""
    try:
        copy = json.loads(fields.get("entry") or "{}")
    except ValueError:
        copy = {}
    status = fields.get("status", "")
    attempts = fields.get("attempts", "0")
    return DeadLetter(
        id=entry_id,
        notifier=fields.get("notifier", ""),
        event_id=fields.get("event_id", ""),
        stream_id=fields.get("stream_id", ""),
        type=fields.get("type", ""),
        attempts=int(attempts) if attempts.isdigit() else 0,
        error=fields.get("error", ""),
        status=int(status) if status.isdigit() else None,
        failed_at=fields.get("failed_at", ""),
        entry={str(k): str(v) for k, v in copy.items()} if isinstance(copy, dict) else {},
    )


async def list_letters(
    redis: aioredis.Redis, keys: Keys, *, notifier: str | None = None
) -> list[DeadLetter]:
    """Every dead letter, oldest first (only ``notifier``'s when given)."""
    entries: list[Any] = await resolved(redis.xrange(keys.dead, "-", "+"))
    letters = [parse(text(eid), texts(fields)) for eid, fields in entries or []]
    return [d for d in letters if notifier is None or d.notifier == notifier]


async def find(redis: aioredis.Redis, keys: Keys, ids: Iterable[str]) -> dict[str, DeadLetter]:
    """The dead letters with these ids that exist, by id."""
    wanted = list(dict.fromkeys(ids))
    pipe = redis.pipeline(transaction=False)
    for letter_id in wanted:
        pipe.xrange(keys.dead, letter_id, letter_id)
    found: dict[str, DeadLetter] = {}
    for letter_id, reply in zip(wanted, await pipe.execute(raise_on_error=False), strict=True):
        if isinstance(reply, list) and reply:
            eid, fields = reply[0]
            found[letter_id] = parse(text(eid), texts(fields))
    return found


async def replay(
    redis: aioredis.Redis, keys: Keys, letters: Sequence[DeadLetter], *, now_ms: int
) -> int:
    """Hand each letter back to its notifier's group, due now; delete the letters. Returns how
    many were replayed (a letter deleted meanwhile, by another replay, is skipped)."""
    if not letters:
        return 0
    pipe = redis.pipeline(transaction=True)
    for letter in letters:
        copy = json.dumps(letter.entry, ensure_ascii=False, separators=(",", ":"))
        pipe.hset(keys.replays(letter.notifier), letter.stream_id, copy)
        pipe.zadd(keys.retries(letter.notifier), {letter.stream_id: now_ms})
        pipe.hdel(keys.attempts(letter.notifier), letter.stream_id)
        pipe.xdel(keys.dead, letter.id)
    replies = await pipe.execute()
    return sum(int(r) for r in replies[3::4])


async def purge(redis: aioredis.Redis, keys: Keys, *, notifier: str | None = None) -> int:
    """Delete every dead letter (only ``notifier``'s when given); returns how many."""
    letters = await list_letters(redis, keys, notifier=notifier)
    if not letters:
        return 0
    deleted: int = await resolved(redis.xdel(keys.dead, *(d.id for d in letters)))
    return deleted


def _one_line(text: str) -> str:
    return " ".join(text.split())


__all__ = ["DeadLetter", "find", "letter_fields", "list_letters", "parse", "purge", "replay"]
