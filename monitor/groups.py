"""The Redis side of delivery: consumer groups on the events stream, retries, safe trimming.

Every notifier reads the events stream through a consumer group named after it. An entry of
a group is, at any moment, in exactly one of these places, and moves only forward:

1. **undelivered**: after the group's last-delivered id;
2. **pending**: read by a consumer (``XREADGROUP``), in the group's pending entries list until
   acknowledged; a dead consumer's are taken over with ``XAUTOCLAIM``;
3. **waiting for a retry**: acknowledged and in the group's retry set (``keys.retries``,
   score = due time), its failed attempts in ``keys.attempts``; a taken retry stays in the set
   under a lease (its score moved a claim period ahead), so a crash cannot lose it;
4. **done**: delivered, filtered out, or dead-lettered (a copy in ``keys.dead``).

Every move from one place to the next is one ``MULTI`` transaction (:meth:`GroupStore.settle`)
or one script (``retry_take.lua``), so no crash between two commands loses an entry. Trimming
(:func:`safe_trim`) removes only entries before every group's places 1 to 3.

All of a deployment's keys share the prefix's hash tag when it has one (``"{monitor}:"``), so
the transactions and scripts stay valid on Redis Cluster.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, Final, Literal

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from monitor.keys import Keys
from monitor.logging import get_logger

StreamId = tuple[int, int]
Origin = Literal["new", "claimed", "retry"]

TRIM_STEP: Final = 1000  # entries looked at per trim round (their ids decide the cut)
TRIM_ROUNDS: Final = 20


def _script(name: str) -> str:
    return (files("monitor") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


RETRY_TAKE: Final = _script("retry_take")
CONSUMERS_FORGET: Final = _script("consumers_forget")
TOUCH: Final = _script("touch")


# --- stream ids -------------------------------------------------------------------------------


def parse_id(stream_id: str) -> StreamId:
    """``"1709900000000-3"`` as ``(1709900000000, 3)``, to compare; ``"5"`` is ``(5, 0)``."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def format_id(parts: StreamId) -> str:
    return f"{parts[0]}-{parts[1]}"


def next_id(stream_id: str) -> str:
    """The smallest id after ``stream_id``."""
    ms, seq = parse_id(stream_id)
    return format_id((ms, seq + 1))


def min_id(ids: Iterable[str]) -> str | None:
    parsed = [parse_id(i) for i in ids]
    return format_id(min(parsed)) if parsed else None


def is_nogroup(error: BaseException) -> bool:
    """The group (or the whole stream) is gone: a Redis restart without persistence, a
    ``FLUSHALL``, an operator's ``XGROUP DESTROY``."""
    return isinstance(error, ResponseError) and str(error).startswith("NOGROUP")


# --- creating groups --------------------------------------------------------------------------

UNTRIMMED: Final = 2**62
"""The ``MAXLEN ~`` the emit scripts get when notifiers read the stream: no limit in effect."""


def emit_maxlen(stream_maxlen: int, *, notifiers: bool) -> int:
    """The ``MAXLEN ~`` for ``XADD`` by the emit scripts.

    ``MAXLEN`` cuts the oldest entries whoever has read them, so while any notifier's group
    reads the stream, emitting does not trim at all: the delivery engine trims instead, with
    ``XTRIM MINID`` up to what every group has finished (:func:`safe_trim`), keeping about
    ``stream_maxlen`` entries. Without notifiers nothing is owed to anyone and the emit
    scripts trim to ``stream_maxlen`` themselves, as before.
    """
    return UNTRIMMED if notifiers else stream_maxlen


