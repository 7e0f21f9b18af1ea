"""The delivery engine: every notifier reads the events stream through its own consumer group.

One task per notifier (a :class:`_Worker`), each with its own concurrency limit, so a slow or
failing notifier never delays another. A worker's cycle:

1. take its group's **due retries** (``retry_take.lua``: leased, not removed, so a crash
   cannot lose one), re-reading each entry from the stream (or a replayed dead letter's copy);
2. now and then take over entries that a **dead consumer** left pending (``XAUTOCLAIM`` with a
   minimum idle time longer than a delivery attempt, :func:`monitor.retry.claim_idle`);
3. fill the batch with **new entries** (``XREADGROUP … COUNT 100 BLOCK``), blocking only when
   there is nothing else to do and never past the next retry's due time; under a backlog (the
   last read was full) the next batch is read while this one is delivered, so Redis answers
   while Python works;
4. deliver the batch concurrently (up to the notifier's ``concurrency``), an attempt bounded by
   the notifier's ``timeout``; while the batch runs, the entries are touched so no other
   consumer takes them over (``XCLAIM … JUSTID``, the retries' lease extended);
5. write the outcome in **one transaction** (:meth:`monitor.groups.GroupStore.settle`): ack
   what was delivered or filtered out, move failures to the retry set with their due time and
   attempt count, dead-letter what failed for good or ran out of attempts, and log one line.

A failure's ``DeliveryError.retryable`` decides between the retry schedule
(:class:`monitor.retry.RetryPolicy`) and the dead-letter stream at once. A group lost to a Redis
restart without persistence (``NOGROUP``) is created again and the worker carries on; any other
Redis error pauses the worker with a growing back-off, never ends it.

Stopping: the ``stop`` event ends reading; a batch in flight gets ``grace`` seconds to finish,
then its unfinished deliveries are cancelled and **handed back** (into the retry set, due now,
attempts unchanged), as are entries read ahead for the next batch, so the next engine takes them
at once instead of waiting for them to idle.

Digest notifiers (an email notifier with ``digest``) hold each wanted event in a
:class:`~monitor.notifiers.email.DigestBuffer` and leave it pending in the group until the digest
was sent; a restarted engine reclaims them and the buffer, dating each from its ``emitted_at``,
sends an overdue digest at once.

The engine also keeps the stream short without losing anything (:func:`monitor.groups.safe_trim`
every ``trim_every`` seconds) and forgets consumers of past processes that hold nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import socket
import time
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol, runtime_checkable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from monitor import events, retry
from monitor.config import NotifierConfig
from monitor.dead_letters import letter_fields
from monitor.groups import (
    Entry,
    GroupStore,
    Settlement,
    ensure_groups,
    is_nogroup,
    safe_trim,
    statuses,
)
from monitor.keys import Keys
from monitor.logging import get_logger
from monitor.notifiers.base import DeliveryError, Event, Notifier

BATCH: Final = 100
BLOCK: Final = 1.0  # seconds an idle read waits for a new entry (< the client's socket timeout)
GRACE: Final = 10.0
TRIM_EVERY: Final = 60.0
FORGET_AFTER: Final = 3600.0  # a consumer idle this long and holding nothing is forgotten
IDLE_POLL: Final = 0.2
FLUSH_EVERY: Final = 0.05  # a long batch settles what finished this often
RETRY_POLL: Final = 1.0  # how often the retry set is looked at when no retry is known due
MAX_PAUSE: Final = 5.0

log = get_logger("monitor.delivery")


def consumer_name() -> str:
    """This process's consumer name: host, pid and a random tag (a container's pid repeats)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@runtime_checkable
class DigestBufferLike(Protocol):
    def __len__(self) -> int: ...
    def add(self, event: Event, *, now: datetime) -> bool: ...
    def due_at(self) -> datetime | None: ...
    def due(self, now: datetime) -> bool: ...
    def drain(self, now: datetime) -> list[Event]: ...


