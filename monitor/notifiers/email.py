"""The email notifier: a pure message builder, a digest buffer and a thin SMTP sender.

:func:`build_message` turns one event into a ``multipart/alternative`` message (plain text and
HTML, from the templates in ``templates/``) without any I/O, so every header and every line can
be tested from a dict. Three choices matter to whoever reads the mail:

- **Threading.** ``Message-ID`` is derived from the event id (``{advisory_id}:{version}``), so
  a redelivery of the same event carries the same id and a mailbox can drop the duplicate.
  Every later version of an advisory sets ``In-Reply-To`` and ``References`` to the id of
  version 1 (``{advisory_id}:1``), so mail clients thread it under the first alert even when
  a version in between was filtered out or never delivered.
- **No header injection.** Every header value built from feed text goes through
  :func:`~monitor.notifiers.templates.header_text`: control characters (CR/LF among them),
  Unicode line separators and bidirectional overrides are removed and the length is capped,
  so a title holding ``"\\r\\nBcc: victim@example.org"`` stays one harmless subject line.
- **No markup injection.** Every value in the HTML part is escaped, and a link becomes an
  anchor only when it is ``http`` or ``https``.

Digest mode (``digest = "1h"``) sends one message per period instead of one per event. The
buffer is in memory, so it must never be the only copy of an event: :class:`DigestBuffer` only
says *when* to send and *what*; the delivery engine keeps the events pending in the notifier's
consumer group and acknowledges them only after :meth:`EmailNotifier.send_digest` succeeded.
After a restart the engine re-reads its pending entries into a new buffer, which dates each
one from its ``emitted_at``, so an overdue digest goes out at once and nothing is lost.

The sender opens one SMTP connection per message (``aiosmtplib``): ``smtp://`` is plain text
(port 25; no opportunistic STARTTLS, whose certificate a local relay often cannot prove),
``smtp+starttls://`` requires STARTTLS (587) and ``smtps://`` is TLS from the first byte (465).
The user comes from the URL, the password from the variable named by ``password_env``, read
once when the notifier is built; it never appears in a repr, a log line or an error.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import aiosmtplib

from monitor.config import Filter, NotifierConfig
from monitor.notifiers.base import DeliveryError, Event, NotifierSetupError
from monitor.notifiers.templates import (
    MAX_SUBJECT_COUNTRIES,
    SOURCE_STATES,
    View,
    advisory_of,
    country_list,
    header_text,
    intro,
    is_source_event,
    level_change,
    level_of,
    level_text,
    one_line,
    render_bodies,
    strings,
    view,
    when,
)

MSGID_DOMAIN: Final = "advisory-monitor"
DIGEST_MAX_EVENTS: Final = 500
"""A digest goes out early once it holds this many events: a longer one is unreadable."""

SUBJECT_PREFIX: Final[Mapping[str, str]] = {
    "advisory.changed": "Updated: ",
    "advisory.cancelled": "Cancelled: ",
    "advisory.expired": "Expired: ",
}
DEFAULT_PORTS: Final[Mapping[str, int]] = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


# --- identities and threading ----------------------------------------------------------------


def message_id(event_id: str) -> str:
    """The ``Message-ID`` of the message announcing ``event_id``: a hash, so it is always a
    valid msg-id, and the same on every delivery of the event."""
    return f"<{_hash(event_id)}@{MSGID_DOMAIN}>"


def thread_root(event: Event) -> str | None:
    """The ``Message-ID`` a later version replies to: that of version 1 of the same advisory;
    ``None`` for version 1 itself and for events that are not about an advisory."""
    advisory_id = event.get("advisory_id")
    if not isinstance(advisory_id, str) or not advisory_id:
        return None
    root = f"{advisory_id}:1"
    return None if str(event.get("event_id")) == root else message_id(root)


def digest_id(event_ids: Iterable[str]) -> str:
    """The ``Message-ID`` of a digest: a hash of its sorted event ids, so resending the same
    digest after a crash gives the same id."""
    joined = "\n".join(sorted(event_ids))
    return f"<digest-{_hash(joined)}@{MSGID_DOMAIN}>"


def _hash(text: str) -> str:
    """128 bits of SHA-256 in hex: unique enough, and short enough that ``References`` fits
    on one header line (a longer id would be folded into RFC 2047 words and break threads)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# --- subjects and messages ------------------------------------------------------------------