async def ensure_groups(redis: aioredis.Redis, keys: Keys, names: Iterable[str]) -> list[str]:
    """Create the consumer group of each notifier name that has none; returns those created.

    A new group starts at the end of the stream (``$``): a notifier added to the configuration
    hears what happens from now on, not the whole history. An existing group is left as it is
    (``BUSYGROUP``), so calling this from every process at every start is harmless; the stream
    is created when missing (``MKSTREAM``), so the groups exist before the first emit.
    """
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    pipe = redis.pipeline(transaction=False)
    for name in wanted:
        pipe.xgroup_create(keys.events, name, id="$", mkstream=True)
    created: list[str] = []
    for name, reply in zip(wanted, await pipe.execute(raise_on_error=False), strict=True):
        if isinstance(reply, ResponseError) and str(reply).startswith("BUSYGROUP"):
            continue
        if isinstance(reply, Exception):
            raise reply
        created.append(name)
    return created


async def prepare_groups(redis: aioredis.Redis, keys: Keys, names: Iterable[str]) -> None:
    """:func:`ensure_groups` for a process about to emit (``poll``, ``run``): Redis not
    answering is no reason to stop it from starting (a poll reports that itself, and the
    delivery engine creates the groups too), so a failure is logged, not raised."""
    try:
        await ensure_groups(redis, keys, names)
    except (RedisError, OSError) as error:
        get_logger("monitor.groups").warning("groups.not_created", error=str(error))


# --- one group ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Entry:
    """One stream entry on its way to a notifier. ``fields`` are the stream entry's, as Redis
    answered them (bytes, or text for a replayed copy), empty when the entry no longer exists;
    ``attempts``: failed attempts before this one; ``lease_ms``: for a retry, the lease end
    this consumer last wrote as its score (how it tells the retry is still its own)."""

    stream_id: str
    fields: Mapping[Any, Any]
    origin: Origin
    attempts: int = 0
    lease_ms: int = 0

    def strings(self) -> dict[str, str]:
        """The fields as text (for a dead letter's copy)."""
        return texts(self.fields)


@dataclass(slots=True)
class Settlement:
    """What one batch did, written back in one transaction.

    ``ack``: entries done (delivered or filtered out) that were read from the stream;
    ``done``: entries done that came from the retry set; ``retry``: ``(id, due_ms, failures)``;
    ``dead``: ``(id, dead-letter fields)``; ``hand_back``: ``(id, due_ms)`` for deliveries
    stopped by a shutdown, attempts unchanged; ``lost``: retries whose entry is gone.
    """

    ack: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    retry: list[tuple[str, int, int]] = field(default_factory=list)
    dead: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    hand_back: list[tuple[str, int]] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.ack or self.done or self.retry or self.dead or self.hand_back or self.lost)

    def take(self) -> Settlement:
        """A copy holding everything so far; this one starts empty again."""
        copy = Settlement(self.ack, self.done, self.retry, self.dead, self.hand_back, self.lost)
        self.ack, self.done, self.retry, self.dead = [], [], [], []
        self.hand_back, self.lost = [], []
        return copy


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """How much work a group has left. ``exists`` is False when the group is missing."""

    name: str
    exists: bool
    undelivered: int  # entries after the last-delivered id (at least 1 when unknown but some)
    pending: int
    retrying: int

    @property
    def idle(self) -> bool:
        return self.exists and self.undelivered == 0 and self.pending == 0 and self.retrying == 0


