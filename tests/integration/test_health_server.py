"""The health endpoint over real HTTP, and its watcher against a real (or absent) Redis."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
import structlog
from prometheus_client.parser import text_string_to_metric_families

from monitor.health import Health, HealthServer, watch
from monitor.keys import Keys
from monitor.metrics import Metrics
from monitor.poller import PollReport
from tests.integration import redis_fixtures

redis_url = redis_fixtures.redis_url
keys = redis_fixtures.keys

WAIT = 30.0  # generous: these wait for something to happen, they do not time it


@pytest.fixture(autouse=True)
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """The endpoint's log lines, kept out of the output (structlog unconfigured prints them)."""
    with structlog.testing.capture_logs() as captured:
        yield captured


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> dict[str, object]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


def request(port: int, path: str, method: str = "GET", host: str = "127.0.0.1") -> Answer:
    """One real HTTP request, proxies from the environment ignored; any status is an answer."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(f"http://{host}:{port}{path}", method=method)
    try:
        with opener.open(req, timeout=10) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, dict(error.headers), error.read())


def metric(body: bytes, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def health(clock: Clock) -> Health:
    state = Health(role="deliver", stale_after=10.0, clock=clock)
    state.beat(loop_lag=0.003)
    state.redis(True)
    return state


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def port(health: Health, metrics: Metrics) -> Iterator[int]:
    server = HealthServer("127.0.0.1", 0, health, metrics)
    bound = server.start()
    try:
        yield bound
    finally:
        server.stop()


# --- the endpoint -------------------------------------------------------------------------------


def test_healthz_answers_200_with_the_report_when_live_and_ready(port: int) -> None:
    answer = request(port, "/healthz")

    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    assert {k: body[k] for k in ("status", "live", "ready", "role", "redis", "reasons")} == {
        "status": "ok",
        "live": True,
        "ready": True,
        "role": "deliver",
        "redis": "ok",
        "reasons": [],
    }
    assert body["loop_lag_ms"] == 3.0
    assert body["last_beat_ago_s"] == 0.0


def test_a_stale_beat_turns_healthz_and_livez_into_503(
    port: int, health: Health, clock: Clock
) -> None:
    clock.now += 15

    for path in ("/healthz", "/livez"):
        answer = request(port, path)
        assert answer.status == 503, path
        body = answer.json()
        assert (body["status"], body["live"]) == ("unhealthy", False)
        assert body["reasons"] == ["event loop stalled: no heartbeat for 15.0s"]
    assert request(port, "/readyz").status == 200

    health.beat()
    assert request(port, "/healthz").status == 200


def test_redis_down_fails_readiness_but_not_liveness(port: int, health: Health) -> None:
    health.redis(False, "ConnectionError: refused")

    assert request(port, "/livez").status == 200
    ready = request(port, "/readyz")
    assert ready.status == 503
    assert ready.json()["reasons"] == ["redis unreachable: ConnectionError: refused"]
    whole = request(port, "/healthz")
    assert (whole.status, whole.json()["redis"]) == (503, "down")


def test_stopping_fails_readiness(port: int, health: Health) -> None:
    health.stopping()

    assert request(port, "/readyz").status == 503
    assert request(port, "/livez").status == 200
    assert request(port, "/healthz").json()["reasons"] == ["shutting down"]


def test_metrics_answers_the_prometheus_text(port: int, metrics: Metrics) -> None:
    metrics.poll(PollReport("us-state", "ok", items=12, new=2, duration=0.3))
    metrics.redis_up(True)

    answer = request(port, "/metrics")

    assert answer.status == 200
    assert answer.headers["Content-Type"] == metrics.render()[1]
    assert metric(answer.body, "monitor_polls_total", source="us-state", outcome="ok") == 1
    assert metric(answer.body, "monitor_poll_items_total", source="us-state") == 12
    assert metric(answer.body, "monitor_events_emitted_total", type="advisory.new") == 2
    assert metric(answer.body, "monitor_redis_up") == 1


def test_a_query_string_does_not_change_the_route(port: int) -> None:
    assert request(port, "/healthz?verbose=1").status == 200


@pytest.mark.parametrize("path", ["/", "/health", "/healthz/x", "/metrics.json", "/../etc"])
def test_anything_else_is_404(port: int, path: str) -> None:
    assert request(port, path).status == 404


def test_head_answers_the_headers_of_get_without_a_body(port: int) -> None:
    for path in ("/healthz", "/metrics", "/nowhere"):
        got, head = request(port, path), request(port, path, method="HEAD")
        assert head.status == got.status
        assert head.body == b""
        assert head.headers["Content-Length"] == str(len(got.body))


def test_requests_are_logged_at_debug_not_written_to_stderr(
    port: int, capfd: pytest.CaptureFixture[str], logs: list[MutableMapping[str, Any]]
) -> None:
    capfd.readouterr()
    request(port, "/healthz")
    request(port, "/nowhere")

    assert capfd.readouterr().err == ""
    lines = [entry for entry in logs if entry["event"] == "health.request"]
    assert [entry["log_level"] for entry in lines] == ["debug", "debug"]
    assert '"GET /nowhere HTTP/1.1" 404' in lines[1]["message"]


def test_answers_while_the_event_loop_is_stuck(port: int, clock: Clock) -> None:
    """The server has its own thread: a loop blocked in a synchronous call (here, the request
    itself) does not keep the endpoint from saying so."""

    async def stuck() -> tuple[int, int]:
        clock.now += 20  # the loop stopped beating a while ago
        return request(port, "/healthz").status, request(port, "/metrics").status

    assert asyncio.run(stuck()) == (503, 200)


def test_start_returns_the_bound_port_and_stop_frees_it(health: Health, metrics: Metrics) -> None:
    server = HealthServer("127.0.0.1", 0, health, metrics)
    bound = server.start()
    assert bound > 0
    assert server.start() == bound  # started once
    assert request(bound, "/livez").status == 200
    server.stop()
    server.stop()  # harmless

    with pytest.raises(urllib.error.URLError):
        request(bound, "/livez")


def test_a_port_in_use_is_an_error_at_start(port: int, health: Health, metrics: Metrics) -> None:
    with pytest.raises(OSError):
        HealthServer("127.0.0.1", port, health, metrics).start()


def test_listens_on_ipv6_loopback(health: Health, metrics: Metrics) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    server = HealthServer("::1", 0, health, metrics)
    try:
        bound = server.start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        assert request(bound, "/healthz", host="[::1]").status == 200
    finally:
        server.stop()


# --- the watcher --------------------------------------------------------------------------------


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        await asyncio.sleep(0.02)


def run_watch(
    client: aioredis.Redis,
    keys: Keys,
    groups: list[str],
    check: Callable[[Health, Metrics], Awaitable[None]],
) -> tuple[Health, Metrics]:
    """Run ``watch`` (fast cadence) while ``check`` runs; then stop it and wait for its end."""
    health, metrics = Health(role="all"), Metrics()

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            watch(
                health,
                client,
                keys,
                groups,
                metrics,
                stop,
                every=0.05,
                groups_every=0.05,
                ping_timeout=0.2,
            )
        )
        try:
            await check(health, metrics)
        finally:
            stop.set()
            await asyncio.wait_for(task, WAIT)  # it returns (does not raise) once stopped
            await client.aclose()

    asyncio.run(main())
    return health, metrics


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metric(metrics.render()[0], name, **labels)


def test_watch_reports_ready_and_the_groups_backlog_on_a_real_redis(
    redis_url: str, keys: Keys
) -> None:
    sync = redis.Redis.from_url(redis_url)
    sync.xgroup_create(keys.events, "hook", id="0", mkstream=True)
    for n in range(3):
        sync.xadd(keys.events, {"n": n})
    sync.zadd(keys.retries("hook"), {"1-0": 1})
    exact = int(str(sync.info("server")["redis_version"]).split(".")[0]) >= 7

    async def check(health: Health, metrics: Metrics) -> None:
        await until(lambda: health.report()[0], "ready")
        await until(lambda: value(metrics, "monitor_stream_lag", group="hook") is not None, "lag")

    try:
        health, metrics = run_watch(aioredis.Redis.from_url(redis_url), keys, ["hook"], check)
    finally:
        sync.delete(keys.events, keys.retries("hook"))
        sync.close()

    body = health.report()[1]
    assert (body["redis"], body["live"], body["ready"]) == ("ok", True, True)
    assert value(metrics, "monitor_redis_up") == 1
    assert value(metrics, "monitor_stream_lag", group="hook") == (3 if exact else 1)
    assert value(metrics, "monitor_stream_pending", group="hook") == 0
    assert value(metrics, "monitor_retries_waiting", group="hook") == 1
    assert value(metrics, "monitor_loop_lag_seconds") is not None


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_watch_against_a_closed_port_is_live_but_not_ready(keys: Keys) -> None:
    client = aioredis.Redis(host="127.0.0.1", port=closed_port(), socket_connect_timeout=1)

    async def check(health: Health, metrics: Metrics) -> None:
        await until(lambda: health.report()[1]["redis"] == "down", "redis down")

    health, metrics = run_watch(client, keys, ["hook"], check)

    healthy, body = health.report()
    assert not healthy
    assert (body["live"], body["ready"], body["redis"]) == (True, False, "down")
    reasons = body["reasons"]
    assert isinstance(reasons, list)
    assert reasons[0].startswith("redis unreachable: ")
    assert value(metrics, "monitor_redis_up") == 0
    assert value(metrics, "monitor_stream_lag", group="hook") is None


def test_watch_bounds_a_ping_that_never_answers(keys: Keys) -> None:
    """A server that accepts and then says nothing (a hung Redis, a black-holing proxy)."""
    held: list[socket.socket] = []
    done = threading.Event()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent.settimeout(0.05)

        def accept() -> None:
            while not done.is_set():
                try:
                    held.append(silent.accept()[0])
                except TimeoutError:
                    continue

        acceptor = threading.Thread(target=accept, daemon=True)
        acceptor.start()
        client = aioredis.Redis(host="127.0.0.1", port=silent.getsockname()[1])

        async def check(health: Health, metrics: Metrics) -> None:
            await until(lambda: health.report()[1]["redis"] == "down", "the ping to time out")

        try:
            health, _ = run_watch(client, keys, [], check)
        finally:
            done.set()
            acceptor.join(WAIT)
            for connection in held:
                connection.close()

    body = health.report()[1]
    assert body["live"] is True
    assert held  # it did connect: the ping was cut short by the timeout, not refused
    reasons = body["reasons"]
    assert isinstance(reasons, list)
    assert reasons == ["redis unreachable: no answer within 0.2s"]