def _digest_of(notifier: Notifier) -> tuple[DigestBufferLike, Callable[..., Awaitable[str]]] | None:
    """The digest buffer and sender of a notifier in digest mode, else ``None``."""
    if getattr(notifier, "digest", None) is None:
        return None
    make = getattr(notifier, "digest_buffer", None)
    send = getattr(notifier, "send_digest", None)
    if not callable(make) or not callable(send):
        return None
    buffer = make()
    return (buffer, send) if isinstance(buffer, DigestBufferLike) else None


@dataclass(frozen=True, slots=True)
class Channel:
    """A notifier and its configuration (timeout, retry schedule, concurrency)."""

    notifier: Notifier
    settings: NotifierConfig

    @property
    def name(self) -> str:
        return self.settings.name


@dataclass(frozen=True, slots=True)
class EngineOptions:
    batch: int = BATCH
    block: float = BLOCK
    grace: float = GRACE
    trim_every: float = TRIM_EVERY
    keep: int = 100_000  # entries the stream keeps when no group needs more (redis.stream_maxlen)
    forget_after: float = FORGET_AFTER
    idle_poll: float = IDLE_POLL
    approximate_trim: bool = True


@dataclass(slots=True)
class Report:
    """What one batch of one notifier did: the canonical ``delivery.batch`` line."""

    notifier: str
    entries: int = 0
    new: int = 0
    reclaimed: int = 0
    retries: int = 0
    delivered: int = 0
    filtered: int = 0
    held: int = 0
    retrying: int = 0
    dead: int = 0
    handed_back: int = 0
    lost: int = 0
    duration: float = 0.0
    first_id: str | None = None  # the batch's first and last stream ids, as read
    last_id: str | None = None
    dead_ids: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds from XADD to delivered


