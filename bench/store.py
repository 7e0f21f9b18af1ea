"""Compare-and-emit throughput, beside the raw pipelined Lua call measured in the same run.

``Store.emit`` adds to the script call what a poll needs: serialising each advisory, building
its event fields, and reading the replies into outcomes. The raw figure sends the very same
``EVALSHA`` calls (same script, same arguments, built before the clock starts) through a
bare redis-py pipeline, so the ratio is the cost of that Python work. Target: emit >= 0.5x
raw, about 25,000 advisories/s here.

Two passes over ``n`` advisories in feeds of ``batch``: all new (each one a version and an
event), then all unchanged (the steady state of a poll). Each figure is the best of
``repeats`` runs, each run on fresh keys.

``python -m bench.store`` prints the figures; ``bench.run`` calls :func:`run`. The server is
``MONITOR_BENCH_REDIS_URL`` when set, else an embedded one in a temporary directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from monitor.events import utc_iso
from monitor.keys import Keys
from monitor.models import Advisory, Issuer, Kind
from monitor.redis_server import ensure_embedded, stop_embedded
from monitor.store import Store

NOW = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
COUNTRIES = ["RU", "UA", "IL", "LB", "IQ", "SY", "KE", "BD", "PK", "NG", "HT", "CO"]
TARGET_RATIO = 0.5


def advisories(n: int) -> list[Advisory]:
    """Embassy-alert-sized advisories (~1.5 KB of JSON each) with distinct ids."""
    out = []
    for i in range(n):
        country = COUNTRIES[i % len(COUNTRIES)]
        advisory = Advisory(
            id=f"us-embassy-{country.lower()}:https://{country.lower()}.usembassy.gov/alert-{i}/",
            source=f"us-embassy-{country.lower()}",
            kind=Kind.SECURITY_ALERT,
            title=f"Security Alert: demonstrations in the capital ({i})",
            summary="The Embassy is aware of reports of a demonstration planned near the "
            "parliament. Demonstrations intended to be peaceful can become confrontational. " * 3,
            url=f"https://{country.lower()}.usembassy.gov/alert-{i}/",
            published=NOW,
            issuers=(
                Issuer(
                    country="US",
                    name="U.S. Embassy",
                    level=3,
                    advice=("avoid demonstrations", "monitor local media", "keep a low profile"),
                    evidence="U.S. citizens should avoid demonstrations and large crowds.",
                ),
            ),
            countries=(country,),
            level=3,
            targets=("large gatherings", "crowds"),
            advice=("avoid demonstrations", "monitor local media", "keep a low profile"),
            evidence={"level": "Reconsider travel", "advice": "Avoid demonstrations."},
        )
        material = json.dumps([advisory.id, country, i], separators=(",", ":")).encode()
        out.append(
            advisory.model_copy(
                update={
                    "fingerprint": hashlib.sha256(material).hexdigest(),
                    "content_hash": hashlib.sha256(advisory.title.encode()).hexdigest(),
                }
            )
        )
    return out


def run(n: int = 20_000, *, batch: int = 500, repeats: int = 3) -> dict[str, Any]:
    """Figures of one run: advisories/s for emit and raw, new and unchanged, and ratios."""
    items = advisories(n)
    with _server() as url:
        return asyncio.run(_measure(url, items, batch, repeats))


async def _measure(url: str, items: Sequence[Advisory], batch: int, repeats: int) -> dict[str, Any]:
    client = aioredis.from_url(url)
    try:
        info = await client.info("server")
        best: dict[str, float] = {}
        for _ in range(repeats):
            for name, seconds in (await _one_run(client, items, batch)).items():
                best[name] = min(best.get(name, seconds), seconds)
        await _clean(client)
    finally:
        await client.aclose()
    n = len(items)
    result: dict[str, Any] = {
        "n": n,
        "batch": batch,
        "server": f"Redis {info['redis_version']} ({'unix socket' if 'unix' in url else 'tcp'})",
    }
    for name, seconds in best.items():
        result[f"{name}_seconds"] = seconds
        result[f"{name}_per_s"] = n / seconds
    for phase in ("new", "unchanged"):
        result[f"ratio_{phase}"] = best[f"raw_{phase}"] / best[f"emit_{phase}"]
    result["target_ratio"] = TARGET_RATIO
    return result


async def _one_run(
    client: aioredis.Redis, items: Sequence[Advisory], batch: int
) -> dict[str, float]:
    feeds = [items[i : i + batch] for i in range(0, len(items), batch)]
    seconds: dict[str, float] = {}
    store = Store(client, Keys(f"bench-{uuid.uuid4().hex[:8]}:"), stream_maxlen=10 * len(items))
    await store.emit(items[:1], now=NOW)  # scripts loaded, connection open: not measured
    await client.delete(store.keys.advisory(items[0].id), store.keys.events)
    for phase in ("new", "unchanged"):
        started = time.perf_counter()
        for feed in feeds:
            await store.emit(feed, now=NOW)
        seconds[f"emit_{phase}"] = time.perf_counter() - started

    raw_store = Store(client, Keys(f"bench-{uuid.uuid4().hex[:8]}:"), stream_maxlen=10 * len(items))
    # The exact calls emit sends on its first (and, here, only) round trip.
    calls = [
        [raw_store._emit_call(_first_attempt(a), NOW, utc_iso(NOW)) for a in feed] for feed in feeds
    ]
    for phase in ("new", "unchanged"):
        started = time.perf_counter()
        for feed_calls in calls:
            pipe = client.pipeline(transaction=False)
            for script, keys, args in feed_calls:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            await pipe.execute()
        seconds[f"raw_{phase}"] = time.perf_counter() - started
    return seconds


def _first_attempt(advisory: Advisory) -> Any:
    from monitor.store import _Pending

    return _Pending(advisory, advisory.to_json())


async def _clean(client: aioredis.Redis) -> None:
    async for key in client.scan_iter(match="bench-*", count=1000):
        await client.unlink(key)


@contextmanager
def _server() -> Iterator[str]:
    configured = os.environ.get("MONITOR_BENCH_REDIS_URL")
    if configured:
        yield configured
        return
    data_dir = tempfile.mkdtemp(prefix="monitor-bench-")
    try:
        yield ensure_embedded(data_dir)
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    result = run()
    for name, value in result.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else value
        print(f"{name:>24}: {shown}")


if __name__ == "__main__":
    main()
