"""The composition root of the ingestion side: Redis, store, fetcher and worker pool.

Only here are clients built; everything else receives them. Without a configured Redis
URL the embedded server (``redis_server.ensure_embedded``) is started or joined.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import secrets
import socket
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as redis

from monitor.config import Config
from monitor.fetch import Fetcher
from monitor.groups import emit_maxlen, prepare_groups
from monitor.keys import Keys
from monitor.poller import Poller, process_runner
from monitor.redis_server import ensure_embedded
from monitor.store import Store
from monitor.worker import warm_up


@dataclass(frozen=True, slots=True)
class Runtime:
    config: Config
    redis_url: str
    client: redis.Redis
    keys: Keys
    store: Store
    fetcher: Fetcher
    pool: Executor | None
    poller: Poller


def owner_id() -> str:
    """Who holds a lease: host, process and a random tag, so an operator can tell the holders
    apart, and two containers that share a hostname (both pid 1) are never taken for one."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def redis_url(config: Config) -> str:
    return config.redis.url or ensure_embedded(config.redis.data_dir)


@asynccontextmanager
async def open_runtime(config: Config, *, workers: int | None = None) -> AsyncIterator[Runtime]:
    """Everything a poll needs; closes it all on exit."""
    url = redis_url(config)
    client = redis.Redis.from_url(url)
    keys = Keys(config.redis.prefix)
    maxlen = emit_maxlen(config.redis.stream_maxlen, notifiers=bool(config.notifiers))
    store = Store(client, keys, stream_maxlen=maxlen)
    await prepare_groups(client, keys, [n.name for n in config.notifiers])
    fetcher = Fetcher(config.http)
    count = config.poll.workers if workers is None else workers
    pool: Executor | None = None
    if count > 0:
        # spawn, not fork: the loop and the HTTP client's threads must not be copied.
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(count, mp_context=context, initializer=warm_up)
    poller = Poller(config, store, fetcher, process_runner(pool), owner=owner_id())
    # Everything built so far lives as long as the process: moving it out of the garbage
    # collector's generations keeps a full collection from stalling the loop for ~30 ms
    # in the middle of a poll cycle (measured in docs/benchmarks.md).
    gc.collect()
    gc.freeze()
    try:
        yield Runtime(config, url, client, keys, store, fetcher, pool, poller)
    finally:
        await fetcher.aclose()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        await client.aclose()
