"""The Redis adapter: compare-and-emit of advisories, source state and health, poll leases.

One :class:`Store` per process wraps one ``redis.asyncio`` client. Everything that must not
happen twice across processes is one Lua script (``monitor/lua/``), so the decision and its
effect are atomic: bumping a version and appending its event, counting a failure and
announcing ``source.failing``, releasing a lease only if still held.

Compare-and-emit is optimistic. :meth:`Store.emit` sends every advisory of a batch in one
pipeline of ``EVALSHA`` calls, each built as if the advisory were new (expected version 0).
The script answers ``unchanged``/``editorial`` when the stored fingerprint is the same (whatever
was expected), ``emitted`` when it wrote the expected next version and its event, and
``conflict`` with the stored version and snapshot otherwise. Conflicts go round again, with
the typed changes (:func:`monitor.diff.diff`) computed against the snapshot the script
returned, until each advisory settles (bounded). So new, unchanged and editorial advisories,
nearly all of a poll, cost one round trip for the whole batch; a changed one costs a second;
and a poller that lost a race re-diffs against the winner's version instead of emitting the
same version again or skipping one. The same property makes a resent batch harmless (redis-py
retries a pipeline after a dropped connection): a script that already ran answers
``unchanged`` the second time.

Expiry rides on the same scripts. The emit script keeps the expiry index (:attr:`Keys.expiries`)
in step with each version it stores, and :meth:`Store.expire` announces a due expiry with
the expire script, which checks the index and the version and appends ``advisory.expired`` in
one step: several processes sweeping at once announce each expiry once.

Scripts are loaded by ``SCRIPT LOAD`` once per store (in the same pipeline as their first
use); a ``NOSCRIPT`` reply (a restarted or flushed server) loads them again and resends only
the calls that did not run. redis-py's ``register_script`` is not used: in a pipeline it asks
``SCRIPT EXISTS`` before every batch, one more round trip each time.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib.resources import files
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from monitor import events
from monitor.diff import diff
from monitor.keys import Keys
from monitor.models import Advisory

DEFAULT_STREAM_MAXLEN: Final = 100_000
EMIT_ATTEMPTS: Final = 8  # per advisory: one if new or same, two if changed, more only in races
EXPIRE_ATTEMPTS: Final = 4  # per due advisory: one, more only when a poller writes it meanwhile
REDIS_IN_FLIGHT: Final = 8
"""Commands (or pipelines) one store has in flight at once, blocking reads aside.

