"""The delivery engine reads the next batch while one is delivered, against a real Redis.

Under a backlog (the last read filled its batch) the engine asks for the next batch as soon
as a batch starts, so Redis answers while Python decodes and sends. Entries read ahead are
pending for the engine's consumer from that moment; these tests pin that doing so changes
nothing a group promises: order and exactly-once under a backlog, the heartbeat keeps them
from being taken over, and a stop hands them back at once rather than leaving them to wait
out the claim time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis
import redis.asyncio as aioredis

from monitor.delivery import Channel, DeliveryEngine
from monitor.groups import ensure_groups
from monitor.keys import Keys
from monitor.notifiers.base import Event
from tests.integration import redis_fixtures
from tests.integration.test_delivery import (
    FAST,
    Recorder,
    channel,
    client,
    emit,
    engine_running,
    idle,
    run,
    settings,
    until,
)

redis_url = redis_fixtures.redis_url
keys = redis_fixtures.keys
__all__ = ["client"]  # the fixture, imported for pytest


class Watcher(Recorder):
    """A recorder whose first attempt waits until the group holds ``pending`` entries for it
    (the batch and the next one, read ahead), and notes how many it saw."""

    def __init__(self, name: str, url: str, stream: str, pending: int) -> None:
        super().__init__(name)
        self.url, self.stream, self.pending = url, stream, pending
        self.seen: list[int] = []
        self.waited = False

    async def send(self, event: Event) -> str:
        if not self.waited:
            self.waited = True
            reader = aioredis.Redis.from_url(self.url)
            try:

                async def enough() -> bool:
                    info: dict[str, Any] = await reader.xpending(self.stream, self.name)
                    self.seen.append(int(info["pending"]))
                    return self.seen[-1] >= self.pending

                await until(enough, timeout=5)
            finally:
                await reader.aclose()
        return await super().send(event)


def backlog(client: redis.Redis, keys: Keys, group: str, count: int) -> None:
    """The notifier's group (as the configuration creates it), then ``count`` events for it."""
    client.xgroup_create(keys.events, group, id="$", mkstream=True)
    emit(client, keys, range(count))


def test_a_backlog_is_read_ahead_and_delivered_in_order_exactly_once(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    watcher = Watcher("ahead", redis_url, keys.events, pending=200)
    backlog(client, keys, "ahead", 350)  # a backlog before the engine starts

    async def scenario() -> None:
        async with engine_running(redis_url, keys, [channel(watcher, timeout=10)]):
            await until(lambda: len(watcher.sent) >= 350)
            await until(lambda: idle(redis_url, keys, ["ahead"]))

    run(scenario())
    assert watcher.seen[-1] >= 200  # the first batch, and the second read while it ran
    expected = [f"adv-{n}:1" for n in range(350)]
    assert sorted(watcher.ids[:100]) == sorted(expected[:100])  # the first batch, whole
    assert watcher.ids[100:] == expected[100:]  # then the rest in stream order, each once
    assert not client.xpending(keys.events, "ahead")["pending"]


def test_a_stop_hands_back_what_was_read_ahead(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    """Nothing read ahead is left pending to wait out the claim time (over a minute here):
    the next engine delivers all of it at once."""
    stuck = Recorder("handover-ahead", delay=30)
    fresh = Recorder("handover-ahead")
    backlog(client, keys, "handover-ahead", 250)

    async def scenario() -> None:
        stuck_channel = channel(stuck, timeout=60, concurrency=10)
        async with engine_running(redis_url, keys, [stuck_channel]) as engine:
            await until(lambda: len(stuck.attempts) == 10)
            await until(lambda: client.xpending(keys.events, "handover-ahead")["pending"] == 200)
            engine.stop.set()
        assert client.xpending(keys.events, "handover-ahead")["pending"] == 0
        assert client.zcard(keys.retries("handover-ahead")) == 200  # handed back, due now
        assert not client.exists(keys.attempts("handover-ahead"))  # a stop is no failure
        async with engine_running(redis_url, keys, [channel(fresh)]):
            await until(lambda: len(fresh.sent) == 250)

    run(scenario())
    assert sorted(fresh.ids) == sorted(f"adv-{n}:1" for n in range(250))


def test_entries_read_ahead_are_not_taken_over_while_a_long_batch_runs(
    redis_url: str, keys: Keys, client: redis.Redis
) -> None:
    """A batch longer than the claim time: the heartbeat touches the entries read ahead as
    well as the batch's, so a second engine on the group takes none of them over."""
    slow = Recorder("patient-ahead", delay=3.5)
    other = Recorder("patient-ahead")
    timeout = 0.2  # claim idle 2.2 s < the 3.5 s batch; the engine's deadline is longer
    backlog(client, keys, "patient-ahead", 150)

    async def scenario() -> None:
        first_client = aioredis.Redis.from_url(redis_url)
        slow_settings = settings("patient-ahead", timeout=timeout, concurrency=100)
        first = DeliveryEngine(first_client, keys, [Channel(slow, slow_settings)], options=FAST)
        first._workers[0].deadline = 10.0
        await ensure_groups(first_client, keys, ["patient-ahead"])
        task = asyncio.create_task(first.run())
        await until(lambda: len(slow.attempts) == 100)
        await until(lambda: client.xpending(keys.events, "patient-ahead")["pending"] == 150)
        async with engine_running(redis_url, keys, [channel(other, timeout=timeout)]):
            await until(lambda: len(slow.sent) == 150, timeout=15)
        first.stop.set()
        await task
        await first_client.aclose()

    run(scenario())
    assert other.attempts == []
    assert sorted(slow.ids) == sorted(f"adv-{n}:1" for n in range(150))
