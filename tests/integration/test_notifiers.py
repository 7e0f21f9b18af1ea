"""The notifiers against real parts: a loopback webhook receiver that verifies signatures, Apprise
posting to it, Redis pub/sub, the events schema on real emitted events, the example subscriber.

Failures are only classified here; retrying them is the delivery engine's business.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import pytest
import redis
import redis.asyncio as aioredis
from referencing import Registry, Resource

from monitor import events
from monitor.config import Filter, NotifierConfig
from monitor.keys import Keys
from monitor.models import Advisory, MsgType, json_schema
from monitor.normalise.api import normalise_bytes
from monitor.normalise.build import fingerprint
from monitor.notifiers.base import DeliveryError, Notifier
from monitor.notifiers.chat import AppriseNotifier
from monitor.notifiers.pubsub import PubSubNotifier
from monitor.notifiers.registry import build_notifier
from monitor.notifiers.webhook import WebhookNotifier
from monitor.store import Store
from tests.integration import redis_fixtures
from tests.integration.webhook_receiver import WebhookReceiver

keys = redis_fixtures.keys
redis_url = redis_fixtures.redis_url

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "tests" / "fixtures" / "examples"
NOW = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
SECRET_ENV = "OPS_HOOK_SECRET"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def event(n: int = 1, *, country: str = "RU", level: int = 3) -> dict[str, Any]:
    advisory_id = f"us-state:https://travel.state.gov/{country.lower()}.html"
    return {
        "type": "advisory.new" if n == 1 else "advisory.changed",
        "event_id": f"{advisory_id}:{n}",
        "advisory_id": advisory_id,
        "version": n,
        "source": "us-state",
        "emitted_at": "2024-03-08T12:00:00.000Z",
        "stream_id": f"1709899200000-{n}",
        "advisory": {
            "id": advisory_id,
            "title": f"{country} - Level {level}",
            "countries": [country],
            "level": level,
            "kind": "travel_advisory",
        },
        "changes": [] if n == 1 else [{"field": "level", "old": level - 1, "new": level}],
    }


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as started:
        yield started


def hook_config(url: str, **fields: Any) -> NotifierConfig:
    values: dict[str, Any] = {"secret_env": SECRET_ENV, **fields}
    return NotifierConfig(name="ops-hook", kind="webhook", url=url, **values)


@asynccontextmanager
async def webhook(receiver: WebhookReceiver, **fields: Any) -> AsyncIterator[WebhookNotifier]:
    notifier = WebhookNotifier(hook_config(receiver.url, **fields), env=receiver.env(SECRET_ENV))
    try:
        yield notifier
    finally:
        await notifier.aclose()


async def attempt(notifier: Notifier, ev: dict[str, Any]) -> str | DeliveryError:
    try:
        return await notifier.send(ev)
    except DeliveryError as error:
        return error


# --- webhook ------------------------------------------------------------------------------------


def test_webhook_delivers_a_payload_the_receiver_verifies(receiver: WebhookReceiver) -> None:
    async def scenario() -> str:
        async with webhook(receiver) as notifier:
            return await notifier.send(event())

    assert run(scenario()) == "HTTP 204"
    [delivery] = receiver.deliveries
    assert delivery.verified is True
    assert delivery.webhook_id == event()["event_id"]
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["user-agent"].startswith("advisory-monitor/")
    assert delivery.payload["type"] == "advisory.new"
    assert delivery.payload["data"] == event()
    assert delivery.method == "POST"
    assert delivery.path == "/hook"


def test_webhook_returns_what_the_receiver_answered() -> None:
    with WebhookReceiver(status=200) as receiver:

        async def scenario() -> str:
            async with webhook(receiver) as notifier:
                return await notifier.send(event())

        assert run(scenario()) == "HTTP 200"


@pytest.mark.parametrize(
    ("status", "retry_after", "retryable"),
    [
        (500, None, True),
        (503, 7, True),
        (429, 2, True),
        (410, None, False),
        (400, None, False),
        (404, None, False),
    ],
)
def test_failures_are_classified_then_the_next_request_succeeds(
    receiver: WebhookReceiver, status: int, retry_after: int | None, retryable: bool
) -> None:
    receiver.fail_next(1, status, retry_after=retry_after, body=b"try later")

    async def scenario() -> tuple[str | DeliveryError, str | DeliveryError]:
        async with webhook(receiver) as notifier:
            return await attempt(notifier, event()), await attempt(notifier, event())

    failed, succeeded = run(scenario())
    assert isinstance(failed, DeliveryError)
    assert (failed.status, failed.retryable) == (status, retryable)
    assert failed.retry_after == (float(retry_after) if retry_after is not None else None)
    assert failed.detail.startswith(f"HTTP {status}: try later")
    assert succeeded == "HTTP 204"
    assert receiver.count(event()["event_id"]) == 2
    assert receiver.delivered(event()["event_id"]) == 1


def test_a_huge_answer_is_cut_to_one_line(receiver: WebhookReceiver) -> None:
    receiver.fail_next(1, 500, body=b"stack trace\n" * 500_000)

    async def scenario() -> str | DeliveryError:
        async with webhook(receiver) as notifier:
            return await attempt(notifier, event())

    error = run(scenario())
    assert isinstance(error, DeliveryError)
    assert error.retryable and len(error.detail) < 250
    assert error.detail.startswith("HTTP 500: stack trace stack trace")


def test_gone_is_permanent_until_the_receiver_recovers(receiver: WebhookReceiver) -> None:
    receiver.gone()

    async def scenario() -> list[str | DeliveryError]:
        async with webhook(receiver) as notifier:
            results = [await attempt(notifier, event(n)) for n in (1, 2)]
            receiver.recover()
            results.append(await attempt(notifier, event(3)))
            return results

    first, second, third = run(scenario())
    for gone in (first, second):
        assert isinstance(gone, DeliveryError)
        assert (gone.status, gone.retryable) == (410, False)
        assert "the endpoint is gone" in gone.detail
    assert third == "HTTP 204"


def test_a_receiver_slower_than_the_timeout_is_retryable(receiver: WebhookReceiver) -> None:
    receiver.timeout_next(1, seconds=3.0)

    async def scenario() -> tuple[str | DeliveryError, float, str | DeliveryError]:
        async with webhook(receiver, timeout=0.3) as notifier:
            started = time.monotonic()
            timed_out = await attempt(notifier, event())
            elapsed = time.monotonic() - started
            return timed_out, elapsed, await attempt(notifier, event())

    timed_out, elapsed, retried = run(scenario())
    assert isinstance(timed_out, DeliveryError)
    assert timed_out.retryable and timed_out.status is None
    assert timed_out.detail == (
        f"waiting for the answer timed out after 0.3s (http://127.0.0.1:{receiver.port}/…)"
    )
    assert elapsed < 2.0
    assert retried == "HTTP 204"
    assert receiver.count(event()["event_id"]) == 2  # the held one counts on arrival
    assert [r.status for r in receiver.requests] == [204]  # and is recorded once released


def test_a_delayed_answer_within_the_timeout_is_a_delivery(receiver: WebhookReceiver) -> None:
    receiver.delay_next(1, seconds=0.2)

    async def scenario() -> str | DeliveryError:
        async with webhook(receiver, timeout=5.0) as notifier:
            return await attempt(notifier, event())

    assert run(scenario()) == "HTTP 204"
    assert receiver.delivered(event()["event_id"]) == 1


def test_nobody_listening_is_a_retryable_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"

    async def scenario() -> str | DeliveryError:
        notifier = WebhookNotifier(hook_config(url, secret_env=None), env={})
        try:
            return await attempt(notifier, event())
        finally:
            await notifier.aclose()

    error = run(scenario())
    assert isinstance(error, DeliveryError)
    assert error.retryable and error.status is None
    assert error.detail.startswith(f"connection failed (http://127.0.0.1:{port}/…)")


def test_a_wrong_secret_is_refused_by_the_receiver_as_permanent(
    receiver: WebhookReceiver,
) -> None:
    other = WebhookReceiver().secret  # a valid secret, not the receiver's

    async def scenario() -> str | DeliveryError:
        notifier = WebhookNotifier(hook_config(receiver.url), env={SECRET_ENV: other})
        try:
            return await attempt(notifier, event())
        finally:
            await notifier.aclose()

    error = run(scenario())
    assert isinstance(error, DeliveryError)
    assert (error.status, error.retryable) == (401, False)
    [request] = receiver.requests
    assert request.verified is False and request.error == "No matching signature found"
    assert receiver.deliveries == []
    assert other not in error.detail


def test_concurrent_deliveries_share_one_client_each_id_once(receiver: WebhookReceiver) -> None:
    receiver.delay_next(8, seconds=0.05)
    sent = [event(1, country=c) for c in ("RU", "UA", "BY", "IL", "LB", "SY", "IQ", "IR")] * 3

    async def scenario() -> list[str]:
        async with webhook(receiver, concurrency=8) as notifier:
            return await asyncio.gather(*(notifier.send(ev) for ev in sent[:8]))

    assert run(scenario()) == ["HTTP 204"] * 8
    ids = {ev["event_id"] for ev in sent[:8]}
    receiver.wait_for_ids(ids)
    assert sorted(receiver.delivered_ids()) == sorted(ids)
    assert 1 < receiver.max_concurrent <= 8


def test_unsigned_webhooks_reach_a_receiver_that_does_not_verify() -> None:
    with WebhookReceiver(verify=False) as receiver:

        async def scenario() -> str:
            notifier = WebhookNotifier(hook_config(receiver.url, secret_env=None), env={})
            try:
                return await notifier.send(event())
            finally:
                await notifier.aclose()

        assert run(scenario()) == "HTTP 204"
        [delivery] = receiver.deliveries
        assert delivery.verified is None
        assert "webhook-signature" not in delivery.headers
        assert delivery.payload["data"]["event_id"] == event()["event_id"]


def test_receiver_waits_without_blocking_the_loop(receiver: WebhookReceiver) -> None:
    async def scenario() -> str:
        async with webhook(receiver) as notifier:
            sending = asyncio.ensure_future(notifier.send(event()))
            deliveries = await receiver.wait_for_async(1, timeout=5)
            assert deliveries[0].webhook_id == event()["event_id"]
            return await sending

    assert run(scenario()) == "HTTP 204"


def test_receiver_wait_names_what_arrived(receiver: WebhookReceiver) -> None:
    with pytest.raises(TimeoutError) as caught:
        receiver.wait_for(1, timeout=0.05)
    assert str(caught.value) == "waited 0.05s for 1 deliveries; requests so far answered []"


# --- apprise ------------------------------------------------------------------------------------


def test_apprise_posts_the_message_to_a_json_endpoint() -> None:
    with WebhookReceiver(verify=False, status=200) as receiver:
        url = receiver.url.replace("http://", "json://")
        config = NotifierConfig(name="team-chat", kind="apprise", url=url, timeout=5.0)

        async def scenario() -> str:
            notifier = AppriseNotifier(config)
            try:
                return await notifier.send(event(2, level=4))
            finally:
                await notifier.aclose()

        assert run(scenario()) == "apprise: delivered to 1 service(s)"
        [delivery] = receiver.deliveries
        assert delivery.payload["title"] == "Changed: RU - Level 4"
        assert delivery.payload["message"].splitlines()[:2] == [
            "Level 4 (was level 3)",
            "Countries: RU",
        ]


@pytest.mark.parametrize(("status", "retryable"), [(410, False), (503, True)])
def test_apprise_failures_are_classified(status: int, retryable: bool) -> None:
    with WebhookReceiver(verify=False) as receiver:
        receiver.fail_next(1, status)
        url = receiver.url.replace("http://", "json://")
        config = NotifierConfig(name="team-chat", kind="apprise", url=url, timeout=5.0)

        async def scenario() -> str | DeliveryError:
            notifier = AppriseNotifier(config)
            try:
                return await attempt(notifier, event())
            finally:
                await notifier.aclose()

        error = run(scenario())
        assert isinstance(error, DeliveryError)
        assert (error.status, error.retryable) == (status, retryable)


# --- pub/sub ------------------------------------------------------------------------------------


def test_pubsub_publishes_to_all_and_per_country_channels(redis_url: str, keys: Keys) -> None:
    async def scenario() -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
        client = aioredis.from_url(redis_url)
        listener = client.pubsub()
        await listener.subscribe(keys.events, f"{keys.events}:UA")
        await listener.psubscribe(f"{keys.events}:*")
        config = NotifierConfig(name="mirror", kind="pubsub")
        notifier = build_notifier(config, prefix=keys.prefix, redis=client)
        assert isinstance(notifier, PubSubNotifier)
        answers = [
            await notifier.send(event(1, country="RU")),
            await notifier.send(event(1, country="UA")),
        ]
        received: list[tuple[str, dict[str, Any]]] = []
        deadline = time.monotonic() + 5
        while len(received) < 5 and time.monotonic() < deadline:
            message = await listener.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message is not None:
                received.append((message["channel"].decode(), json.loads(message["data"])))
        await listener.aclose()
        await notifier.aclose()
        await client.aclose()
        return answers, received

    answers, received = run(scenario())
    # RU: the all channel and the pattern; UA: the all channel, its own channel and the pattern
    assert answers == [
        "published to 2 channels, 2 subscribers",
        "published to 2 channels, 3 subscribers",
    ]
    channels = sorted(channel for channel, _ in received)
    assert channels == sorted(
        [keys.events, f"{keys.events}:RU", keys.events, f"{keys.events}:UA", f"{keys.events}:UA"]
    )
    assert all(payload["type"] == "advisory.new" for _, payload in received)
    by_channel = dict(received)
    assert by_channel[f"{keys.events}:UA"] == event(1, country="UA")


def test_pubsub_without_redis_is_retryable(keys: Keys) -> None:
    async def scenario() -> str | DeliveryError:
        client = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
        notifier = PubSubNotifier(NotifierConfig(name="m", kind="pubsub"), redis=client, keys=keys)
        try:
            return await attempt(notifier, event())
        finally:
            await client.aclose()

    error = run(scenario())
    assert isinstance(error, DeliveryError) and error.retryable


def test_pubsub_filter_is_the_notifiers(keys: Keys) -> None:
    config = NotifierConfig(name="m", kind="pubsub", filter=Filter(countries=("UA",)))
    notifier = PubSubNotifier(config, redis=aioredis.Redis(), keys=keys)
    assert notifier.wants(event(country="UA")) and not notifier.wants(event(country="RU"))


# --- the events stream: schema and an example subscriber ----------------------------------------


def events_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / "docs" / "events.schema.json").read_text(encoding="utf-8"))
    advisory = json_schema()
    registry: Registry[Any] = Registry().with_resource(
        advisory["$id"], Resource.from_contents(advisory)
    )
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, registry=registry, format_checker=jsonschema.FormatChecker()
    )


def real_advisories() -> list[Advisory]:
    found: list[Advisory] = []
    for name in ("embassy-moscow-2024.rss.xml", "news-syria-2024.txt", "news-uk-2024.txt"):
        path = EXAMPLES / name
        found.extend(normalise_bytes(path.read_bytes(), source=path.name.split(".")[0]))
    return found


def changed(advisory: Advisory, **update: Any) -> Advisory:
    draft = advisory.model_copy(update=update)
    return draft.model_copy(update={"fingerprint": fingerprint(draft)})


async def emit_every_kind_of_event(url: str, keys: Keys) -> None:
    client = aioredis.from_url(url)
    store = Store(client, keys, stream_maxlen=1000)
    try:
        advisories = real_advisories()
        await store.emit(advisories, now=NOW)
        first = advisories[0]
        level = 4 if first.level != 4 else 2
        await store.emit([changed(first, level=level, countries=(*first.countries, "UA"))], now=NOW)
        await store.emit([changed(first, msg_type=MsgType.CANCEL, level=level)], now=NOW)
        for _ in range(3):
            await store.record_failure(
                "us-embassy-ru", outcome="timeout", error="read timed out", now=NOW, threshold=3
            )
        await store.record_success("us-embassy-ru", outcome="ok", now=NOW + timedelta(minutes=5))
        await store.emit_silent("gdacs", last_new=None, now=NOW, cadence_seconds=600)
    finally:
        await client.aclose()


def test_real_emitted_events_validate_against_the_events_schema(redis_url: str, keys: Keys) -> None:
    run(emit_every_kind_of_event(redis_url, keys))
    with redis.Redis.from_url(redis_url) as client:
        entries = client.xrange(keys.events)
    decoded = [dict(events.decode_entry(fields), stream_id=eid.decode()) for eid, fields in entries]
    types = {ev["type"] for ev in decoded}
    assert types >= {
        "advisory.new",
        "advisory.changed",
        "advisory.cancelled",
        "source.failing",
        "source.recovered",
        "source.silent",
    }
    validator = events_validator()
    for ev in decoded:
        errors = sorted(validator.iter_errors(ev), key=str)
        assert not errors, f"{ev['type']} {ev['event_id']}: {errors[0].message}"


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [
        ({"version": "2"}, "version as text"),
        ({"advisory": "{}"}, "advisory as JSON text"),
        ({"type": "advisory.updated"}, "unknown type"),
        ({"emitted_at": "2024-03-08 12:00"}, "not the stream's timestamp"),
        ({"changes": [{"field": "level", "old": 3}]}, "half a scalar change"),
    ],
)
def test_the_events_schema_refuses_what_the_stream_never_holds(
    mutation: dict[str, Any], reason: str
) -> None:
    advisory = real_advisories()[0].to_dict()
    good = dict(event(), advisory=advisory)
    validator = events_validator()
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, **mutation}), reason


def test_the_example_subscriber_reads_through_its_own_group(redis_url: str, keys: Keys) -> None:
    run(emit_every_kind_of_event(redis_url, keys))
    with redis.Redis.from_url(redis_url) as client:
        total = client.xlen(keys.events)
    command = [
        sys.executable,
        str(ROOT / "examples" / "subscriber.py"),
        "--redis-url",
        redis_url,
        "--prefix",
        keys.prefix,
        "--group",
        "example",
        "--consumer",
        "c1",
        "--from-start",
        "--count",
        str(total),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == total
    assert lines[0].split()[1] == "advisory.new"
    assert any(" source.failing us-embassy-ru:source.failing:1 " in f"{line} " for line in lines)
    with redis.Redis.from_url(redis_url) as client:
        [group] = client.xinfo_groups(keys.events)
    assert (group["name"], group["pending"]) == (b"example", 0)