Redis answers each in well under a millisecond, so a few keep it busy; more only lengthen the
event loop's iterations, since every reply wakes a task whose step runs before anything else
can. A cycle of 1,000 polls started together (``bench/poll.py``): with 100 in flight the loop
answered a 1 ms timer 15-19 ms late at the median and 43-53 ms at p99; with 8, 0.5 ms and
6 ms, at about the same throughput."""
EMIT_SLICE: Final = 64
"""Advisories serialised or turned into script calls per step of the event loop: a larger
batch lets other tasks run between slices while it is built (and is still one pipeline).
Building 200 calls took ~2 ms of the ~4 ms step that also packs them into the pipeline."""
FieldValue = str | int | float


class StoreError(RuntimeError):
    """Redis could not do what the store asked."""


class StoreUnavailableError(StoreError):
    """Redis does not answer; the message names the server."""


class EmitConflictError(StoreError):
    """An advisory kept changing under concurrent writers beyond :data:`EMIT_ATTEMPTS`."""


@dataclass(frozen=True, slots=True)
class EmitOutcome:
    """What :meth:`Store.emit` did with one advisory.

    ``status``: ``new`` | ``changed`` | ``cancelled`` (an event was appended), ``editorial``
    (snapshot updated, no event), ``unchanged``. ``version`` is the stored version after the
    call; ``event_id`` and ``stream_id`` are set only when an event was appended.
    """

    advisory_id: str
    status: str
    version: int
    event_id: str | None = None
    stream_id: str | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """An advisory as :meth:`Store.emit` needs it: serialised once, wherever it was built.

    The poller's worker processes hand these back instead of pydantic models, so the event
    loop neither unpickles nor serialises advisories. ``snapshot`` is ``Advisory.to_json()``
    and :meth:`to_dict` equals ``Advisory.to_dict()``. ``expires_ms`` is ``Advisory.expires``
    in unix milliseconds, the score of the advisory in the expiry index.
    """

    id: str
    source: str
    msg_type: str
    fingerprint: str
    content_hash: str
    snapshot: str
    expires_ms: int | None

    @classmethod
    def of(cls, advisory: Advisory) -> Prepared:
        return cls(
            advisory.id,
            advisory.source,
            advisory.msg_type.value,
            advisory.fingerprint,
            advisory.content_hash,
            advisory.to_json(),
            None if advisory.expires is None else unix_ms(advisory.expires),
        )

    def to_dict(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.snapshot)
        return value


@dataclass(frozen=True, slots=True)
class ExpireOutcome:
    """What :meth:`Store.expire` did with one due advisory.

    ``status``: ``expired`` (version ``version`` records the expiry; its event was appended),
    ``not_due`` (nothing to do: announced by another process, or moved ahead by a newer
    version), ``gone`` (the advisory's hash is gone; its index entry was dropped) or
    ``conflict`` (its version kept changing under pollers; the entry stays for the next sweep).
    """

    advisory_id: str
    status: str
    version: int = 0
    event_id: str | None = None
    stream_id: str | None = None


@dataclass(frozen=True, slots=True)
class HealthOutcome:
    """What a source-health call did: the failure count after it, and the event if any."""

    source_id: str
    consecutive_failures: int
    event_type: str | None = None
    event_id: str | None = None
    stream_id: str | None = None


@dataclass(frozen=True, slots=True)
class _Script:
    name: str
    source: str
    sha: str

    @classmethod
    def load(cls, name: str) -> _Script:
        source = files("monitor").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")
        return cls(name, source, hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest())


EMIT = _Script.load("emit")
EXPIRE = _Script.load("expire")
SOURCE_FAILURE = _Script.load("source_failure")
SOURCE_SUCCESS = _Script.load("source_success")
SOURCE_SILENT = _Script.load("source_silent")
LEASE_RELEASE = _Script.load("lease_release")
LEASE_RENEW = _Script.load("lease_renew")

_Call = tuple[_Script, Sequence[str], Sequence[FieldValue]]


@dataclass(slots=True)
class _Pending:
    """One advisory on its way through :meth:`Store.emit`."""

    advisory: Advisory | Prepared
    snapshot: str
    expected: int = 0
    old: dict[str, Any] | None = None
    attempts: int = 0


class Store:
    """Redis state of the monitor. One per process; safe for concurrent tasks."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, *, stream_maxlen: int) -> None:
        if stream_maxlen < 1:
            raise ValueError(f"stream_maxlen must be at least 1, got {stream_maxlen}")
        self.redis = redis
        self.keys = keys
        self.stream_maxlen = stream_maxlen
        self._loaded: set[str] = set()
        # redis-py's asyncio pool raises MaxConnectionsError ("Too many connections") once
        # max_connections (100 by default) commands are in flight instead of waiting, and a
        # poll cycle over hundreds of sources puts that many in flight at once. So the store
        # never asks for more connections than the pool has, and keeps at most
        # REDIS_IN_FLIGHT commands in flight: the rest wait their turn.
        limit = getattr(redis.connection_pool, "max_connections", None)
        self._connections = limit if isinstance(limit, int) and limit > 0 else 2**31
        self._gates: _Gates | None = None

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "monitor:", stream_maxlen: int = DEFAULT_STREAM_MAXLEN
    ) -> Store:
        """A store on a new client for ``url`` (``redis://``, ``rediss://`` or ``unix://``)."""
        return cls(aioredis.from_url(url), Keys(prefix), stream_maxlen=stream_maxlen)

    async def aclose(self) -> None:
        await self.redis.aclose()

    def _slot(self, *, blocking: bool = False) -> _Admission:
        """Admission for one command or pipeline: a place among the commands in flight and a
        connection of the pool; a blocking read takes only the connection. (Semaphores per
        event loop: a store may outlive one ``asyncio.run``.)"""
        loop = asyncio.get_running_loop()
        gates = self._gates
        if gates is None or gates.loop is not loop:
            gates = self._gates = _Gates(
                loop,
                asyncio.Semaphore(min(REDIS_IN_FLIGHT, self._connections)),
                asyncio.Semaphore(self._connections),
            )
        return _Admission(None if blocking else gates.commands, gates.connections)

    async def ensure_connection(self) -> None:
        """PING, so a wrong URL fails at start with the server named, not mid-poll."""
        try:
            async with self._slot():
                await _resolved(self.redis.ping())
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(f"Redis at {self.where} does not answer: {exc}") from exc

    @property
    def where(self) -> str:
        """The server, as a person would name it (never the password)."""
        kw = self.redis.connection_pool.connection_kwargs
        if "path" in kw:
            return f"unix://{kw['path']} db {kw.get('db', 0)}"
        return f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)} db {kw.get('db', 0)}"

    # --- advisories ---------------------------------------------------------------------------

    async def emit(
        self, advisories: Sequence[Advisory | Prepared], *, now: datetime
    ) -> list[EmitOutcome]:
        """Detect changes and append one event per new version; outcomes in input order.

        An id listed twice in one batch is applied in order, as two polls would be: a later
        occurrence waits for the next round trip until the earlier one has settled.
        """
        for advisory in advisories:
            if not advisory.fingerprint:
                raise ValueError(f"advisory {advisory.id!r} has no fingerprint")
        now_iso = events.utc_iso(now)
        outcomes: list[EmitOutcome | None] = [None] * len(advisories)
        pending: dict[int, _Pending] = {}
        for i, advisory in enumerate(advisories):
            if i and i % EMIT_SLICE == 0:
                await asyncio.sleep(0)
            prepared = advisory if isinstance(advisory, Prepared) else Prepared.of(advisory)
            pending[i] = _Pending(prepared, prepared.snapshot)
        while pending:
            order = _first_of_each_id(pending)
            calls = []
            for n, i in enumerate(order):
                if n and n % EMIT_SLICE == 0:
                    await asyncio.sleep(0)
                calls.append(self._emit_call(pending[i], now, now_iso))
            replies = await self._run(calls)
            for i, reply in zip(order, replies, strict=True):
                item = pending[i]
                outcome = self._settle(item, reply)
                if outcome is not None:
                    outcomes[i] = outcome
                    del pending[i]
                elif item.attempts >= EMIT_ATTEMPTS:
                    raise EmitConflictError(
                        f"advisory {item.advisory.id!r} still conflicting after "
                        f"{item.attempts} attempts: its hash keeps changing under other writers"
                    )
        return [o for o in outcomes if o is not None]

    def _emit_call(self, item: _Pending, now: datetime, now_iso: str) -> _Call:
        advisory = item.advisory
        item.attempts += 1
        version = item.expected + 1
        changes = [] if item.old is None else diff(item.old, advisory.to_dict())
        fields = events.advisory_event(
            advisory_id=advisory.id,
            source=advisory.source,
            version=version,
            msg_type=advisory.msg_type,
            advisory_json=item.snapshot,
            changes=changes,
            emitted_at=now,
        )
        flat = [x for pair in fields.items() for x in pair]  # ends "advisory", <snapshot>
        args: list[FieldValue] = [
            item.expected,
            advisory.fingerprint,
            advisory.content_hash,
            now_iso,
            self.stream_maxlen,
            item.snapshot,
            _json(flat[:-1]),  # the script appends the snapshot as the last name's value
            advisory.id,
            expiry_score(advisory),
            unix_ms(now),
        ]
        keys = (self.keys.advisory(advisory.id), self.keys.events, self.keys.expiries)
        return EMIT, keys, args

    @staticmethod
    def _settle(item: _Pending, reply: Any) -> EmitOutcome | None:
        status, version = _text(reply[0]), int(reply[1])
        advisory_id = item.advisory.id
        if status == "conflict":
            item.expected = version
            item.old = json.loads(reply[2]) if len(reply) > 2 and reply[2] else None
            return None
        if status != "emitted":
            return EmitOutcome(advisory_id, status, version)
        kind = events.advisory_event_type(item.advisory.msg_type, version)
        return EmitOutcome(
            advisory_id,
            kind.removeprefix("advisory."),
            version,
            events.advisory_event_id(advisory_id, version),
            _text(reply[2]),
        )

    # --- expiry -------------------------------------------------------------------------------

    async def due_expiries(self, now: datetime, *, limit: int) -> list[str]:
        """The ids of at most ``limit`` advisories whose expires is at or before ``now``,
        earliest first."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        async with self._slot():
            members: list[bytes | str] = await _resolved(
                self.redis.zrangebyscore(self.keys.expiries, "-inf", unix_ms(now), 0, limit)
            )
        return [_text(m) for m in members]

    async def expire(self, advisory_ids: Sequence[str], *, now: datetime) -> list[ExpireOutcome]:
        """Announce the expiry of each due advisory once, whoever else sweeps; outcomes in
        input order (an id listed twice is announced once and reported twice).

        Each round reads the version and snapshot of the advisories still pending in one
        pipeline and runs the expire script for each in another; an advisory a poller wrote
        in between answers ``conflict`` and goes round again, at most
        :data:`EXPIRE_ATTEMPTS` times.
        """
        outcomes: dict[str, ExpireOutcome] = {}
        pending = list(dict.fromkeys(advisory_ids))
        for _ in range(EXPIRE_ATTEMPTS):
            if not pending:
                break
            states = await self._versions(pending)
            calls = [
                self._expire_call(advisory_id, version, snapshot, now)
                for advisory_id, (version, snapshot) in zip(pending, states, strict=True)
            ]
            replies = await self._run(calls)
            for advisory_id, reply in zip(pending, replies, strict=True):
                outcomes[advisory_id] = _expired(advisory_id, reply)
            pending = [i for i in pending if outcomes[i].status == "conflict"]
        return [outcomes[advisory_id] for advisory_id in advisory_ids]

    async def _versions(self, advisory_ids: Sequence[str]) -> list[tuple[int, str | None]]:
        """The stored version (0 when absent) and snapshot of each advisory, one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for advisory_id in advisory_ids:
            pipe.hmget(self.keys.advisory(advisory_id), ["version", "snapshot"])
        async with self._slot():
            replies = await pipe.execute()
        return [
            (int(version or 0), None if snapshot is None else _text(snapshot))
            for version, snapshot in replies
        ]

    def _expire_call(
        self, advisory_id: str, version: int, snapshot: str | None, now: datetime
    ) -> _Call:
        """The expire script call announcing ``version + 1``. Without a snapshot (the hash is
        gone) the script drops the index entry before it would read the fields."""
        fields = events.advisory_event(
            advisory_id=advisory_id,
            source=_source_of(snapshot),
            version=version + 1,
            msg_type="expire",
            advisory_json="",  # the script appends the stored snapshot
            changes=[],
            emitted_at=now,
        )
        flat = [x for pair in fields.items() for x in pair]
        args: list[FieldValue] = [
            advisory_id,
            version,
            unix_ms(now),
            events.utc_iso(now),
            self.stream_maxlen,
            _json(flat[:-1]),
        ]
        keys = (self.keys.advisory(advisory_id), self.keys.expiries, self.keys.events)
        return EXPIRE, keys, args

    async def advisory_state(self, advisory_id: str) -> dict[str, str]:
        """The stored hash of one advisory (version, fingerprint, snapshot, ...)."""
        async with self._slot():
            reply = await _resolved(self.redis.hgetall(self.keys.advisory(advisory_id)))
        return _texts(reply)

    # --- sources: state and health ------------------------------------------------------------

    async def source_state(self, source_id: str) -> dict[str, str]:
        async with self._slot():
            reply = await _resolved(self.redis.hgetall(self.keys.source(source_id)))
        return _texts(reply)

    async def source_states(self, source_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """Several sources' state in one round trip (``monitor sources``)."""
        ids = list(source_ids)
        pipe = self.redis.pipeline(transaction=False)
        for source_id in ids:
            pipe.hgetall(self.keys.source(source_id))
        async with self._slot():
            replies = await pipe.execute()
        return {sid: _texts(reply) for sid, reply in zip(ids, replies, strict=True)}

    async def source_ids(self) -> list[str]:
        """Every source with state in Redis, sorted."""
        async with self._slot():
            members: set[bytes | str] = await _resolved(self.redis.smembers(self.keys.sources))
        return sorted(_text(m) for m in members)

    async def update_source(self, source_id: str, mapping: Mapping[str, FieldValue | None]) -> None:
        """Set fields of a source's hash; a ``None`` value deletes the field (a lost ETag)."""
        present = {k: v for k, v in mapping.items() if v is not None}
        absent = [k for k, v in mapping.items() if v is None]
        key = self.keys.source(source_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(self.keys.sources, source_id)
        if present:
            pipe.hset(key, items=_flat(present))
        if absent:
            pipe.hdel(key, *absent)
        async with self._slot():
            await pipe.execute()

    async def record_failure(
        self,
        source_id: str,
        *,
        outcome: str,
        error: str,
        now: datetime,
        threshold: int,
        fields: Mapping[str, FieldValue] | None = None,
    ) -> HealthOutcome:
        """Count a failed poll; append ``source.failing`` once when the count reaches
        ``threshold`` (and not again until a success clears it). ``fields`` (e.g. ``next_due``)
        are stored in the same step."""
        now_iso = events.utc_iso(now)
        state = {"last_outcome": outcome, "last_error": error, "last_failure": now_iso}
        state.update({k: str(v) for k, v in (fields or {}).items()})
        detail = events.source_event(
            source_id=source_id, emitted_at=now, detail={"outcome": outcome, "error": error}
        )
        kind = events.SOURCE_FAILING
        head: list[FieldValue] = [source_id, max(threshold, 1), self.stream_maxlen, kind]
        args = [*head, events.source_event_id_prefix(source_id, kind), *_pairs(state, detail)]
        reply = await self._run_one(SOURCE_FAILURE, self._source_keys(source_id), args)
        return _health(source_id, kind, reply, failures=int(reply[0]))

    async def record_success(
        self,
        source_id: str,
        *,
        outcome: str,
        now: datetime,
        new_items: int = 0,
        fields: Mapping[str, FieldValue] | None = None,
    ) -> HealthOutcome:
        """Reset the failure count after a good poll; append ``source.recovered`` once if the
        source was failing. ``new_items > 0`` moves ``last_new`` (ending a silence period)."""
        now_iso = events.utc_iso(now)
        state = {"last_outcome": outcome, "last_error": "", "last_success": now_iso}
        if new_items > 0:
            state["last_new"] = now_iso
        state.update({k: str(v) for k, v in (fields or {}).items()})
        detail = events.source_event(source_id=source_id, emitted_at=now)
        kind = events.SOURCE_RECOVERED
        head: list[FieldValue] = [source_id, self.stream_maxlen, kind]
        args = [*head, events.source_event_id_prefix(source_id, kind), *_pairs(state, detail)]
        reply = await self._run_one(SOURCE_SUCCESS, self._source_keys(source_id), args)
        return _health(source_id, kind, reply, failures=0)

    async def emit_silent(
        self, source_id: str, *, last_new: str | None, now: datetime, cadence_seconds: float
    ) -> HealthOutcome:
        """Append ``source.silent`` once per silence period.

        The caller decides that the source is silent from the ``last_new`` it read (None when
        the source never produced anything new) and its cadence; the script appends the event
        only if ``last_new`` is still that value and this period was not announced yet.
        """
        period = last_new or ""
        detail = events.source_event(
            source_id=source_id,
            emitted_at=now,
            detail={"last_new": period, "cadence_seconds": f"{cadence_seconds:g}"},
        )
        kind = events.SOURCE_SILENT
        head: list[FieldValue] = [source_id, self.stream_maxlen, kind]
        args = [*head, events.source_event_id_prefix(source_id, kind), period]
        args += _flat(detail)
        reply = await self._run_one(SOURCE_SILENT, self._source_keys(source_id), args)
        return _health(source_id, kind, reply, failures=int(reply[0]))

    def _source_keys(self, source_id: str) -> tuple[str, str, str]:
        return self.keys.source(source_id), self.keys.events, self.keys.sources

    # --- leases -------------------------------------------------------------------------------

    async def acquire_lease(self, source_id: str, owner: str, ttl_ms: int) -> bool:
        """Take the poll lease of a source if nobody holds it (``SET NX PX``)."""
        key = self.keys.lease(source_id)
        async with self._slot():
            return bool(await _resolved(self.redis.set(key, owner, nx=True, px=ttl_ms)))

    async def renew_lease(self, source_id: str, owner: str, ttl_ms: int) -> bool:
        """Extend the lease if ``owner`` still holds it; False means it was lost."""
        reply = await self._run_one(LEASE_RENEW, [self.keys.lease(source_id)], [owner, ttl_ms])
        return bool(reply)

    async def release_lease(self, source_id: str, owner: str) -> bool:
        """Give the lease back if ``owner`` still holds it; never frees another's lease."""
        reply = await self._run_one(LEASE_RELEASE, [self.keys.lease(source_id)], [owner])
        return bool(reply)

    async def lease_owner(self, source_id: str) -> str | None:
        async with self._slot():
            value: bytes | str | None = await _resolved(self.redis.get(self.keys.lease(source_id)))
        return None if value is None else _text(value)

    # --- item hashes and discovered tokens ----------------------------------------------------

    async def item_hashes(self, source_id: str) -> dict[str, str]:
        """Item key -> hash of the item as last normalised, so unchanged items are skipped."""
        async with self._slot():
            reply = await _resolved(self.redis.hgetall(self.keys.items(source_id)))
        return _texts(reply)

    async def set_item_hashes(
        self, source_id: str, mapping: Mapping[str, str], *, remove: Iterable[str] = ()
    ) -> None:
        """Store item hashes and forget items no longer in the feed, in one step."""
        await self._replace_fields(self.keys.items(source_id), mapping, remove)

    async def discovered(self, source_id: str) -> dict[str, str]:
        """Discovered key -> change token (a date, an ETag) of a discovery source's details."""
        async with self._slot():
            reply = await _resolved(self.redis.hgetall(self.keys.discovered(source_id)))
        return _texts(reply)

    async def set_discovered(
        self, source_id: str, mapping: Mapping[str, str], *, remove: Iterable[str] = ()
    ) -> None:
        await self._replace_fields(self.keys.discovered(source_id), mapping, remove)

    async def _replace_fields(
        self, key: str, mapping: Mapping[str, str], remove: Iterable[str]
    ) -> None:
        gone = [field for field in remove if field not in mapping]
        if not mapping and not gone:
            return
        pipe = self.redis.pipeline(transaction=True)
        if gone:
            pipe.hdel(key, *gone)
        if mapping:
            pipe.hset(key, items=_flat(mapping))
        async with self._slot():
            await pipe.execute()

    # --- events -------------------------------------------------------------------------------

    async def read_events(
        self, after: str = "0-0", *, count: int = 100, block_ms: int | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """Stream entries after ``after`` (``"$"``: only new ones), decoded for printing."""
        async with self._slot(blocking=block_ms is not None):
            reply: list[Any] | None = await _resolved(
                self.redis.xread({self.keys.events: after}, count=count, block=block_ms)
            )
        out: list[tuple[str, dict[str, Any]]] = []
        for _stream, entries in reply or []:
            out.extend((_text(eid), events.decode_entry(fields)) for eid, fields in entries)
        return out

    async def first_events(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        """The oldest ``count`` entries still in the stream, oldest first."""
        async with self._slot():
            entries: list[Any] = await _resolved(
                self.redis.xrange(self.keys.events, "-", "+", count=count)
            )
        return [(_text(eid), events.decode_entry(fields)) for eid, fields in entries or []]

    async def last_events(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        """The newest ``count`` entries of the stream, oldest first."""
        async with self._slot():
            entries: list[Any] = await _resolved(
                self.redis.xrevrange(self.keys.events, "+", "-", count=count)
            )
        return [
            (_text(eid), events.decode_entry(fields)) for eid, fields in reversed(entries or [])
        ]

    # --- scripts ------------------------------------------------------------------------------

    async def _run(self, calls: Sequence[_Call]) -> list[Any]:
        """Run script calls in one pipeline; reload and resend only those hit by NOSCRIPT."""
        replies = await self._pipeline(calls)
        missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if missing:
            self._loaded.clear()
            again = await self._pipeline([calls[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise StoreError(f"script failed on {self.where}: {reply}") from reply
        return replies

    async def _pipeline(self, calls: Sequence[_Call]) -> list[Any]:
        """One pipeline: ``SCRIPT LOAD`` of scripts this store has not loaded yet, then the
        ``EVALSHA`` calls, so even the first batch is one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        unloaded = {s.sha: s for s, _, _ in calls if s.sha not in self._loaded}
        for script in unloaded.values():
            pipe.script_load(script.source)
        for script, keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        async with self._slot():
            replies = await pipe.execute(raise_on_error=False)
        for script, reply in zip(unloaded.values(), replies, strict=False):
            if isinstance(reply, Exception):
                raise StoreError(f"cannot load script {script.name}: {reply}") from reply
            self._loaded.add(script.sha)
        return list(replies[len(unloaded) :])

    async def _run_one(
        self, script: _Script, keys: Sequence[str], args: Sequence[FieldValue]
    ) -> Any:
        return (await self._run([(script, keys, args)]))[0]


@dataclass(frozen=True, slots=True)
class _Gates:
    loop: asyncio.AbstractEventLoop
    commands: asyncio.Semaphore  # REDIS_IN_FLIGHT
    connections: asyncio.Semaphore  # the pool's max_connections


class _Admission:
    """``async with``: a place among the commands in flight (unless None), then a connection."""

    __slots__ = ("_commands", "_connections")

    def __init__(self, commands: asyncio.Semaphore | None, connections: asyncio.Semaphore) -> None:
        self._commands = commands
        self._connections = connections

    async def __aenter__(self) -> None:
        if self._commands is not None:
            await self._commands.acquire()
        try:
            await self._connections.acquire()
        except BaseException:
            if self._commands is not None:
                self._commands.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._connections.release()
        if self._commands is not None:
            self._commands.release()


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)


@lru_cache(maxsize=16)
def unix_ms(moment: datetime) -> int:
    """``moment`` in milliseconds since the Unix epoch, exactly (a naive time reads as UTC).
    Cached like :func:`events.utc_iso`: one emit call stamps its whole batch with one ``now``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MS


def expiry_score(advisory: Advisory | Prepared) -> str:
    """What the emit script indexes for this version: its expires in unix ms, or ``""`` when
    there is nothing left to expire (no expires, or a cancel: it already ended the advisory)."""
    if isinstance(advisory, Prepared):
        msg_type, expires_ms = advisory.msg_type, advisory.expires_ms
    else:
        msg_type = advisory.msg_type.value
        expires_ms = None if advisory.expires is None else unix_ms(advisory.expires)
    if expires_ms is None or msg_type == "cancel":
        return ""
    return str(expires_ms)


def _source_of(snapshot: str | None) -> str:
    """The ``source`` of a stored snapshot; ``""`` if it has none or does not parse."""
    if snapshot is None:
        return ""
    try:
        value = json.loads(snapshot)
    except ValueError:
        return ""
    source = value.get("source") if isinstance(value, dict) else None
    return source if isinstance(source, str) else ""


def _expired(advisory_id: str, reply: Any) -> ExpireOutcome:
    status, version = _text(reply[0]), int(reply[1])
    if status != "expired":
        return ExpireOutcome(advisory_id, status, version)
    event_id = events.advisory_event_id(advisory_id, version)
    return ExpireOutcome(advisory_id, status, version, event_id, _text(reply[2]))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _first_of_each_id(pending: Mapping[int, _Pending]) -> list[int]:
    """Positions to send now: the first pending occurrence of each advisory id."""
    chosen: dict[str, int] = {}
    for i, item in pending.items():
        chosen.setdefault(item.advisory.id, i)
    return sorted(chosen.values())


def _pairs(state: Mapping[str, str], event: Mapping[str, str]) -> list[FieldValue]:
    """``k``, the k state pairs, then the event pairs: the layout the source scripts read."""
    out: list[FieldValue] = [len(state)]
    for mapping in (state, event):
        for name, value in mapping.items():
            out += (name, value)
    return out


def _health(source_id: str, kind: str, reply: Any, *, failures: int) -> HealthOutcome:
    if len(reply) < 3:
        return HealthOutcome(source_id, failures)
    return HealthOutcome(source_id, failures, kind, _text(reply[1]), _text(reply[2]))


async def _resolved(value: Awaitable[Any] | Any) -> Any:
    """redis-py types each command as ``X | Awaitable[X]`` whatever the client; the asyncio
    client returns the awaitable. Callers annotate what they get back."""
    if inspect.isawaitable(value):
        return await value
    return value


def _flat(mapping: Mapping[str, FieldValue]) -> list[FieldValue]:
    """``HSET`` items as one flat list (redis-py's ``mapping=`` wants an invariant type)."""
    return [x for pair in mapping.items() for x in pair]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _texts(mapping: Mapping[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in mapping.items()}
