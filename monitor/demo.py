"""``monitor demo``: the whole pipeline, offline, in one command.

A newcomer with no network, or no idea yet which feeds to watch, sees what ``monitor run``
does, on real data, in about ten seconds:

1. four real feeds bundled in ``monitor/data/demo/`` (their provenance is in its
   ``SOURCES.md``) are served on a loopback port with ETag and Last-Modified validators, as
   their publishers serve them, so the pollers' conditional requests get real 304s;
2. the daemon, built by the same composition root as ``monitor run`` (:func:`monitor.app.run`),
   polls them every 2 s against an embedded Redis in a temporary directory and delivers each
   event to the console and to a webhook receiver on loopback, which checks every Standard
   Webhooks signature;
3. once every bundled advisory's ``advisory.new`` has reached the receiver, one served
   advisory is edited the way its publisher would change it (the State Department raises
   Italy from Level 2 to Level 3: title and Threat-Level category, hence a new ETag), and the
   ``advisory.changed`` event is shown as it arrives, with its id and its verified signature;
4. the daemon is stopped gracefully (its ``stop`` event, as SIGTERM would), the Redis server
   stopped and its directory removed, and a summary says what was shown.

Nothing outside the temporary directory is touched: the configuration is built here in code,
so neither a configuration file, nor ``var/``, nor ``MONITOR_REDIS_URL`` takes part. The
webhook secret is made up per run and handed to the notifier the way an operator would, in
an environment variable (:data:`SECRET_ENV`) of this process only.

The pure parts (:func:`set_level`, :func:`verify_signature`, :func:`not_modified`,
:func:`level_change`, :func:`demo_config`, :func:`summary`) are tested on their own.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TextIO

from monitor.config import (
    Config,
    NotifierConfig,
    PollSettings,
    RedisSettings,
    ServiceSettings,
    Source,
)

SECRET_ENV: Final = "MONITOR_DEMO_WEBHOOK_SECRET"
"""Where this process keeps the demo's webhook secret for the notifier to read."""

INTERVAL: Final = 2.0  # seconds between polls of each demo feed
DEFAULT_TIMEOUT: Final = 60.0
GRACE: Final = 2.0  # the daemon's stop grace: nothing slow is in flight in the demo
SIGNATURE_TOLERANCE: Final = 300.0  # seconds of clock skew accepted, as the SW libraries do
MAX_HOOK_BODY: Final = 1 << 20
HOOK_PATH: Final = "/hook"
HOST: Final = "127.0.0.1"
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_INTERRUPTED: Final = 130


# --- what is served, and what is edited -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoFeed:
    """One bundled feed and the source that polls it (ids as in ``config/monitor.toml``)."""

    source: str
    file: str  # in monitor/data/demo/
    format: str
    issuer: str | None
    content_type: str
    about: str

    @property
    def path(self) -> str:
        return f"/{self.file}"


FEEDS: Final = (
    DemoFeed(
        "us-state-advisories",
        "us-state-travel-advisories.rss.xml",
        "rss",
        "US",
        "application/rss+xml",
        "U.S. State Department travel advisories (RSS)",
    ),
    DemoFeed(
        "gb-fcdo-haiti",
        "uk-fcdo-content-api-haiti.json",
        "govuk",
        "GB",
        "application/json",
        "UK FCDO travel advice for Haiti (GOV.UK Content API)",
    ),
    DemoFeed(
        "ca-ukraine",
        "canada-cta-cap-ua.json",
        "canada",
        "CA",
        "application/json",
        "Global Affairs Canada advice for Ukraine (open data)",
    ),
    DemoFeed(
        "gdacs",
        "gdacs-rss.xml",
        "rss",
        None,
        "application/rss+xml",
        "GDACS disaster alerts (RSS)",
    ),
)


@dataclass(frozen=True, slots=True)
class LevelEdit:
    """The edit the demo makes: one State Department item moves from ``old`` to ``new``."""

    source: str
    guid: str
    place: str
    old: int
    new: int

    @property
    def advisory_id(self) -> str:
        """The advisory's id: the RSS adapter keys an item by its guid under the source."""
        return f"{self.source}:{self.guid}"


EDIT: Final = LevelEdit(
    source="us-state-advisories",
    guid=(
        "https://travel.state.gov/content/tsg_aem/us/en/home/international-travel/"
        "travel-advisories/destination.ita.html"
    ),
    place="Italy",
    old=2,
    new=3,
)