class GroupStore:
    """The Redis operations of one notifier's consumer group."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, group: str) -> None:
        self.redis = redis
        self.keys = keys
        self.group = group
        self.stream = keys.events
        self._take = redis.register_script(RETRY_TAKE)
        self._forget = redis.register_script(CONSUMERS_FORGET)
        self._touch = redis.register_script(TOUCH)
        self._retry_keys = [
            keys.retries(group),
            keys.events,
            keys.attempts(group),
            keys.replays(group),
        ]

    async def read_new(self, consumer: str, count: int, block_ms: int | None) -> list[Entry]:
        """Up to ``count`` entries never delivered to the group; waits up to ``block_ms``
        for one (``None``: answer at once)."""
        reply: list[Any] | None = await resolved(
            self.redis.xreadgroup(
                self.group, consumer, {self.stream: ">"}, count=count, block=block_ms
            )
        )
        out: list[Entry] = []
        for _stream, entries in reply or []:
            out.extend(Entry(text(eid), fields, "new") for eid, fields in entries)
        return out

    async def reclaim(
        self, consumer: str, min_idle_ms: int, count: int, cursor: str
    ) -> tuple[list[Entry], str]:
        """Entries pending longer than ``min_idle_ms`` with any consumer (a dead one), now
        ours; and the cursor to continue from (``"0-0"``: the scan went round). An entry
        deleted from the stream meanwhile comes back with empty fields (Redis 6.2) or not at
        all (Redis 7 drops it from the pending list itself)."""
        reply: list[Any] = await resolved(
            self.redis.xautoclaim(
                self.stream, self.group, consumer, min_idle_ms, start_id=cursor, count=count
            )
        )
        following = text(reply[0])
        out = [
            Entry(text(eid), fields, "claimed") for eid, fields in reply[1] or [] if eid is not None
        ]
        return out, following

    async def take_due(
        self, now_ms: int, lease_until_ms: int, count: int
    ) -> tuple[list[Entry], int | None]:
        """Due retries, leased to the caller until ``lease_until_ms``; and the due time of
        the earliest retry left (``None``: none)."""
        reply: list[Any] = await self._take(
            keys=self._retry_keys, args=[now_ms, lease_until_ms, count]
        )
        head = text(reply[0]) if reply and reply[0] is not None else ""
        following = int(float(head)) if head else None
        out: list[Entry] = []
        for raw_id, raw_attempts, raw_replay, raw_fields in reply[1:]:
            fields = _pairs(raw_fields)
            replay = text(raw_replay) if raw_replay else ""
            if replay:  # a replayed dead letter: its copy, whatever the stream still holds
                fields = _json_fields(replay) or fields
            attempts = text(raw_attempts)
            count = int(attempts) if attempts.isdigit() else 0
            out.append(Entry(text(raw_id), fields, "retry", count, lease_until_ms))
        return out, following

    async def touch(
        self, consumer: str, pending: Sequence[str], retries: Mapping[str, int], lease_until_ms: int
    ) -> tuple[set[str], set[str]]:
        """Tell other consumers these are still being worked on (``touch.lua``): reset the
        idle time of the pending ones this consumer still owns, and extend the lease of the
        retries (stream id -> the lease end this consumer last set) that are still its own.
        Answers the ids of each kind that are still ours; the rest were taken over."""
        if not pending and not retries:
            return set(), set()
        args: list[str | int] = [self.group, consumer, lease_until_ms, len(pending), *pending]
        for stream_id, lease in retries.items():
            args += [stream_id, lease]
        reply: list[Any] = await self._touch(
            keys=[self.stream, self.keys.retries(self.group)], args=args
        )
        ours, extended = reply if reply else ([], [])
        return {text(i) for i in ours}, {text(i) for i in extended}

    async def settle(self, outcome: Settlement) -> None:
        """Write a batch's outcome in one transaction (see :class:`Settlement`)."""
        if not outcome:
            return
        retries, attempts, replays = (
            self.keys.retries(self.group),
            self.keys.attempts(self.group),
            self.keys.replays(self.group),
        )
        if outcome.ack and not (outcome.done or outcome.lost or outcome.dead or outcome.retry
                                or outcome.hand_back):  # fmt: skip
            # The common batch: everything delivered at the first attempt. One command is
            # atomic by itself; MULTI/EXEC around it would only cost two more replies.
            await resolved(self.redis.xack(self.stream, self.group, *outcome.ack))
            return
        finished = [*outcome.done, *outcome.lost, *(i for i, _ in outcome.dead)]
        ack = [*outcome.ack, *(i for i, _, _ in outcome.retry), *(i for i, _ in outcome.dead),
               *(i for i, _ in outcome.hand_back)]  # fmt: skip
        pipe = self.redis.pipeline(transaction=True)
        for _, letter in outcome.dead:
            fields: dict[Any, Any] = dict(letter)  # redis-py wants an invariant key type
            pipe.xadd(self.keys.dead, fields)
        if outcome.retry:
            pipe.zadd(retries, {i: due for i, due, _ in outcome.retry})
            pipe.hset(attempts, items=[x for i, _, n in outcome.retry for x in (i, n)])
        if outcome.hand_back:
            pipe.zadd(retries, dict(outcome.hand_back))
        if finished:
            pipe.zrem(retries, *finished)
            pipe.hdel(attempts, *finished)
            pipe.hdel(replays, *finished)
        if ack:
            pipe.xack(self.stream, self.group, *ack)
        await pipe.execute()

    async def recreate(self, last_seen: str | None) -> str:
        """Create the group again after ``NOGROUP``; returns where it starts.

        When the stream itself was lost too (a restart without persistence: its first entry is
        newer than anything this engine saw), everything in it is new to the group: start at
        ``0``. When only the group was destroyed, start after what this engine saw last, so the
        history is not sent again.
        """
        first: list[Any] = await resolved(self.redis.xrange(self.stream, "-", "+", count=1))
        start = "0"
        if last_seen and first and parse_id(text(first[0][0])) <= parse_id(last_seen):
            start = last_seen
        try:
            await resolved(self.redis.xgroup_create(self.stream, self.group, id=start,
                                                    mkstream=True))  # fmt: skip
        except ResponseError as error:
            if not str(error).startswith("BUSYGROUP"):  # another engine was first: fine
                raise
        return start

    async def forget_consumers(self, keep: str, idle_ms: int) -> list[str]:
        """Delete this group's consumers that hold nothing and were idle ``idle_ms``."""
        try:
            reply: list[Any] = await self._forget(
                keys=[self.stream], args=[self.group, idle_ms, keep]
            )
        except ResponseError as error:
            if is_nogroup(error) or "no such key" in str(error):
                return []
            raise
        return [text(name) for name in reply or []]


