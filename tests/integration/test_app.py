"""The daemon's composition root in-process: roles, start failures, a graceful stop.

The daemon as a subprocess (signals, several processes, a killed one) is tested in
``test_daemon.py``; here ``app.run`` is driven through its ``stop`` event.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis as redis_sync

from monitor import app
from monitor.config import (
    Config,
    NotifierConfig,
    PollSettings,
    RedisSettings,
    ServiceSettings,
    Source,
)
from monitor.keys import Keys
from tests.integration.http_server import FeedServer

MOSCOW = Path(__file__).parents[1] / "fixtures" / "examples" / "embassy-moscow-2024.rss.xml"


@pytest.fixture
def config(redis_url: str, redis_client: redis_sync.Redis, keys: Keys) -> Config:
    return Config(
        redis=RedisSettings(url=redis_url, prefix=keys.prefix),
        poll=PollSettings(workers=0, jitter=0.0),
        service=ServiceSettings(grace=1.0, expiry_every=0.2, health_port=0),
        notifiers=(NotifierConfig(name="console", kind="console"),),
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def run_until(config: Config, role: str, done: asyncio.Event | None = None,
                    seconds: float = 10.0) -> tuple[app.Started, float]:  # fmt: skip
    """Run the daemon until ``done`` (or at once after start); answer what started and how
    long the stop took."""
    stop = asyncio.Event()
    started: list[app.Started] = []
    task = asyncio.create_task(
        app.run(config, role=role, stop=stop, on_started=started.append, handle_signals=False)
    )
    while not started and not task.done():
        await asyncio.sleep(0.02)
    if task.done():
        await task  # raises the start error
    if done is not None:
        await asyncio.wait_for(done.wait(), seconds)
    stopping = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 15.0)
    return started[0], time.monotonic() - stopping


def test_unreachable_redis_is_a_start_error_naming_the_target(config: Config) -> None:
    down = replace(config, redis=replace(config.redis, url="redis://:pw@127.0.0.1:1/0"))
    for role in ("deliver", "poll"):
        with pytest.raises(app.StartError) as caught:
            asyncio.run(run_until(down, role))
        assert "Redis does not answer at redis://***@127.0.0.1:1/0" in str(caught.value)


def test_a_taken_health_port_is_a_start_error_with_the_way_out(
    config: Config, busy_port: int
) -> None:
    taken = replace(config, service=replace(config.service, health_port=busy_port))
    with pytest.raises(app.StartError) as caught:
        asyncio.run(run_until(taken, "deliver"))
    assert f"cannot listen on 127.0.0.1:{busy_port}" in str(caught.value)
    assert "MONITOR_HEALTH_PORT" in str(caught.value)


def test_a_missing_notifier_secret_is_a_start_error(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APP_TEST_HOOK_SECRET", raising=False)
    hook = NotifierConfig(name="hook", kind="webhook", url="http://127.0.0.1:9/hook",
                          secret_env="APP_TEST_HOOK_SECRET")  # fmt: skip
    with pytest.raises(app.StartError) as caught:
        asyncio.run(run_until(replace(config, notifiers=(hook,)), "all"))
    assert "$APP_TEST_HOOK_SECRET is not set" in str(caught.value)


@pytest.mark.parametrize(
    ("role", "sources", "notifiers"),
    [("all", ("moscow",), ("console",)), ("poll", ("moscow",), ()), ("deliver", (), ("console",))],
)
def test_each_role_starts_its_own_parts(
    config: Config, http_server: FeedServer, role: str, sources: tuple[str, ...],
    notifiers: tuple[str, ...],
) -> None:  # fmt: skip
    http_server.set("/feed.xml", MOSCOW.read_bytes())
    with_source = replace(config, sources=(Source("moscow", http_server.url("/feed.xml")),))
    started, _ = asyncio.run(run_until(with_source, role))
    assert (started.role, started.sources, started.notifiers) == (role, sources, notifiers)
    assert started.health_port is not None and started.health_port > 0


def test_groups_exist_before_any_poll_even_for_a_poll_only_process(
    config: Config, redis_client: redis_sync.Redis, keys: Keys
) -> None:
    asyncio.run(run_until(config, "poll"))
    groups = [g["name"] for g in redis_client.xinfo_groups(keys.events)]
    assert groups == [b"console"]


def test_the_endpoint_can_be_turned_off(config: Config) -> None:
    off = replace(config, service=replace(config.service, health_port=-1))
    started, _ = asyncio.run(run_until(off, "deliver"))
    assert started.health_port is None


def test_a_new_advisory_is_delivered_then_the_daemon_stops_within_its_grace(
    config: Config, http_server: FeedServer, redis_client: redis_sync.Redis, keys: Keys,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    http_server.set("/feed.xml", MOSCOW.read_bytes())
    polled = replace(config, sources=(Source("moscow", http_server.url("/feed.xml"),
                                             interval=1.0),))  # fmt: skip

    async def scenario() -> float:
        delivered = asyncio.Event()

        async def watch() -> None:
            while True:
                try:
                    info = await asyncio.to_thread(redis_client.xinfo_groups, keys.events)
                except redis_sync.ResponseError:  # no stream yet
                    info = []
                if info and info[0]["last-delivered-id"] != b"0-0" and not info[0]["pending"]:
                    delivered.set()
                    return
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        _, took = await run_until(polled, "all", delivered, seconds=20.0)
        watcher.cancel()
        return took

    took = asyncio.run(scenario())
    out = capsys.readouterr().out
    assert "advisory.new" in out and "Security Alert - U.S. Embassy Moscow" in out
    assert took < polled.service.grace + 2.0  # nothing in flight: the stop is prompt
    assert http_server.requests("/feed.xml") >= 1


def test_an_embedded_server_that_cannot_start_is_a_start_error(
    config: Config, tmp_path: Path
) -> None:
    # A Unix socket path longer than the kernel allows: the server cannot listen there.
    deep = tmp_path / ("d" * 120)
    embedded = replace(config, redis=replace(config.redis, url=None, data_dir=str(deep)))
    with pytest.raises(app.StartError) as caught:
        asyncio.run(run_until(embedded, "deliver"))
    assert str(caught.value).startswith("the embedded Redis server cannot start:")