US_LEVELS: Final[Mapping[int, str]] = {
    1: "Exercise Normal Precautions",
    2: "Exercise Increased Caution",
    3: "Reconsider Travel",
    4: "Do Not Travel",
}
"""The State Department's words for each level, as its titles and categories spell them."""

_ITEM = re.compile(rb"<item>.*?</item>", re.DOTALL)
_TITLE_LEVEL = re.compile(rb"(<title>[^<]*?)Level [1-4]: [^<]*(</title>)")
_THREAT_LEVEL = re.compile(rb'(<category domain="Threat-Level">)Level [1-4]: [^<]*(</category>)')
_LEAD = re.compile(
    rb"(<description>(?:<!\[CDATA\[)?\s*)(?:"
    + b"|".join(re.escape(words.encode()) for words in US_LEVELS.values())
    + rb")",
    re.IGNORECASE,
)


def set_level(feed: bytes, guid: str, level: int) -> bytes:
    """The State Department feed with item ``guid`` at ``level``. Pure.

    The Department states an item's level in its title (``Italy - Level 2: Exercise Increased
    Caution``) and its Threat-Level category, and opens the description with the level's words
    (``Exercise increased caution in Italy``); a level change rewrites all three, and so does
    this (the opening only where it has one). Every other byte is kept, line endings and CDATA
    included. ``ValueError`` if the level is not 1-4, or the item, its title or its category
    cannot be found.
    """
    if level not in US_LEVELS:
        raise ValueError(f"{level!r} is not a State Department level (1 to 4)")
    label = f"Level {level}: {US_LEVELS[level]}".encode()
    words = US_LEVELS[level].capitalize().encode()
    guid_tag = re.compile(rb"<guid[^>]*>\s*" + re.escape(guid.encode()) + rb"\s*</guid>")
    for match in _ITEM.finditer(feed):
        item = match.group()
        if not guid_tag.search(item):
            continue
        item, titles = _TITLE_LEVEL.subn(lambda m: m[1] + label + m[2], item)
        item, threats = _THREAT_LEVEL.subn(lambda m: m[1] + label + m[2], item)
        item = _LEAD.sub(lambda m: m[1] + words, item, count=1)
        if titles != 1 or threats != 1:
            raise ValueError(f"item {guid!r} has no 'Level N: ...' title and Threat-Level category")
        return feed[: match.start()] + item + feed[match.end() :]
    raise ValueError(f"no item with guid {guid!r} in the feed")


def bundled(feed: DemoFeed) -> bytes:
    """The bytes of a bundled feed, from the installed package."""
    return (resources.files("monitor") / "data" / "demo" / feed.file).read_bytes()


def advisory_ids(feed: DemoFeed, body: bytes) -> tuple[str, ...]:
    """The ids the daemon will find in ``body``, read by the same normaliser it uses."""
    from monitor.normalise.api import normalise_bytes

    found = normalise_bytes(body, source=feed.source, fmt=feed.format, issuer=feed.issuer)
    return tuple(advisory.id for advisory in found)


# --- the daemon's configuration ---------------------------------------------------------------


def demo_config(
    urls: Mapping[str, str], hook_url: str, data_dir: str, *, console: bool = True
) -> Config:
    """What the daemon runs with: the demo feeds at ``urls`` (by source id), polled every
    :data:`INTERVAL`, parsed in-process (no worker pool to spawn), the console notifier unless
    ``console`` is false, a signed webhook to ``hook_url``, and the embedded Redis in
    ``data_dir``. Health and metrics listen on any free loopback port. Pure."""
    sources = tuple(
        Source(
            id=feed.source,
            url=urls[feed.source],
            format=feed.format,
            interval=INTERVAL,
            issuer=feed.issuer,
            silent_after=3600.0,  # a demo feed that stays the same is not a silent source
        )
        for feed in FEEDS
    )
    webhook = NotifierConfig(
        name="webhook",
        kind="webhook",
        url=hook_url,
        secret_env=SECRET_ENV,
        timeout=5.0,
        retries=(0.5, 1.0, 2.0),
    )
    notifiers = (NotifierConfig(name="console", kind="console"), webhook) if console else (webhook,)
    return Config(
        path=None,
        redis=RedisSettings(url=None, data_dir=data_dir),
        poll=replace(PollSettings(), workers=0),
        service=replace(ServiceSettings(), grace=GRACE, health_host=HOST, health_port=0),
        sources=sources,
        notifiers=notifiers,
    )


