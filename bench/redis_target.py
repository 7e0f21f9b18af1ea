"""The Redis server a benchmark measures against, chosen the same way by every section.

``MONITOR_BENCH_REDIS_URL`` when set; else the local server on 127.0.0.1:6379 (each section
its own database, so two sections never see each other's keys); else an embedded server in
a temporary directory, stopped and removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from monitor.redis_server import ensure_embedded, stop_embedded

LOCAL = "redis://127.0.0.1:6379"


@contextmanager
def redis_server(db: int) -> Iterator[tuple[str, str]]:
    """The server's URL and how it was chosen."""
    configured = os.environ.get("MONITOR_BENCH_REDIS_URL")
    if configured:
        yield configured, "MONITOR_BENCH_REDIS_URL"
        return
    local = f"{LOCAL}/{db}"
    if answers(local):
        yield local, f"local server, db {db}"
        return
    data_dir = tempfile.mkdtemp(prefix="monitor-bench-")
    try:
        yield ensure_embedded(data_dir), "embedded server"
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def delete_prefix(url: str, prefix: str) -> None:
    """Remove every key a run wrote under ``prefix``, a thousand at a time."""
    client = redis.Redis.from_url(url)
    try:
        batch = []
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.unlink(*batch)
                batch = []
        if batch:
            client.unlink(*batch)
    finally:
        client.close()