# --- status and trimming ----------------------------------------------------------------------


async def group_info(redis: aioredis.Redis, keys: Keys) -> dict[str, dict[str, Any]]:
    """``XINFO GROUPS`` of the events stream by group name (empty when there is no stream)."""
    try:
        reply: list[dict[str, Any]] = await resolved(redis.xinfo_groups(keys.events))
    except ResponseError as error:
        if "no such key" in str(error).lower():
            return {}
        raise
    return {text(info["name"]): info for info in reply}


async def statuses(redis: aioredis.Redis, keys: Keys, names: Sequence[str]) -> list[GroupStatus]:
    """How much work each named group has left: undelivered, pending, waiting for a retry.

    Undelivered comes from ``XINFO GROUPS`` ``lag`` where the server knows it (Redis 7);
    otherwise (Redis 6.2, or a lag Redis cannot tell after deletions) from whether any entry
    follows the group's last-delivered id.
    """
    info = await group_info(redis, keys)
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.zcard(keys.retries(name))
        last = text(info[name].get("last-delivered-id", "0-0")) if name in info else "0-0"
        pipe.xrange(keys.events, f"({last}", "+", count=1)
    replies = await pipe.execute()
    out: list[GroupStatus] = []
    for i, name in enumerate(names):
        retrying, following = int(replies[2 * i]), replies[2 * i + 1]
        group = info.get(name)
        if group is None:
            out.append(GroupStatus(name, False, 0, 0, retrying))
            continue
        lag = group.get("lag")
        undelivered = int(lag) if isinstance(lag, int) else (1 if following else 0)
        out.append(GroupStatus(name, True, undelivered, int(group.get("pending", 0)), retrying))
    return out