# --- validators and signatures ------------------------------------------------------------


def not_modified(etag: str, last_modified: int, request: Mapping[str, str]) -> bool:
    """Whether a conditional GET (lower-case ``request`` headers) gets a 304. Pure.

    RFC 9110 §13.1: ``If-None-Match`` (weak comparison) decides when present; otherwise
    ``If-Modified-Since``, to the second.
    """
    if_none_match = request.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag.removeprefix("W/") in tags
    since = request.get("if-modified-since")
    if since:
        try:
            return last_modified <= int(parsedate_to_datetime(since).timestamp())
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
    return False


def new_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: float = SIGNATURE_TOLERANCE,
) -> bool:
    """Whether ``body`` with these (lower-case) headers was signed with ``secret``. Pure.

    Written from the Standard Webhooks specification rather than with the notifier's own
    signing code, so the demo checks the notifier instead of agreeing with itself: HMAC-SHA256
    keyed with the base64 part of ``whsec_…`` over ``{webhook-id}.{webhook-timestamp}.{body}``,
    any one of the space-separated ``v1,<base64>`` signatures matching in constant time, and a
    timestamp within ``tolerance`` seconds of ``now`` (a replay defence).
    """
    msg_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (msg_id and stamp.isdigit() and signatures):
        return False
    if abs(now - int(stamp)) > tolerance:
        return False
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return False
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(given, expected):
            return True
    return False


# --- what the receiver got -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """One POST the webhook receiver accepted or refused."""

    webhook_id: str
    type: str
    event: Mapping[str, Any]  # the body's ``data``: the event as the notifier sent it
    verified: bool

    @property
    def advisory_id(self) -> str | None:
        advisory = self.event.get("advisory")
        return advisory.get("id") if isinstance(advisory, Mapping) else None

    @property
    def title(self) -> str:
        advisory = self.event.get("advisory")
        title = advisory.get("title") if isinstance(advisory, Mapping) else None
        return str(title or self.advisory_id or "?")


