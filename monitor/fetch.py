"""Fetch one feed URL and say, as one named outcome, what came back. Never parses feeds.

The only module that talks HTTP to publishers (the shape of miniflux's fetcher and
response_handler): it sends a conditional GET with the validators the previous good
fetch left, streams the body under a wire-size cap and a decoded-size cap, hashes it so
an unchanged 200 can skip parsing, and answers small questions about the response
(modified? rate limited, and for how long? a feed or a challenge page?). Every network or
HTTP problem becomes a ``FetchResult`` with a named ``Outcome`` and a one-line ``error``
that is safe to log; ``fetch`` never raises for them.

Limits, all from ``HttpSettings``: connect and read timeouts per socket operation, and a
*total* deadline around the whole exchange (a server trickling a byte every few seconds
never trips the read timeout but does trip this); at most ``max_redirects`` redirects;
``max_body_bytes`` on the wire (a larger ``Content-Length`` is refused before reading) and
``max_decoded_bytes`` after gzip/deflate, enforced while inflating so a gzip bomb is
refused after at most one cap's worth of output; at most ``per_host_limit`` requests in
flight per host. Time spent queueing for a host's slot does not count against the deadline.

Clients are built once, never per request: one per host by default, a layout chosen by
measurement (see ``DEFAULT_LAYOUT``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import urlsplit, urlunsplit

import httpx

from monitor.schedule import parse_retry_after

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/cap+xml, application/xml;q=0.9, "
    "text/xml;q=0.9, application/json;q=0.9, */*;q=0.1"
)
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
ACCEPT_ENCODING = "gzip, deflate"
"""Only what ``_Inflater`` decodes with a cap; a server answering br anyway is refused."""

_RATE_LIMIT_STATUSES = frozenset({429, 503})
_DRAIN_LIMIT = 64 * 1024
"""Bodies of 304s and errors up to this size are read, so their connection is reused."""
_SNIFF_BYTES = 16 * 1024
_MAX_ERROR_CHARS = 300


class Outcome(StrEnum):
    """What one fetch came to. Stored as the source's last outcome; values are stable."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"
    UNCHANGED = "unchanged"
    HTTP_ERROR = "http_error"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    TOO_LARGE = "too_large"
    NOT_A_FEED = "not_a_feed"
    CONNECTION_ERROR = "connection_error"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    INVALID_URL = "invalid_url"

    @property
    def failed(self) -> bool:
        """True when the source did not answer with a usable (or unchanged) feed."""
        return self not in _SUCCESSES


_SUCCESSES = frozenset({Outcome.OK, Outcome.NOT_MODIFIED, Outcome.UNCHANGED})


