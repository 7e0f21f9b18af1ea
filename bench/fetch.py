"""Poll-cycle cost of the fetcher beside a bare httpx loop, and the client layouts compared.

A poll cycle fetches every source once, all started together (as the scheduler does after
a start), ``per_host_limit`` at a time per host. Two cycles are measured over ``n_sources``
loopback sources spread over ``hosts`` servers (127.0.0.1, 127.0.0.2, ...): every source
answering 304 to its stored validators, and every source answering an unchanged ~100 KB
200 (no validators: the body hash decides). Each is timed for:

- ``Fetcher`` in each client layout (one client per host, one shared client, a pool of 4);
- a bare httpx loop: one ``AsyncClient``, ``await client.get(url, headers=conditional)``
  per source, one after the other;
- bare httpx gathered: the same client and requests, as concurrent as the Fetcher.

Figures are polls per second of wall time and milliseconds of CPU (``time.process_time``
of this process) per poll, each the best of ``repeats`` cycles after one warm-up cycle.
The servers run in a child process so their CPU is not counted. Targets (issue 3, item 8):
the Fetcher's CPU per poll within 1.5x of the bare loop, its throughput at least 0.6x,
measured against the better bare variant for each figure.

``python -m bench.fetch`` prints the figures; ``bench.run`` calls :func:`run` and
:func:`markdown`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from monitor.config import HttpSettings
from monitor.fetch import DEFAULT_LAYOUT, Fetcher, Layout, Outcome, Validators

FIXTURE = (
    Path(__file__).parents[1]
    / "tests"
    / "fixtures"
    / "feeds"
    / "us-state-travel-advisories.rss.xml"
)
TARGET_CPU_RATIO = 1.5
TARGET_THROUGHPUT_RATIO = 0.6
SCENARIOS = {"304": "/v/", "unchanged 200": "/n/"}
"""Server path prefixes: ``/v/`` serves validators (304s), ``/n/`` serves none (200s)."""


@dataclass(frozen=True, slots=True)
class Source:
    url: str
    validators: Validators

    def conditional(self) -> dict[str, str]:
        headers = {}
        if self.validators.etag:
            headers["If-None-Match"] = self.validators.etag
        if self.validators.last_modified:
            headers["If-Modified-Since"] = self.validators.last_modified
        return headers


@dataclass(frozen=True, slots=True)
class Figures:
    polls: int
    wall: float
    cpu: float

    @property
    def polls_per_s(self) -> float:
        return self.polls / self.wall

    @property
    def cpu_ms_per_poll(self) -> float:
        return 1000 * self.cpu / self.polls


Cycle = Callable[[], Awaitable[None]]


def feed_body(size: int = 100_000) -> bytes:
    """A realistic feed of about ``size`` bytes: the State Department items, repeated."""
    text = FIXTURE.read_bytes()
    items = re.findall(rb"<item>.*?</item>", text, re.DOTALL)
    head, _, _ = text.partition(b"<item>")
    parts = [head]
    while sum(map(len, parts)) < size:
        parts.extend(items)
    parts.append(b"</channel>\n</rss>\n")
    return b"".join(parts)


def run(
    n_sources: int = 1000, *, hosts: int = 20, per_host_limit: int = 4, repeats: int = 3
) -> dict[str, Any]:
    """Figures of one run; ``rows`` hold one line per (scenario, client) pair."""
    hosts = hosts if _loopback_aliases_work() else 1
    per_host = max(n_sources // hosts, 1)
    body = feed_body()
    http = HttpSettings(per_host_limit=per_host_limit)
    with _Servers(hosts, per_host, body) as bases:
        rows = []
        for scenario, prefix in SCENARIOS.items():
            urls = [f"{base}{prefix}{i}.xml" for base in bases for i in range(per_host)]
            sources = asyncio.run(_prime(http, urls))
            for client, figures in _measure_all(http, sources, hosts, repeats):
                rows.append({"scenario": scenario, "client": client, **_row(figures)})
    return {
        "sources": hosts * per_host,
        "hosts": hosts,
        "per_host_limit": per_host_limit,
        "body_bytes": len(body),
        "repeats": repeats,
        "default_layout": DEFAULT_LAYOUT.value,
        "fastest_layout": _fastest_layout(rows),
        "rows": rows,
        "targets": _targets(rows),
    }


def _measure_all(
    http: HttpSettings, sources: Sequence[Source], hosts: int, repeats: int
) -> list[tuple[str, Figures]]:
    measured = []
    for layout in Layout:
        figures = asyncio.run(_fetcher_cycles(http, layout, sources, repeats))
        measured.append((f"Fetcher, {layout.value}", figures))
    concurrency = hosts * http.per_host_limit
    measured.append(("bare httpx loop", asyncio.run(_bare_cycles(sources, repeats, None))))
    measured.append(
        ("bare httpx gathered", asyncio.run(_bare_cycles(sources, repeats, concurrency)))
    )
    return measured


async def _prime(http: HttpSettings, urls: Sequence[str]) -> list[Source]:
    """One fetch of every source, for the validators its next polls send."""
    async with Fetcher(http) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(url) for url in urls))
    bad = [r for r in results if r.outcome is not Outcome.OK]
    if bad:
        raise RuntimeError(f"priming failed: {bad[0].outcome} {bad[0].error}")
    return [Source(r.url, r.validators) for r in results]


async def _fetcher_cycles(
    http: HttpSettings, layout: Layout, sources: Sequence[Source], repeats: int
) -> Figures:
    async with Fetcher(http, layout=layout) as fetcher:

        async def cycle() -> None:
            results = await asyncio.gather(*(fetcher.fetch(s.url, s.validators) for s in sources))
            _check({r.outcome.value for r in results}, {"not_modified", "unchanged"})

        return await _best(cycle, len(sources), repeats)


async def _bare_cycles(sources: Sequence[Source], repeats: int, concurrency: int | None) -> Figures:
    """Plain httpx: ``concurrency=None`` is a sequential loop with httpx's default limits,
    else a gather bounded to ``concurrency`` with a pool as wide."""
    width = concurrency or 1
    limits = httpx.Limits(max_connections=width, max_keepalive_connections=width)
    async with httpx.AsyncClient(limits=limits if concurrency else httpx.Limits()) as client:
        requests = [(s.url, s.conditional()) for s in sources]

        async def get(url: str, headers: dict[str, str]) -> int:
            response = await client.get(url, headers=headers)
            return response.status_code

        async def loop() -> None:
            _check({await get(url, headers) for url, headers in requests}, {200, 304})

        gate = asyncio.Semaphore(width)

        async def gated(url: str, headers: dict[str, str]) -> int:
            async with gate:
                return await get(url, headers)

        async def gathered() -> None:
            statuses = await asyncio.gather(*(gated(url, headers) for url, headers in requests))
            _check(set(statuses), {200, 304})

        return await _best(loop if concurrency is None else gathered, len(sources), repeats)


async def _best(cycle: Cycle, polls: int, repeats: int) -> Figures:
    """The best wall and the best CPU time of ``repeats`` cycles, after a warm-up cycle."""
    await cycle()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        await cycle()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Figures(polls, min(walls), min(cpus))


def _check(seen: set[Any], allowed: set[Any]) -> None:
    if not seen <= allowed:
        raise RuntimeError(f"unexpected answers during the benchmark: {seen - allowed}")


def _row(figures: Figures) -> dict[str, float]:
    return {
        "polls_per_s": round(figures.polls_per_s, 1),
        "cpu_ms_per_poll": round(figures.cpu_ms_per_poll, 4),
    }


def _fastest_layout(rows: Sequence[dict[str, Any]]) -> str:
    """The layout with the best summed throughput over both scenarios."""
    totals: dict[str, float] = {}
    for row in rows:
        if row["client"].startswith("Fetcher, "):
            layout = row["client"].removeprefix("Fetcher, ")
            totals[layout] = totals.get(layout, 0.0) + row["polls_per_s"]
    return max(totals, key=lambda layout: totals[layout])


def _targets(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Default-layout Fetcher against the better bare variant, per scenario and figure."""
    targets = {}
    for scenario in SCENARIOS:
        mine = [r for r in rows if r["scenario"] == scenario]
        fetcher = next(r for r in mine if r["client"] == f"Fetcher, {DEFAULT_LAYOUT.value}")
        bare = [r for r in mine if r["client"].startswith("bare")]
        cpu_ratio = fetcher["cpu_ms_per_poll"] / min(r["cpu_ms_per_poll"] for r in bare)
        throughput_ratio = fetcher["polls_per_s"] / max(r["polls_per_s"] for r in bare)
        targets[scenario] = {
            "cpu_ratio": round(cpu_ratio, 3),
            "throughput_ratio": round(throughput_ratio, 3),
            "meets": cpu_ratio <= TARGET_CPU_RATIO and throughput_ratio >= TARGET_THROUGHPUT_RATIO,
        }
    return targets


