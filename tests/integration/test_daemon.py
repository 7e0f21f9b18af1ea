"""``monitor run`` end to end: real processes, loopback feeds, webhook and SMTP servers, Redis.

Each test starts the daemon as an operator would (``python -m monitor run --config FILE``)
against a :class:`FeedServer` serving real feed fixtures, a :class:`WebhookReceiver` that
verifies Standard Webhooks signatures and an :class:`SmtpServer`, and asserts on what those
received, on the events stream and on the daemon's own ``/healthz`` and ``/metrics``.

Timeouts are generous ceilings that tell "works" from "broken", never measurements: an event
is expected within about one poll interval, and waited for far longer. The only bound on time
asserted is the daemon's promise to exit within 10 s of SIGTERM.

When a test fails, the stderr tail of every daemon it started is printed with the failure
("Captured stdout teardown").
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from monitor.events import EVENT_TYPES, decode_entry
from monitor.groups import statuses
from monitor.keys import Keys
from monitor.notifiers.email import message_id
from monitor.notifiers.webhook import webhook_id
from tests.integration.daemon import (
    Daemon,
    Daemons,
    config_text,
    email,
    source,
    webhook,
)
from tests.integration.http_server import FeedServer
from tests.integration.smtp_server import SmtpServer, unused_port
from tests.integration.webhook_receiver import WebhookReceiver

FEEDS = Path(__file__).parents[1] / "fixtures" / "feeds"
STATE = (FEEDS / "us-state-travel-advisories.rss.xml").read_bytes()  # 7 advisories
GDACS = (FEEDS / "gdacs-rss.xml").read_bytes()  # 16 disaster alerts
CANADA = (FEEDS / "canada-index-alpha-eng-2014.json").read_bytes()  # 229 destinations
ITALY = "destination.ita.html"  # the end of the State Department's advisory id for Italy
SECRET_ENV = "HOOK_SECRET"
CONCURRENCY = 5  # the webhook notifier's deliveries in flight per process


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def daemons() -> Iterator[Daemons]:
    """The test's daemon processes: killed at teardown, their stderr tails printed (pytest
    shows them with a failure)."""
    fleet = Daemons()
    try:
        yield fleet
    finally:
        fleet.close()
        if fleet.all:
            print(fleet.report())


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def client(redis_url: str, keys: Keys) -> Iterator[redis.Redis]:
    """A client of the test's Redis; the keys under the test's prefix are deleted after it
    (the prefix is the test's own, so nothing else in the database is touched)."""
    connection = redis.Redis.from_url(redis_url)
    try:
        yield connection
    finally:
        for key in connection.scan_iter(match=f"{keys.prefix}*", count=1000):
            connection.delete(key)
        connection.close()


# --- helpers ----------------------------------------------------------------------------------


def raised(feed: bytes, country: str) -> bytes:
    """The State Department feed with ``country`` raised from Level 2 to Level 3 (its title,
    threat-level category and first words): one advisory changes, the others do not."""
    start = feed.index(f"<title>{country} - ".encode())
    end = feed.index(b"</item>", start)
    item = (
        feed[start:end]
        .replace(b"Level 2: Exercise Increased Caution", b"Level 3: Reconsider Travel")
        .replace(b"Exercise increased caution<p>", b"Reconsider travel<p>")
    )
    assert item != feed[start:end], f"{country} is not at Level 2 in the feed"
    return feed[:start] + item + feed[end:]


def with_bad_items(feed: bytes) -> bytes:
    """An RSS feed with two broken items before its real ones: one empty, one with a
    nonsense date, an unusable link and no words at all."""
    bad = (
        b"<item></item>"
        b"<item><title> </title><link>javascript:alert(1)</link>"
        b"<pubDate>Mon, 99 Foo 99999 99:99:99 +9999</pubDate><description>&lt;p&gt;"
        b"</description></item>"
    )
    at = feed.index(b"<item>")
    return feed[:at] + bad + feed[at:]


def write_config(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def stream(client: redis.Redis, keys: Keys) -> list[dict[str, Any]]:
    """Every event on the stream, oldest first, decoded as consumers read it."""
    entries = client.xrange(keys.events) or []
    return [decode_entry(fields) for _, fields in entries if fields is not None]


def advisory_events(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events a notifier without a filter receives: every ``advisory.*`` event."""
    return [e for e in events if str(e["type"]).startswith("advisory.")]


def hook_ids(events: Iterable[dict[str, Any]]) -> set[str]:
    """The ``webhook-id`` each of these events is delivered with."""
    return {webhook_id(e) for e in advisory_events(events)}


def idle(redis_url: str, keys: Keys, groups: Iterable[str]) -> bool:
    """Whether every named group has delivered everything: nothing unread, pending or
    waiting for a retry."""

    async def check() -> bool:
        connection = aioredis.Redis.from_url(redis_url)
        try:
            return all(s.idle for s in await statuses(connection, keys, list(groups)))
        finally:
            await connection.aclose()

    return asyncio.run(check())


def eventually(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g}s for {what}")
        time.sleep(0.1)


def all_delivered(receiver: WebhookReceiver, client: redis.Redis, keys: Keys, count: int) -> bool:
    """``count`` advisory events are on the stream, and each reached the receiver."""
    ids = hook_ids(stream(client, keys))
    return len(ids) >= count and ids <= set(receiver.delivered_ids())


def extra_deliveries(ids: Iterable[str]) -> Counter[str]:
    """How many times beyond the first each id was delivered (only the repeated ids)."""
    counts = Counter(ids)
    return Counter({i: n - 1 for i, n in counts.items() if n > 1})


def assert_ids_name_their_events(receiver: WebhookReceiver) -> None:
    """Every delivery verified, and its ``webhook-id`` is its event's id: a repeated id is a
    repeat of the same event, which a receiver drops by that id."""
    for request in receiver.deliveries:
        assert request.verified, request.error
        assert request.webhook_id == webhook_id(request.payload["data"])


def polls(daemon: Daemon, source_id: str) -> Counter[str]:
    """The outcomes of the polls of ``source_id`` the daemon logged (``poll.done``)."""
    return Counter(str(line["outcome"]) for line in daemon.logs("poll.done", source=source_id))


# --- 1. end to end ----------------------------------------------------------------------------


def test_a_level_change_in_a_feed_reaches_the_webhook_signed_and_the_mailbox_threaded(
    daemons: Daemons,
    http_server: FeedServer,
    receiver: WebhookReceiver,
    smtp: SmtpServer,
    client: redis.Redis,
    redis_url: str,
    keys: Keys,
    tmp_path: Path,
) -> None:
    http_server.set("/state.xml", STATE)
    config = config_text(
        redis_url=redis_url,
        prefix=keys.prefix,
        sources=[source("state", http_server.url("/state.xml"), interval="2s", issuer="US")],
        notifiers=[webhook("hook", receiver.url), email("mail", smtp.url())],
    )
    daemon = daemons.run(write_config(tmp_path, "monitor", config), env=receiver.env(SECRET_ENV))

    receiver.wait_for(7, timeout=60)
    smtp.wait_for(7, timeout=60)
    first = advisory_events(stream(client, keys))
    assert [e["type"] for e in first] == ["advisory.new"] * 7
    assert set(receiver.delivered_ids()) == hook_ids(first)
    assert {message_id(str(e["event_id"])) for e in first} == {
        str(m.message["Message-ID"]) for m in smtp.messages()
    }

    polled = http_server.requests("/state.xml")
    http_server.set("/state.xml", raised(STATE, "Italy"))
    receiver.wait_for(8, timeout=60)
    smtp.wait_for(8, timeout=60)
    # Two more polls of the changed feed, and all they emitted delivered: nothing else comes.
    eventually(
        lambda: http_server.requests("/state.xml") >= polled + 3,
        timeout=60,
        what="two polls after the one that saw the change",
    )
    eventually(
        lambda: idle(redis_url, keys, ["hook", "mail"]),
        timeout=30,
        what="both notifiers to deliver everything emitted",
    )
    assert daemon.terminate() == 0

    changed = [e for e in stream(client, keys) if e["type"] == "advisory.changed"]
    assert len(changed) == 1
    (event,) = changed
    assert str(event["advisory_id"]).endswith(ITALY)
    assert event["advisory"]["level"] == 3 and event["version"] == 2

    assert_ids_name_their_events(receiver)
    hooks = [r for r in receiver.deliveries if r.payload["type"] == "advisory.changed"]
    assert [r.webhook_id for r in hooks] == [webhook_id(event)]
    assert len(receiver.deliveries) == 8

    messages = [m.message for m in smtp.messages()]
    assert len(messages) == 8
    (update,) = [m for m in messages if m["Message-ID"] == message_id(str(event["event_id"]))]
    root = message_id(f"{event['advisory_id']}:1")
    assert root in {str(m["Message-ID"]) for m in messages}  # the advisory's first message
    assert update["In-Reply-To"] == root
    assert update["References"] == root


# --- 2. SIGTERM during delivery ---------------------------------------------------------------


def test_sigterm_during_slow_deliveries_exits_0_and_the_next_process_delivers_the_rest(
    daemons: Daemons,
    http_server: FeedServer,
    receiver: WebhookReceiver,
    client: redis.Redis,
    redis_url: str,
    keys: Keys,
    tmp_path: Path,
) -> None:
    http_server.set("/canada.json", CANADA, content_type="application/json")
    canada = source("canada", http_server.url("/canada.json"), fmt="canada", issuer="CA")
    text = config_text(
        redis_url=redis_url,
        prefix=keys.prefix,
        sources=[canada],
        notifiers=[webhook("hook", receiver.url, concurrency=CONCURRENCY)],
    )
    config = write_config(tmp_path, "monitor", text)
    env = receiver.env(SECRET_ENV)
    # The events wait on the stream before the daemon starts, so its first read takes a full
    # batch (100): more than the grace period lets it deliver.
    poll = daemons.start("poll", "--once", "--config", config, name="poll", env=env)
    assert poll.wait(60) == 0
    emitted = advisory_events(stream(client, keys))
    assert len(emitted) == 229

    receiver.delay_next(10_000, seconds=1.5)  # 5 at a time: 229 events would take a minute
    daemon = daemons.run(config, env=env)
    receiver.wait_for(CONCURRENCY, timeout=60)  # deliveries are under way
    assert daemon.terminate() == 0  # within 10 s, the grace (5 s) included
    batches = daemon.logs("delivery.batch")
    assert sum(int(b["handed_back"]) for b in batches) > 0  # stopped mid-batch
    # One line per batch says which notifier and consumer, which entries, how many, how long.
    first = batches[0]
    assert first["notifier"] == "hook" and str(first["consumer"]).count(":") == 2
    oldest = client.xrange(keys.events, count=1)[0][0].decode()
    assert first["first_id"] == oldest and first["entries"] == 100
    assert float(first["duration"]) > 0
    assert daemon.logs("monitor.stopped")
    assert len(receiver.deliveries) < 229

    receiver.recover()
    finisher = daemons.start("deliver", "--config", config, "--until-idle", name="deliver", env=env)
    assert finisher.wait(120) == 0, finisher.tail()

    ids = receiver.delivered_ids()
    assert set(ids) == hook_ids(emitted)
    # Repeats only of what the first process had on the wire when its grace ran out, each
    # with the same webhook-id as the first time.
    assert sum(extra_deliveries(ids).values()) <= CONCURRENCY
    assert_ids_name_their_events(receiver)
    assert idle(redis_url, keys, ["hook"])


# --- 3. scale-out -----------------------------------------------------------------------------


def test_three_daemons_poll_each_source_once_per_interval_and_survive_one_killed(
    daemons: Daemons,
    http_server: FeedServer,
    receiver: WebhookReceiver,
    client: redis.Redis,
    redis_url: str,
    keys: Keys,
    tmp_path: Path,
) -> None:
    intervals = {"/state.xml": 1.0, "/gdacs.xml": 2.0, "/canada.json": 2.0}
    http_server.set("/state.xml", STATE)
    http_server.set("/gdacs.xml", GDACS)
    http_server.set("/canada.json", CANADA, content_type="application/json")
    sources = [
        source("state", http_server.url("/state.xml"), interval="1s", issuer="US"),
        source("gdacs", http_server.url("/gdacs.xml"), interval="2s"),
        source("canada", http_server.url("/canada.json"), interval="2s", fmt="canada", issuer="CA"),
    ]
    names = ("one", "two", "three")
    receiver.delay_next(100_000, seconds=0.2)  # 15 in flight: the backlog lasts seconds
    fleet: dict[str, Daemon] = {}
    for name in names:  # one config per machine: each posts to its own path of the receiver
        path = f"/hook/{name}"
        text = config_text(
            redis_url=redis_url,
            prefix=keys.prefix,
            sources=sources,
            # A 5 s timeout: another process takes over a consumer's entries once they sat
            # untouched for 10 s, which only a dead process (or one frozen that long) leaves.
            notifiers=[webhook("hook", receiver.url_for(path), timeout="5s")],
        )
        fleet[path] = daemons.run(
            write_config(tmp_path, name, text), name=name, env=receiver.env(SECRET_ENV)
        )
    started = daemons.started()
    window = time.monotonic()
    http_server.reset_counts()
    assert len({line["health_port"] for line in started}) == 3

    receiver.wait_for(60, timeout=60)  # mid-way through the first 252 events
    busiest = max(fleet, key=lambda path: sum(r.path == path for r in receiver.requests))
    victim = fleet.pop(busiest)
    assert victim.kill() < 0  # SIGKILL: whatever it held is left pending in the group
    # New events after the kill: two advisories change; the survivors poll and deliver them.
    http_server.set("/state.xml", raised(raised(STATE, "Italy"), "Cambodia"))

    def changes_seen() -> bool:
        return [e["type"] for e in stream(client, keys)].count("advisory.changed") == 2

    eventually(changes_seen, timeout=60, what="both level changes on the stream")
    eventually(
        lambda: all_delivered(receiver, client, keys, 7 + 16 + 229 + 2),
        timeout=90,
        what="every event at the webhook",
    )
    eventually(
        lambda: idle(redis_url, keys, ["hook"]),
        timeout=60,
        what="the group to have nothing pending",
    )
    for survivor in fleet.values():
        status, health = survivor.healthz()
        assert status == 200 and health["ready"] is True
    assert daemons.terminate(fleet.values()) == [0, 0]
    window = time.monotonic() - window

    events = stream(client, keys)
    assert len(advisory_events(events)) == 7 + 16 + 229 + 2
    ids = receiver.delivered_ids()
    assert set(ids) == hook_ids(events)
    # A repeat is an event the killed process was sending (its requests are on its path),
    # and there are no more of them than it could have had sent but not acknowledged: the
    # ones on the wire and the ones finished since its last acknowledgement.
    repeats = extra_deliveries(ids)
    sent_by_victim = {r.webhook_id for r in receiver.requests if r.path == busiest}
    assert set(repeats) <= sent_by_victim
    assert sum(repeats.values()) <= 2 * CONCURRENCY
    assert_ids_name_their_events(receiver)

    # A source's lease lasts its interval, so the fleet polls it about once per interval:
    # two polls are never closer than 0.9 interval (the jitter), where processes polling on
    # their own would make two or three requests per interval. And polling went on after the
    # kill (a gap can reach about two intervals when the killed one held the lease).
    for path, interval in intervals.items():
        requests = http_server.requests(path)
        once = window / interval  # requests at exactly one per interval
        assert once / 3 - 1 <= requests <= 1.2 * once + 2, (path, requests, f"{window:.1f}s")


# --- 4. /healthz and /metrics -----------------------------------------------------------------


def test_healthz_is_ready_and_metrics_count_polls_events_and_deliveries(
    daemons: Daemons,
    http_server: FeedServer,
    receiver: WebhookReceiver,
    client: redis.Redis,
    redis_url: str,
    keys: Keys,
    tmp_path: Path,
) -> None:
    http_server.set("/state.xml", STATE)
    config = config_text(
        redis_url=redis_url,
        prefix=keys.prefix,
        sources=[source("state", http_server.url("/state.xml"), interval="1s", issuer="US")],
        notifiers=[webhook("hook", receiver.url)],
    )
    daemon = daemons.run(write_config(tmp_path, "monitor", config), env=receiver.env(SECRET_ENV))
    receiver.wait_for(7, timeout=60)
    daemon.wait_for_log("poll.done", count=3, timeout=60)

    status, health = daemon.healthz()
    assert status == 200
    assert health["status"] == "ok" and health["live"] is True and health["ready"] is True
    assert health["redis"] == "ok" and health["role"] == "all"

    def consistent() -> bool:
        """/metrics agrees with the daemon's log, the stream and the receiver (read until
        no poll or delivery falls between the reads)."""
        m = daemon.metrics()
        emitted = Counter(str(e["type"]) for e in stream(client, keys))
        return (
            m.by("monitor_polls_total", "outcome", source="state") == polls(daemon, "state")
            and m.by("monitor_events_emitted_total", "type")
            == {t: float(emitted[t]) for t in EVENT_TYPES}
            and m.value("monitor_deliveries_total", notifier="hook", outcome="delivered")
            == len(receiver.deliveries)
            and m.value("monitor_delivery_latency_seconds_count", notifier="hook")
            == len(receiver.deliveries)
            and m.value("monitor_stream_lag", group="hook") == 0
        )

    eventually(consistent, timeout=30, what="/metrics to agree with logs, stream and receiver")
    m = daemon.metrics()
    assert polls(daemon, "state")["ok"] == 1  # the first poll; the rest are 304s
    assert m.value("monitor_polls_total", source="state", outcome="ok") == 1
    assert m.value("monitor_events_emitted_total", type="advisory.new") == 7
    assert m.value("monitor_deliveries_total", notifier="hook", outcome="delivered") == 7
    assert m.total("monitor_deliveries_total", notifier="hook") == 7  # no retries, no losses
    assert m.value("monitor_redis_up") == 1

    http_server.set("/state.xml", raised(STATE, "Italy"))
    receiver.wait_for(8, timeout=60)
    eventually(consistent, timeout=30, what="/metrics to count the change and its delivery")
    m = daemon.metrics()
    assert m.value("monitor_events_emitted_total", type="advisory.changed") == 1
    assert m.value("monitor_deliveries_total", notifier="hook", outcome="delivered") == 8
    assert daemon.terminate() == 0


# --- 5. bad sources and bad items -------------------------------------------------------------


def test_bad_sources_and_items_are_counted_and_never_stop_the_good_ones(
    daemons: Daemons,
    http_server: FeedServer,
    receiver: WebhookReceiver,
    client: redis.Redis,
    redis_url: str,
    keys: Keys,
    tmp_path: Path,
) -> None:
    http_server.set("/state.xml", STATE)
    http_server.set("/mixed.xml", with_bad_items(GDACS))
    http_server.set("/broken.xml", STATE)
    http_server.fail("/broken.xml", 500)  # until recover(): never, here
    http_server.set("/garbage.xml", b"\x00\x01 this is no feed \xff", content_type="text/plain")
    sources = [
        source("state", http_server.url("/state.xml"), interval="2s", issuer="US"),
        source("mixed", http_server.url("/mixed.xml"), interval="2s"),
        source("refused", f"http://127.0.0.1:{unused_port()}/feed.xml", interval="1s"),
        source("broken", http_server.url("/broken.xml"), interval="1s"),
        source("garbage", http_server.url("/garbage.xml"), interval="1s"),
    ]
    config = config_text(
        redis_url=redis_url,
        prefix=keys.prefix,
        sources=sources,
        notifiers=[webhook("hook", receiver.url)],
        max_backoff="1s",
        failing_after=2,
    )
    daemon = daemons.run(write_config(tmp_path, "monitor", config), env=receiver.env(SECRET_ENV))

    def failures_counted() -> bool:
        m = daemon.metrics()
        return (
            m.total("monitor_polls_total", source="refused", outcome="connection_error") >= 2
            and m.total("monitor_polls_total", source="broken", outcome="http_error") >= 2
            and m.total("monitor_polls_total", source="garbage", outcome="not_a_feed") >= 2
        )

    eventually(failures_counted, timeout=60, what="each bad source's failures in /metrics")
    eventually(
        lambda: all_delivered(receiver, client, keys, 7 + 16),
        timeout=60,
        what="the good sources' events at the webhook",
    )
    new = Counter(str(e["source"]) for e in stream(client, keys) if e["type"] == "advisory.new")
    assert new["state"] == 7
    assert new["mixed"] >= 16  # every real item of the feed with the broken ones
    assert not {"refused", "broken", "garbage"} & set(new)

    # Still polling and delivering after all those failures.
    http_server.set("/state.xml", raised(STATE, "Italy"))
    eventually(
        lambda: any(r.payload["type"] == "advisory.changed" for r in receiver.deliveries),
        timeout=60,
        what="the change of the good source at the webhook",
    )
    status, health = daemon.healthz()
    assert status == 200 and health["ready"] is True

    def failing_counted() -> bool:
        failing = {str(e["source"]) for e in stream(client, keys) if e["type"] == "source.failing"}
        m = daemon.metrics()
        emitted = m.value("monitor_events_emitted_total", type="source.failing")
        return failing == {"refused", "broken", "garbage"} and emitted == 3

    eventually(failing_counted, timeout=30, what="one source.failing per bad source, counted")
    assert daemon.terminate() == 0
    assert not daemon.logs("poll.crashed")
    assert not daemon.logs("monitor.part_ended")
