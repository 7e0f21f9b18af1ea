"""The daemon's composition root: ``monitor run`` builds every part here and nowhere else.

One process holds, by role:

- ``poll``: the scheduler with one job per source, the pollers behind it, the expiry sweep;
- ``deliver``: the delivery engine with one consumer group per notifier;
- ``all`` (the default): both;

and, whatever the role, the health watcher and the ``/healthz`` + ``/metrics`` endpoint.

Stopping (SIGTERM or SIGINT, or ``stop`` set by a caller): readiness turns false at once, no
new poll starts, the engine stops reading; polls and deliveries in flight get
``[service] grace`` seconds together, then unfinished polls are cancelled (safe: see
:meth:`monitor.scheduler.PollScheduler.drain`) and unfinished deliveries are handed back to
their group, due now, for the next process. Nothing acknowledged is lost, nothing
unacknowledged is dropped. A second signal cancels what is left at once.

A failure inside one poll, one item or one delivery is the business of the parts (they log
it, count it and carry on); what reaches this module is a failure to start (Redis does not
answer, a notifier's secret is missing), reported as :class:`StartError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from monitor.config import Config, redact_url
from monitor.delivery import Channel, DeliveryEngine, EngineOptions
from monitor.expiry import run_expiry
from monitor.groups import prepare_groups, resolved
from monitor.health import Health, HealthServer, watch
from monitor.keys import Keys
from monitor.logging import get_logger
from monitor.metrics import Metrics
from monitor.notifiers.base import Notifier, NotifierSetupError
from monitor.notifiers.registry import build_notifiers
from monitor.redis_server import EmbeddedRedisError
from monitor.runtime import open_runtime, redis_url
from monitor.scheduler import PollScheduler

ROLES: Final = ("all", "poll", "deliver")
SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)

log = get_logger("monitor.app")


class StartError(Exception):
    """The daemon cannot start; the message says why, in one or a few lines."""


@dataclass(frozen=True, slots=True)
class Started:
    """What a started daemon runs, for the start line and for callers (tests, the demo)."""

    role: str
    sources: tuple[str, ...]
    notifiers: tuple[str, ...]
    redis: str  # the URL without its password
    health_port: int | None  # the bound port; None when the endpoint is off


def polls(role: str) -> bool:
    return role in ("all", "poll")


def delivers(role: str) -> bool:
    return role in ("all", "deliver")


async def run(
    config: Config,
    *,
    role: str = "all",
    stop: asyncio.Event | None = None,
    on_started: Callable[[Started], None] | None = None,
    handle_signals: bool = True,
) -> None:
    """Run until ``stop`` is set (or SIGTERM/SIGINT when ``handle_signals``); see the module
    docstring. Raises :class:`StartError` when the daemon cannot start."""
    if role not in ROLES:
        raise StartError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
    stop = stop or asyncio.Event()
    started_at = time.monotonic()
    metrics = Metrics()
    health = Health(role=role)
    async with AsyncExitStack() as stack:
        if handle_signals:
            stack.enter_context(_signals(stop))
        url, client, keys, scheduler = await _ingestion(stack, config, role, metrics)
        notifiers = await _notifiers(stack, config, role, client)
        port = _health_endpoint(stack, config, health, metrics)
        tasks: list[asyncio.Task[None]] = []
        groups = [n.name for n in config.notifiers]
        tasks.append(_task(watch(health, client, keys, groups, metrics, stop), "health"))
        if notifiers:
            engine = DeliveryEngine(
                client,
                keys,
                [Channel(n, s) for n, s in zip(notifiers, config.notifiers, strict=True)],
                options=EngineOptions(keep=config.redis.stream_maxlen, grace=config.service.grace),
                configured=groups,
                on_report=metrics.delivery,
            )
            tasks.append(_task(engine.run(stop), "deliver"))
        if scheduler is not None:
            tasks.append(_task(_expiry(config, scheduler, metrics, stop), "expiry"))
            scheduler.start()
        started = Started(
            role=role,
            sources=tuple(s.id for s in scheduler.sources) if scheduler else (),
            notifiers=tuple(n.name for n in notifiers),
            redis=redact_url(url),
            health_port=port,
        )
        log.info(
            "monitor.started",
            role=role,
            sources=len(started.sources),
            notifiers=list(started.notifiers),
            redis=started.redis,
            health_port=port,
            config=config.path,
        )
        if on_started is not None:
            on_started(started)
        await _until_stopped(stop, tasks)
        log.info("monitor.stopping", grace=config.service.grace)
        health.stopping()
        cancelled = await _wind_down(config, scheduler, tasks)
        log.info(
            "monitor.stopped",
            polls_cancelled=cancelled,
            uptime=round(time.monotonic() - started_at, 3),
        )


async def _reachable(url: str) -> None:
    """Fail fast when Redis does not answer at start (a supervisor restarts the daemon; a
    person at a terminal sees why at once). Once running, a lost Redis is waited out."""
    client = aioredis.Redis.from_url(url, socket_connect_timeout=5.0, socket_timeout=5.0)
    try:
        await resolved(client.ping())
    except (RedisError, OSError) as error:
        raise StartError(f"Redis does not answer at {redact_url(url)}: {error}") from None
    finally:
        await client.aclose()


async def _ingestion(
    stack: AsyncExitStack, config: Config, role: str, metrics: Metrics
) -> tuple[str, aioredis.Redis, Keys, PollScheduler | None]:
    """The Redis URL and client and, for a polling role, the runtime and its scheduler.

    Either way the configured notifiers' groups are created before anything is emitted or
    read, so an event emitted now reaches every notifier later."""
    try:
        url = redis_url(config)
    except EmbeddedRedisError as error:
        raise StartError(f"the embedded Redis server cannot start: {error}") from None
    await _reachable(url)
    if polls(role):
        runtime = await stack.enter_async_context(open_runtime(config))
        scheduler = PollScheduler(
            runtime.poller,
            runtime.store,
            config.sources,
            jitter=config.poll.jitter,
            max_backoff=config.poll.max_backoff,
            on_report=metrics.poll,
        )
        stack.callback(scheduler.shutdown)
        return url, runtime.client, runtime.keys, scheduler
    client = aioredis.Redis.from_url(url)
    stack.push_async_callback(client.aclose)
    keys = Keys(config.redis.prefix)
    await prepare_groups(client, keys, [n.name for n in config.notifiers])
    return url, client, keys, None


async def _notifiers(
    stack: AsyncExitStack, config: Config, role: str, client: aioredis.Redis
) -> list[Notifier]:
    if not delivers(role) or not config.notifiers:
        return []
    try:
        built = build_notifiers(config, redis=client)
    except NotifierSetupError as error:
        raise StartError(str(error)) from None
    for notifier in built:
        stack.push_async_callback(_close, notifier)
    return built


async def _close(notifier: Notifier) -> None:
    with contextlib.suppress(Exception):
        await notifier.aclose()


def _health_endpoint(
    stack: AsyncExitStack, config: Config, health: Health, metrics: Metrics
) -> int | None:
    settings = config.service
    if settings.health_port < 0:
        return None
    server = HealthServer(settings.health_host, settings.health_port, health, metrics)
    try:
        port = server.start()
    except OSError as error:
        where = f"{settings.health_host}:{settings.health_port}"
        raise StartError(
            f"cannot listen on {where} for /healthz and /metrics: {error.strerror or error} "
            "(set [service] health_port or MONITOR_HEALTH_PORT; 0 picks a free port, -1 none)"
        ) from None
    stack.callback(server.stop)
    return port


async def _expiry(config: Config, scheduler: PollScheduler, metrics: Metrics,
                  stop: asyncio.Event) -> None:  # fmt: skip
    await run_expiry(
        scheduler.store, every=config.service.expiry_every, stop=stop, on_expired=metrics.expired
    )


def _task(work: Coroutine[object, object, None], name: str) -> asyncio.Task[None]:
    return asyncio.create_task(work, name=f"monitor:{name}")


async def _until_stopped(stop: asyncio.Event, tasks: Sequence[asyncio.Task[None]]) -> None:
    """Wait for ``stop``; a part that ends on its own (it should not) is logged, and the
    daemon stops rather than run on half-built."""
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({stopper, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not stopper.done():
            stopper.cancel()
    for task in done:
        if task is stopper or stop.is_set():  # parts end by themselves once stop is set
            continue
        error = task.exception() if not task.cancelled() else None
        log.error("monitor.part_ended", part=task.get_name(), error=repr(error))
        stop.set()


async def _wind_down(
    config: Config, scheduler: PollScheduler | None, tasks: Sequence[asyncio.Task[None]]
) -> int:
    """Polls and deliveries in flight finish within the grace period (the engine keeps its
    own grace and hands back what is unfinished); whatever still runs a little after is
    cancelled."""
    grace = config.service.grace
    deadline = time.monotonic() + grace + 1.0  # the engine's grace began with ``stop``
    cancelled = 0
    if scheduler is not None:
        cancelled = await scheduler.drain(grace)
    late: set[asyncio.Task[None]] = set()
    if tasks:
        _, late = await asyncio.wait(tasks, timeout=max(0.1, deadline - time.monotonic()))
    for task in late:
        log.warning("monitor.part_cancelled", part=task.get_name())
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return cancelled


@contextlib.contextmanager
def _signals(stop: asyncio.Event) -> Iterator[None]:
    """First SIGTERM/SIGINT: a graceful stop; a second one: cancel the daemon at once."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    installed: list[signal.Signals] = []

    def on_signal(signum: signal.Signals) -> None:
        if stop.is_set():
            log.warning("monitor.forced_stop", signal=signum.name)
            if main is not None:
                main.cancel()
            return
        log.info("monitor.signal", signal=signum.name)
        stop.set()

    for signum in SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


__all__ = ["ROLES", "StartError", "Started", "delivers", "polls", "run"]