def subject(event: Event) -> str:
    """``"[Level 4] Russia: Security Alert – …"``, prefixed ``Updated:``, ``Cancelled:`` or
    ``Expired:`` by event type; ``"Source failing: …"`` for source-health events."""
    if is_source_event(event):
        state = SOURCE_STATES.get(str(event.get("type")), "event")
        return header_text(f"Source {state}: {event.get('source', '?')}")
    advisory = advisory_of(event)
    level = level_text(level_of(advisory.get("level")), level_change(event.get("changes")))
    places = country_list(strings(advisory.get("countries")), MAX_SUBJECT_COUNTRIES)
    title = one_line(advisory.get("title")) or one_line(event.get("advisory_id")) or "Advisory"
    text = SUBJECT_PREFIX.get(str(event.get("type")), "")
    text += f"[{level}] " if level else ""
    text += f"{places}: " if places else ""
    return header_text(text + title)


def _compose(
    sections: Sequence[View],
    *,
    title: str,
    opening: str,
    footer: str,
    sender: str,
    to: Sequence[str],
    now: datetime,
) -> EmailMessage:
    """The message: headers every message has, and both parts around ``sections``."""
    message = EmailMessage()
    message["From"] = _address(sender)
    message["To"] = [_address(address) for address in to]
    message["Subject"] = header_text(title)
    message["Date"] = format_datetime(_aware(now))
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: autoresponders stay quiet
    text, page = render_bodies(sections, title=title, opening=opening, footer=footer)
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(page, subtype="html", cte="quoted-printable")
    return message


def split_address(text: str) -> tuple[str, str]:
    """``(display name, address)`` of a configured ``addr`` or ``Name <addr>``. Not
    ``parseaddr``: it reads ``Doe, Jane <jane@…>`` (which the configuration allows) as two
    addresses and gives up."""
    text = text.strip()
    if text.endswith(">") and "<" in text:
        cut = text.rindex("<")
        name, addr = text[:cut].strip().strip('"').strip(), text[cut + 1 : -1].strip()
    else:
        name, addr = "", text
    if "@" not in addr or any(char.isspace() or char in "<>," for char in addr):
        raise ValueError(f"{header_text(text)!r} is not an e-mail address")
    return header_text(name), addr


def _address(text: str) -> Address:
    """A configured address as a header object, so a display name with a comma is quoted."""
    name, addr = split_address(text)
    return Address(display_name=name, addr_spec=addr)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def build_message(event: Event, *, sender: str, to: Sequence[str], now: datetime) -> EmailMessage:
    """The message announcing one event: ``multipart/alternative`` (text, then HTML), sent at
    ``now``, with ``Message-ID`` from the event id and, for versions after the first,
    ``In-Reply-To``/``References`` pointing at version 1. Pure."""
    event_id = one_line(event.get("event_id"))
    footer = f"Sent by advisory-monitor for event {event_id}. Automated message."
    message = _compose(
        [view(event)], title=subject(event), opening=intro(event), footer=footer,
        sender=sender, to=to, now=now,
    )  # fmt: skip
    message["Message-ID"] = message_id(str(event.get("event_id", "")))
    root = thread_root(event)
    if root is not None:
        message["In-Reply-To"] = root
        message["References"] = root
    message["X-Advisory-Event"] = header_text(event_id)
    return message


def digest_subject(events: Sequence[Event]) -> str:
    """``"[Level 4] Digest: 3 updates – Russia, Ukraine, Lebanon +1"``."""
    levels = [level_of(advisory_of(event).get("level")) for event in events]
    top = max((level for level in levels if level is not None), default=None)
    codes: list[str] = []
    for event in events:
        codes += [c for c in strings(advisory_of(event).get("countries")) if c not in codes]
    places = country_list(codes, MAX_SUBJECT_COUNTRIES)
    count = f"{len(events)} update" + ("" if len(events) == 1 else "s")
    text = (f"[Level {top}] " if top is not None else "") + f"Digest: {count}"
    return header_text(text + (f" – {places}" if places else ""))


