"""A real loopback webhook receiver that verifies Standard Webhooks signatures (tests, benches).

It runs the stdlib ``ThreadingHTTPServer`` (HTTP/1.1, keep-alive) on 127.0.0.1 in a background
thread, so sync tests, ``asyncio.run`` tests and the monitor's own event loop all reach it over
a real socket. Every request is recorded; a signed one is verified with the ``standardwebhooks``
library, exactly as a receiver in the wild would do it. No test reaches the internet.

What a test can do::

    with WebhookReceiver() as receiver:             # a fresh whsec_ secret: receiver.secret
        env = receiver.env("OPS_HOOK_SECRET")       # {"OPS_HOOK_SECRET": receiver.secret}
        url = receiver.url                          # http://127.0.0.1:PORT/hook
        receiver.fail_next(2, status=503, retry_after=1)   # then healthy again
        receiver.fail_next(1, status=429)
        receiver.timeout_next(1, seconds=3.0)       # hold past the client's timeout, no answer
        receiver.delay_next(1, seconds=0.2)         # slow, then answered normally
        receiver.gone()                             # 410 to everything until recover()
        receiver.recover()                          # drop every queued and standing behaviour
        receiver.wait_for(3, timeout=10)            # blocks until 3 deliveries (sync tests)
        await receiver.wait_for_async(3)            # the same from a running event loop
        receiver.wait_for_ids({"a:1", "b:1"})       # until each id was delivered at least once
        receiver.deliveries[0].payload["data"]      # the verified, parsed body
        receiver.deliveries[0].headers["webhook-id"]
        receiver.count("a:1"), receiver.delivered("a:1")   # requests / deliveries per id
        receiver.requests                           # every request, failed ones too
        receiver.max_concurrent                     # most requests in flight at once

A *delivery* is a request the receiver accepted: answered 2xx, and, when ``verify`` is on (the
default), with a signature that verified. Queued behaviours (``fail_next``, ``timeout_next``,
``delay_next``) apply to the next requests in arrival order, one per request, before the
signature is looked at; a request whose signature does not verify is answered 401 (which the
webhook notifier classifies as permanent). ``WebhookReceiver(verify=False)`` accepts unsigned
requests, for clients that do not sign (Apprise's ``json://``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import time
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.integration.loopback import LoopbackHTTPServer

PATH = "/hook"


def new_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One request as the receiver saw it and what it answered.

    ``headers`` have lower-case names. ``verified``: whether the signature verified (``None``
    when the receiver does not verify). ``payload``: the parsed JSON body when it verified, or
    when verification is off and the body is JSON; else ``None``. ``status``: the answer, or
    ``None`` when the receiver held the request and closed without answering (``timeout_next``).
    ``error``: why verification failed.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    verified: bool | None
    payload: Any
    status: int | None
    error: str | None
    received_at: float  # time.monotonic()

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")

    @property
    def delivered(self) -> bool:
        """Accepted: answered 2xx with a verified (or unverified-by-choice) payload."""
        return self.status is not None and 200 <= self.status < 300 and self.verified is not False


@dataclass(frozen=True, slots=True)
class _Behaviour:
    status: int | None  # None: hold, then close without answering
    seconds: float = 0.0
    retry_after: float | None = None
    body: bytes = b""


@dataclass(slots=True)
class _Record:
    """What the handler learnt of one request so far."""

    body: bytes = b""
    verified: bool | None = None
    payload: Any = None
    error: str | None = None
    done: bool = False


class WebhookReceiver:
    """Receives webhooks on loopback, verifies them, records them, misbehaves on demand."""

    def __init__(
        self,
        secret: str | None = None,
        *,
        verify: bool = True,
        status: int = 204,
        host: str = "127.0.0.1",
        path: str = PATH,
    ) -> None:
        """``secret``: the ``whsec_`` secret to verify with (default: a fresh one, see
        :attr:`secret`); ``status``: the answer to a good request."""
        self.secret = new_secret() if secret is None else secret
        self.verify = verify
        self.status = status
        self.host = host
        self.path = path
        self._webhook = Webhook(self.secret)
        self._lock = threading.RLock()  # re-entered by the waits' messages
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._queue: deque[_Behaviour] = deque()
        self._standing: _Behaviour | None = None
        self._requests: list[WebhookRequest] = []
        self._arrived: list[str | None] = []  # the webhook-id of each request as it arrives
        self._in_flight = 0
        self._max_in_flight = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind a free port on ``host`` and serve from a daemon thread."""
        self._stopping.clear()
        self._httpd = _Server((self.host, 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"webhook-receiver-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake held requests, cut keep-alive connections, join the thread."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.close_and_join(self._thread)
        self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the webhook receiver is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Where to POST: ``http://127.0.0.1:PORT/hook``."""
        return self.url_for(self.path)

    def url_for(self, path: str) -> str:
        """Another path on this receiver (every path is answered alike; ``requests`` tell)."""
        return f"http://{self.host}:{self.port}/{path.lstrip('/')}"

    def env(self, name: str) -> dict[str, str]:
        """``{name: secret}``: an environment for a notifier whose ``secret_env`` is ``name``."""
        return {name: self.secret}

    # -- behaviours ------------------------------------------------------------------------

    def fail_next(
        self,
        times: int = 1,
        status: int = 503,
        *,
        retry_after: float | None = None,
        body: bytes = b"",
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (and ``Retry-After``)."""
        self._enqueue(times, _Behaviour(status, retry_after=retry_after, body=body))

    def timeout_next(self, times: int = 1, *, seconds: float) -> None:
        """Hold the next ``times`` requests ``seconds`` (make it longer than the client's
        timeout), then close the connection without answering."""
        self._enqueue(times, _Behaviour(None, seconds=seconds))

    def delay_next(self, times: int = 1, *, seconds: float) -> None:
        """Wait ``seconds`` before handling each of the next ``times`` requests as usual."""
        self._enqueue(times, _Behaviour(self.status, seconds=seconds))

    def gone(self) -> None:
        """Answer 410 Gone to every request until :meth:`recover`."""
        with self._lock:
            self._standing = _Behaviour(410, body=b"gone")

    def recover(self) -> None:
        """Forget every queued and standing behaviour: healthy from the next request."""
        with self._lock:
            self._queue.clear()
            self._standing = None

    def clear(self) -> None:
        """Forget the recorded requests and counts (behaviours stay)."""
        with self._lock:
            self._requests.clear()
            self._arrived.clear()

    def _enqueue(self, times: int, behaviour: _Behaviour) -> None:
        with self._lock:
            self._queue.extend([behaviour] * times)

    # -- what it saw -----------------------------------------------------------------------

    @property
    def requests(self) -> list[WebhookRequest]:
        """Every request, in arrival order (held ones once they were given up)."""
        with self._lock:
            return list(self._requests)

    @property
    def deliveries(self) -> list[WebhookRequest]:
        """The accepted requests, in the order they were answered."""
        with self._lock:
            return [request for request in self._requests if request.delivered]

    def count(self, webhook_id: str) -> int:
        """How many requests carried this ``webhook-id`` (failed attempts included), counted
        on arrival: a request still held by ``timeout_next`` counts already."""
        with self._lock:
            return self._arrived.count(webhook_id)

    def delivered(self, webhook_id: str) -> int:
        """How many times this ``webhook-id`` was accepted (1 under exactly-once delivery)."""
        with self._lock:
            return sum(1 for r in self._requests if r.webhook_id == webhook_id and r.delivered)

    def delivered_ids(self) -> list[str]:
        """The ``webhook-id`` of each delivery, in order, duplicates kept."""
        return [r.webhook_id for r in self.deliveries if r.webhook_id is not None]

    @property
    def max_concurrent(self) -> int:
        """The most requests the receiver was handling at one moment."""
        with self._lock:
            return self._max_in_flight

    def wait_for(self, count: int, timeout: float = 10.0) -> list[WebhookRequest]:
        """Block until at least ``count`` deliveries (``TimeoutError`` naming what arrived).

        For sync tests; from a coroutine use :meth:`wait_for_async`, which does not block the
        event loop that sends the webhooks."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._delivery_count() < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(self._shortfall(f"{count} deliveries", timeout))
                self._changed.wait(left)
        return self.deliveries

    async def wait_for_async(self, count: int, timeout: float = 10.0) -> list[WebhookRequest]:
        """:meth:`wait_for` without blocking the running event loop."""
        deadline = time.monotonic() + timeout
        while len(self.deliveries) < count:
            if time.monotonic() >= deadline:
                raise TimeoutError(self._shortfall(f"{count} deliveries", timeout))
            await asyncio.sleep(0.01)
        return self.deliveries

    def wait_for_ids(self, ids: Collection[str], timeout: float = 10.0) -> list[WebhookRequest]:
        """Block until every id in ``ids`` was delivered at least once."""
        wanted = set(ids)
        deadline = time.monotonic() + timeout
        with self._changed:
            while not wanted <= self._delivered_id_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = sorted(wanted - self._delivered_id_set())
                    raise TimeoutError(self._shortfall(f"ids {missing}", timeout))
                self._changed.wait(left)
        return self.deliveries

    def _delivery_count(self) -> int:
        return sum(1 for request in self._requests if request.delivered)

    def _delivered_id_set(self) -> set[str]:
        return {r.webhook_id for r in self._requests if r.delivered and r.webhook_id is not None}

    def _shortfall(self, wanted: str, timeout: float) -> str:
        answers = [r.status for r in self.requests]
        return f"waited {timeout:g}s for {wanted}; requests so far answered {answers}"

    # -- handling (called from the server's threads) ----------------------------------------

    def _begin(self, webhook_id: str | None) -> _Behaviour | None:
        with self._lock:
            self._arrived.append(webhook_id)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            if self._queue:
                return self._queue.popleft()
            return self._standing

    def _end(self, request: WebhookRequest) -> None:
        with self._changed:
            self._in_flight -= 1
            self._requests.append(request)
            self._changed.notify_all()

    def _check(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[bool | None, Any, str | None]:
        """(verified, payload, error) of one request."""
        if not self.verify:
            try:
                return None, json.loads(body), None
            except ValueError:
                return None, None, None
        try:
            return True, self._webhook.verify(body, dict(headers)), None
        except WebhookVerificationError as error:
            return False, None, str(error) or type(error).__name__
        except (ValueError, UnicodeDecodeError) as error:  # malformed headers or body
            return False, None, f"{type(error).__name__}: {error}"


class _Server(LoopbackHTTPServer):
    """ThreadingHTTPServer that knows its receiver and can cut its open connections."""

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], receiver: WebhookReceiver
    ) -> None:
        self.receiver = receiver
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "WebhookReceiver/1"
    timeout = 30
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``requests``, not stderr."""

    def do_POST(self) -> None:
        receiver = self.server.receiver
        headers = {name.lower(): value for name, value in self.headers.items()}
        behaviour = receiver._begin(headers.get("webhook-id"))
        record = _Record()
        try:
            record.body = body = self._read_body(headers)
            verified, record.payload, record.error = receiver._check(headers, body)
            record.verified = verified
            held = behaviour is not None and behaviour.seconds > 0
            if held and receiver._stopping.wait(behaviour.seconds if behaviour else 0):
                self._done(None, record)
                return
            if behaviour is not None and behaviour.status is None:
                self.close_connection = True  # held past the client's patience: no answer
                self._done(None, record)
                return
            if behaviour is not None and behaviour.status is not None:
                status, answer = behaviour.status, behaviour.body
                extra = {}
                if behaviour.retry_after is not None:
                    extra["Retry-After"] = f"{behaviour.retry_after:g}"
            elif verified is False:
                status, answer, extra = 401, b"signature did not verify", {}
            else:
                status, answer, extra = receiver.status, b"", {}
            # Recorded before answering: a client that has the answer finds it in `requests`.
            self._done(status, record)
            self._reply(status, answer, extra)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            self._done(None, record)

    def _done(self, status: int | None, record: _Record) -> None:
        """Record the request once (a second call, after a failed answer, is ignored)."""
        if record.done:
            return
        record.done = True
        self.server.receiver._end(
            WebhookRequest(
                method=self.command,
                path=urlsplit(self.path).path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=record.body,
                verified=record.verified,
                payload=record.payload,
                status=status,
                error=record.error,
                received_at=time.monotonic(),
            )
        )

    def _read_body(self, headers: Mapping[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(headers.get("content-length", "0") or "0")
        return self.rfile.read(length) if length > 0 else b""

    def _reply(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status not in (204, 304):  # no body, so no body headers
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


__all__ = ["PATH", "WebhookReceiver", "WebhookRequest", "new_secret"]
