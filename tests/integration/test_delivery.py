"""The delivery engine against a real Redis, with notifiers written for the test.

A :class:`Recorder` is a notifier that records every attempt and fails on demand, so each
test states exactly which attempt fails and how. Retry delays are configured short (tens of
milliseconds) and the jitter draw is fixed, so the schedule is known without sleeping on it.
Events are appended with the stream fields the emit script writes (:func:`emit`).

The tests with real notifiers and real processes (a webhook receiver, SIGKILL, two engines in
two processes, an SMTP digest) are at the end of the module.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from monitor import dead_letters, events
from monitor.config import Config, NotifierConfig, RedisSettings
from monitor.delivery import Channel, DeliveryEngine, EngineOptions
from monitor.groups import (
    UNTRIMMED,
    ensure_groups,
    group_info,
    safe_trim,
    statuses,
    trim_floor,
)
from monitor.keys import Keys
from monitor.notifiers.base import DeliveryError, Event
from monitor.redis_server import ensure_embedded, stop_embedded
from tests.integration import redis_fixtures
from tests.integration.webhook_receiver import WebhookReceiver

redis_url = redis_fixtures.redis_url
each_redis_url = redis_fixtures.each_redis_url
embedded_redis_url = redis_fixtures.embedded_redis_url
keys = redis_fixtures.keys

ROOT = Path(__file__).parents[2]
FAST = EngineOptions(block=0.05, grace=0.5, idle_poll=0.05, trim_every=3600)
HANG = "hang"  # a plan step: never answer (a notifier that does not keep its own timeout)
Fail = DeliveryError | str | None


# --- test notifiers -------------------------------------------------------------------------


@dataclass
class Recorder:
    """A notifier that records attempts. ``plan[event_id]`` lists what each attempt does: a
    ``DeliveryError`` to raise, or None to succeed; attempts past the plan succeed."""

    name: str
    kind: str = "test"
    plan: dict[str, list[Fail]] = field(default_factory=dict)
    accept: Callable[[Event], bool] = lambda event: True
    delay: float = 0.0
    attempts: list[tuple[str, float]] = field(default_factory=list)  # (event_id, wall time)
    sent: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0

    def wants(self, event: Event) -> bool:
        return self.accept(event)

    async def send(self, event: Event) -> str:
        event_id = str(event["event_id"])
        self.attempts.append((event_id, time.time()))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            steps = self.plan.get(event_id, [])
            if steps:
                failure = steps.pop(0)
                if failure == HANG:
                    await asyncio.sleep(3600)
                if isinstance(failure, DeliveryError):
                    raise failure
            self.sent.append(dict(event))
            return "recorded"
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        pass

    @property
    def ids(self) -> list[str]:
        return [str(e["event_id"]) for e in self.sent]


def settings(name: str, *, retries: Sequence[float] = (0.05, 0.05), timeout: float = 1.0,
             concurrency: int = 10) -> NotifierConfig:  # fmt: skip
    return NotifierConfig(name=name, kind="console", retries=tuple(retries), timeout=timeout,
                          concurrency=concurrency)  # fmt: skip


def channel(notifier: Recorder, **kwargs: Any) -> Channel:
    return Channel(notifier, settings(notifier.name, **kwargs))


def retryable(detail: str = "503 from the receiver", retry_after: float | None = None) -> Fail:
    return DeliveryError(detail, retryable=True, status=503, retry_after=retry_after)


def permanent(detail: str = "410 Gone") -> Fail:
    return DeliveryError(detail, retryable=False, status=410)


# --- Redis helpers --------------------------------------------------------------------------


def fields(n: int, *, country: str = "RU", level: int = 3, version: int = 1) -> dict[str, str]:
    advisory = {"id": f"adv-{n}", "countries": [country], "level": level, "title": f"No. {n}"}
    changes = [{"field": "level", "old": level - 1, "new": level}] if version > 1 else []
    return events.advisory_event(
        advisory_id=f"adv-{n}",
        source="test",
        version=version,
        msg_type="alert",
        advisory_json=json.dumps(advisory),
        changes=changes,
        emitted_at=datetime(2024, 3, 8, 12, 0, tzinfo=UTC),
    )


def emit(client: redis.Redis, keys: Keys, numbers: Sequence[int], **kwargs: Any) -> list[str]:
    """Append one event per number, as the emit script would; their stream ids."""
    pipe = client.pipeline(transaction=False)
    for n in numbers:
        pipe.xadd(keys.events, fields(n, **kwargs))  # type: ignore[arg-type]
    return [i.decode() for i in pipe.execute()]


@pytest.fixture
def client(redis_url: str, keys: Keys) -> Iterator[redis.Redis]:
    sync = redis.Redis.from_url(redis_url)
    yield sync
    wipe(sync, keys)
    sync.close()


def wipe(client: redis.Redis, keys: Keys) -> None:
    """Delete the test's keys (one KEYS call: the shared test database can be large)."""
    found = client.keys(f"{keys.prefix}*")
    if found:
        client.delete(*found)


@asynccontextmanager
async def engine_running(url: str, keys: Keys, channels: Sequence[Channel], *,
                         options: EngineOptions = FAST, **kwargs: Any
                         ) -> AsyncIterator[DeliveryEngine]:  # fmt: skip
    """An engine delivering in the background; stopped (gracefully) on exit."""
    client = aioredis.Redis.from_url(url)
    engine = DeliveryEngine(client, keys, channels, options=options, **kwargs)
    await ensure_groups(client, keys, engine.names)
    task = asyncio.create_task(engine.run())
    try:
        yield engine
    finally:
        engine.stop.set()
        await asyncio.wait_for(task, 10)
        await client.aclose()


