"""Is the daemon alive and able to work? The health state, its watcher and its HTTP endpoint.

Three parts, split across two threads on purpose:

- :class:`Health`: a small, lock-protected state. The event loop writes it (a heartbeat, the
  last Redis check, shutdown begun); the HTTP thread reads it.
- :func:`watch`: the task on the event loop that keeps that state fresh. Its heartbeat is the
  liveness signal: if the loop is stuck (a blocking call, a runaway coroutine), the beats stop
  and the endpoint turns unhealthy by itself.
- :class:`HealthServer`: the standard library's threading HTTP server in a daemon thread, not a
  coroutine on the loop it watches, so that ``/healthz`` still answers — with 503 — when the
  loop does not.

Liveness is "the loop beat within ``stale_after`` seconds"; readiness is "Redis answered the
last check and no shutdown has begun" (a stopping daemon asks its load balancer or orchestrator
to look elsewhere while it finishes). ``/healthz`` wants both; ``/livez`` and ``/readyz`` each
one. Nothing secret is ever in the state; URL credentials in a Redis error are masked anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urlsplit

from monitor.groups import resolved, statuses
from monitor.logging import get_logger

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from monitor.keys import Keys
    from monitor.metrics import Metrics

Check = Literal["health", "live", "ready"]

STALE_AFTER: Final = 10.0
PING_TIMEOUT: Final = 2.0  # seconds a ping may take before Redis counts as down
REQUEST_TIMEOUT: Final = 5.0  # seconds a client may take to send its request
MAX_ERROR: Final = 200

log = get_logger("monitor.health")


def _scrub(error: str) -> str:
    """One short line, with any ``user:password@`` of a URL removed."""
    text = re.sub(r"//[^/\s]*@", "//***@", " ".join(error.split()))
    return text[:MAX_ERROR]


class Health:
    """The state the health endpoint reports; safe to update from the loop and read anywhere.

    It starts live (as if it had just beaten: the watcher has ``stale_after`` seconds to take
    over) and not ready (Redis not checked yet).
    """

    def __init__(
        self,
        *,
        role: str,
        stale_after: float = STALE_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.role = role
        self.stale_after = stale_after
        self.clock = clock
        self._lock = threading.Lock()
        self._last_beat = clock()
        self._loop_lag = 0.0
        self._redis_ok: bool | None = None
        self._redis_error: str | None = None
        self._stopping = False

    def beat(self, loop_lag: float = 0.0) -> None:
        """The loop is ticking; ``loop_lag``: how late it woke the watcher, in seconds."""
        now = self.clock()
        with self._lock:
            self._last_beat = now
            self._loop_lag = max(loop_lag, 0.0)

    def redis(self, ok: bool, error: str | None = None) -> None:
        """The outcome of the latest Redis check."""
        with self._lock:
            self._redis_ok = ok
            self._redis_error = None if ok else _scrub(error or "no answer")

    def stopping(self) -> None:
        """Shutdown has begun: no longer ready (still live while it finishes)."""
        with self._lock:
            self._stopping = True

    def report(self, check: Check = "health") -> tuple[bool, dict[str, object]]:
        """``(healthy, body)`` for ``check``: ``health`` (live and ready), ``live`` or
        ``ready``. The body has the same keys whatever the check; ``reasons`` names what
        failed the check (empty when healthy)."""
        now = self.clock()
        with self._lock:
            ago = max(now - self._last_beat, 0.0)
            lag, redis_ok, redis_error = self._loop_lag, self._redis_ok, self._redis_error
            stopping = self._stopping
        live = ago <= self.stale_after
        ready = redis_ok is True and not stopping
        liveness = [] if live else [f"event loop stalled: no heartbeat for {ago:.1f}s"]
        readiness: list[str] = []
        if redis_ok is None:
            readiness.append("redis not checked yet")
        elif not redis_ok:
            readiness.append(f"redis unreachable: {redis_error}")
        if stopping:
            readiness.append("shutting down")
        reasons = {"health": liveness + readiness, "live": liveness, "ready": readiness}[check]
        healthy = not reasons
        body: dict[str, object] = {
            "status": "ok" if healthy else "unhealthy",
            "live": live,
            "ready": ready,
            "role": self.role,
            "redis": "unknown" if redis_ok is None else "ok" if redis_ok else "down",
            "stopping": stopping,
            "loop_lag_ms": round(lag * 1000, 1),
            "last_beat_ago_s": round(ago, 3),
            "reasons": reasons,
        }
        return healthy, body


# --- the watcher on the event loop --------------------------------------------------------------


async def watch(
    health: Health,
    redis: aioredis.Redis,
    keys: Keys,
    groups: Sequence[str],
    metrics: Metrics,
    stop: asyncio.Event,
    *,
    every: float = 1.0,
    groups_every: float = 5.0,
    ping_timeout: float = PING_TIMEOUT,
) -> None:
    """Keep ``health`` and the state metrics fresh until ``stop`` is set; never raises.

    Two independent loops, so a slow Redis never delays a heartbeat: one beats every ``every``
    seconds, measuring how late the loop woke it (loop lag); the other pings Redis every
    ``every`` seconds (a ping unanswered after ``ping_timeout`` counts as down) and, every
    ``groups_every`` seconds while Redis answers, reads the groups' backlog
    (:func:`monitor.groups.statuses`, bounded the same way).
    """
    await asyncio.gather(
        _beat(health, metrics, stop, every),
        _check(health, redis, keys, groups, metrics, stop, every, groups_every, ping_timeout),
    )


async def _sleep(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until ``stop``; True when stopped."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(seconds, 0.0))
    return stop.is_set()


async def _beat(health: Health, metrics: Metrics, stop: asyncio.Event, every: float) -> None:
    loop = asyncio.get_running_loop()
    due = loop.time()
    while not stop.is_set():
        lag = max(loop.time() - due, 0.0)
        try:
            health.beat(lag)
            metrics.loop_lag(lag)
        except Exception:  # a metrics bug must not stop the heartbeat
            log.exception("health.beat_failed")
        due = loop.time() + every
        if await _sleep(stop, every):
            return


async def _check(
    health: Health,
    redis: aioredis.Redis,
    keys: Keys,
    groups: Sequence[str],
    metrics: Metrics,
    stop: asyncio.Event,
    every: float,
    groups_every: float,
    timeout: float,
) -> None:
    loop = asyncio.get_running_loop()
    next_groups = loop.time()
    was_up: bool | None = None
    while not stop.is_set():
        up, error = await _ping(redis, timeout)
        health.redis(up, error)
        with contextlib.suppress(Exception):
            metrics.redis_up(up)
        if up != was_up:  # one line per change, not one per second
            if up:
                log.info("health.redis_up")
            else:
                log.warning("health.redis_down", error=_scrub(error or ""))
            was_up = up
        if up and groups and loop.time() >= next_groups:
            next_groups = loop.time() + groups_every
            await _refresh_groups(redis, keys, groups, metrics, timeout)
        if await _sleep(stop, every):
            return


async def _ping(redis: aioredis.Redis, timeout: float) -> tuple[bool, str | None]:
    """Whether Redis answered ``PING`` within ``timeout``, and if not, why."""
    try:
        async with asyncio.timeout(timeout):
            await resolved(redis.ping())
    except TimeoutError:
        return False, f"no answer within {timeout:g}s"
    except Exception as exc:  # refused, reset, auth, … : all mean "not ready"
        return False, f"{type(exc).__name__}: {exc}"
    return True, None


async def _refresh_groups(
    redis: aioredis.Redis, keys: Keys, groups: Sequence[str], metrics: Metrics, timeout: float
) -> None:
    try:
        async with asyncio.timeout(timeout):
            found = await statuses(redis, keys, groups)
        metrics.groups(found)
    except Exception as exc:  # stale gauges for a while beat a dead watcher
        log.debug("health.groups_failed", error=_scrub(f"{type(exc).__name__}: {exc}"))


# --- the HTTP endpoint ------------------------------------------------------------------------

_CHECKS: Final[dict[str, Check]] = {"/healthz": "health", "/livez": "live", "/readyz": "ready"}


class _Handler(BaseHTTPRequestHandler):
    """``GET``/``HEAD`` of the health checks and ``/metrics``; everything else is 404."""

    server: _Server
    server_version = "advisory-monitor"
    sys_version = ""
    timeout = REQUEST_TIMEOUT  # a client that never finishes its request frees its thread

    def do_GET(self) -> None:
        self._respond(head=False)

    def do_HEAD(self) -> None:
        self._respond(head=True)

    def _respond(self, *, head: bool) -> None:
        path = urlsplit(self.path).path
        try:
            status, body, content_type = self._route(path)
        except Exception:
            log.exception("health.request_failed", path=path)
            status, body, content_type = 500, b"internal error\n", "text/plain; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _route(self, path: str) -> tuple[int, bytes, str]:
        if path in _CHECKS:
            healthy, report = self.server.health.report(_CHECKS[path])
            body = (json.dumps(report) + "\n").encode()
            status = HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE
            return status, body, "application/json"
        if path == "/metrics":
            data, content_type = self.server.metrics.render()
            return HTTPStatus.OK, data, content_type
        return HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8"

    def log_message(self, format: str, *args: Any) -> None:
        """Requests go to the debug log, not to stderr as the base class would write them."""
        log.debug("health.request", client=self.client_address[0], message=format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never holds up shutdown

    def __init__(self, address: tuple[str, int], health: Health, metrics: Metrics) -> None:
        self.health = health
        self.metrics = metrics
        self.address_family = _family(address[0])
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s reverse DNS look-up of the host (``getfqdn``), which
        can take seconds on a machine without a resolver; accept IPv4 too on ``::``."""
        if self.address_family == socket.AF_INET6:
            with contextlib.suppress(OSError, AttributeError):
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


def _family(host: str) -> socket.AddressFamily:
    """IPv6 for an IPv6 address or a name that only has one, else IPv4."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return socket.AF_INET
    families = [info[0] for info in infos]
    return socket.AF_INET if socket.AF_INET in families else families[0]


class HealthServer:
    """``/healthz``, ``/livez``, ``/readyz`` and ``/metrics`` on ``host:port`` (port 0: any
    free port), served from a daemon thread (see the module docstring)."""

    def __init__(self, host: str, port: int, health: Health, metrics: Metrics) -> None:
        self.host = host
        self.port = port
        self.health = health
        self.metrics = metrics
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        """Bind and start serving; returns the bound port. Raises ``OSError`` when the
        address cannot be bound (in use, not local)."""
        if self._server is not None:
            return int(self._server.server_address[1])
        server = _Server((self.host, self.port), self.health, self.metrics)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2},
            name="health-http", daemon=True,
        )  # fmt: skip
        thread.start()
        self._server, self._thread = server, thread
        port = int(server.server_address[1])
        log.info("health.listening", host=self.host, port=port)
        return port

    def stop(self) -> None:
        """Stop serving and close the socket; harmless when not started or stopped twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()


__all__ = ["Health", "HealthServer", "watch"]