class HttpSettings(Protocol):
    """What the fetcher reads from configuration; ``monitor.config.HttpSettings`` fits."""

    @property
    def user_agent(self) -> str: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def read_timeout(self) -> float: ...
    @property
    def total_timeout(self) -> float: ...
    @property
    def max_redirects(self) -> int: ...
    @property
    def max_body_bytes(self) -> int: ...
    @property
    def max_decoded_bytes(self) -> int: ...
    @property
    def per_host_limit(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Validators:
    """What the previous successful fetch left, to make the next one conditional."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One fetch. ``validators`` are what to store for the next fetch of ``url``.

    ``url`` is the URL as given (it may carry credentials); ``error`` and ``final_url``
    never do, so they are what to log (or ``redact_url(url)``).
    """

    url: str
    outcome: Outcome
    status: int | None = None
    body: bytes = b""
    content_type: str | None = None
    validators: Validators = Validators()
    retry_after: float | None = None
    error: str | None = None
    elapsed: float = 0.0
    final_url: str | None = None


class Layout(StrEnum):
    """How requests are spread over httpx clients (each client is one connection pool)."""

    SHARED = "shared"
    PER_HOST = "per_host"
    POOL = "pool"


DEFAULT_LAYOUT = Layout.PER_HOST
"""One client per host: chosen by measurement (``bench/fetch.py``, ``docs/benchmarks.md``).

httpcore's pool does work in proportion to its queued requests and open connections on
every request, so one client serving every host gets slower as concurrency grows; a
client per host keeps each pool at ``per_host_limit`` connections. One run on loopback,
1,000 sources over 20 hosts, 4 in flight per host (80 in all), polls/s and CPU ms/poll:

=====================  ===============  ==================
layout                 304              unchanged 100 KB
=====================  ===============  ==================
one client per host    1,667 / 0.60     1,350 / 0.74
pool of 4 clients      1,156 / 0.87       964 / 1.04
one shared client        552 / 1.80       557 / 1.79
bare httpx, a loop       965 / 0.98       867 / 1.11
=====================  ===============  ==================
"""
_MAX_HOST_CLIENTS = 512
"""Beyond this many hosts, further hosts share one overflow client (memory stays bounded)."""


class Fetcher:
    """Fetches feeds with clients built once; use from one asyncio event loop."""

    def __init__(
        self, http: HttpSettings, *, layout: Layout = DEFAULT_LAYOUT, pool_size: int = 4
    ) -> None:
        self._http = http
        self._layout = layout
        self._timeout = httpx.Timeout(
            connect=http.connect_timeout,
            read=http.read_timeout,
            write=http.read_timeout,
            pool=http.total_timeout,
        )
        self._ssl = httpx.create_ssl_context()  # one CA bundle load, shared by every client
        self._hosts: dict[str, httpx.AsyncClient] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._pool: list[httpx.AsyncClient] = []
        self._closed = False
        if layout is Layout.SHARED:
            self._pool = [self._new_client(None)]
        elif layout is Layout.POOL:
            self._pool = [self._new_client(None) for _ in range(max(pool_size, 1))]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every client and its connections."""
        self._closed = True
        clients = [*self._pool, *self._hosts.values()]
        self._pool, self._hosts = [], {}
        for client in clients:
            await client.aclose()

    async def fetch(
        self, url: str, previous: Validators | None = None, *, expect_html: bool = False
    ) -> FetchResult:
        """GET ``url`` conditionally on ``previous``; every problem is a named outcome.

        ``expect_html`` is for sources whose format is an HTML page: an HTML body is then
        a document, not a wrong answer (challenge pages are still refused).
        """
        host = _host_of(url)
        if host is None:
            return _failure(url, Outcome.INVALID_URL, previous, "not an http(s) URL")
        async with self._slot(host):
            exchange = _Exchange(self._http, url, previous, expect_html)
            try:
                async with asyncio.timeout(self._http.total_timeout):
                    return await exchange.run(self._client_for(host))
            except TimeoutError:
                return exchange.failed(Outcome.TIMEOUT, exchange.timeout_message())
            except _Refused as refused:
                return exchange.failed(refused.outcome, refused.message)
            except httpx.TimeoutException as exc:
                return exchange.failed(Outcome.TIMEOUT, _describe(exc, url))
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                return exchange.failed(Outcome.INVALID_URL, _describe(exc, url))
            except (httpx.HTTPError, OSError) as exc:
                return exchange.failed(Outcome.CONNECTION_ERROR, _describe(exc, url))

    def _slot(self, host: str) -> asyncio.Semaphore:
        """The host's concurrency limit, created on first use (inside the running loop)."""
        slot = self._slots.get(host)
        if slot is None:
            slot = self._slots[host] = asyncio.Semaphore(max(self._http.per_host_limit, 1))
        return slot

    def _client_for(self, host: str) -> httpx.AsyncClient:
        if self._closed:
            raise RuntimeError("this Fetcher is closed")  # a bug in the caller, not the network
        if self._layout is Layout.PER_HOST:
            client = self._hosts.get(host)
            if client is None:
                if len(self._hosts) >= _MAX_HOST_CLIENTS:
                    return self._overflow()
                client = self._hosts[host] = self._new_client(self._http.per_host_limit)
            return client
        return self._pool[zlib.crc32(host.encode()) % len(self._pool)]

    def _overflow(self) -> httpx.AsyncClient:
        if not self._pool:
            self._pool = [self._new_client(None)]
        return self._pool[0]

    def _new_client(self, connections: int | None) -> httpx.AsyncClient:
        """A client bounded to ``connections`` (None: the per-host slots bound it)."""
        return httpx.AsyncClient(
            headers={
                "User-Agent": self._http.user_agent,
                "Accept": FEED_ACCEPT,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            follow_redirects=False,  # followed by hand: bounded, and bodies never read
            verify=self._ssl,
        )


class _Refused(Exception):
    """A response we read enough of to refuse (too large, undecodable, redirect loop)."""

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


class _Exchange:
    """One fetch in progress: what was asked, and how far it got, for the result."""

    def __init__(
        self,
        http: HttpSettings,
        url: str,
        previous: Validators | None,
        expect_html: bool,
    ) -> None:
        self.http = http
        self.url = url
        self.previous = previous
        self.expect_html = expect_html
        self.started = time.perf_counter()
        self.status: int | None = None
        self.final_url: str | None = None
        self.received = 0

    async def run(self, client: httpx.AsyncClient) -> FetchResult:
        response = await self._send(client)
        try:
            return await self._answer(response)
        finally:
            await response.aclose()

    async def _send(self, client: httpx.AsyncClient) -> httpx.Response:
        """Send the GET and follow at most ``max_redirects`` redirects without their bodies."""
        request = client.build_request("GET", self.url, headers=self._headers())
        for _ in range(max(self.http.max_redirects, 0) + 1):
            response = await client.send(request, stream=True)
            self.status = response.status_code
            self.final_url = redact_url(str(response.url))
            if response.next_request is None:
                return response
            await response.aclose()
            request = response.next_request
        raise _Refused(
            Outcome.TOO_MANY_REDIRECTS,
            f"more than {self.http.max_redirects} redirects "
            f"(the last to {redact_url(str(request.url))})",
        )

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": HTML_ACCEPT} if self.expect_html else {}
        if self.previous is not None:
            if self.previous.etag:
                headers["If-None-Match"] = self.previous.etag
            if self.previous.last_modified:
                headers["If-Modified-Since"] = self.previous.last_modified
        return headers

    async def _answer(self, response: httpx.Response) -> FetchResult:
        status = response.status_code
        if status == 304:
            await _drain(response)
            return self._result(Outcome.NOT_MODIFIED, response, validators=self._kept(response))
        if status in _RATE_LIMIT_STATUSES:
            return await self._rate_limited(response)
        if not 200 <= status < 300:
            await _drain(response)
            error = f"HTTP {status} {response.reason_phrase}".strip()
            return self._result(Outcome.HTTP_ERROR, response, error=error)
        body = await self._read_body(response)
        digest = hashlib.sha256(body).hexdigest()
        if self.previous is not None and self.previous.body_hash == digest:
            return self._result(Outcome.UNCHANGED, response, validators=self._kept(response))
        content_type = response.headers.get("content-type")
        reason = not_a_feed_reason(body, content_type, expect_html=self.expect_html)
        if reason is not None:
            return self._result(Outcome.NOT_A_FEED, response, error=reason)
        validators = Validators(
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            body_hash=digest,
        )
        return self._result(Outcome.OK, response, body=body, validators=validators)

    async def _rate_limited(self, response: httpx.Response) -> FetchResult:
        await _drain(response)
        header = response.headers.get("retry-after")
        retry_after = parse_retry_after(header, _server_now(response))
        error = f"HTTP {response.status_code} {response.reason_phrase}".strip()
        if header is not None:
            error += f"; Retry-After {_one_line(header)[:64]!r}"
        return self._result(Outcome.RATE_LIMITED, response, error=error, retry_after=retry_after)

    async def _read_body(self, response: httpx.Response) -> bytes:
        """The decoded body, refused as soon as either cap is passed."""
        cap = self.http.max_body_bytes
        length = _content_length(response)
        if length is not None and length > cap:
            raise _Refused(Outcome.TOO_LARGE, f"Content-Length {length} over the {cap}-byte cap")
        decoder = _decoder_for(response.headers.get("content-encoding"), self.http)
        parts = []
        async for chunk in response.aiter_raw():
            self.received += len(chunk)
            if self.received > cap:
                raise _Refused(Outcome.TOO_LARGE, f"body over the {cap}-byte cap")
            parts.append(decoder.decode(chunk))
        parts.append(decoder.flush())
        return b"".join(parts)

    def _kept(self, response: httpx.Response) -> Validators:
        """The previous validators, refreshed by any the 304 or unchanged 200 carries."""
        previous = self.previous or Validators()
        return Validators(
            etag=response.headers.get("etag") or previous.etag,
            last_modified=response.headers.get("last-modified") or previous.last_modified,
            body_hash=previous.body_hash,
        )

    def _result(
        self,
        outcome: Outcome,
        response: httpx.Response,
        *,
        body: bytes = b"",
        validators: Validators | None = None,
        error: str | None = None,
        retry_after: float | None = None,
    ) -> FetchResult:
        return FetchResult(
            url=self.url,
            outcome=outcome,
            status=response.status_code,
            body=body,
            content_type=response.headers.get("content-type"),
            validators=validators or self.previous or Validators(),
            retry_after=retry_after,
            error=error,
            elapsed=time.perf_counter() - self.started,
            final_url=self.final_url,
        )

    def failed(self, outcome: Outcome, error: str) -> FetchResult:
        return _failure(
            self.url,
            outcome,
            self.previous,
            error,
            status=self.status,
            elapsed=time.perf_counter() - self.started,
            final_url=self.final_url,
        )

    def timeout_message(self) -> str:
        got = f" after {self.received} body bytes" if self.received else ""
        return f"no complete answer within {self.http.total_timeout:g}s{got}"


def _failure(
    url: str,
    outcome: Outcome,
    previous: Validators | None,
    error: str,
    *,
    status: int | None = None,
    elapsed: float = 0.0,
    final_url: str | None = None,
) -> FetchResult:
    """A failed fetch keeps the previous validators: a bad answer must not replace them."""
    return FetchResult(
        url=url,
        outcome=outcome,
        status=status,
        validators=previous or Validators(),
        error=_one_line(error),
        elapsed=elapsed,
        final_url=final_url,
    )


# -- decoding with a cap ------------------------------------------------------------------


class _Decoder(Protocol):
    def decode(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class _Identity:
    """No Content-Encoding: count the bytes against the decoded cap all the same."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._produced = 0

    def decode(self, data: bytes) -> bytes:
        self._produced += len(data)
        if self._produced > self._limit:
            raise _Refused(Outcome.TOO_LARGE, f"body over the {self._limit}-byte decoded cap")
        return data

    def flush(self) -> bytes:
        return b""


class _Inflater:
    """gzip/deflate that never produces more than ``limit`` bytes, whatever the input.

    ``decompress(data, max_length)`` stops at ``max_length`` output bytes and keeps the
    rest of the input in ``unconsumed_tail``; asking for one byte more than the room left
    proves the body is over the cap without inflating it further. A gzip bomb therefore
    costs at most ``limit`` bytes of memory and the time to produce them.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        self._encoding = encoding
        self._limit = limit
        self._produced = 0
        self._raw_fallback = encoding == "deflate"  # some servers send raw deflate
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding != "deflate" else 15)

    def decode(self, data: bytes) -> bytes:
        try:
            return self._decode(data)
        except zlib.error as exc:
            if not (self._raw_fallback and self._produced == 0):
                raise self._undecodable(exc) from exc
        self._raw_fallback = False
        self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            return self._decode(data)
        except zlib.error as exc:
            raise self._undecodable(exc) from exc

    def _undecodable(self, exc: zlib.error) -> _Refused:
        return _Refused(Outcome.NOT_A_FEED, f"undecodable {self._encoding} body ({exc})")

    def _decode(self, data: bytes) -> bytes:
        parts = []
        while data and not self._zlib.eof:
            out = self._zlib.decompress(data, self._limit - self._produced + 1)
            self._count(out)
            parts.append(out)
            data = self._zlib.unconsumed_tail
        return b"".join(parts)

    def flush(self) -> bytes:
        try:
            out = self._zlib.flush()
        except zlib.error as exc:
            raise self._undecodable(exc) from exc
        self._count(out)
        return out

    def _count(self, out: bytes) -> None:
        self._produced += len(out)
        if self._produced > self._limit:
            raise _Refused(
                Outcome.TOO_LARGE,
                f"{self._encoding} body inflates past the {self._limit}-byte decoded cap",
            )


class _Chain:
    """Several Content-Encodings, undone in reverse order of application."""

    def __init__(self, decoders: Sequence[_Decoder]) -> None:
        self._decoders = decoders

    def decode(self, data: bytes) -> bytes:
        for decoder in self._decoders:
            data = decoder.decode(data)
        return data

    def flush(self) -> bytes:
        data = b""
        for decoder in self._decoders:
            data = decoder.decode(data) + decoder.flush()
        return data


def _decoder_for(content_encoding: str | None, http: HttpSettings) -> _Decoder:
    limit = http.max_decoded_bytes
    codings = [
        coding.strip().lower()
        for coding in (content_encoding or "").split(",")
        if coding.strip() and coding.strip().lower() != "identity"
    ]
    if not codings:
        return _Identity(limit)
    decoders: list[_Decoder] = []
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            decoders.append(_Inflater("gzip", limit))
        elif coding == "deflate":
            decoders.append(_Inflater("deflate", limit))
        else:
            raise _Refused(Outcome.NOT_A_FEED, f"unsupported Content-Encoding {coding[:32]!r}")
    return decoders[0] if len(decoders) == 1 else _Chain(decoders)


async def _drain(response: httpx.Response) -> None:
    """Read a small body to its end so the connection returns to the pool.

    An unread response closes its connection; for the 304s that make up most polls that
    would mean a new TCP (and TLS) handshake every time. Large error bodies are not worth
    it: we stop reading and let the connection close.
    """
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > _DRAIN_LIMIT:
            return


# -- small questions about a response -------------------------------------------------------

_HTML_START = re.compile(
    rb"^(?:\s|<\?xml[^>]*>|<!--.*?-->)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])",
    re.IGNORECASE | re.DOTALL,
)
_FEED_START = re.compile(
    rb"^(?:\s|<\?xml[^>]*>|<!--.*?-->|<!doctype[^>]*>)*(?:<(?:rss|feed|rdf:rdf|alert)[\s>:]|[{\[])",
    re.IGNORECASE | re.DOTALL,
)
_EMPTY_DOCUMENT = re.compile(rb"\s*(?:\{\s*\}|\[\s*\]|null)?\s*")
_TITLE = re.compile(rb"<title[^>]*>([^<]{0,200})", re.IGNORECASE)
_CHALLENGE_TITLES = (
    b"just a moment",
    b"attention required",
    b"captcha",
    b"access denied",
    b"checking your browser",
    b"ddos-guard",
    b"are you a robot",
    b"verify you are human",
    b"security check",
    b"one more step",
    b"request blocked",
    b"bot verification",
)
_CHALLENGE_MARKERS = (
    b"_cf_chl_opt",
    b"cf-browser-verification",
    b"cf_captcha_kind",
    b"_incapsula_resource",
    b"captcha-delivery.com",
    b"px-captcha",
    b"sucuri_cloudproxy_js",
    b"awswafintegration",
)
_BOM = b"\xef\xbb\xbf"


def looks_like_challenge(body: bytes, content_type: str | None) -> bool:
    """True for an anti-bot interstitial (Cloudflare, Incapsula, DataDome...) served as 200.

    Judged on an HTML document's title and on markers that only challenge pages carry,
    never on words in a feed's text, so a feed item about captchas is still a feed.
    """
    head = body[:_SNIFF_BYTES]
    if not _is_html(head, content_type):
        return False
    lowered = head.lower()
    title = _TITLE.search(lowered)
    if title is not None and any(word in title.group(1) for word in _CHALLENGE_TITLES):
        return True
    return any(marker in lowered for marker in _CHALLENGE_MARKERS)


def not_a_feed_reason(
    body: bytes, content_type: str | None, *, expect_html: bool = False
) -> str | None:
    """Why a 200 body is not a document worth parsing, or ``None`` when it may be one.

    An empty body, an empty JSON document (``{}``, ``[]``) and a challenge page are
    failures, not empty feeds: treating them as feeds would read as "every advisory was
    withdrawn". An HTML page where a feed was expected is refused too, unless the source
    is an HTML page (``expect_html``).
    """
    if len(body) <= 64 and _EMPTY_DOCUMENT.fullmatch(body.removeprefix(_BOM)):
        return "empty document" if body.strip(_BOM + b" \t\r\n") else "empty body"
    if looks_like_challenge(body, content_type):
        return "challenge page instead of the document"
    if not expect_html and _is_html(body[:_SNIFF_BYTES], content_type):
        return "HTML page where a feed was expected"
    return None


def _is_html(head: bytes, content_type: str | None) -> bool:
    head = head.removeprefix(_BOM)
    if _HTML_START.match(head):
        return True
    declared_html = content_type is not None and "html" in content_type.lower()
    return declared_html and _FEED_START.match(head) is None and head.lstrip()[:1] == b"<"


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else None


def _server_now(response: httpx.Response) -> datetime:
    """The server's clock (its Date header), against which its Retry-After date is meant."""
    date = response.headers.get("date")
    if date:
        try:
            when = parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
        else:
            return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _host_of(url: str) -> str | None:
    """The host a URL's requests count against, or None for anything but http(s)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return host


# -- one safe line for logs -----------------------------------------------------------------

_USERINFO = re.compile(r"(?<=//)[^/?#@\s]*@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&][^=&#\s]*(?:key|token|secret|passw|signature|sig|auth)[^=&#\s]*=)[^&#\s]*"
)


def redact_url(url: str) -> str:
    """``url`` without userinfo, and with secret-looking query values masked, for logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub("", url))
    netloc = parts.netloc.rpartition("@")[2]
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return _SECRET_QUERY.sub(r"\1***", clean)


def _describe(exc: BaseException, url: str) -> str:
    """``Type: message`` of an exception, with the URL's credentials taken out."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    try:
        userinfo = urlsplit(url).netloc.rpartition("@")[0]
    except ValueError:
        userinfo = ""
    for secret in {userinfo, *userinfo.split(":", 1)} - {""}:
        text = text.replace(secret, "***")
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub("", text))


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_ERROR_CHARS else line[: _MAX_ERROR_CHARS - 1] + "…"