def markdown(result: dict[str, Any]) -> str:
    """A ``docs/benchmarks.md`` section for one run's figures."""
    lines = [
        "## Fetching: a poll cycle over loopback sources",
        "",
        f"{result['sources']:,} sources on {result['hosts']} loopback hosts, "
        f"{result['per_host_limit']} requests in flight per host, feed body "
        f"{result['body_bytes'] / 1000:,.0f} KB; best of {result['repeats']} cycles.",
        "",
        "| answer | client | polls/s | CPU ms/poll |",
        "| --- | --- | ---: | ---: |",
    ]
    lines += [
        f"| {r['scenario']} | {r['client']} | {r['polls_per_s']:,.0f} | "
        f"{r['cpu_ms_per_poll']:.3f} |"
        for r in result["rows"]
    ]
    lines.append("")
    for scenario, target in result["targets"].items():
        verdict = "meets" if target["meets"] else "MISSES"
        lines.append(
            f"- {scenario}: Fetcher ({result['default_layout']}) CPU/poll "
            f"{target['cpu_ratio']:.2f}x the best bare figure (target <= {TARGET_CPU_RATIO}x), "
            f"throughput {target['throughput_ratio']:.2f}x (target >= "
            f"{TARGET_THROUGHPUT_RATIO}x): {verdict}."
        )
    lines += [
        f"- Fastest layout this run: {result['fastest_layout']}; the Fetcher's default is "
        f"{result['default_layout']}.",
        "",
    ]
    return "\n".join(lines)


