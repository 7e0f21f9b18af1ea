"""A real loopback HTTP server that plays feed publishers, good and bad, for tests and benches.

It runs the stdlib ``ThreadingHTTPServer`` (HTTP/1.1, keep-alive) in a background thread,
so sync tests, ``asyncio.run`` tests and the monitor's own event loop can all talk to it
over a real socket on 127.0.0.1. No test reaches the internet.

What a test can do::

    with FeedServer() as server:                     # or the ``http_server`` fixture
        url = server.set("/feed.xml", b"<rss>...</rss>")        # ETag + Last-Modified
        server.set("/feed.xml", b"<rss>changed</rss>")           # new ETag, later date
        url = server.serve_fixture("gdacs-rss.xml")              # tests/fixtures/feeds/
        server.fail("/feed.xml", 503, retry_after=120, times=2)  # then healthy again
        server.challenge("/feed.xml")                            # 200 "Just a moment..."
        server.drop("/feed.xml")                                 # close without answering
        server.trickle("/feed.xml", every=1.0)                   # one byte per second
        server.gzip_bomb("/feed.xml", decoded_size=100 << 20)
        server.redirect("/a", "/b"); server.redirect("/b", "/a") # a loop
        server.claim_length("/feed.xml", 10**12)                 # huge Content-Length
        server.recover("/feed.xml")                              # drop the misbehaviour
        server.requests("/feed.xml"); server.received("/feed.xml")[-1].headers
        server.max_concurrent("/feed.xml")

A path's *content* (``set``) and its *misbehaviour* (``fail``, ``trickle``...) are kept
apart: a misbehaviour masks the content for ``times`` requests (or until ``recover``),
after which the same content, with the same validators, is served again.
"""

from __future__ import annotations

import gzip as gzip_module
import hashlib
import socket
import struct
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, formatdate, parsedate_to_datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from tests.integration.loopback import LoopbackHTTPServer

FEEDS_DIR = Path(__file__).parents[1] / "fixtures" / "feeds"

CLOUDFLARE_CHALLENGE = (
    b'<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>'
    b'<meta http-equiv="refresh" content="390"></head><body><div class="main-wrapper">'
    b"<h1>Checking if the site connection is secure</h1></div>"
    b"<script>window._cf_chl_opt={cvId: '3',cType: 'managed'};</script></body></html>"
)
"""What Cloudflare's managed challenge answers instead of the feed (abridged)."""