@dataclass(frozen=True, slots=True)
class TrimReport:
    removed: int
    floor: str | None  # the oldest id a group still needs (None: no group needs any)
    unconfigured: tuple[str, ...]  # groups holding entries back that no notifier reads


async def trim_floor(redis: aioredis.Redis, keys: Keys) -> tuple[str | None, dict[str, str]]:
    """The oldest stream id any group still needs, and each group's own floor.

    Per group: the entry after its last-delivered id, its oldest pending id, and its oldest
    retry. Read in that order, so an entry moving forward meanwhile (undelivered → pending →
    retry) is seen in one of the three places.
    """
    info = await group_info(redis, keys)
    names = list(info)
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.xpending(keys.events, name)
        pipe.zrange(keys.retries(name), 0, -1)
    replies = await pipe.execute(raise_on_error=False)
    floors: dict[str, str] = {}
    for i, name in enumerate(names):
        candidates = [next_id(text(info[name].get("last-delivered-id", "0-0")))]
        summary, members = replies[2 * i], replies[2 * i + 1]
        if isinstance(summary, Exception) or isinstance(members, Exception):
            candidates.append("0-1")  # cannot tell: keep everything
        else:
            if summary.get("pending") and summary.get("min") is not None:
                candidates.append(text(summary["min"]))
            candidates.extend(text(m) for m in members)
        floors[name] = min_id(candidates) or "0-1"
    return min_id(floors.values()), floors


async def safe_trim(
    redis: aioredis.Redis,
    keys: Keys,
    *,
    keep: int,
    configured: Iterable[str],
    approximate: bool = True,
) -> TrimReport:
    """Trim the events stream to about ``keep`` entries, never past an entry a group has not
    delivered or dead-lettered (``XTRIM MINID``, Redis 6.2+).

    The cut is the later of the ``keep`` limit and nothing: it is the earlier of "the first
    entry of the newest ``keep``" and the groups' floor (:func:`trim_floor`). A group that no
    configured notifier reads (``configured``) still holds entries back (a notifier taken out
    of the file by mistake must not lose events); the report names every such group, so the
    operator can ``XGROUP DESTROY`` it.
    """
    floor, floors = await trim_floor(redis, keys)
    unconfigured = tuple(sorted(set(floors) - set(configured)))
    removed = 0
    for _ in range(TRIM_ROUNDS):
        length = int(await resolved(redis.xlen(keys.events)))
        excess = length - keep
        if excess <= 0:
            break
        upper = f"({floor}" if floor is not None else "+"
        candidates: list[Any] = await resolved(
            redis.xrange(keys.events, "-", upper, count=min(excess, TRIM_STEP))
        )
        if not candidates:
            break
        cut = next_id(text(candidates[-1][0]))
        done = int(await resolved(redis.xtrim(keys.events, minid=cut, approximate=approximate)))
        removed += done
        if done == 0 or len(candidates) < min(excess, TRIM_STEP):
            break
    return TrimReport(removed, floor, unconfigured)


# --- helpers ----------------------------------------------------------------------------------


async def resolved(value: Awaitable[Any] | Any) -> Any:
    """redis-py types each command as ``X | Awaitable[X]``; the asyncio client's are awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


def text(value: bytes | str | int | float) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def texts(mapping: Mapping[Any, Any] | None) -> dict[str, str]:
    return {text(k): text(v) for k, v in (mapping or {}).items()}


def _pairs(flat: Sequence[Any] | None) -> dict[str, str]:
    items = list(flat or [])
    return {text(items[i]): text(items[i + 1]) for i in range(0, len(items) - 1, 2)}


def _json_fields(raw: str) -> dict[str, str]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


__all__ = [
    "UNTRIMMED",
    "Entry",
    "GroupStatus",
    "GroupStore",
    "Settlement",
    "TrimReport",
    "emit_maxlen",
    "ensure_groups",
    "group_info",
    "is_nogroup",
    "prepare_groups",
    "safe_trim",
    "statuses",
    "trim_floor",
]