# -- the servers, in a child process --------------------------------------------------------


class _Servers:
    """``hosts`` FeedServers in a child process, each serving ``per_host`` sources twice."""

    def __init__(self, hosts: int, per_host: int, body: bytes) -> None:
        self._args = (hosts, per_host, body)
        context = multiprocessing.get_context("spawn")
        self._parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, *self._args), daemon=True)

    def __enter__(self) -> list[str]:
        self._process.start()
        bases: list[str] = self._parent.recv()
        return bases

    def __exit__(self, *exc: object) -> None:
        self._parent.send("stop")
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()


def _serve(conn: Connection, hosts: int, per_host: int, body: bytes) -> None:
    from tests.integration.http_server import FeedServer

    servers = [FeedServer(host=f"127.0.0.{n + 1}").start() for n in range(hosts)]
    for server in servers:
        for i in range(per_host):
            server.set(f"/v/{i}.xml", body)
            server.set(f"/n/{i}.xml", body, etag=False, last_modified=False)
    conn.send([server.base_url for server in servers])
    conn.recv()
    for server in servers:
        server.stop()


def _loopback_aliases_work() -> bool:
    """Linux routes all of 127/8 to loopback; elsewhere only 127.0.0.1 may bind."""
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.2", 0))
    except OSError:
        return False
    return True


def main() -> None:
    print(markdown(run()))


if __name__ == "__main__":
    main()