CONTENT_TYPES = {
    ".rss.xml": "application/rss+xml",
    ".atom.xml": "application/atom+xml",
    ".xml": "application/xml",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server saw it; header names are lower-case."""

    method: str
    path: str
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class _Resource:
    body: bytes
    content_type: str
    etag: str | None
    last_modified: float | None
    headers: Mapping[str, str]
    gzip: bool
    delay: float
    status: int
    chunked: bool


@dataclass(slots=True)
class _Fault:
    """A misbehaviour that masks a path's content for ``remaining`` requests (None: forever)."""

    respond: Callable[[_Handler], None]
    remaining: int | None


@dataclass(slots=True)
class _Counters:
    requests: defaultdict[str, list[RecordedRequest]] = field(
        default_factory=lambda: defaultdict(list)
    )
    in_flight: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_in_flight: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    total_in_flight: int = 0
    max_total_in_flight: int = 0


class FeedServer:
    """Serves byte bodies per path with validators, and misbehaves on demand."""

    def __init__(self, host: str = "127.0.0.1", fixtures_dir: Path = FEEDS_DIR) -> None:
        self.host = host
        self.fixtures_dir = fixtures_dir
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._resources: dict[str, _Resource] = {}
        self._faults: dict[str, _Fault] = {}
        self._counters = _Counters()
        self._clock = 0.0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind a free port on ``host`` and serve from a daemon thread."""
        self._httpd = _HTTPServer((self.host, 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"feed-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections (trickles, keep-alives) and join every thread."""
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
            raise RuntimeError("the feed server is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return self.base_url + _normal_path(path)

    # -- content ---------------------------------------------------------------------------

    def set(
        self,
        path: str,
        body: bytes | str,
        content_type: str = "application/rss+xml",
        *,
        etag: bool = True,
        last_modified: bool = True,
        headers: Mapping[str, str] | None = None,
        gzip: bool = False,
        delay: float = 0.0,
        status: int = 200,
        chunked: bool = False,
    ) -> str:
        """Serve ``body`` at ``path``; returns its URL.

        A changed body gets a new ETag (a hash of it) and a strictly later Last-Modified,
        so conditional requests see the change even within one second. Setting the same
        body again keeps the validators. ``gzip`` compresses when the client accepts it;
        ``delay`` waits before answering (for timeouts and concurrency counts); a ``status``
        other than 200 answers it with this body and headers, never a 304; ``chunked``
        sends the body with ``Transfer-Encoding: chunked`` and no Content-Length.
        """
        data = body.encode() if isinstance(body, str) else bytes(body)
        path = _normal_path(path)
        with self._lock:
            old = self._resources.get(path)
            self._resources[path] = _Resource(
                body=data,
                content_type=content_type,
                etag=_etag_of(data) if etag else None,
                last_modified=self._modified_time(old, data) if last_modified else None,
                headers=dict(headers or {}),
                gzip=gzip,
                delay=delay,
                status=status,
                chunked=chunked,
            )
        return self.url(path)

    def serve_fixture(
        self, name: str, path: str | None = None, content_type: str | None = None
    ) -> str:
        """Serve ``tests/fixtures/feeds/<name>`` at ``path`` (default ``/<name>``)."""
        body = (self.fixtures_dir / name).read_bytes()
        return self.set(path or f"/{name}", body, content_type or _content_type_for(name))

    def remove(self, path: str) -> None:
        """Forget a path's content: it answers 404 from now on."""
        with self._lock:
            self._resources.pop(_normal_path(path), None)

    # -- misbehaviour ----------------------------------------------------------------------

    def fail(
        self,
        path: str,
        status: int = 500,
        *,
        retry_after: int | float | str | datetime | None = None,
        body: bytes = b"failure on purpose\n",
        headers: Mapping[str, str] | None = None,
        times: int | None = None,
    ) -> None:
        """Answer ``status`` (with ``Retry-After`` if given) instead of the content."""
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = _retry_after_text(retry_after)

        def respond(handler: _Handler) -> None:
            handler.reply(status, body, "text/plain; charset=utf-8", extra)

        self._add_fault(path, respond, times)

    def challenge(
        self,
        path: str,
        *,
        body: bytes = CLOUDFLARE_CHALLENGE,
        status: int = 200,
        times: int | None = None,
    ) -> None:
        """Answer an anti-bot HTML page (Cloudflare's by default) with status 200."""

        def respond(handler: _Handler) -> None:
            handler.reply(status, body, "text/html; charset=UTF-8", {})

        self._add_fault(path, respond, times)

    def drop(self, path: str, *, reset: bool = False, times: int | None = None) -> None:
        """Close the connection without answering (``reset``: with a TCP RST)."""

        def respond(handler: _Handler) -> None:
            handler.hang_up(reset=reset)

        self._add_fault(path, respond, times)

    def trickle(
        self, path: str, *, every: float = 1.0, size: int = 10_000, times: int | None = None
    ) -> None:
        """Send headers at once, then one byte of a ``size``-byte body every ``every`` s."""

        def respond(handler: _Handler) -> None:
            handler.trickle(size, every, self._stopping)

        self._add_fault(path, respond, times)

    def gzip_bomb(
        self, path: str, *, decoded_size: int = 100 << 20, times: int | None = None
    ) -> None:
        """A small gzip body of ``decoded_size`` zero bytes, sent whatever the client accepts."""
        compressed = _gzip_zeros(decoded_size)

        def respond(handler: _Handler) -> None:
            handler.reply(200, compressed, "application/rss+xml", {"Content-Encoding": "gzip"})

        self._add_fault(path, respond, times)

    def redirect(self, path: str, to: str, *, status: int = 302, times: int | None = None) -> None:
        """Redirect ``path`` to ``to`` (a path on this server or an absolute URL)."""

        def respond(handler: _Handler) -> None:
            handler.reply(status, b"", "text/plain", {"Location": to})

        self._add_fault(path, respond, times)

    def claim_length(
        self, path: str, length: int, *, sent: bytes = b"<rss>", times: int | None = None
    ) -> None:
        """Announce ``Content-Length: length``, send a few bytes, hang up.

        A client that refuses on the header gets a clean answer; one that reads the body
        would see a broken connection instead.
        """

        def respond(handler: _Handler) -> None:
            handler.reply(200, sent, "application/rss+xml", {}, content_length=length)
            handler.close_connection = True

        self._add_fault(path, respond, times)

    def recover(self, path: str) -> None:
        """End any misbehaviour on ``path``: its content is served again."""
        with self._lock:
            self._faults.pop(_normal_path(path), None)

    # -- what happened ---------------------------------------------------------------------

    def requests(self, path: str) -> int:
        """How many requests reached ``path`` (whatever the answer)."""
        return len(self.received(path))

    def received(self, path: str) -> list[RecordedRequest]:
        """The requests that reached ``path``, oldest first."""
        with self._lock:
            return list(self._counters.requests.get(_normal_path(path), ()))

    def max_concurrent(self, path: str | None = None) -> int:
        """The most requests in progress at once, on ``path`` or on the whole server."""
        with self._lock:
            if path is None:
                return self._counters.max_total_in_flight
            return self._counters.max_in_flight.get(_normal_path(path), 0)

    def reset_counts(self) -> None:
        """Forget recorded requests and concurrency peaks (content and faults stay)."""
        with self._lock:
            self._counters = _Counters()

    # -- used by the handler ---------------------------------------------------------------

    def _begin(self, request: RecordedRequest) -> tuple[_Fault | None, _Resource | None]:
        """Record a request and pick what answers it, consuming one use of a fault."""
        with self._lock:
            counters = self._counters
            counters.requests[request.path].append(request)
            counters.in_flight[request.path] += 1
            counters.total_in_flight += 1
            counters.max_in_flight[request.path] = max(
                counters.max_in_flight[request.path], counters.in_flight[request.path]
            )
            counters.max_total_in_flight = max(
                counters.max_total_in_flight, counters.total_in_flight
            )
            fault = self._faults.get(request.path)
            if fault is not None and fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[request.path]
            return fault, self._resources.get(request.path)

    def _end(self, path: str) -> None:
        with self._lock:
            self._counters.in_flight[path] -= 1
            self._counters.total_in_flight -= 1

    def _add_fault(self, path: str, respond: Callable[[_Handler], None], times: int | None) -> None:
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for until recover())")
        with self._lock:
            self._faults[_normal_path(path)] = _Fault(respond, times)

    def _modified_time(self, old: _Resource | None, body: bytes) -> float:
        """Whole seconds, strictly later than the previous body's, unchanged for the same."""
        if old is not None and old.body == body and old.last_modified is not None:
            return old.last_modified
        self._clock = max(float(int(time.time())), self._clock + 1.0)
        return self._clock


class _HTTPServer(LoopbackHTTPServer):
    """ThreadingHTTPServer that knows its FeedServer and can cut its open connections."""

    def __init__(self, address: tuple[str, int], handler: type[_Handler], feed: FeedServer) -> None:
        self.feed = feed
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    """Answers one connection's requests from the FeedServer's content and faults."""

    protocol_version = "HTTP/1.1"
    server_version = "FeedServer/1"
    timeout = 30  # an idle keep-alive connection is dropped after this many seconds
    server: _HTTPServer

    def do_GET(self) -> None:
        feed = self.server.feed
        path = _normal_path(urlsplit(self.path).path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        fault, resource = feed._begin(RecordedRequest(self.command, path, headers))
        try:
            if fault is not None:
                fault.respond(self)
            elif resource is None:
                self.reply(404, b"not found\n", "text/plain; charset=utf-8", {})
            else:
                self._serve(resource, headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away; nothing to tell it
        finally:
            feed._end(path)

    def _serve(self, resource: _Resource, headers: Mapping[str, str]) -> None:
        if resource.delay and self.server.feed._stopping.wait(resource.delay):
            return
        if resource.status != 200:
            self.reply(resource.status, resource.body, resource.content_type, resource.headers)
            return
        validators = _validator_headers(resource)
        if _not_modified(resource, headers):
            self.reply(304, b"", None, validators)
            return
        body, extra = resource.body, {**validators, **resource.headers}
        if resource.gzip:
            extra["Vary"] = "Accept-Encoding"
            if "gzip" in headers.get("accept-encoding", ""):
                body = _gzip(body)
                extra["Content-Encoding"] = "gzip"
        self.reply(200, body, resource.content_type, extra, chunked=resource.chunked)

    def reply(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: Mapping[str, str],
        *,
        content_length: int | None = None,
        chunked: bool = False,
    ) -> None:
        """Status line, headers and body; Content-Length set unless ``chunked``."""
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif status != 304:
            length = len(body) if content_length is None else content_length
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if chunked:
            self._write_chunked(body)
        elif body and status != 304:
            self.wfile.write(body)

    def _write_chunked(self, body: bytes, size: int = 16 * 1024) -> None:
        for start in range(0, len(body), size):
            chunk = body[start : start + size]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def hang_up(self, *, reset: bool) -> None:
        """Close without a response; with ``reset`` the client sees a connection reset."""
        self.close_connection = True
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def trickle(self, size: int, every: float, stopping: threading.Event) -> None:
        """Headers now, then the body one byte at a time; stops when the server stops."""
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        for _ in range(size):
            if stopping.wait(every):
                break
            self.wfile.write(b" ")
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request stderr line: tests assert on counters instead."""


def _normal_path(path: str) -> str:
    return path if path.startswith("/") else f"/{path}"


def _etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _validator_headers(resource: _Resource) -> dict[str, str]:
    headers = {}
    if resource.etag is not None:
        headers["ETag"] = resource.etag
    if resource.last_modified is not None:
        headers["Last-Modified"] = formatdate(resource.last_modified, usegmt=True)
    return headers


def _not_modified(resource: _Resource, headers: Mapping[str, str]) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present; else If-Modified-Since."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if resource.etag is None:
            return False
        tags = {_weak_stripped(tag) for tag in if_none_match.split(",")}
        return "*" in tags or _weak_stripped(resource.etag) in tags
    since = headers.get("if-modified-since")
    if since is None or resource.last_modified is None:
        return False
    try:
        since_time = parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError):
        return False
    return resource.last_modified <= since_time


def _weak_stripped(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def _retry_after_text(value: int | float | str | datetime) -> str:
    if isinstance(value, datetime):
        return format_datetime(value, usegmt=True)
    if isinstance(value, int | float):
        return str(int(value))
    return value


def _content_type_for(name: str) -> str:
    for suffix, content_type in CONTENT_TYPES.items():
        if name.endswith(suffix):
            return content_type
    return "application/octet-stream"


@lru_cache(maxsize=32)
def _gzip(body: bytes) -> bytes:
    return gzip_module.compress(body, compresslevel=6, mtime=0)


@lru_cache(maxsize=4)
def _gzip_zeros(decoded_size: int) -> bytes:
    """gzip of ``decoded_size`` zero bytes, built a megabyte at a time (~1000:1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = []
    remaining = decoded_size
    while remaining > 0:
        parts.append(compressor.compress(block[: min(remaining, len(block))]))
        remaining -= len(block)
    parts.append(compressor.flush())
    return b"".join(parts)