def build_digest(
    events: Sequence[Event], *, sender: str, to: Sequence[str], now: datetime
) -> EmailMessage:
    """One message listing every event of a digest period, in the order given, each as the
    same section a single message shows. Its ``Message-ID`` comes from the events' ids. Pure."""
    if not events:
        raise ValueError("a digest needs at least one event")
    times = sorted(filter(None, (when(event.get("emitted_at")) for event in events)))
    span = f", {times[0]} to {times[-1]}" if times else ""
    span = f", {times[0]}" if times and times[0] == times[-1] else span
    opening = f"{len(events)} advisory event{'' if len(events) == 1 else 's'}{span}."
    ids = [str(event.get("event_id", "")) for event in events]
    footer = f"Sent by advisory-monitor: a digest of {len(events)} events. Automated message."
    message = _compose(
        [view(event) for event in events], title=digest_subject(events), opening=opening,
        footer=footer, sender=sender, to=to, now=now,
    )  # fmt: skip
    message["Message-ID"] = digest_id(ids)
    return message


# --- digest buffering ------------------------------------------------------------------------


class DigestBuffer:
    """Events waiting for the next digest of one notifier (one recipient list).

    It decides only *when* and *what*; it is not storage. The delivery engine ``add``s each
    wanted event and leaves it pending (unacknowledged) in its consumer group, sends
    ``drain()`` with :meth:`EmailNotifier.send_digest` when ``due``, and acknowledges those
    entries only after that succeeded. A retryable failure retries the same list on the
    notifier's back-off schedule (same events, same ``Message-ID``); a permanent one
    dead-letters them. A restarted engine re-adds its pending entries: an event is dated from
    its ``emitted_at`` (when that is earlier than ``now``), so a digest already overdue goes
    out at once instead of waiting a whole new period.

    A digest is due one ``period`` after its oldest event and at least ``period`` after the
    previous drain, or at once when it holds ``max_events``. The same ``event_id`` added twice
    (a reclaimed pending entry) is kept once.
    """

    def __init__(self, period: float, *, max_events: int = DIGEST_MAX_EVENTS) -> None:
        if period <= 0 or max_events < 1:
            raise ValueError("a digest needs a positive period and room for one event")
        self.period = timedelta(seconds=period)
        self.max_events = max_events
        self._events: dict[str, Event] = {}
        self._oldest: datetime | None = None
        self._drained: datetime | None = None

    def __len__(self) -> int:
        return len(self._events)

    def add(self, event: Event, *, now: datetime) -> bool:
        """Buffer ``event``; ``False`` when an event with its id is already buffered."""
        key = str(event.get("event_id", id(event)))
        if key in self._events:
            return False
        self._events[key] = event
        dated = min(_aware(now), _emitted(event) or _aware(now))
        self._oldest = dated if self._oldest is None else min(self._oldest, dated)
        return True

    def due_at(self) -> datetime | None:
        """When the buffered events should go out (``None``: nothing buffered), so the engine
        can sleep until then."""
        if self._oldest is None:
            return None
        if len(self._events) >= self.max_events:
            return self._oldest
        due = self._oldest + self.period
        return due if self._drained is None else max(due, self._drained + self.period)

    def due(self, now: datetime) -> bool:
        at = self.due_at()
        return at is not None and (len(self) >= self.max_events or _aware(now) >= at)

    def drain(self, now: datetime) -> list[Event]:
        """Every buffered event, oldest added first; the buffer starts a new period."""
        events = list(self._events.values())
        self._events.clear()
        self._oldest = None
        if events:
            self._drained = _aware(now)
        return events


def _emitted(event: Event) -> datetime | None:
    value = event.get("emitted_at")
    if not isinstance(value, str):
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        return None


# --- SMTP settings and failures --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how to connect, from ``smtp_url``; never a password."""

    scheme: str
    host: str
    port: int
    username: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """``smtp://``, ``smtp+starttls://`` or ``smtps://``, ``user@`` optional (percent-
        encoded if it holds ``@``), default ports 25, 587 and 465. ``ValueError`` otherwise."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise ValueError(
                f"scheme {scheme or '(none)'!r} is not one of smtp, smtp+starttls, smtps"
            )
        if parts.password is not None:
            raise ValueError("holds a password; name its variable in password_env instead")
        if not parts.hostname:
            raise ValueError("has no host")
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError:
            raise ValueError("has an invalid port") from None
        username = unquote(parts.username) if parts.username else None
        return cls(scheme=scheme, host=parts.hostname, port=port, username=username)

    @property
    def use_tls(self) -> bool:
        return self.scheme == "smtps"

    @property
    def start_tls(self) -> bool:
        return self.scheme == "smtp+starttls"

    def display(self) -> str:
        """``smtp+starttls://user@host:587`` for logs and errors."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.username}@" if self.username else ""
        return f"{self.scheme}://{user}{host}:{self.port}"