class DeliveryEngine:
    """Delivers the events stream to each channel's notifier; see the module docstring."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        channels: Sequence[Channel],
        *,
        options: EngineOptions | None = None,
        configured: Sequence[str] | None = None,
        consumer: str | None = None,
        clock: Callable[[], float] = time.time,
        draw: Callable[[], float] = random.random,
        on_report: Callable[[Report], None] | None = None,
    ) -> None:
        """``configured``: every notifier name in the configuration (default: the channels'),
        so trimming can tell a forgotten group from a configured one; ``clock``: wall-clock
        seconds (due times are stored in Redis, shared between processes); ``draw``: the
        jitter's random numbers; ``on_report``: called with each batch's report after its
        log line (metrics)."""
        names = [c.name for c in channels]
        if len(set(names)) != len(names):
            raise ValueError(f"two channels with one name: {names}")
        self.redis = redis
        self.keys = keys
        self.channels = tuple(channels)
        self.options = options or EngineOptions()
        self.configured = tuple(configured) if configured is not None else tuple(names)
        self.consumer = consumer or consumer_name()
        self.clock = clock
        self.draw = draw
        self.on_report = on_report
        self.stop = asyncio.Event()
        self._workers = [_Worker(self, c) for c in self.channels]
        self._warned: set[str] = set()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.channels]

    async def run(self, stop: asyncio.Event | None = None, *, until_idle: bool = False) -> None:
        """Deliver until ``stop`` is set (or, with ``until_idle``, until no selected group has
        an event undelivered, pending or waiting for a retry)."""
        if stop is not None:
            self.stop = stop
        for worker in self._workers:
            worker.until_idle = until_idle
        tasks = [asyncio.create_task(w.run(), name=f"deliver:{w.name}") for w in self._workers]
        upkeep = asyncio.create_task(self._upkeep(until_idle), name="deliver:upkeep")
        try:
            await asyncio.gather(*tasks)
        finally:
            self.stop.set()
            for task in tasks:
                task.cancel()
            upkeep.cancel()
            await asyncio.gather(*tasks, upkeep, return_exceptions=True)

    async def idle(self) -> bool:
        """Whether every selected group is idle (nothing undelivered, pending or retrying)."""
        found = await statuses(self.redis, self.keys, self.names)
        return all(s.idle for s in found) and not any(w.holding for w in self._workers)

    async def trim(self) -> int:
        """Trim the stream now (never past what a group needs); returns entries removed."""
        report = await safe_trim(
            self.redis,
            self.keys,
            keep=self.options.keep,
            configured=self.configured,
            approximate=self.options.approximate_trim,
        )
        for name in report.unconfigured:
            if name not in self._warned:
                self._warned.add(name)
                log.warning(
                    "delivery.unconfigured_group",
                    group=name,
                    hint="no configured notifier reads this group; it keeps the stream from "
                    "being trimmed past what it has not delivered (XGROUP DESTROY it if the "
                    "notifier is gone for good)",
                )
        if report.removed:
            log.info("delivery.trimmed", removed=report.removed, floor=report.floor)
        return report.removed

    async def _upkeep(self, until_idle: bool) -> None:
        next_trim = 0.0
        while not self.stop.is_set():
            try:
                if until_idle and all(w.ready for w in self._workers) and await self.idle():
                    log.info("delivery.idle", notifiers=self.names)
                    self.stop.set()
                    return
                if time.monotonic() >= next_trim:
                    next_trim = time.monotonic() + self.options.trim_every
                    await self.trim()
                    for worker in self._workers:
                        await worker.store.forget_consumers(
                            self.consumer, int(self.options.forget_after * 1000)
                        )
            except (RedisError, OSError) as error:
                log.warning("delivery.upkeep_failed", error=str(error))
            except Exception:  # upkeep must survive a bad round; delivery goes on regardless
                log.exception("delivery.upkeep_failed")
            wait = self.options.idle_poll if until_idle else min(self.options.trim_every, 5.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), wait)


@dataclass(slots=True)
class _Sent:
    answer: str


@dataclass(slots=True)
class _Failed:
    error: DeliveryError


@dataclass(frozen=True, slots=True)
class _Skipped:
    """An entry not attempted: filtered out, or held for a digest."""

    held: bool


_FILTERED: Final = _Skipped(held=False)
_HELD: Final = _Skipped(held=True)
Result = _Sent | _Failed | _Skipped


class _Worker:
    """One notifier's loop over its consumer group."""

    def __init__(self, engine: DeliveryEngine, channel: Channel) -> None:
        self.engine = engine
        self.channel = channel
        self.notifier = channel.notifier
        self.name = channel.name
        settings = channel.settings
        self.store = GroupStore(engine.redis, engine.keys, self.name)
        self.policy = retry.policy(settings.retries)
        self.claim_idle = retry.claim_idle(settings.timeout)
        self.deadline = retry.send_deadline(settings.timeout)
        self.until_idle = False
        self.ready = False  # the group is known to exist
        self.cursor = "0-0"
        self.next_reclaim = 0.0
        self.next_due: float | None = None  # the earliest retry known to be waiting
        self.next_take = 0.0  # look at the retry set by then anyway (another process adds)
        self.busy = False  # the last read filled its batch
        self.ahead: asyncio.Task[list[Entry]] | None = None  # the next read, while a batch runs
        self.last_seen: str | None = None
        digest = _digest_of(self.notifier)
        self.buffer = digest[0] if digest else None
        self.send_digest = digest[1] if digest else None
        self.held: dict[str, Entry] = {}
        self.digest_failures = 0
        self.next_touch = 0.0

    @property
    def holding(self) -> bool:
        return bool(self.held)

    @property
    def opts(self) -> EngineOptions:
        return self.engine.options

    async def run(self) -> None:
        try:
            await self._loop()
            await self._release_ahead()
            await self._release_held()
        finally:
            self._drop_ahead()  # cancelled: what was read ahead waits out the claim time

    async def _loop(self) -> None:
        pause = 0.1
        while not self.engine.stop.is_set():
            try:
                if not self.ready:
                    await ensure_groups(self.engine.redis, self.engine.keys, [self.name])
                    self.ready = True
                await self.cycle()
                pause = 0.1
                continue
            except RedisError as error:
                if is_nogroup(error) and await self._recreate():
                    continue
                log.warning("delivery.redis_error", notifier=self.name, error=str(error))
            except OSError as error:
                log.warning("delivery.redis_error", notifier=self.name, error=str(error))
            except Exception:  # one bad cycle must not end the notifier's delivery
                log.exception("delivery.cycle_failed", notifier=self.name)
            await self._pause(pause)
            pause = min(pause * 2, MAX_PAUSE)

    async def _recreate(self) -> bool:
        try:
            start = await self.store.recreate(self.last_seen)
        except (RedisError, OSError) as error:
            log.warning("delivery.redis_error", notifier=self.name, error=str(error))
            return False
        self._drop_ahead()  # read from the lost group: the new one delivers them again
        self.cursor = "0-0"
        self.next_due = None
        self.next_take = 0.0
        log.warning("delivery.group_recreated", notifier=self.name, start=start)
        return True

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.engine.stop.wait(), seconds)

    # --- one cycle ----------------------------------------------------------------------------

    async def cycle(self) -> None:
        now = self.engine.clock()
        batch = self.opts.batch
        lease_until = now + self.claim_idle
        due: list[Entry] = []
        if (self.next_due is not None and self.next_due <= now) or (
            time.monotonic() >= self.next_take
        ):
            due, following = await self.store.take_due(_ms(now), _ms(lease_until), batch)
            self.next_due = following / 1000 if following is not None else None
            self.next_take = time.monotonic() + (RETRY_POLL if len(due) < batch else 0.0)
        entries = list(due)
        claimed: list[Entry] = []
        if len(entries) < batch and time.monotonic() >= self.next_reclaim:
            claimed, self.cursor = await self.store.reclaim(
                self.engine.consumer, _ms(self.claim_idle), batch - len(entries), self.cursor
            )
            entries += claimed
            wrapped = self.cursor in ("0-0", "0")
            self.next_reclaim = time.monotonic() + (self.claim_idle / 2 if wrapped else 0.0)
        new: list[Entry] = []
        if self.ahead is not None:
            ahead, self.ahead = self.ahead, None
            new = await ahead  # its error is this cycle's (NOGROUP: the group is recreated)
            self.busy = len(new) == batch
        elif len(entries) < batch:
            # After a full read more is likely waiting: ask without BLOCK (cheaper, and it
            # answers at once); block only when the stream looked drained.
            block = None if entries or self.busy else self._block_ms(now)
            new = await self.store.read_new(self.engine.consumer, batch - len(entries), block)
            self.busy = len(new) == batch - len(entries)
        entries += new
        if new:
            self.last_seen = new[-1].stream_id
        if entries and self.engine.stop.is_set():
            # Stopped while the read waited: hand what came back at once rather than start a
            # batch that would get a whole grace period of its own.
            now_ms = _ms(self.engine.clock())
            await self.store.settle(Settlement(hand_back=[(e.stream_id, now_ms) for e in entries]))
            self._log(Report(self.name, entries=len(entries), handed_back=len(entries)))
            return
        if entries:
            if self.busy and self.buffer is None and not self.engine.stop.is_set():
                self._read_ahead(batch)
            report = await self.process(entries)
            report.new, report.reclaimed, report.retries = len(new), len(claimed), len(due)
            self._log(report)
        await self._digest_upkeep(flush=self.until_idle and not entries)

    def _read_ahead(self, count: int) -> None:
        """Read the next batch while this one is delivered, so Redis answers while Python works
        (a backlog only: the last read was full). The entries are pending for this consumer
        from now on, so the batch's heartbeat touches them too (:meth:`_heartbeat`); a stop
        hands them back (:meth:`_release_ahead`)."""
        self.ahead = asyncio.create_task(self.store.read_new(self.engine.consumer, count, None))

    def _waiting_ahead(self) -> list[Entry]:
        """The entries read ahead, once the read answered (none before, or after a failure)."""
        ahead = self.ahead
        if ahead is None or not ahead.done() or ahead.cancelled() or ahead.exception():
            return []
        return ahead.result()

    def _drop_ahead(self) -> None:
        ahead, self.ahead = self.ahead, None
        if ahead is not None and not ahead.done():
            ahead.cancel()

    async def _release_ahead(self) -> None:
        """At stop: entries read ahead go back to the group, due now, as a stopped batch's do
        (see :meth:`_send_all`), so the next engine takes them at once."""
        ahead, self.ahead = self.ahead, None
        if ahead is None:
            return
        try:
            entries = await ahead
            now = _ms(self.engine.clock())
            await self.store.settle(Settlement(hand_back=[(e.stream_id, now) for e in entries]))
        except (RedisError, OSError) as error:  # they stay pending: reclaimed after a while
            log.warning("delivery.redis_error", notifier=self.name, error=str(error))

    def _block_ms(self, now: float) -> int | None:
        """How long the read may wait: up to ``block``, never past the next due retry, the
        digest's due time or a touch of held entries; ``None`` when something is due now."""
        limit = self.opts.block
        if self.next_due is not None:
            limit = min(limit, self.next_due - now)
        if self.buffer is not None and self.held:
            limit = min(limit, self.next_touch - time.monotonic())
            at = self.buffer.due_at()
            if at is not None:
                limit = min(limit, at.timestamp() - now)
        if self.until_idle:
            limit = min(limit, self.opts.idle_poll)
        return None if limit <= 0.001 else max(1, int(limit * 1000))

    async def process(self, entries: Sequence[Entry]) -> Report:
        started = time.monotonic()
        report = Report(self.name, entries=len(entries))
        if entries:
            report.first_id, report.last_id = entries[0].stream_id, entries[-1].stream_id
        outcome = Settlement()
        present: list[Entry] = []
        for entry in entries:
            if entry.fields:
                present.append(entry)
            else:
                self._lost(entry, outcome, report)
        if present:
            await self._send_all(present, outcome, report)
        await self.store.settle(outcome)
        report.duration = time.monotonic() - started
        return report

    def _expect(self, due_ms: int) -> None:
        """Remember the earliest retry just scheduled, so the next read does not block past it."""
        due = due_ms / 1000
        self.next_due = due if self.next_due is None else min(self.next_due, due)

    async def _send_all(self, batch: Sequence[Entry], outcome: Settlement, report: Report) -> None:
        """Deliver with at most ``concurrency`` attempts in flight; settle what finished every
        ``FLUSH_EVERY`` seconds (so a crash mid-batch repeats little), the rest when the batch
        is done (see :meth:`process`).

        ``concurrency`` runners take the batch's entries in turn, so a notifier that answers at
        once costs a coroutine call per event, not a task; the first runner starts alone and the
        others only once one of its attempts had to wait. Each entry is decoded by the runner
        that takes it (:meth:`_deliver`), so an event lives only while it is being delivered:
        a batch of decoded advisories held until the last was sent would outlive the garbage
        collector's young generation and make it scan the whole heap, batch after batch. Once
        ``stop`` is set the batch has ``grace`` seconds; what is unfinished then is cancelled
        and handed back.
        """
        results: list[Result | None] = [None] * len(batch)
        finished: list[int] = []
        turns = iter(range(len(batch)))
        in_flight = {entry.stream_id: entry for entry in batch}
        current: dict[int, tuple[int, float]] = {}  # runner -> (entry, when its attempt began)
        expired: set[int] = set()

        async def runner(me: int) -> None:
            for i in turns:  # one iterator shared by every runner: each entry is taken once
                current[me] = (i, time.monotonic())
                try:
                    results[i] = await self._deliver(batch[i])
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    # A stop, not the deadline; or both at once (two cancels, one error).
                    if i not in expired or (task is not None and task.cancelling() > 1):
                        raise
                    asyncio.current_task().uncancel()  # type: ignore[union-attr]
                    detail = f"no answer within {self.deadline:g}s"
                    results[i] = _Failed(DeliveryError(detail, retryable=True))
                except Exception as error:  # decoding or holding failed: retried, then dead
                    log.exception("delivery.deliver_failed", notifier=self.name)
                    detail = f"internal error: {type(error).__name__}: {error}"
                    results[i] = _Failed(DeliveryError(detail, retryable=True))
                finally:
                    del current[me]
                finished.append(i)

        tasks = [asyncio.create_task(runner(0))]
        flushed = time.monotonic()
        deadline: float | None = None
        try:
            async with self._heartbeat(in_flight):
                await asyncio.sleep(0)  # the first runner goes on until an attempt has to wait
                if not tasks[0].done():  # then the others start: concurrency is needed
                    count = min(max(1, self.channel.settings.concurrency), len(batch))
                    tasks += [asyncio.create_task(runner(me)) for me in range(1, count)]
                while True:
                    now = self.engine.clock()
                    for i in finished:
                        entry = batch[i]
                        del in_flight[entry.stream_id]
                        self._record(entry, results[i], outcome, report, now)
                    finished.clear()
                    runners = [task for task in tasks if not task.done()]
                    if not runners:
                        break
                    if outcome and time.monotonic() - flushed >= FLUSH_EVERY:
                        await self.store.settle(outcome.take())
                        flushed = time.monotonic()
                        continue
                    self._expire(current, expired, tasks)
                    if deadline is None and self.engine.stop.is_set():
                        deadline = time.monotonic() + self.opts.grace
                    wait = FLUSH_EVERY if deadline is None else deadline - time.monotonic()
                    if wait <= 0:
                        break
                    await asyncio.wait(
                        runners, timeout=min(wait, FLUSH_EVERY), return_when=FIRST_COMPLETED
                    )
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        now = self.engine.clock()
        for i in finished:  # finished while the runners were being stopped
            self._record(batch[i], results[i], outcome, report, now)
        due = _ms(now)
        for i, result in enumerate(results):  # stopped before they finished: hand them back
            if result is None:
                outcome.hand_back.append((batch[i].stream_id, due))
                report.handed_back += 1
                self._expect(due)

    def _expire(self, current: Mapping[int, tuple[int, float]], expired: set[int],
                tasks: Sequence[asyncio.Task[None]]) -> None:  # fmt: skip
        """Cancel attempts past the engine's deadline (a notifier that does not keep its own
        timeout); checked by the batch's loop rather than a timer per attempt, which would
        cost more than a notifier that answers at once."""
        now = time.monotonic()
        for me, (i, began) in current.items():
            if now - began > self.deadline and i not in expired:
                expired.add(i)
                tasks[me].cancel()

    def _record(self, entry: Entry, result: Result | None, outcome: Settlement, report: Report,
                now: float) -> None:  # fmt: skip
        """Note one entry's result in the batch's outcome; ``now``: when it was seen done."""
        if result is None:
            return
        if isinstance(result, _Sent):
            self._done(entry, outcome)
            report.delivered += 1
            report.latencies.append(now - _stream_seconds(entry.stream_id))
        elif isinstance(result, _Failed):
            self._failed(entry, result.error, outcome, report)
        elif result.held:
            report.held += 1  # stays pending until its digest is sent
        else:
            self._done(entry, outcome)
            report.filtered += 1

    async def _deliver(self, entry: Entry) -> Result:
        """Decode the entry, ask the notifier's filter, then hold it for a digest or send it;
        every failure comes back as a :class:`_Failed` (one coroutine per event: a notifier
        that answers at once makes this the engine's inner loop)."""
        event: dict[str, Any] = events.decode_entry(entry.fields)
        event["stream_id"] = entry.stream_id
        try:
            wanted = self.notifier.wants(event)
        except Exception as error:  # a filter bug: the operator must see the event
            log.exception("delivery.filter_failed", notifier=self.name)
            detail = f"filter failed: {type(error).__name__}: {error}"
            return _Failed(DeliveryError(detail, retryable=False))
        if not wanted:
            return _FILTERED
        if self.buffer is not None:
            self._hold(entry, event)
            return _HELD
        try:
            return _Sent(await self.notifier.send(event))
        except DeliveryError as error:
            return _Failed(error)
        except TimeoutError as error:
            detail = str(error) or f"timed out (notifier timeout {self.deadline:g}s)"
            return _Failed(DeliveryError(detail, retryable=True))
        except Exception as error:  # a notifier bug: retried, then dead-lettered
            log.exception("delivery.send_failed", notifier=self.name)
            detail = f"internal error: {type(error).__name__}: {error}"
            return _Failed(DeliveryError(detail, retryable=True))

    @contextlib.asynccontextmanager
    async def _heartbeat(self, entries: Mapping[str, Entry]) -> AsyncIterator[None]:
        """Keep the entries (those still in ``entries``, and those read ahead for the next
        batch) from looking abandoned to other consumers while the block runs.

        The beating task starts from a timer when the block has run a third of the claim
        time: most batches finish long before, and then cost a timer, not a task."""
        every = self.claim_idle / 3

        async def beat() -> None:
            while True:
                await self._touch([*entries.values(), *self._waiting_ahead()])
                await asyncio.sleep(every)

        beating: list[asyncio.Task[None]] = []
        timer = asyncio.get_running_loop().call_later(
            every, lambda: beating.append(asyncio.create_task(beat()))
        )
        try:
            yield
        finally:
            timer.cancel()
            for task in beating:
                task.cancel()
            await asyncio.gather(*beating, return_exceptions=True)

    async def _touch(self, entries: Sequence[Entry]) -> None:
        pending = [e.stream_id for e in entries if e.origin != "retry"]
        leased = {e.stream_id: e.lease_ms for e in entries if e.origin == "retry"}
        lease_until = _ms(self.engine.clock() + self.claim_idle)
        try:
            ours, extended = await self.store.touch(
                self.engine.consumer, pending, leased, lease_until
            )
        except (RedisError, OSError) as error:
            log.warning("delivery.touch_failed", notifier=self.name, error=str(error))
            return
        for entry in entries:
            if entry.stream_id in extended:
                entry.lease_ms = lease_until
        taken = len(pending) - len(ours) + len(leased) - len(extended)
        if taken:
            # This process stalled past the claim time and another consumer took these over;
            # they are not taken back. Whoever finishes first acknowledges; a receiver may see
            # the same event id twice.
            log.warning("delivery.taken_over", notifier=self.name, entries=taken)

    # --- outcomes -----------------------------------------------------------------------------

    @staticmethod
    def _done(entry: Entry, outcome: Settlement) -> None:
        (outcome.done if entry.origin == "retry" else outcome.ack).append(entry.stream_id)

    def _lost(self, entry: Entry, outcome: Settlement, report: Report) -> None:
        """An entry that no longer exists: trimmed or deleted by hand (never by the engine's
        own trimming). Nothing is left to deliver."""
        log.warning("delivery.entry_lost", notifier=self.name, stream_id=entry.stream_id)
        if entry.origin == "retry":
            outcome.lost.append(entry.stream_id)
        else:
            outcome.ack.append(entry.stream_id)
        report.lost += 1

    def _failed(self, entry: Entry, error: DeliveryError, outcome: Settlement,
                report: Report) -> None:  # fmt: skip
        failures = entry.attempts + 1
        delay = self.policy.next_delay(
            failures, retryable=error.retryable, retry_after=error.retry_after,
            draw=self.engine.draw(),
        )  # fmt: skip
        copy = entry.strings()
        event_id = copy.get("event_id", "")
        now = self.engine.clock()
        if delay is None:
            fields = letter_fields(
                notifier=self.name,
                stream_id=entry.stream_id,
                entry=copy,
                attempts=failures,
                error=error.detail,
                status=error.status,
                failed_at=events.utc_iso(datetime.fromtimestamp(now, UTC)),
            )
            outcome.dead.append((entry.stream_id, fields))
            report.dead += 1
            report.dead_ids.append(event_id)
            log.warning("delivery.dead_letter", notifier=self.name, event_id=event_id,
                        attempts=failures, retryable=error.retryable, status=error.status,
                        error=error.detail)  # fmt: skip
            return
        outcome.retry.append((entry.stream_id, _ms(now + delay), failures))
        self._expect(_ms(now + delay))
        report.retrying += 1
        log.info("delivery.retry", notifier=self.name, event_id=event_id, attempt=failures,
                 delay=round(delay, 3), status=error.status, error=error.detail)  # fmt: skip

    def _log(self, report: Report) -> None:
        log.info(
            "delivery.batch",
            notifier=report.notifier,
            consumer=self.engine.consumer,
            first_id=report.first_id,
            last_id=report.last_id,
            entries=report.entries,
            new=report.new,
            reclaimed=report.reclaimed,
            retries=report.retries,
            delivered=report.delivered,
            filtered=report.filtered,
            held=report.held,
            retrying=report.retrying,
            dead=report.dead,
            handed_back=report.handed_back,
            lost=report.lost,
            duration=round(report.duration, 4),
        )
        if self.engine.on_report is not None:
            try:
                self.engine.on_report(report)
            except Exception:  # metrics must never stop delivery
                log.exception("delivery.report_failed", notifier=self.name)

    # --- digests ------------------------------------------------------------------------------

    def _hold(self, entry: Entry, event: Event) -> None:
        assert self.buffer is not None
        self.buffer.add(event, now=datetime.fromtimestamp(self.engine.clock(), UTC))
        if not self.held:
            self.next_touch = time.monotonic() + self.claim_idle / 3
        self.held[entry.stream_id] = entry

    async def _digest_upkeep(self, *, flush: bool) -> None:
        if self.buffer is None or self.send_digest is None or not self.held:
            return
        if time.monotonic() >= self.next_touch:
            self.next_touch = time.monotonic() + self.claim_idle / 3
            await self._touch(list(self.held.values()))
        now = datetime.fromtimestamp(self.engine.clock(), UTC)
        if not (flush or self.buffer.due(now)):
            return
        started = time.monotonic()
        held = list(self.held.values())
        drained = self.buffer.drain(now)
        report = Report(self.name, entries=len(held))
        outcome = Settlement()
        try:
            async with asyncio.timeout(self.deadline):
                await self.send_digest(drained)
        except Exception as error:  # whatever failed, the drained events must not be lost
            failure = _digest_failure(error, self.deadline)
            if not isinstance(error, (DeliveryError, TimeoutError)):
                log.exception("delivery.digest_failed", notifier=self.name)
            self.digest_failures += 1
            if failure.retryable and self.policy.next_delay(self.digest_failures) is not None:
                for event in drained:  # the next period tries again with them
                    self.buffer.add(event, now=now)
                log.info("delivery.digest_retry", notifier=self.name, events=len(drained),
                         attempt=self.digest_failures, error=failure.detail)  # fmt: skip
                return
            final = DeliveryError(failure.detail, retryable=False, status=failure.status)
            for entry in held:
                entry.attempts = self.digest_failures - 1
                self._failed(entry, final, outcome, report)
        else:
            for entry in held:
                self._done(entry, outcome)
            report.delivered = len(held)
            sent_at = self.engine.clock()
            report.latencies.extend(sent_at - _stream_seconds(e.stream_id) for e in held)
        self.held.clear()
        self.digest_failures = 0
        await self.store.settle(outcome)
        report.duration = time.monotonic() - started
        self._log(report)

    async def _release_held(self) -> None:
        """At stop: hand held digest entries back to the group, due now."""
        if not self.held:
            return
        now = _ms(self.engine.clock())
        outcome = Settlement(hand_back=[(sid, now) for sid in self.held])
        try:
            await self.store.settle(outcome)
        except (RedisError, OSError) as error:  # they stay pending: reclaimed after a while
            log.warning("delivery.redis_error", notifier=self.name, error=str(error))
        self.held.clear()


def _digest_failure(error: Exception, deadline: float) -> DeliveryError:
    """A failed digest as a :class:`DeliveryError`: timeouts and notifier bugs are retried."""
    if isinstance(error, DeliveryError):
        return error
    if isinstance(error, TimeoutError):
        return DeliveryError(f"no answer within {deadline:g}s", retryable=True)
    return DeliveryError(f"internal error: {type(error).__name__}: {error}", retryable=True)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _stream_seconds(stream_id: str) -> float:
    """When Redis appended the entry (the id's millisecond part), in unix seconds."""
    head, _, _ = stream_id.partition("-")
    return int(head) / 1000 if head.isdigit() else 0.0


__all__ = [
    "Channel",
    "DeliveryEngine",
    "EngineOptions",
    "Report",
    "consumer_name",
]
