"""The heartbeat of a batch in flight never takes back entries another consumer took over.

A process that stalls longer than the claim time is taken over: its pending entries are
claimed by another consumer, its leased retries re-leased by another engine. When it wakes
up, its heartbeat must leave them with their new owner, or both would deliver them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis as redis_sync
import redis.asyncio as aioredis

from monitor.groups import GroupStore, ensure_groups
from monitor.keys import Keys

GROUP = "hook"


@pytest.fixture
def sync(redis_url: str, keys: Keys) -> Iterator[redis_sync.Redis]:
    client = redis_sync.Redis.from_url(redis_url)
    yield client
    for key in client.scan_iter(match=f"{keys.prefix}*"):
        client.delete(key)
    client.close()


async def read_three(url: str, keys: Keys) -> tuple[aioredis.Redis, GroupStore, list[str]]:
    client = aioredis.Redis.from_url(url)
    await ensure_groups(client, keys, [GROUP])
    for n in range(3):
        await client.xadd(keys.events, {"type": "advisory.new", "event_id": f"a:{n}"})
    store = GroupStore(client, keys, GROUP)
    entries = await store.read_new("stalled", 10, None)
    return client, store, [e.stream_id for e in entries]


def owners(sync: redis_sync.Redis, keys: Keys) -> dict[str, str]:
    rows = sync.xpending_range(keys.events, GROUP, "-", "+", 10)
    return {row["message_id"].decode(): row["consumer"].decode() for row in rows}


def test_pending_entries_taken_over_stay_with_their_new_owner(
    redis_url: str, keys: Keys, sync: redis_sync.Redis
) -> None:
    async def scenario() -> tuple[set[str], set[str]]:
        client, store, ids = await read_three(redis_url, keys)
        # Another consumer takes the first two over, as after the claim time.
        await client.xclaim(keys.events, GROUP, "rescuer", 0, ids[:2], justid=True)
        found = await store.touch("stalled", ids, {}, 0)
        await client.aclose()
        return found

    ours, extended = asyncio.run(scenario())
    taken = owners(sync, keys)
    assert sorted(taken.values()) == ["rescuer", "rescuer", "stalled"]
    assert ours == {i for i, who in taken.items() if who == "stalled"}
    assert extended == set()


def test_touching_own_entries_resets_their_idle_time(
    redis_url: str, keys: Keys, sync: redis_sync.Redis
) -> None:
    async def scenario() -> set[str]:
        client, store, ids = await read_three(redis_url, keys)
        await asyncio.sleep(0.3)
        ours, _ = await store.touch("stalled", ids, {}, 0)
        await client.aclose()
        return ours

    ours = asyncio.run(scenario())
    rows = sync.xpending_range(keys.events, GROUP, "-", "+", 10)
    assert len(ours) == 3
    assert all(row["time_since_delivered"] < 250 for row in rows)
    assert {row["consumer"] for row in rows} == {b"stalled"}


def test_a_retry_re_leased_by_another_engine_keeps_that_lease(
    redis_url: str, keys: Keys, sync: redis_sync.Redis
) -> None:
    retries = keys.retries(GROUP)

    async def scenario() -> tuple[set[str], set[str]]:
        client = aioredis.Redis.from_url(redis_url)
        await ensure_groups(client, keys, [GROUP])
        one = (await client.xadd(keys.events, {"event_id": "a:1"})).decode()
        two = (await client.xadd(keys.events, {"event_id": "a:2"})).decode()
        await client.zadd(retries, {one: 1_000, two: 1_000})
        store = GroupStore(client, keys, GROUP)
        mine, _ = await store.take_due(2_000, 5_000, 10)  # leased to us until 5 000
        assert {e.lease_ms for e in mine} == {5_000}
        # Our lease lapses; another engine takes ``one`` and leases it until 9 000.
        await client.zadd(retries, {one: 9_000})
        found = await store.touch("stalled", [], {e.stream_id: e.lease_ms for e in mine}, 7_000)
        await client.aclose()
        return found

    _, extended = asyncio.run(scenario())
    scores = {m.decode(): s for m, s in sync.zrange(retries, 0, -1, withscores=True)}
    (one, two) = sorted(scores)
    assert extended == {two}
    assert scores == {one: 9_000, two: 7_000}