def classify(error: BaseException, *, where: str, timeout: float) -> DeliveryError:
    """A failed SMTP transaction as a ``DeliveryError``. Timeouts, lost connections, failed TLS
    (a certificate gets renewed) and 4xx replies (421 closing, 450/451/452 busy or out of
    space, 454 auth unavailable) can succeed later; 5xx replies (550 no such mailbox, 553 bad
    address, 535 bad credentials), an address the client cannot send to and a server lacking a
    needed extension will not."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return _all_refused(error.recipients, where)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        reply = f"{error.code} {one_line(error.message)}".strip()
        retryable = not 500 <= error.code < 600
        return DeliveryError(f"{where} answered {reply}", retryable=retryable, status=error.code)
    if isinstance(error, TimeoutError):
        return DeliveryError(f"{where} timed out after {timeout:g}s", retryable=True)
    if isinstance(error, ssl.SSLError):  # before ValueError: a failed verification is both
        return DeliveryError(f"TLS with {where} failed: {one_line(error)}", retryable=True)
    if isinstance(error, aiosmtplib.SMTPNotSupported | ValueError):
        return DeliveryError(f"{where}: {one_line(error)}", retryable=False)
    reason = one_line(error) or type(error).__name__
    return DeliveryError(f"connection to {where} failed: {reason}", retryable=True)


def _all_refused(refused: Sequence[aiosmtplib.SMTPRecipientRefused], where: str) -> DeliveryError:
    """Every recipient refused: worth retrying only if one refusal was temporary (4xx)."""
    codes = [item.code for item in refused]
    retryable = any(400 <= code < 500 for code in codes)
    listed = "; ".join(
        f"{item.recipient} ({item.code} {one_line(item.message)})" for item in refused
    )
    status = max(codes) if codes else None
    return DeliveryError(
        f"{where} refused every recipient: {listed}", retryable=retryable, status=status
    )


def accepted(errors: Mapping[str, Any], reply: str, *, where: str, total: int) -> str:
    """The one line a successful send returns, naming any recipient that was refused (the
    message went to the others, so retrying would duplicate it for them)."""
    line = f"accepted by {where}: {one_line(reply)}".rstrip(": ")
    if not errors:
        return line
    refused = "; ".join(
        f"{address} ({getattr(why, 'code', '?')} {one_line(getattr(why, 'message', why))})"
        for address, why in errors.items()
    )
    return f"{line}; refused {len(errors)} of {total} recipients: {refused}"


# --- the sender ------------------------------------------------------------------------------


def read_password(
    config: NotifierConfig, settings: SmtpSettings, env: Mapping[str, str] | None = None
) -> str | None:
    """The password named by ``password_env``; ``None`` when the URL names no user. The
    error names the variable, never a value."""
    where = f"notifier {config.name!r}"
    if config.password_env is None:
        if settings.username is not None:
            raise NotifierSetupError(
                f"{where}: smtp_url names user {settings.username!r} but password_env is not "
                "set (name the environment variable that holds the SMTP password)"
            )
        return None
    if settings.username is None:
        raise NotifierSetupError(
            f"{where}: password_env is set but smtp_url names no user (smtp+starttls://USER@host)"
        )
    password = (os.environ if env is None else env).get(config.password_env)
    if not password:
        raise NotifierSetupError(
            f"{where}: ${config.password_env} is not set (it must hold the SMTP password of "
            f"{settings.username!r})"
        )
    return password


def _matches(flt: Filter, event: Event) -> bool:
    """The shared filter; every event passes while ``monitor.filters`` does not exist yet."""
    try:
        from monitor.filters import matches
    except ImportError:  # pragma: no cover - only before the filters module lands
        return True
    return matches(flt, event)


class EmailNotifier:
    """Mails each wanted event (or, driven by the engine, a digest) to ``config.to``."""

    kind = "email"

    def __init__(
        self,
        config: NotifierConfig,
        *,
        env: Mapping[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``env`` replaces ``os.environ`` for the password, ``tls_context`` the system's trust
        store (a private CA), ``clock`` the wall clock for ``Date``; all three for tests."""
        where = f"notifier {config.name!r}"
        if not config.smtp_url or not config.sender or not config.to:
            raise NotifierSetupError(f"{where}: kind email needs smtp_url, from and to")
        try:
            self.smtp = SmtpSettings.from_url(config.smtp_url)
            self.sender, self.to = _envelope(config.sender), tuple(map(_envelope, config.to))
        except ValueError as error:
            raise NotifierSetupError(f"{where}: {error}") from None
        self.config = config
        self.name = config.name
        self._password = read_password(config, self.smtp, env)
        self._tls_context = tls_context
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        auth = "with password" if self._password is not None else "no auth"
        return f"EmailNotifier(name={self.name!r}, smtp={self.smtp.display()!r}, {auth})"

    @property
    def digest(self) -> float | None:
        """The digest period in seconds; ``None``: one message per event."""
        return self.config.digest

    def digest_buffer(self) -> DigestBuffer:
        """A new buffer for this notifier's digest period (``ValueError`` without one)."""
        if self.config.digest is None:
            raise ValueError(f"notifier {self.name!r} has no digest period")
        return DigestBuffer(self.config.digest)

    def wants(self, event: Event) -> bool:
        return _matches(self.config.filter, event)

    def message(self, event: Event) -> EmailMessage:
        """The message :meth:`send` would send for ``event`` now."""
        return build_message(event, sender=self.config.sender or "", to=self.config.to,
                             now=self._clock())  # fmt: skip

    async def send(self, event: Event) -> str:
        """One message for one event, whatever ``digest`` says (``notify-test`` uses this)."""
        return await self.deliver(self.message(event))

    async def send_digest(self, events: Sequence[Event]) -> str:
        """One digest message for ``events``; the engine acknowledges them only after this."""
        digest = build_digest(events, sender=self.config.sender or "", to=self.config.to,
                              now=self._clock())  # fmt: skip
        return await self.deliver(digest)

    async def deliver(self, message: EmailMessage) -> str:
        """Send a built message over a new connection; what the server answered, or a
        classified ``DeliveryError``. ``timeout`` bounds each step (connecting, the TLS
        handshake, each command, the message data), not the whole transaction."""
        where = self.smtp.display()
        try:
            errors, reply = await self._transaction(message)
        except (aiosmtplib.SMTPException, OSError, ValueError) as error:
            raise classify(error, where=where, timeout=self.config.timeout) from None
        return accepted(errors, reply, where=where, total=len(self.to))

    async def _transaction(self, message: EmailMessage) -> tuple[dict[str, Any], str]:
        """Connect (TLS as the scheme says), log in, send, QUIT, then drop the connection.

        Dropping (``abort``) rather than waiting for the TLS close_notify exchange after the
        server's 221: nothing is left to say, and a short-lived event loop (``notify-test``)
        would otherwise end with the socket still open."""
        client = aiosmtplib.SMTP(
            hostname=self.smtp.host,
            port=self.smtp.port,
            username=self.smtp.username,
            password=self._password,
            use_tls=self.smtp.use_tls,
            start_tls=self.smtp.start_tls,
            tls_context=self._tls_context,
            timeout=self.config.timeout,
        )
        transport: asyncio.BaseTransport | None = None
        try:
            async with client:
                transport = client.transport
                return await client.send_message(
                    message, sender=self.sender, recipients=list(self.to)
                )
        finally:
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()

    async def aclose(self) -> None:
        """Nothing to close: every message has its own connection."""


def _envelope(text: str) -> str:
    """The bare address of a configured ``Name <addr>`` for the SMTP envelope."""
    return split_address(text)[1]


__all__ = [
    "DigestBuffer",
    "EmailNotifier",
    "SmtpSettings",
    "accepted",
    "build_digest",
    "build_message",
    "classify",
    "digest_id",
    "digest_subject",
    "message_id",
    "read_password",
    "split_address",
    "subject",
    "thread_root",
]