async def until(check: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


async def idle(url: str, keys: Keys, names: Sequence[str]) -> bool:
    client = aioredis.Redis.from_url(url)
    try:
        return all(s.idle for s in await statuses(client, keys, names))
    finally:
        await client.aclose()


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


# --- normal runs ----------------------------------------------------------------------------


def test_every_event_reaches_every_notifier_exactly_once(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    a, b = Recorder("hook-a"), Recorder("hook-b")

    async def scenario() -> None:
        async with engine_running(redis_url, keys, [channel(a), channel(b)]):
            emit(client, keys, range(250))  # more than one batch
            await until(lambda: len(a.sent) >= 250 and len(b.sent) >= 250)
            await until(lambda: idle(redis_url, keys, ["hook-a", "hook-b"]))

    run(scenario())
    expected = [f"adv-{n}:1" for n in range(250)]
    assert sorted(a.ids) == sorted(expected) and sorted(b.ids) == sorted(expected)
    assert a.ids == expected  # in stream order: the batches are read in order
    assert not client.xpending(keys.events, "hook-a")["pending"]
    event = a.sent[0]
    assert event["advisory"]["countries"] == ["RU"] and event["stream_id"]


def test_events_before_the_engine_starts_are_delivered_once_it_does(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    """The group exists from the configuration (a poll creates it), so events emitted while no
    engine runs wait for it."""
    run(_ensure(redis_url, keys, ["later"]))
    emit(client, keys, range(5))
    notifier = Recorder("later")

    async def scenario() -> None:
        async with engine_running(redis_url, keys, [channel(notifier)]):
            await until(lambda: len(notifier.sent) == 5)

    run(scenario())
    assert notifier.ids == [f"adv-{n}:1" for n in range(5)]


async def _ensure(url: str, keys: Keys, names: Sequence[str]) -> list[str]:
    client = aioredis.Redis.from_url(url)
    try:
        return await ensure_groups(client, keys, names)
    finally:
        await client.aclose()


def test_a_new_notifier_starts_at_the_end_of_the_stream(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    emit(client, keys, range(3))  # history, before the notifier was configured
    assert run(_ensure(redis_url, keys, ["newcomer"])) == ["newcomer"]
    assert run(_ensure(redis_url, keys, ["newcomer"])) == []  # existing groups untouched
    notifier = Recorder("newcomer")

    async def scenario() -> None:
        async with engine_running(redis_url, keys, [channel(notifier)]):
            emit(client, keys, [10, 11])
            await until(lambda: len(notifier.sent) == 2)
            await asyncio.sleep(0.2)

    run(scenario())
    assert notifier.ids == ["adv-10:1", "adv-11:1"]


def test_a_slow_notifier_does_not_delay_another(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    slow = Recorder("slow", delay=2.0)
    fast = Recorder("fast")

    async def scenario() -> float:
        async with engine_running(redis_url, keys, [channel(slow, timeout=5), channel(fast)]):
            started = time.monotonic()
            emit(client, keys, range(30))
            await until(lambda: len(fast.sent) == 30)
            took = time.monotonic() - started
            assert not slow.sent  # still on its first attempts
            return took

    assert run(scenario()) < 1.5


def test_a_notifier_never_has_more_than_its_concurrency_in_flight(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    notifier = Recorder("narrow", delay=0.02)

    async def scenario() -> None:
        async with engine_running(redis_url, keys, [channel(notifier, concurrency=3)]):
            emit(client, keys, range(40))
            await until(lambda: len(notifier.sent) == 40)

    run(scenario())
    assert notifier.most_in_flight == 3


def test_filtered_out_events_are_acknowledged_without_sending(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    russia = Recorder("russia", accept=lambda e: "RU" in e["advisory"]["countries"])
    kenya = Recorder("kenya", accept=lambda e: "KE" in e["advisory"]["countries"])

    async def scenario() -> None:
        async with engine_running(redis_url, keys, [channel(russia), channel(kenya)]):
            emit(client, keys, [1, 2], country="RU")
            emit(client, keys, [3], country="KE")
            await until(lambda: len(russia.sent) == 2 and len(kenya.sent) == 1)
            await until(lambda: idle(redis_url, keys, ["russia", "kenya"]))

    run(scenario())
    assert russia.ids == ["adv-1:1", "adv-2:1"] and kenya.ids == ["adv-3:1"]
    assert [event_id for event_id, _ in kenya.attempts] == ["adv-3:1"]


def test_the_configured_filters_route_events(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    """The configuration's filters (``monitor.filters``) through a real console notifier."""
    from monitor.config import Filter
    from monitor.notifiers.console import ConsoleNotifier

    class Lines:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def write(self, text: str) -> int:
            self.lines.extend(line for line in text.splitlines() if line)
            return len(text)

        def flush(self) -> None:
            pass

    severe, everything = Lines(), Lines()
    high = NotifierConfig(name="severe", kind="console", filter=Filter(min_level=4))
    anyone = NotifierConfig(name="everything", kind="console")
    channels = [
        Channel(ConsoleNotifier(high, stream=severe), high),  # type: ignore[arg-type]
        Channel(ConsoleNotifier(anyone, stream=everything), anyone),  # type: ignore[arg-type]
    ]

    async def scenario() -> None:
        async with engine_running(redis_url, keys, channels):
            emit(client, keys, [1], level=4)
            emit(client, keys, [2], level=2)
            await until(lambda: len(everything.lines) == 2)
            await until(lambda: idle(redis_url, keys, ["severe", "everything"]))

    run(scenario())
    assert len(severe.lines) == 1 and "No. 1" in severe.lines[0]


# --- retries and dead letters ---------------------------------------------------------------


def test_a_retryable_failure_is_retried_on_the_schedule_then_delivered(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    notifier = Recorder("flaky", plan={"adv-1:1": [retryable(), retryable()]})
    delays = (0.2, 0.4)

    async def scenario() -> None:
        async with engine_running(
            redis_url, keys, [channel(notifier, retries=delays)], draw=lambda: 0.5
        ):
            emit(client, keys, [1, 2])
            await until(lambda: len(notifier.sent) == 2)
            await until(lambda: idle(redis_url, keys, ["flaky"]))

    run(scenario())
    times = [t for event_id, t in notifier.attempts if event_id == "adv-1:1"]
    assert len(times) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps[0] == pytest.approx(0.2, abs=0.15) and gaps[1] == pytest.approx(0.4, abs=0.15)
    assert notifier.ids[0] == "adv-2:1"  # the waiting retry held nothing back
    assert not client.exists(keys.retries("flaky"), keys.attempts("flaky"))
    assert client.xlen(keys.dead) == 0


def test_retry_after_from_the_receiver_sets_a_longer_delay(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    notifier = Recorder("busy", plan={"adv-1:1": [retryable("429", retry_after=0.6)]})

    async def scenario() -> None:
        async with engine_running(redis_url, keys, [channel(notifier, retries=(0.05,))]):
            emit(client, keys, [1])
            await until(lambda: len(notifier.sent) == 1)

    run(scenario())
    first, second = (t for _, t in notifier.attempts)
    assert second - first >= 0.55


def test_an_attempt_that_never_answers_is_cut_off_and_retried(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    notifier = Recorder("hanging", plan={"adv-1:1": [HANG]})

    async def scenario() -> float:
        async with engine_running(redis_url, keys, [channel(notifier, timeout=0.2)]):
            started = time.monotonic()
            emit(client, keys, [1, 2])
            await until(lambda: len(notifier.sent) == 2)
            return time.monotonic() - started

    took = run(scenario())
    assert notifier.ids == ["adv-2:1", "adv-1:1"]
    assert 1.2 <= took < 3.0  # the engine's deadline: the timeout plus a second


def test_a_permanent_failure_is_dead_lettered_at_once(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    notifier = Recorder("gone", plan={"adv-1:1": [permanent("410 Gone: hook removed")]})

    async def scenario() -> None:
        async with engine_running(redis_url, keys, [channel(notifier, retries=(0.05, 0.05))]):
            stream_ids = emit(client, keys, [1, 2])
            await until(lambda: client.xlen(keys.dead) == 1 and len(notifier.sent) == 1)
            await until(lambda: idle(redis_url, keys, ["gone"]))
            return stream_ids

    stream_ids = run(scenario())
    (letter,) = run(_letters(redis_url, keys))
    assert (letter.notifier, letter.event_id) == ("gone", "adv-1:1")
    assert letter.stream_id == stream_ids[0]
    assert (letter.attempts, letter.status, letter.error) == (1, 410, "410 Gone: hook removed")
    assert letter.type == "advisory.new" and letter.entry["event_id"] == "adv-1:1"
    assert letter.failed_at.endswith("Z")
    assert len(notifier.attempts) == 2  # one each: no retry of the permanent failure


async def _letters(url: str, keys: Keys) -> list[dead_letters.DeadLetter]:
    client = aioredis.Redis.from_url(url)
    try:
        return await dead_letters.list_letters(client, keys)
    finally:
        await client.aclose()


def test_after_the_last_retry_the_event_is_dead_lettered_with_its_attempts(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    notifier = Recorder("down", plan={"adv-1:1": [retryable("timeout")] * 10})

    async def scenario() -> None:
        async with engine_running(redis_url, keys, [channel(notifier, retries=(0.05, 0.05))]):
            emit(client, keys, [1])
            await until(lambda: client.xlen(keys.dead) == 1)
            await until(lambda: idle(redis_url, keys, ["down"]))

    run(scenario())
    (letter,) = run(_letters(redis_url, keys))
    assert letter.attempts == 3 and letter.error == "timeout" and letter.status == 503
    assert len(notifier.attempts) == 3
    assert not client.exists(keys.retries("down"), keys.attempts("down"))


def test_a_replayed_dead_letter_is_delivered_with_the_same_event_id(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    notifier = Recorder("replayed", plan={"adv-1:1": [permanent()]})

    async def scenario() -> None:
        async with engine_running(redis_url, keys, [channel(notifier)]):
            (stream_id,) = emit(client, keys, [1])
            await until(lambda: client.xlen(keys.dead) == 1)
            (letter,) = await _letters(redis_url, keys)
            replayer = aioredis.Redis.from_url(redis_url)
            assert await dead_letters.replay(replayer, keys, [letter], now_ms=_now_ms()) == 1
            await replayer.aclose()
            await until(lambda: len(notifier.sent) == 1)
            await until(lambda: idle(redis_url, keys, ["replayed"]))
            assert notifier.sent[0]["stream_id"] == stream_id

    run(scenario())
    assert notifier.ids == ["adv-1:1"]
    assert client.xlen(keys.dead) == 0
    assert not client.exists(keys.replays("replayed"), keys.attempts("replayed"))


def test_a_replay_still_delivers_after_the_stream_was_trimmed_past_the_entry(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    notifier = Recorder("late", plan={"adv-1:1": [permanent()]})

    async def scenario() -> None:
        async with engine_running(redis_url, keys, [channel(notifier)]):
            emit(client, keys, [1, 2, 3])
            await until(lambda: client.xlen(keys.dead) == 1 and len(notifier.sent) == 2)
            await until(lambda: idle(redis_url, keys, ["late"]))
            client.xtrim(keys.events, maxlen=0, approximate=False)
            (letter,) = await _letters(redis_url, keys)
            replayer = aioredis.Redis.from_url(redis_url)
            await dead_letters.replay(replayer, keys, [letter], now_ms=_now_ms())
            await replayer.aclose()
            await until(lambda: len(notifier.sent) == 3)

    run(scenario())
    assert notifier.ids[-1] == "adv-1:1"
    assert notifier.sent[-1]["advisory"]["title"] == "No. 1"


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_a_waiting_retry_and_its_attempts_survive_a_restart(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    """The retry's due time and the attempt count are in Redis: a second engine (a restart)
    takes the retry when due and counts on from the first engine's attempts."""
    first = Recorder("durable", plan={"adv-1:1": [retryable("first")]})
    second = Recorder("durable", plan={"adv-1:1": [retryable("second"), retryable("third")]})
    schedule = (0.5, 0.05)

    async def scenario() -> None:
        async with engine_running(redis_url, keys, [channel(first, retries=schedule)]):
            emit(client, keys, [1])
            await until(lambda: client.zcard(keys.retries("durable")) == 1)
        (waiting,) = client.zrange(keys.retries("durable"), 0, 0)
        assert client.hget(keys.attempts("durable"), waiting) == b"1"
        async with engine_running(redis_url, keys, [channel(second, retries=schedule)]):
            await until(lambda: client.xlen(keys.dead) == 1)

    run(scenario())
    assert [e for e, _ in first.attempts] == ["adv-1:1"]
    assert [e for e, _ in second.attempts] == ["adv-1:1", "adv-1:1"]
    (letter,) = run(_letters(redis_url, keys))
    assert letter.attempts == 3 and letter.error == "third"


def test_pending_entries_of_a_dead_consumer_are_reclaimed(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    run(_ensure(redis_url, keys, ["orphaned"]))
    emit(client, keys, [1, 2])
    client.xreadgroup("orphaned", "crashed-consumer", {keys.events: ">"}, count=10)
    assert client.xpending(keys.events, "orphaned")["pending"] == 2
    notifier = Recorder("orphaned")
    timeout = 0.3  # claim idle: 0.3 + 2 s

    async def scenario() -> float:
        started = time.monotonic()
        async with engine_running(redis_url, keys, [channel(notifier, timeout=timeout)]):
            await until(lambda: len(notifier.sent) == 2, timeout=10)
            await until(lambda: idle(redis_url, keys, ["orphaned"]))
        return time.monotonic() - started

    took = run(scenario())
    assert sorted(notifier.ids) == ["adv-1:1", "adv-2:1"]
    assert took >= 2.0  # not before the entries were idle longer than a delivery attempt


def test_a_live_consumers_long_delivery_is_not_taken_over(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    """A delivery longer than the claim idle time keeps its entries touched: a second engine
    on the same group does not take them over and deliver them twice."""
    slow = Recorder("patient", delay=3.5)
    other = Recorder("patient")
    timeout = 0.2  # claim idle 2.2 s < the 3.5 s delivery; the engine's deadline is longer
    slow_channel = Channel(slow, settings("patient", timeout=timeout))

    async def scenario() -> None:
        client_a = aioredis.Redis.from_url(redis_url)
        first = DeliveryEngine(client_a, keys, [slow_channel], options=FAST)
        first._workers[0].deadline = 10.0
        await ensure_groups(client_a, keys, ["patient"])
        task = asyncio.create_task(first.run())
        emit(client, keys, [1])
        await until(lambda: len(slow.attempts) == 1)
        async with engine_running(redis_url, keys, [channel(other, timeout=timeout)]):
            await until(lambda: len(slow.sent) == 1, timeout=8)
            await asyncio.sleep(0.3)
        first.stop.set()
        await task
        await client_a.aclose()

    run(scenario())
    assert slow.ids == ["adv-1:1"] and other.attempts == []


# --- stopping, restarts, recovery -----------------------------------------------------------


def test_a_stop_hands_unfinished_deliveries_back_for_the_next_engine(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    stuck = Recorder("handover", delay=30)
    fresh = Recorder("handover")

    async def scenario() -> float:
        async with engine_running(redis_url, keys, [channel(stuck, timeout=60)]) as engine:
            emit(client, keys, [1, 2])
            await until(lambda: len(stuck.attempts) == 2)
            stopped = time.monotonic()
            engine.stop.set()
        took = time.monotonic() - stopped
        assert client.zcard(keys.retries("handover")) == 2  # handed back, due now
        assert not client.exists(keys.attempts("handover"))  # a stop is not a failed attempt
        assert client.xpending(keys.events, "handover")["pending"] == 0
        async with engine_running(redis_url, keys, [channel(fresh)]):
            await until(lambda: len(fresh.sent) == 2)
        return took

    took = run(scenario())
    assert took < FAST.grace + 1.5
    assert sorted(fresh.ids) == ["adv-1:1", "adv-2:1"]


def test_a_lost_group_is_created_again_and_delivery_goes_on(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    """What a Redis restart without persistence does to the engine's keys: the stream and the
    group are gone; the engine recreates the group (from 0) and delivers what comes next."""
    notifier = Recorder("survivor")

    async def scenario() -> None:
        async with engine_running(redis_url, keys, [channel(notifier)]):
            emit(client, keys, [1])
            await until(lambda: len(notifier.sent) == 1)
            client.delete(keys.events)  # stream and groups lost
            await asyncio.sleep(0.2)
            emit(client, keys, [2, 3])  # a poller emits into a new stream, no group yet
            await until(lambda: len(notifier.sent) == 3)
            emit(client, keys, [4])
            await until(lambda: len(notifier.sent) == 4)

    run(scenario())
    assert notifier.ids == ["adv-1:1", "adv-2:1", "adv-3:1", "adv-4:1"]


def test_a_destroyed_group_is_not_sent_the_history_again(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    notifier = Recorder("destroyed")

    async def scenario() -> None:
        async with engine_running(redis_url, keys, [channel(notifier)]):
            emit(client, keys, [1, 2])
            await until(lambda: len(notifier.sent) == 2)
            client.xgroup_destroy(keys.events, "destroyed")
            await asyncio.sleep(0.2)
            emit(client, keys, [3])
            await until(lambda: len(notifier.sent) >= 3)
            await asyncio.sleep(0.2)

    run(scenario())
    assert notifier.ids == ["adv-1:1", "adv-2:1", "adv-3:1"]


def test_a_restart_of_redis_without_persistence_is_recovered(tmp_path: Path) -> None:
    """The embedded server restarted without its append-only file: the engine's connection
    breaks, the group is gone, and delivery resumes on the new server."""
    data_dir = Path(f"/tmp/mon-{uuid.uuid4().hex[:8]}")
    url = ensure_embedded(data_dir)
    keys = Keys("restart:")
    sync = redis.Redis.from_url(url)
    notifier = Recorder("phoenix")

    async def scenario() -> None:
        async with engine_running(url, keys, [channel(notifier)]):
            emit(sync, keys, [1])
            await until(lambda: len(notifier.sent) == 1)
            sync.close()
            stop_embedded(data_dir)
            (data_dir / "appendonly.aof").unlink()
            ensure_embedded(data_dir)
            await asyncio.sleep(0.5)
            restarted = redis.Redis.from_url(url)
            assert restarted.xlen(keys.events) == 0  # nothing survived (the engine may
            # have created the stream again already, with its group)
            emit(restarted, keys, [2, 3])
            await until(lambda: len(notifier.sent) == 3, timeout=15)
            restarted.close()

    try:
        run(scenario())
    finally:
        stop_embedded(data_dir)
        for path in sorted(data_dir.glob("*")):
            path.unlink()
        data_dir.rmdir()
    assert notifier.ids == ["adv-1:1", "adv-2:1", "adv-3:1"]


def test_until_idle_returns_once_nothing_is_undelivered_pending_or_waiting(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    notifier = Recorder("batch", plan={"adv-2:1": [retryable()]})
    run(_ensure(redis_url, keys, ["batch"]))
    emit(client, keys, range(5))

    async def scenario() -> None:
        engine_client = aioredis.Redis.from_url(redis_url)
        engine = DeliveryEngine(engine_client, keys, [channel(notifier, retries=(0.3,))],
                                options=FAST)  # fmt: skip
        await asyncio.wait_for(engine.run(until_idle=True), 10)
        await engine_client.aclose()

    run(scenario())
    assert sorted(notifier.ids) == [f"adv-{n}:1" for n in range(5)]  # the retry too
    assert run(idle(redis_url, keys, ["batch"]))


def test_the_idle_status_reads_lag_or_the_last_delivered_id(
    each_redis_url: str, keys: Keys
) -> None:
    """Redis 7 reports a group's lag; 6.2 does not, and the status compares ids instead."""
    sync = redis.Redis.from_url(each_redis_url)
    try:
        run(_ensure(each_redis_url, keys, ["watch"]))
        emit(sync, keys, [1, 2])
        (status,) = run(_statuses(each_redis_url, keys, ["watch", "missing"]))[:1]
        assert (status.undelivered > 0, status.pending, status.idle) == (True, 0, False)
        sync.xreadgroup("watch", "c", {keys.events: ">"}, count=10)
        status, missing = run(_statuses(each_redis_url, keys, ["watch", "missing"]))
        assert (status.undelivered, status.pending, status.idle) == (0, 2, False)
        assert not missing.exists and not missing.idle
        sync.xack(keys.events, "watch", *[i for i, _ in sync.xrange(keys.events)])
        sync.zadd(keys.retries("watch"), {"1-1": 0})
        (status,) = run(_statuses(each_redis_url, keys, ["watch"]))
        assert (status.retrying, status.idle) == (1, False)
        sync.delete(keys.retries("watch"))
        (status,) = run(_statuses(each_redis_url, keys, ["watch"]))
        assert status.idle
    finally:
        wipe(sync, keys)
        sync.close()


async def _statuses(url: str, keys: Keys, names: Sequence[str]) -> list[Any]:
    client = aioredis.Redis.from_url(url)
    try:
        return await statuses(client, keys, names)
    finally:
        await client.aclose()


def test_the_engine_runs_on_redis_6_2(embedded_redis_url: str, keys: Keys) -> None:
    """Scripts, XAUTOCLAIM, XTRIM MINID and the status all hold on the embedded 6.2 server."""
    sync = redis.Redis.from_url(embedded_redis_url)
    assert sync.info("server")["redis_version"].startswith("6.2")
    notifier = Recorder("old", plan={"adv-1:1": [retryable()], "adv-2:1": [permanent()]})
    run(_ensure(embedded_redis_url, keys, ["old"]))
    emit(sync, keys, [1, 2, 3])
    sync.xreadgroup("old", "crashed", {keys.events: ">"}, count=1)  # adv-1 pending elsewhere

    async def scenario() -> None:
        client = aioredis.Redis.from_url(embedded_redis_url)
        engine = DeliveryEngine(client, keys, [channel(notifier, timeout=0.1)], options=FAST)
        await asyncio.wait_for(engine.run(until_idle=True), 15)
        assert await engine.trim() >= 0
        await client.aclose()

    try:
        run(scenario())
        assert sorted(notifier.ids) == ["adv-1:1", "adv-3:1"]
        assert sync.xlen(keys.dead) == 1
    finally:
        wipe(sync, keys)
        sync.close()


def test_two_engines_on_one_group_share_the_work_and_deliver_each_event_once(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    first, second = Recorder("shared", delay=0.005), Recorder("shared", delay=0.005)

    async def scenario() -> None:
        async with (
            engine_running(redis_url, keys, [channel(first)], consumer="one"),
            engine_running(redis_url, keys, [channel(second)], consumer="two"),
        ):
            emit(client, keys, range(400))
            await until(lambda: len(first.sent) + len(second.sent) >= 400)
            await until(lambda: idle(redis_url, keys, ["shared"]))

    run(scenario())
    together = Counter(first.ids + second.ids)
    assert len(together) == 400 and set(together.values()) == {1}
    assert first.sent and second.sent


# --- trimming -------------------------------------------------------------------------------


async def _trim(url: str, keys: Keys, keep: int, configured: Sequence[str]) -> Any:
    client = aioredis.Redis.from_url(url)
    try:
        return await safe_trim(client, keys, keep=keep, configured=configured, approximate=False)
    finally:
        await client.aclose()


def test_trimming_never_removes_what_a_group_still_needs(each_redis_url: str, keys: Keys) -> None:
    sync = redis.Redis.from_url(each_redis_url)
    try:
        run(_ensure(each_redis_url, keys, ["done", "lagging", "retrying"]))
        ids = emit(sync, keys, range(10))
        # done: everything delivered and acknowledged
        sync.xreadgroup("done", "c", {keys.events: ">"}, count=100)
        sync.xack(keys.events, "done", *ids)
        # lagging: read 6, acknowledged 4: ids[4] and ids[5] pending, ids[6:] undelivered
        sync.xreadgroup("lagging", "c", {keys.events: ">"}, count=6)
        sync.xack(keys.events, "lagging", *ids[:4])
        # retrying: all read and acknowledged, ids[2] waiting for a retry
        sync.xreadgroup("retrying", "c", {keys.events: ">"}, count=100)
        sync.xack(keys.events, "retrying", *ids)
        sync.zadd(keys.retries("retrying"), {ids[2]: 0})

        report = run(_trim(each_redis_url, keys, 0, ["done", "lagging", "retrying"]))
        assert report.floor == ids[2] and report.unconfigured == ()
        assert [i.decode() for i, _ in sync.xrange(keys.events)] == ids[2:]

        sync.delete(keys.retries("retrying"))
        report = run(_trim(each_redis_url, keys, 0, ["done", "lagging"]))
        assert report.floor == ids[4] and report.unconfigured == ("retrying",)
        assert [i.decode() for i, _ in sync.xrange(keys.events)] == ids[4:]

        sync.xack(keys.events, "lagging", ids[4], ids[5])
        sync.xreadgroup("lagging", "c", {keys.events: ">"}, count=100)
        sync.xack(keys.events, "lagging", *ids[6:])
        run(_trim(each_redis_url, keys, 0, ["done", "lagging", "retrying"]))
        assert sync.xlen(keys.events) == 0
    finally:
        wipe(sync, keys)
        sync.close()


def test_trimming_keeps_about_keep_entries_when_nothing_is_owed(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    ids = emit(client, keys, range(10))
    report = run(_trim(redis_url, keys, 4, []))
    assert report.floor is None and report.removed == 6
    assert [i.decode() for i, _ in client.xrange(keys.events)] == ids[6:]
    floor, floors = run(_floor(redis_url, keys))
    assert floor is None and floors == {}


async def _floor(url: str, keys: Keys) -> Any:
    client = aioredis.Redis.from_url(url)
    try:
        return await trim_floor(client, keys)
    finally:
        await client.aclose()


def test_the_engine_trims_delivered_entries_and_keeps_undelivered_ones(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    notifier = Recorder("trimmer")
    run(_ensure(redis_url, keys, ["trimmer", "absent"]))  # "absent": configured, not running
    ids = emit(client, keys, range(6))
    options = replace(FAST, keep=0, approximate_trim=False, trim_every=0.1)

    async def scenario() -> None:
        async with engine_running(redis_url, keys, [channel(notifier)], options=options,
                                  configured=["trimmer", "absent"]):  # fmt: skip
            await until(lambda: len(notifier.sent) == 6)
            await asyncio.sleep(0.3)
            assert client.xlen(keys.events) == 6  # "absent" has delivered none of them
            client.xreadgroup("absent", "c", {keys.events: ">"}, count=3)
            client.xack(keys.events, "absent", *ids[:3])
            await until(lambda: client.xlen(keys.events) == 3)

    run(scenario())
    assert [i.decode() for i, _ in client.xrange(keys.events)] == ids[3:]


def test_emitting_does_not_trim_while_notifiers_read_the_stream() -> None:
    from monitor.groups import emit_maxlen

    assert emit_maxlen(1000, notifiers=True) == UNTRIMMED
    assert emit_maxlen(1000, notifiers=False) == 1000


def test_open_runtime_creates_the_configured_groups_before_anything_is_emitted(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    from monitor.runtime import open_runtime

    config = Config(
        redis=RedisSettings(url=redis_url, prefix=keys.prefix),
        notifiers=(settings("ops-hook"), settings("ops-mail")),
    )

    async def scenario() -> Any:
        async with open_runtime(config, workers=0) as runtime:
            assert runtime.store.stream_maxlen == UNTRIMMED
            return await group_info(runtime.client, runtime.keys)

    info = run(scenario())
    assert sorted(info) == ["ops-hook", "ops-mail"]
    assert all(group["last-delivered-id"] in (b"0-0", "0-0") for group in info.values())


# --- real notifiers and real processes ------------------------------------------------------


def write_config(path: Path, url: str, keys: Keys, notifiers: str) -> Path:
    """A configuration file: Redis at ``url`` under the test's prefix, and ``notifiers``
    (TOML ``[[notifiers]]`` blocks)."""
    path.write_text(f'[redis]\nurl = "{url}"\nprefix = "{keys.prefix}"\n\n{notifiers}')
    return path


def webhook_block(name: str, receiver: WebhookReceiver, *, timeout: str = "1s",
                  retry: str = '["100ms", "100ms"]', concurrency: int = 5) -> str:  # fmt: skip
    return (
        f'[[notifiers]]\nname = "{name}"\nkind = "webhook"\nurl = "{receiver.url}"\n'
        f'secret_env = "HOOK_SECRET"\ntimeout = "{timeout}"\nretry = {retry}\n'
        f"concurrency = {concurrency}\n\n"
    )


def deliver_process(config: Path, receiver: WebhookReceiver, *extra: str) -> subprocess.Popen[str]:
    """``monitor deliver`` in a process of its own, as an operator would run it."""
    env = {**os.environ, "HOOK_SECRET": receiver.secret}
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "deliver", "--config", str(config), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def processes(*procs: subprocess.Popen[str]) -> Iterator[tuple[subprocess.Popen[str], ...]]:
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


def test_a_webhook_receives_every_event_signed_once_through_failures(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    from monitor.notifiers.webhook import WebhookNotifier

    with WebhookReceiver() as receiver:
        config = NotifierConfig(name="hook", kind="webhook", url=receiver.url,
                                secret_env="HOOK_SECRET", timeout=0.5,
                                retries=(0.1, 0.1, 0.1), concurrency=5)  # fmt: skip
        notifier = WebhookNotifier(config, env=receiver.env("HOOK_SECRET"))
        receiver.fail_next(2, status=503)
        receiver.timeout_next(1, seconds=2.0)
        receiver.fail_next(1, status=429, retry_after=0.2)

        async def scenario() -> None:
            async with engine_running(redis_url, keys, [Channel(notifier, config)]):
                emit(client, keys, range(20))
                await until(lambda: len(receiver.delivered_ids()) >= 20, timeout=20)
                await until(lambda: idle(redis_url, keys, ["hook"]))
            await notifier.aclose()

        run(scenario())
        ids = receiver.delivered_ids()
    assert sorted(ids) == sorted(f"adv-{n}:1" for n in range(20))  # each exactly once
    assert all(request.verified for request in receiver.deliveries)
    assert client.xlen(keys.dead) == 0


def test_a_killed_delivery_process_loses_nothing_and_repeats_only_same_ids(
    redis_url: str, keys: Keys, client: redis.Redis, tmp_path: Path
) -> None:
    """SIGKILL mid-batch, then a restart: every event is delivered; an event delivered twice
    carries the same webhook-id both times, so the receiver can drop the repeat."""
    count = 60
    with WebhookReceiver() as receiver:
        config = write_config(tmp_path / "x.toml", redis_url, keys, webhook_block("hook", receiver))
        run(_ensure(redis_url, keys, ["hook"]))
        emit(client, keys, range(count))
        receiver.delay_next(count, seconds=0.1)  # 5 at a time: a batch takes over a second
        with processes(deliver_process(config, receiver)) as (first,):
            receiver.wait_for(12, timeout=30)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        killed_at = len(receiver.deliveries)
        assert killed_at < count  # killed mid-way
        with processes(deliver_process(config, receiver, "--until-idle")) as (second,):
            assert second.wait(60) == 0, second.stderr.read() if second.stderr else ""
        ids = receiver.delivered_ids()
    expected = {f"adv-{n}:1" for n in range(count)}
    assert set(ids) == expected
    repeats = {i: n for i, n in Counter(ids).items() if n > 1}
    assert sum(repeats.values()) - len(repeats) <= 5 + 1  # at most what was in flight
    assert run(idle(redis_url, keys, ["hook"]))


def test_two_delivery_processes_share_one_group_and_deliver_each_event_once(
    redis_url: str, keys: Keys, client: redis.Redis, tmp_path: Path
) -> None:
    count = 200
    with WebhookReceiver() as receiver:
        config = write_config(tmp_path / "x.toml", redis_url, keys, webhook_block("hook", receiver))
        run(_ensure(redis_url, keys, ["hook"]))
        receiver.delay_next(count, seconds=0.02)  # one process's batch is busy a while
        with processes(deliver_process(config, receiver), deliver_process(config, receiver)):
            time.sleep(1.5)  # both started and reading
            emit(client, keys, range(count))
            receiver.wait_for(count, timeout=30)
            time.sleep(0.3)
            consumers = client.xinfo_consumers(keys.events, "hook")
        ids = receiver.delivered_ids()
    assert sorted(ids) == sorted(f"adv-{n}:1" for n in range(count))
    assert len(consumers) == 2  # a consumer is listed once it was handed an entry


def test_an_smtp_server_receives_every_event_once_threaded_through_a_refusal(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    email = pytest.importorskip("monitor.notifiers.email")
    SmtpServer = pytest.importorskip("tests.integration.smtp_server").SmtpServer

    with SmtpServer() as server:
        config = NotifierConfig(name="mail", kind="email", smtp_url=server.url(),
                                sender="alerts@example.org", to=("ops@example.org",),
                                timeout=2.0, retries=(0.1, 0.1), concurrency=2)  # fmt: skip
        notifier = email.EmailNotifier(config)
        server.fail(421, times=1)  # "service not available": retried

        async def scenario() -> None:
            async with engine_running(redis_url, keys, [Channel(notifier, config)]):
                emit(client, keys, [1, 2])
                emit(client, keys, [1], version=2, level=4)
                await until(lambda: len(server.messages()) == 3, timeout=10)
                await until(lambda: idle(redis_url, keys, ["mail"]))

        run(scenario())
        messages = [m.message for m in server.messages()]
    ids = Counter(str(m["Message-ID"]) for m in messages)
    expected = {email.message_id(i) for i in ("adv-1:1", "adv-2:1", "adv-1:2")}
    assert set(ids) == expected and set(ids.values()) == {1}
    (update,) = [m for m in messages if m["Message-ID"] == email.message_id("adv-1:2")]
    assert update["In-Reply-To"] == email.message_id("adv-1:1")


def test_an_email_digest_is_sent_once_and_acknowledged_only_after(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    EmailNotifier = pytest.importorskip("monitor.notifiers.email").EmailNotifier
    SmtpServer = pytest.importorskip("tests.integration.smtp_server").SmtpServer

    with SmtpServer() as server:
        config = NotifierConfig(name="mail", kind="email", smtp_url=server.url(),
                                sender="alerts@example.org", to=("ops@example.org",),
                                digest=0.5, timeout=2.0, retries=(0.1,))  # fmt: skip
        notifier = EmailNotifier(config)
        server.fail(421, times=1)  # the first digest fails, the next period's goes out

        async def scenario() -> None:
            async with engine_running(redis_url, keys, [Channel(notifier, config)]):
                emit(client, keys, range(3))
                await until(lambda: len(server.messages()) == 1, timeout=10)
                pending = client.xpending(keys.events, "mail")["pending"]
                await until(lambda: idle(redis_url, keys, ["mail"]))
                assert pending in (0, 3)  # acknowledged with the digest, not before
                await asyncio.sleep(0.8)

        run(scenario())
        messages = server.messages()
    assert len(messages) == 1
    body = messages[0].message.get_body(("plain",))
    assert body is not None and all(f"No. {n}" in body.get_content() for n in range(3))


def test_an_event_read_after_stop_is_handed_back_not_delivered_by_the_stopping_engine(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    """Stop lands while the idle read blocks; the entry that wakes the read is handed back
    at once (a batch started now would get a whole grace period of its own)."""
    first, second = Recorder("hook"), Recorder("hook")
    options = EngineOptions(block=2.0, grace=0.5, idle_poll=0.05, trim_every=3600)

    async def scenario() -> None:
        aclient = aioredis.Redis.from_url(redis_url)
        engine = DeliveryEngine(aclient, keys, [channel(first)], options=options)
        await ensure_groups(aclient, keys, engine.names)
        task = asyncio.create_task(engine.run())
        await asyncio.sleep(0.5)  # idle: the read is blocking
        engine.stop.set()
        await asyncio.to_thread(emit, client, keys, [1])
        await asyncio.wait_for(task, 10)
        await aclient.aclose()
        async with engine_running(redis_url, keys, [channel(second)]):
            await until(lambda: len(second.sent) == 1)

    run(scenario())
    assert first.sent == []
    assert second.ids == ["adv-1:1"]
    assert run(idle(redis_url, keys, ["hook"]))


def test_a_digest_whose_sender_crashes_is_sent_in_the_next_period(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    """A bug in the digest sender (not a DeliveryError) keeps the events for the next period
    instead of emptying the buffer and holding the entries forever."""
    email = pytest.importorskip("monitor.notifiers.email")
    SmtpServer = pytest.importorskip("tests.integration.smtp_server").SmtpServer

    class CrashesOnce(email.EmailNotifier):  # type: ignore[name-defined,misc]
        crashed = False

        async def send_digest(self, events: Sequence[Event]) -> str:
            if not self.crashed:
                self.crashed = True
                raise RuntimeError("template bug")
            answer: str = await super().send_digest(events)
            return answer

    with SmtpServer() as server:
        config = NotifierConfig(name="mail", kind="email", smtp_url=server.url(),
                                sender="alerts@example.org", to=("ops@example.org",),
                                digest=0.5, timeout=2.0, retries=(0.1,))  # fmt: skip
        notifier = CrashesOnce(config)

        async def scenario() -> None:
            async with engine_running(redis_url, keys, [Channel(notifier, config)]):
                emit(client, keys, range(3))
                await until(lambda: len(server.messages()) == 1, timeout=10)
                await until(lambda: idle(redis_url, keys, ["mail"]))

        run(scenario())
        messages = server.messages()
    assert notifier.crashed and len(messages) == 1
    body = messages[0].message.get_body(("plain",))
    assert body is not None and all(f"No. {n}" in body.get_content() for n in range(3))
