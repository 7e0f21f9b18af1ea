"""The webhook notifier: a signed POST per event, in the Standard Webhooks shape.

:func:`build_request` is pure: the event and a moment in, headers and body bytes out. The body
is ``{"type": …, "timestamp": …, "data": {…the event…}}``, serialised once and signed as sent.
``data`` holds the event's fields (``advisory`` and ``changes`` as JSON values) in the order of
``base.FIELD_ORDER``. The headers are

- ``webhook-id``: the event's deterministic id (``{advisory_id}:{version}``), so a receiver can
  drop a redelivery; it is the same on every attempt and every replay of one event;
- ``webhook-timestamp``: unix seconds of this attempt;
- ``webhook-signature``: ``v1,`` + base64 HMAC-SHA256 over ``{id}.{timestamp}.{body}`` keyed
  with the base64-decoded part of the ``whsec_…`` secret, so receivers verify with any
  off-the-shelf Standard Webhooks library (``Webhook(secret).verify(body, headers)``).

:class:`WebhookNotifier` only sends: one shared ``httpx.AsyncClient`` per notifier, redirects
not followed, and every failure classified for the delivery engine. Timeouts, connection
errors, 408, 429 and 5xx can succeed later (``retryable``, with the server's ``Retry-After``);
410 (the endpoint is gone), any other 4xx and a redirect will not. The secret is read from the
environment once, when the notifier is built, and never appears in a repr, a log or an error.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from monitor.config import USER_AGENT, NotifierConfig
from monitor.filters import matches
from monitor.notifiers.base import DeliveryError, Event, NotifierSetupError, ordered
from monitor.schedule import parse_retry_after

SECRET_PREFIX = "whsec_"
RETRYABLE_STATUSES = frozenset({408, 429})
ANSWER_CHARS = 200
ANSWER_BYTES = 4096  # of a response body: enough for a line in a log or a dead letter
_ID_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


# --- the pure part -------------------------------------------------------------------------


def decode_secret(text: str) -> bytes:
    """The key of a ``whsec_`` + base64 secret (the prefix is optional, as the Standard Webhooks
    libraries read it); ``ValueError`` that never repeats the text."""
    body = text.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not a webhook secret ('whsec_' followed by base64)") from None
    if not key:
        raise ValueError("is an empty webhook secret")
    return key


def webhook_id(event: Mapping[str, Any]) -> str:
    """The ``webhook-id`` header: the event id, percent-encoded only where a header could not
    carry it (spaces, non-ASCII), so it stays deterministic and readable."""
    return quote(str(event["event_id"]), safe=_ID_SAFE)


def serialise(event: Mapping[str, Any], now: datetime) -> bytes:
    """The body: ``{"type", "timestamp", "data"}`` as compact UTF-8 JSON, in a stable order."""
    payload = {"type": event["type"], "timestamp": iso_utc(now), "data": ordered(event)}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def sign(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``."""
    digest = hmac.new(secret, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def build_request(
    event: Mapping[str, Any],
    *,
    secret: bytes | None,
    now: datetime,
    user_agent: str = USER_AGENT,
) -> tuple[dict[str, str], bytes]:
    """Headers and body of the POST announcing ``event`` at ``now``; unsigned without a secret."""
    body = serialise(event, now)
    msg_id = webhook_id(event)
    timestamp = int(_aware(now).timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": user_agent,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
    }
    if secret is not None:
        headers["webhook-signature"] = sign(secret, msg_id, timestamp, body)
    return headers, body


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``."""
    return _aware(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def display_url(url: str) -> str:
    """Scheme, host and port only: webhook paths and queries often carry tokens."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    rest = "/…" if (parts.path not in ("", "/") or parts.query) else "/"
    return f"{parts.scheme}://{host}{port}{rest}"


def classify(status: int, headers: Mapping[str, str], body: bytes, now: datetime) -> str:
    """What the receiver answered: the one line of a success, or a ``DeliveryError``."""
    answer = _answer(body)
    line = f"HTTP {status}" + (f": {answer}" if answer else "")
    if 200 <= status < 300:
        return line
    retry_after = parse_retry_after(headers.get("retry-after"), now)
    if status == 410:
        raise DeliveryError(
            f"{line} (the endpoint is gone: remove the notifier or fix its url)",
            retryable=False,
            status=status,
        )
    if 300 <= status < 400:
        where = headers.get("location")
        target = f" to {display_url(where)}" if where else ""
        raise DeliveryError(
            f"{line} (redirected{target}; redirects are not followed: configure the final URL)",
            retryable=False,
            status=status,
        )
    retryable = status >= 500 or status in RETRYABLE_STATUSES
    raise DeliveryError(line, retryable=retryable, status=status, retry_after=retry_after)


def _answer(body: bytes) -> str:
    """The start of a response body on one line, for logs and dead letters."""
    text = _UNPRINTABLE.sub(" ", body[: ANSWER_CHARS * 4].decode("utf-8", "replace"))
    text = " ".join(text.split())
    return text[: ANSWER_CHARS - 1] + "…" if len(text) > ANSWER_CHARS else text


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- the sender ----------------------------------------------------------------------------


def read_secret(config: NotifierConfig, env: Mapping[str, str] | None = None) -> bytes | None:
    """The key named by ``secret_env``; ``None`` when the notifier has no ``secret_env``."""
    if config.secret_env is None:
        return None
    environ = os.environ if env is None else env
    text = environ.get(config.secret_env)
    where = f"notifier {config.name!r}: ${config.secret_env}"
    if not text:
        raise NotifierSetupError(
            f"{where} is not set (it must hold the webhook secret, 'whsec_' followed by base64)"
        )
    try:
        return decode_secret(text)
    except ValueError as error:
        raise NotifierSetupError(f"{where} {error}") from None


class WebhookNotifier:
    """POSTs each wanted event to ``config.url``; one client, shared by every delivery."""

    kind = "webhook"

    def __init__(
        self,
        config: NotifierConfig,
        *,
        env: Mapping[str, str] | None = None,
        user_agent: str = USER_AGENT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if config.url is None:
            raise NotifierSetupError(f"notifier {config.name!r}: kind webhook needs a url")
        self.config = config
        self.name = config.name
        self.url = config.url
        self._secret = read_secret(config, env)
        self._user_agent = user_agent
        connections = max(config.concurrency, 1)
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeout),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            follow_redirects=False,
            transport=transport,
        )

    def __repr__(self) -> str:
        signed = "signed" if self._secret is not None else "unsigned"
        return f"WebhookNotifier(name={self.name!r}, url={display_url(self.url)!r}, {signed})"

    @property
    def signed(self) -> bool:
        return self._secret is not None

    def wants(self, event: Event) -> bool:
        return matches(self.config.filter, event)

    def request(self, event: Event, now: datetime | None = None) -> tuple[dict[str, str], bytes]:
        """The headers and body :meth:`send` would POST for ``event`` now."""
        moment = datetime.now(UTC) if now is None else now
        return build_request(event, secret=self._secret, now=moment, user_agent=self._user_agent)

    async def send(self, event: Event) -> str:
        headers, body = self.request(event)
        where = display_url(self.url)
        try:
            # One deadline for the whole exchange: httpx's timeout is per read, and a
            # receiver trickling its answer must not hold a delivery slot indefinitely.
            async with asyncio.timeout(self.config.timeout):
                status, answer_headers, answer, now = await self._post(headers, body)
        except (httpx.TimeoutException, TimeoutError) as error:
            phase = _timeout_phase(error)
            raise DeliveryError(
                f"{phase} timed out after {self.config.timeout:g}s ({where})", retryable=True
            ) from None
        except httpx.TransportError as error:
            reason = _one_line(str(error).replace(self.url, where)) or type(error).__name__
            raise DeliveryError(f"connection failed ({where}): {reason}", retryable=True) from None
        return classify(status, answer_headers, answer, now)

    async def _post(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, httpx.Headers, bytes, datetime]:
        """Status, headers and the start of the body (at most :data:`ANSWER_BYTES`: the rest
        of a huge answer is never read) of one POST."""
        request = self._client.build_request("POST", self.url, content=body, headers=headers)
        response = await self._client.send(request, stream=True)
        try:
            answer = bytearray()
            async for chunk in response.aiter_bytes():
                answer += chunk
                if len(answer) >= ANSWER_BYTES:
                    break
        finally:
            await response.aclose()
        return response.status_code, response.headers, bytes(answer), _server_now(response)

    async def aclose(self) -> None:
        await self._client.aclose()


def _server_now(response: httpx.Response) -> datetime:
    """The server's clock (its ``Date``), against which its ``Retry-After`` date is meant."""
    date = response.headers.get("date")
    if date:
        try:
            return _aware(parsedate_to_datetime(date))
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    return datetime.now(UTC)


def _timeout_phase(error: Exception) -> str:
    if isinstance(error, httpx.ConnectTimeout):
        return "connecting"
    if isinstance(error, httpx.WriteTimeout):
        return "sending"
    if isinstance(error, httpx.PoolTimeout):
        return "waiting for a connection"
    return "waiting for the answer"  # a read timeout, or the deadline of the whole exchange


def _one_line(text: str) -> str:
    return " ".join(_UNPRINTABLE.sub(" ", text).split())[:ANSWER_CHARS]


__all__ = [
    "SECRET_PREFIX",
    "WebhookNotifier",
    "build_request",
    "classify",
    "decode_secret",
    "display_url",
    "read_secret",
    "serialise",
    "sign",
    "webhook_id",
]
