"""The scheduler against a loopback server and a real Redis: cadence, sharing, take-over."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis as redis_sync

from monitor.config import Config, HttpSettings, PollSettings, RedisSettings, Source
from monitor.poller import PollReport
from monitor.runtime import open_runtime
from monitor.scheduler import PollScheduler

MOSCOW = Path(__file__).parents[1] / "fixtures" / "examples" / "embassy-moscow-2024.rss.xml"


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    value = f"sched-{uuid.uuid4().hex[:8]}:"
    yield value
    client = redis_sync.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{value}*"):
        client.delete(key)
    client.close()


def config_for(redis_url: str, prefix: str, *sources: Source, max_backoff: float = 60) -> Config:
    return Config(
        redis=RedisSettings(url=redis_url, prefix=prefix),
        http=HttpSettings(total_timeout=3.0, read_timeout=2.0, connect_timeout=1.0),
        poll=PollSettings(workers=0, jitter=0.0, max_backoff=max_backoff, failing_after=2),
        sources=sources,
    )


async def run_schedulers(config: Config, count: int, seconds: float,
                         stop_first_after: float | None = None) -> list[PollReport]:  # fmt: skip
    """Run ``count`` schedulers (as if in separate processes) for ``seconds``."""
    reports: list[PollReport] = []
    async with open_runtime(config) as one, open_runtime(config) as two:
        runtimes = [one, two][:count]
        schedulers = []
        for index, runtime in enumerate(runtimes):
            poller = runtime.poller
            poller.owner = f"process-{index}"
            scheduler = PollScheduler(poller, runtime.store, config.sources, jitter=0.0,
                                      max_backoff=config.poll.max_backoff,
                                      rand=lambda: 0.0, on_report=reports.append)  # fmt: skip
            scheduler.start()
            schedulers.append(scheduler)
        if stop_first_after is not None:
            await asyncio.sleep(stop_first_after)
            schedulers[0].shutdown()  # its lease stays until it expires, as after a crash
            await asyncio.sleep(seconds - stop_first_after)
        else:
            await asyncio.sleep(seconds)
        for scheduler in schedulers:
            scheduler.shutdown()
    return reports


def test_a_source_is_polled_once_per_interval_and_its_next_due_recorded(
    http_server: Any, redis_url: str, prefix: str
) -> None:
    http_server.set("/feed.xml", MOSCOW.read_bytes())
    config = config_for(redis_url, prefix, Source("moscow", http_server.url("/feed.xml"),
                                                  interval=1.0))  # fmt: skip
    reports = asyncio.run(run_schedulers(config, 1, 3.6))
    assert 2 <= http_server.requests("/feed.xml") <= 6
    assert reports[0].outcome == "ok" and reports[0].new == 1
    assert {r.outcome for r in reports[1:]} == {"not_modified"}
    state = redis_sync.Redis.from_url(redis_url).hgetall(f"{prefix}source:moscow")
    assert b"next_due" in state


def test_two_processes_share_a_source_instead_of_both_polling_it(
    http_server: Any, redis_url: str, prefix: str
) -> None:
    http_server.set("/feed.xml", MOSCOW.read_bytes())
    config = config_for(redis_url, prefix, Source("moscow", http_server.url("/feed.xml"),
                                                  interval=1.0))  # fmt: skip
    reports = asyncio.run(run_schedulers(config, 2, 4.4))
    polled = [r for r in reports if r.outcome != "leased"]
    assert 2 <= http_server.requests("/feed.xml") <= 7  # two alone would make about 9
    assert len(polled) == http_server.requests("/feed.xml")
    assert any(r.outcome == "leased" for r in reports)


def test_when_the_lease_holder_dies_the_other_process_takes_the_source_over(
    http_server: Any, redis_url: str, prefix: str
) -> None:
    http_server.set("/feed.xml", MOSCOW.read_bytes())
    config = config_for(redis_url, prefix, Source("moscow", http_server.url("/feed.xml"),
                                                  interval=1.0))  # fmt: skip
    asyncio.run(run_schedulers(config, 2, 5.0, stop_first_after=1.2))
    # The source kept being polled about once a second after the first process stopped.
    assert http_server.requests("/feed.xml") >= 3


def test_a_failing_source_backs_off_and_is_never_dropped(
    http_server: Any, redis_url: str, prefix: str
) -> None:
    http_server.fail("/down.xml", 500)
    config = config_for(redis_url, prefix, Source("down", http_server.url("/down.xml"),
                                                  interval=1.0), max_backoff=2.0)  # fmt: skip
    reports = asyncio.run(run_schedulers(config, 1, 6.5))
    # Delays 1 s, then 2 s, 2 s (capped): about four polls in 6.5 s, never fewer than three.
    assert 2 <= len(reports) <= 6
    assert {r.outcome for r in reports} == {"http_error"}
    stream = redis_sync.Redis.from_url(redis_url).xrange(f"{prefix}events")
    types = [fields[b"type"] for _, fields in stream]
    assert types == [b"source.failing"]


def test_a_crash_after_the_poll_never_drops_the_source_from_the_schedule(
    http_server: Any, redis_url: str, prefix: str
) -> None:
    http_server.set("/feed.xml", MOSCOW.read_bytes())
    config = config_for(redis_url, prefix, Source("moscow", http_server.url("/feed.xml"),
                                                  interval=1.0))  # fmt: skip

    def broken(report: PollReport) -> None:
        raise RuntimeError("a reporting bug")

    async def run() -> None:
        async with open_runtime(config) as runtime:
            scheduler = PollScheduler(runtime.poller, runtime.store, config.sources, jitter=0.0,
                                      max_backoff=60, rand=lambda: 0.0,
                                      on_report=broken)  # fmt: skip
            scheduler.start()
            await asyncio.sleep(3.6)
            scheduler.shutdown()

    asyncio.run(run())
    assert http_server.requests("/feed.xml") >= 2  # re-armed after the first poll


def test_stop_lets_a_poll_in_flight_finish_within_the_grace_then_cancels_it(
    http_server: Any, redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A server that trickles its body holds the poll open far longer than the grace.
    http_server.trickle("/slow.xml", every=0.5)
    config = config_for(redis_url, prefix, Source("slow", http_server.url("/slow.xml"),
                                                  interval=1.0))  # fmt: skip

    async def run() -> tuple[int, int, int]:
        async with open_runtime(config) as runtime:
            scheduler = PollScheduler(runtime.poller, runtime.store, config.sources, jitter=0.0,
                                      max_backoff=60, rand=lambda: 0.0)  # fmt: skip
            scheduler.start()
            while not scheduler.running:
                await asyncio.sleep(0.02)
            in_flight = len(scheduler.running)
            cancelled = await scheduler.drain(0.3)
            await asyncio.sleep(1.5)  # a re-armed job would have polled again by now
            return in_flight, cancelled, len(scheduler.running)

    in_flight, cancelled, left = asyncio.run(run())
    assert (in_flight, cancelled, left) == (1, 1, 0)
    assert http_server.requests("/slow.xml") == 1  # stopped means no new poll
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


def test_drain_returns_at_once_when_no_poll_runs(redis_url: str, prefix: str) -> None:
    config = config_for(redis_url, prefix)

    async def run() -> int:
        async with open_runtime(config) as runtime:
            scheduler = PollScheduler(runtime.poller, runtime.store, (), jitter=0.0,
                                      max_backoff=60)  # fmt: skip
            scheduler.start()
            return await scheduler.drain(30.0)

    assert asyncio.run(run()) == 0


def test_a_poll_that_outlasts_its_interval_keeps_its_lease_while_it_runs(
    http_server: Any, redis_url: str, prefix: str
) -> None:
    http_server.trickle("/slow.xml", every=0.5)  # held open until the 3 s fetch deadline
    config = config_for(redis_url, prefix, Source("slow", http_server.url("/slow.xml"),
                                                  interval=1.0))  # fmt: skip
    source = config.sources[0]

    async def run() -> tuple[str, str]:
        async with open_runtime(config) as one, open_runtime(config) as two:
            one.poller.owner, two.poller.owner = "process-1", "process-2"
            first = asyncio.create_task(one.poller.poll(source, hold_lease=True))
            await asyncio.sleep(1.8)  # past the interval: the lease alone would have expired
            second = await two.poller.poll(source, hold_lease=True)
            return (await first).outcome, second.outcome

    first, second = asyncio.run(run())
    assert (first, second) == ("timeout", "leased")
    assert http_server.requests("/slow.xml") == 1


class _FreezableProxy:
    """A TCP proxy in front of the test Redis that can stop forwarding, as in a partition."""

    def __init__(self, target: str) -> None:
        self.target = urlsplit(target)
        self.frozen = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.target.scheme == "unix":
            return await asyncio.open_unix_connection(self.target.path)
        return await asyncio.open_connection(self.target.hostname, self.target.port or 6379)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                if self.frozen.is_set():
                    await asyncio.Event().wait()  # swallow everything from now on
                writer.write(data)
                await writer.drain()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        with contextlib.suppress(Exception):
            up_reader, up_writer = await self._connect()
            self.writers.append(up_writer)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        db = self.target.path.lstrip("/") if self.target.scheme != "unix" else ""
        query = parse_qs(self.target.query).get("db", [""])[0]
        return f"redis://127.0.0.1:{port}/{db or query or 0}"

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def test_stopping_is_bounded_when_redis_stops_answering_mid_poll(
    http_server: Any, redis_url: str, prefix: str
) -> None:
    http_server.trickle("/slow.xml", every=0.5)

    async def run() -> tuple[int, float]:
        proxy = _FreezableProxy(redis_url)
        url = await proxy.start()
        config = config_for(url, prefix, Source("slow", http_server.url("/slow.xml"),
                                                interval=60.0))  # fmt: skip
        try:
            async with open_runtime(config) as runtime:
                scheduler = PollScheduler(runtime.poller, runtime.store, config.sources,
                                          jitter=0.0, max_backoff=60, rand=lambda: 0.0)  # fmt: skip
                scheduler.start()
                while not scheduler.running:
                    await asyncio.sleep(0.02)
                proxy.frozen.set()  # Redis stops answering while the poll waits on its feed
                began = time.monotonic()
                cancelled = await scheduler.drain(0.5)
                return cancelled, time.monotonic() - began
        finally:
            await proxy.close()

    cancelled, took = asyncio.run(run())
    assert cancelled == 1
    # grace 0.5 s + the bounded lease write (0.5 s); a client's 5 s socket timeout would show.
    assert took < 4.0