def level_change(event: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """``(old, new)`` of the event's level change, ``None`` when its level did not change."""
    changes = event.get("changes")
    if not isinstance(changes, list):
        return None
    for change in changes:
        if isinstance(change, Mapping) and change.get("field") == "level":
            return change.get("old"), change.get("new")
    return None


def other_changes(event: Mapping[str, Any]) -> list[str]:
    """The fields the event says changed, besides the level."""
    changes = event.get("changes")
    if not isinstance(changes, list):
        return []
    fields = (c.get("field") for c in changes if isinstance(c, Mapping))
    return [str(f) for f in fields if f and f != "level"]


def unique(deliveries: Sequence[Delivery]) -> list[Delivery]:
    """One delivery per ``webhook-id``, the first: a retried POST is the same event."""
    first: dict[str, Delivery] = {}
    for delivery in deliveries:
        first.setdefault(delivery.webhook_id, delivery)
    return list(first.values())


# --- the loopback servers ----------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    """A loopback HTTP server on a free port, serving from a daemon thread."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        super().__init__((HOST, 0), handler)
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


class _QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.0, one request per connection; no access log over the story."""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def lower_headers(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.headers.items()}

    def send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


@dataclass(frozen=True, slots=True)
class Served:
    """A path's current content and its validators."""

    body: bytes
    content_type: str
    etag: str
    last_modified: int  # unix seconds


class FeedServer(_Server):
    """Serves byte bodies per path with ETag and Last-Modified, answering 304 when they match."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._served: dict[str, Served] = {}
        self.requests = 0
        self.not_modified = 0
        super().__init__(_FeedHandler, "monitor-demo-feeds")

    def set(self, path: str, body: bytes, content_type: str) -> Served:
        """Serve ``body`` at ``path`` from now on: a new ETag, a strictly later Last-Modified
        (so even a client that sends only ``If-Modified-Since`` sees a change in the same
        second)."""
        with self._lock:
            previous = self._served.get(path)
            modified = int(time.time())
            if previous is not None:
                modified = max(modified, previous.last_modified + 1)
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            served = Served(body, content_type, etag, modified)
            self._served[path] = served
            return served

    def served(self, path: str) -> Served | None:
        with self._lock:
            return self._served.get(path)

    def answer(self, path: str, request: Mapping[str, str]) -> tuple[int, Served | None]:
        """The status for a GET of ``path`` (200, 304, 404), and what is served there."""
        with self._lock:
            self.requests += 1
            served = self._served.get(path)
            if served is None:
                return 404, None
            if not_modified(served.etag, served.last_modified, request):
                self.not_modified += 1
                return 304, served
            return 200, served


class _FeedHandler(_QuietHandler):
    server: FeedServer

    def do_GET(self) -> None:
        status, served = self.server.answer(self.path.split("?", 1)[0], self.lower_headers())
        if served is None:
            self.send(404, b"not found\n", {"Content-Type": "text/plain"})
            return
        validators = {
            "ETag": served.etag,
            "Last-Modified": formatdate(served.last_modified, usegmt=True),
        }
        if status == 304:
            self.send(304, b"", validators)
            return
        self.send(200, served.body, {"Content-Type": served.content_type, **validators})

    do_HEAD = do_GET


class WebhookReceiver(_Server):
    """Accepts signed POSTs at :data:`HOOK_PATH`: 204 when the signature verifies, else 401
    (a subscriber's answer to a forged request). Each is handed to ``on_delivery``."""

    def __init__(self, secret: str, on_delivery: Callable[[Delivery], None]) -> None:
        self.secret = secret
        self.on_delivery = on_delivery
        super().__init__(_HookHandler, "monitor-demo-webhook")


class _HookHandler(_QuietHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.path != HOOK_PATH or not 0 < length <= MAX_HOOK_BODY:
            self.send(404 if self.path != HOOK_PATH else 413, b"", {})
            return
        body = self.rfile.read(length)
        headers = self.lower_headers()
        verified = verify_signature(self.server.secret, headers, body, now=time.time())
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        data = payload.get("data") if isinstance(payload, dict) else None
        event = data if isinstance(data, dict) else {}
        self.send(204 if verified else 401, b"", {})
        self.server.on_delivery(
            Delivery(
                webhook_id=headers.get("webhook-id", ""),
                type=str(event.get("type") or payload.get("type") or "?"),
                event=event,
                verified=verified,
            )
        )


# --- waiting for what arrives --------------------------------------------------------------


class Inbox:
    """The receiver's deliveries, on the event loop's side: the receiver's threads hand them
    over with ``call_soon_threadsafe``, and the story waits here for the one it expects."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._arrived = asyncio.Event()

    def add(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self._arrived.set()

    def handler(self, loop: asyncio.AbstractEventLoop) -> Callable[[Delivery], None]:
        """What the receiver's threads call: hand the delivery to the loop, if it still runs."""

        def hand_over(delivery: Delivery) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the demo is over
                loop.call_soon_threadsafe(self.add, delivery)

        return hand_over

    async def wait_for(
        self, done: Callable[[Sequence[Delivery]], bool], *, until: float, watch: asyncio.Task[None]
    ) -> bool:
        """Whether ``done(deliveries)`` held before loop time ``until`` and before ``watch``
        (the daemon) ended."""
        loop = asyncio.get_running_loop()
        while not done(self.deliveries):
            remaining = until - loop.time()
            if remaining <= 0 or watch.done():
                return False
            self._arrived.clear()
            arrival = asyncio.ensure_future(self._arrived.wait())
            try:
                await asyncio.wait(
                    {arrival, watch}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                arrival.cancel()
        return True


# --- the story -------------------------------------------------------------------------------


class DemoFailed(Exception):
    """The demo could not show what it promised; the message says what did not happen."""


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped the daemon before the demo was over."""


@dataclass(frozen=True, slots=True)
class Shown:
    """What the demo showed, for the summary."""

    feeds: int
    advisories: int
    received: tuple[Delivery, ...]  # one per webhook-id
    changed: Delivery
    change_after: float  # seconds from the edit to the event's arrival
    requests: int
    not_modified: int


@dataclass(frozen=True, slots=True)
class DemoOptions:
    timeout: float = DEFAULT_TIMEOUT
    quiet: bool = False  # no console notifier, no narration: only the summary
    verbose: bool = False  # the daemon's info logs on stderr (set by the command)


class _Narrator:
    def __init__(self, out: TextIO, *, quiet: bool) -> None:
        self.out = out
        self.quiet = quiet

    def say(self, *lines: str) -> None:
        if not self.quiet:
            self.always(*lines)

    def always(self, *lines: str) -> None:
        print(*lines, sep="\n", file=self.out, flush=True)


def summary(shown: Shown, elapsed: float) -> list[str]:
    """The closing lines: what ran, what changed, what to run next. Pure."""
    by_type = Counter(d.type for d in shown.received)
    types = ", ".join(f"{name} {count}" for name, count in sorted(by_type.items()))
    verified = sum(1 for d in shown.received if d.verified)
    change = level_change(shown.changed.event)
    old, new = change if change is not None else ("?", "?")
    return [
        f"monitor demo: done in {elapsed:.1f} s, offline, on real feeds.",
        f"  served    {shown.feeds} bundled feeds on {HOST} with ETag/Last-Modified: "
        f"{shown.requests} requests, {shown.not_modified} answered 304 Not Modified",
        f"  detected  {shown.advisories} advisories; the webhook received "
        f"{len(shown.received)} events ({types}), {verified} signatures verified",
        f"  changed   {shown.changed.title}",
        f"    advisory.changed  level {old} → {new}, "
        f"{shown.change_after:.1f} s after the feed was edited",
        f"    also changed      {', '.join(other_changes(shown.changed.event)) or 'nothing else'}",
        f"    event id          {shown.changed.event.get('event_id', '?')}",
        f"    webhook-id        {shown.changed.webhook_id}",
        "    signature verified (Standard Webhooks v1: HMAC-SHA256 with a whsec_ secret)",
        "  stopped   the daemon (gracefully) and the embedded Redis; its directory is removed",
        "",
        "Next: `monitor run` watches the real feeds of config/monitor.toml and prints each alert",
        "here (`monitor check-config` shows what it would run); see README.md.",
    ]


@contextlib.contextmanager
def _secret_in_env() -> Iterator[str]:
    """A fresh webhook secret in :data:`SECRET_ENV` for the demo's lifetime, then the old value."""
    secret = new_secret()
    previous = os.environ.get(SECRET_ENV)
    os.environ[SECRET_ENV] = secret
    try:
        yield secret
    finally:
        if previous is None:
            os.environ.pop(SECRET_ENV, None)
        else:
            os.environ[SECRET_ENV] = previous


@contextlib.contextmanager
def _redis_dir() -> Iterator[str]:
    """A temporary directory for the embedded Redis; on exit the server is stopped and the
    directory removed. Short, under the system's temporary directory (or /tmp when that is
    long), because a unix socket path must stay under about 100 bytes."""
    from monitor.redis_server import EmbeddedRedisError, stop_embedded

    base = tempfile.gettempdir()
    root = tempfile.mkdtemp(prefix="monitor-demo-", dir=base if len(base) <= 60 else "/tmp")
    try:
        yield str(Path(root) / "redis")
    finally:
        with contextlib.suppress(EmbeddedRedisError, OSError):
            stop_embedded(Path(root) / "redis")
        shutil.rmtree(root, ignore_errors=True)


def _serve(feeds: FeedServer) -> dict[str, tuple[str, ...]]:
    """Serve every bundled feed; the advisory ids each holds, by source."""
    expected: dict[str, tuple[str, ...]] = {}
    for feed in FEEDS:
        body = bundled(feed)
        feeds.set(feed.path, body, feed.content_type)
        expected[feed.source] = advisory_ids(feed, body)
    return expected


async def run_demo(options: DemoOptions, out: TextIO) -> int:
    """Run the demo, narrating on ``out``; the exit status (problems are printed on ``err``
    by the caller from :class:`DemoFailed`)."""
    begun = time.monotonic()
    narrator = _Narrator(out, quiet=options.quiet)
    inbox = Inbox()
    with contextlib.ExitStack() as stack:
        secret = stack.enter_context(_secret_in_env())
        data_dir = stack.enter_context(_redis_dir())
        feeds = stack.enter_context(FeedServer())
        hook = stack.enter_context(
            WebhookReceiver(secret, inbox.handler(asyncio.get_running_loop()))
        )
        expected = _serve(feeds)
        _introduce(narrator, feeds, hook, expected, data_dir, options)
        config = demo_config(
            {feed.source: feeds.url(feed.path) for feed in FEEDS},
            hook.url(HOOK_PATH),
            data_dir,
            console=not options.quiet,
        )
        shown = await _show(config, feeds, inbox, expected, options, narrator)
    narrator.always(*summary(shown, time.monotonic() - begun))
    return EXIT_OK


def _advisories(count: int) -> str:
    return f"{count:>3} advisor{'y' if count == 1 else 'ies'}"


def _introduce(
    narrator: _Narrator,
    feeds: FeedServer,
    hook: WebhookReceiver,
    expected: Mapping[str, tuple[str, ...]],
    data_dir: str,
    options: DemoOptions,
) -> None:
    width = max(len(feed.source) for feed in FEEDS)
    rows = [
        f"  {feed.source:<{width}}  {feed.about:<54} {_advisories(len(expected[feed.source]))}"
        for feed in FEEDS
    ]
    notifiers = "the console and the webhook" if not options.quiet else "the webhook"
    narrator.say(
        "monitor demo: the daemon on real feeds, offline; it stops by itself "
        f"(at most {options.timeout:g} s).",
        "",
        f"Serving {len(FEEDS)} bundled feeds on {feeds.url('/')} with ETag and Last-Modified:",
        *rows,
        f"A webhook receiver listens on {hook.url(HOOK_PATH)} and checks every Standard "
        f"Webhooks signature (secret in ${SECRET_ENV}).",
        f"Starting the daemon as `monitor run` would: every feed polled every {INTERVAL:g} s, "
        f"an embedded Redis in {data_dir}, events delivered to {notifiers}.",
    )


async def _show(
    config: Config,
    feeds: FeedServer,
    inbox: Inbox,
    expected: Mapping[str, tuple[str, ...]],
    options: DemoOptions,
    narrator: _Narrator,
) -> Shown:
    """Run the daemon through the story; it is stopped (and awaited) whatever happens."""
    from monitor import app

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    started: asyncio.Future[app.Started] = loop.create_future()

    def on_started(info: app.Started) -> None:
        if not started.done():
            started.set_result(info)

    daemon = asyncio.create_task(
        app.run(config, stop=stop, on_started=on_started), name="monitor-demo:daemon"
    )
    until = loop.time() + options.timeout
    failure: BaseException | None = None
    shown: Shown | None = None
    try:
        shown = await _story(feeds, inbox, expected, options, narrator, daemon, started, until)
    except (DemoFailed, Interrupted) as error:
        failure = error
    finally:
        interrupted = stop.is_set()  # set by a signal: the story never sets it itself
        stop.set()
        problem = await _stopped(daemon)
    if problem is not None:
        raise DemoFailed(problem)
    if interrupted:
        raise Interrupted("interrupted: the daemon was stopped before the demo was over")
    if failure is not None:
        raise failure
    assert shown is not None
    narrator.say("", "Stopped the daemon gracefully; removing the embedded Redis.", "")
    return shown


async def _stopped(daemon: asyncio.Task[None]) -> str | None:
    """Wait for the daemon to finish; why it could not start, if that is how it ended."""
    from monitor import app
    from monitor.redis_server import EmbeddedRedisError

    try:
        await daemon
    except app.StartError as error:
        return f"the daemon could not start: {error}"
    except EmbeddedRedisError as error:
        return f"the embedded Redis could not start: {error}"
    return None


async def _story(
    feeds: FeedServer,
    inbox: Inbox,
    expected: Mapping[str, tuple[str, ...]],
    options: DemoOptions,
    narrator: _Narrator,
    daemon: asyncio.Task[None],
    started: asyncio.Future[Any],
    until: float,
) -> Shown:
    loop = asyncio.get_running_loop()
    await asyncio.wait({started, daemon}, timeout=max(until - loop.time(), 0.0),
                       return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    if not started.done():
        _not_running(daemon, options, "the daemon did not start")
    port = started.result().health_port
    narrator.say(
        f"The daemon is up (/healthz and /metrics on http://{HOST}:{port}/). "
        + ("Each event it delivers to the console:" if not options.quiet else ""),
        "",
    )
    ids = {advisory_id for found in expected.values() for advisory_id in found}
    await _first_polls(inbox, ids, options, narrator, daemon, until)
    edited_at = _edit(feeds, narrator)
    changed = await _change(inbox, options, daemon, until)
    after = time.monotonic() - edited_at
    old, new = level_change(changed.event) or ("?", "?")
    narrator.say(
        "",
        f"The webhook received advisory.changed {after:.1f} s after the edit "
        f"(level {old} → {new}, signature verified).",
    )
    return Shown(
        feeds=len(FEEDS),
        advisories=len(ids),
        received=tuple(unique(inbox.deliveries)),
        changed=changed,
        change_after=after,
        requests=feeds.requests,
        not_modified=feeds.not_modified,
    )


def _not_running(daemon: asyncio.Task[None], options: DemoOptions, what: str) -> None:
    """Raise why the story cannot go on: the daemon ended (its own error is reported when it
    is awaited), or the time limit passed."""
    if daemon.done():
        raise DemoFailed(f"{what}: the daemon stopped")
    raise DemoFailed(f"{what} within {options.timeout:g} s (see --timeout; --verbose shows logs)")


async def _first_polls(
    inbox: Inbox,
    ids: set[str],
    options: DemoOptions,
    narrator: _Narrator,
    daemon: asyncio.Task[None],
    until: float,
) -> None:
    """Until every bundled advisory's ``advisory.new`` has reached the webhook."""

    def arrived(deliveries: Sequence[Delivery]) -> set[str]:
        return {d.advisory_id or "" for d in deliveries if d.type == "advisory.new"}

    if not await inbox.wait_for(lambda ds: ids <= arrived(ds), until=until, watch=daemon):
        missing = len(ids - arrived(inbox.deliveries))
        _not_running(daemon, options, f"{missing} of {len(ids)} advisory.new events did not arrive")
    refused = [d for d in inbox.deliveries if not d.verified]
    if refused:
        raise DemoFailed(f"{len(refused)} webhook signatures did not verify")
    narrator.say(
        "",
        f"All {len(ids)} advisories reached the webhook as advisory.new, every signature verified.",
    )


def _edit(feeds: FeedServer, narrator: _Narrator) -> float:
    """Raise the edited advisory's level in the served feed; when (monotonic) it was done."""
    feed = next(feed for feed in FEEDS if feed.source == EDIT.source)
    before = feeds.served(feed.path)
    if before is None:
        raise DemoFailed(f"{feed.path} is not served")
    served = feeds.set(feed.path, set_level(before.body, EDIT.guid, EDIT.new), feed.content_type)
    narrator.say(
        f"Now the State Department raises {EDIT.place} from Level {EDIT.old} to Level "
        f"{EDIT.new}: the served feed changes (ETag {before.etag} → {served.etag}).",
        "",
    )
    return time.monotonic()


async def _change(
    inbox: Inbox, options: DemoOptions, daemon: asyncio.Task[None], until: float
) -> Delivery:
    """The ``advisory.changed`` of the edited advisory, once it reaches the webhook."""

    def found(deliveries: Sequence[Delivery]) -> Delivery | None:
        for delivery in deliveries:
            if delivery.type == "advisory.changed" and delivery.advisory_id == EDIT.advisory_id:
                return delivery
        return None

    if not await inbox.wait_for(lambda ds: found(ds) is not None, until=until, watch=daemon):
        _not_running(daemon, options, f"the advisory.changed event for {EDIT.place} did not arrive")
    changed = found(inbox.deliveries)
    assert changed is not None
    if not changed.verified:
        raise DemoFailed("the advisory.changed event arrived but its signature did not verify")
    if level_change(changed.event) != (EDIT.old, EDIT.new):
        raise DemoFailed(
            f"the advisory.changed event reports level change {level_change(changed.event)}, "
            f"not {EDIT.old} → {EDIT.new}"
        )
    return changed


__all__ = [
    "DEFAULT_TIMEOUT",
    "EDIT",
    "FEEDS",
    "SECRET_ENV",
    "Delivery",
    "DemoFailed",
    "DemoFeed",
    "DemoOptions",
    "FeedServer",
    "Interrupted",
    "LevelEdit",
    "Shown",
    "WebhookReceiver",
    "advisory_ids",
    "bundled",
    "demo_config",
    "level_change",
    "new_secret",
    "not_modified",
    "other_changes",
    "run_demo",
    "set_level",
    "summary",
    "unique",
    "verify_signature",
]
