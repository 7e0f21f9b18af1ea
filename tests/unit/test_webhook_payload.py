"""The webhook payload: Standard Webhooks shape, a signature the off-the-shelf library verifies,
failures classified for the delivery engine, and the secret nowhere to be read."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from monitor.config import USER_AGENT, NotifierConfig
from monitor.notifiers.base import FIELD_ORDER, DeliveryError, NotifierSetupError
from monitor.notifiers.webhook import (
    WebhookNotifier,
    build_request,
    classify,
    decode_secret,
    display_url,
    webhook_id,
)

KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
NOW = datetime(2024, 3, 8, 12, 0, 5, 123456, tzinfo=UTC)
ADVISORY = {
    "id": "us-state:https://travel.state.gov/ru.html",
    "source": "us-state",
    "kind": "travel_advisory",
    "title": "Russia – Level 4: Do Not Travel",
    "countries": ["RU"],
    "level": 4,
}
EVENT: dict[str, Any] = {
    # deliberately not in FIELD_ORDER, as a stream entry may come
    "advisory": ADVISORY,
    "changes": [{"field": "level", "old": 3, "new": 4}],
    "emitted_at": "2024-03-08T12:00:00.000Z",
    "type": "advisory.changed",
    "source": "us-state",
    "version": 2,
    "advisory_id": "us-state:https://travel.state.gov/ru.html",
    "event_id": "us-state:https://travel.state.gov/ru.html:2",
    "stream_id": "1709899200000-0",
    "zz_future_field": "kept",
}


def test_signature_verifies_with_the_standardwebhooks_library() -> None:
    now = datetime.now(UTC)  # the library refuses timestamps five minutes off its clock
    headers, body = build_request(EVENT, secret=decode_secret(SECRET), now=now)
    payload = Webhook(SECRET).verify(body, headers)
    assert payload["data"]["event_id"] == EVENT["event_id"]


def test_a_tampered_body_or_another_secret_does_not_verify() -> None:
    now = datetime.now(UTC)
    headers, body = build_request(EVENT, secret=KEY, now=now)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"Level 4", b"Level 1"), headers)
    other = "whsec_" + base64.b64encode(b"another key of thirty-two bytes!").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)


def test_signature_is_hmac_sha256_of_id_timestamp_body() -> None:
    headers, body = build_request(EVENT, secret=KEY, now=NOW)
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"


def test_headers() -> None:
    headers, _ = build_request(EVENT, secret=KEY, now=NOW)
    assert headers["webhook-id"] == "us-state:https://travel.state.gov/ru.html:2"
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp())) == "1709899205"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == USER_AGENT
    assert set(headers) == {
        "content-type",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }


def test_unsigned_without_a_secret() -> None:
    headers, _ = build_request(EVENT, secret=None, now=NOW, user_agent="test/1")
    assert "webhook-signature" not in headers
    assert headers["user-agent"] == "test/1"


def test_body_is_the_standard_webhooks_shape_with_the_event_as_data() -> None:
    _, body = build_request(EVENT, secret=KEY, now=NOW)
    payload = json.loads(body)
    assert list(payload) == ["type", "timestamp", "data"]
    assert payload["type"] == "advisory.changed"
    assert payload["timestamp"] == "2024-03-08T12:00:05.123Z"
    assert payload["data"] == EVENT
    assert payload["data"]["advisory"]["level"] == 4  # JSON values, not JSON text
    assert list(payload["data"]) == [*FIELD_ORDER, "zz_future_field"]


def test_body_is_compact_utf8_and_stable() -> None:
    first = build_request(EVENT, secret=KEY, now=NOW)
    again = build_request(dict(reversed(list(EVENT.items()))), secret=KEY, now=NOW)
    assert first == again
    body = first[1]
    assert "–".encode() in body  # UTF-8, not \\u2013
    assert body.startswith(b'{"type":"advisory.changed","timestamp":"2024-03-08T12:00:05.123Z",')


def test_ids_stay_readable_and_become_header_safe() -> None:
    assert webhook_id({"event_id": "gdacs:EQ 1001:3"}) == "gdacs:EQ%201001:3"
    assert webhook_id({"event_id": "cap:bücher:1"}) == "cap:b%C3%BCcher:1"
    assert webhook_id({"event_id": "a%b:1"}) == "a%25b:1"
    plain = "us-state:https://travel.state.gov/x?y=1&z=[2]:1"
    assert webhook_id({"event_id": plain}) == plain


@pytest.mark.parametrize(
    "text",
    [SECRET, SECRET.removeprefix("whsec_"), SECRET.rstrip("="), f"  {SECRET}\n"],
)
def test_secrets_decode_as_the_libraries_read_them(text: str) -> None:
    assert decode_secret(text) == KEY


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("whsec_", "is an empty webhook secret"),
        ("whsec_hunter2 is not base64!", "is not a webhook secret ('whsec_' followed by base64)"),
        ("whsec_hunter2=====", "is not a webhook secret ('whsec_' followed by base64)"),
    ],
)
def test_a_bad_secret_is_refused_without_repeating_it(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        decode_secret(text)
    assert str(caught.value) == message


# --- classification ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "body", "retryable", "retry_after"),
    [
        (500, {}, b"", True, None),
        (502, {}, b"bad gateway", True, None),
        (503, {"retry-after": "120"}, b"", True, 120.0),
        (503, {"retry-after": "Fri, 08 Mar 2024 12:01:00 GMT"}, b"", True, 60.0),
        (429, {"retry-after": "7"}, b"slow down", True, 7.0),
        (429, {}, b"", True, None),
        (408, {}, b"", True, None),
        (410, {}, b"gone", False, None),
        (400, {}, b"bad payload", False, None),
        (401, {}, b"", False, None),
        (404, {}, b"", False, None),
        (413, {}, b"", False, None),
        (301, {"location": "https://elsewhere.example/hook?token=1"}, b"", False, None),
    ],
)
def test_failures_are_classified(
    status: int, headers: dict[str, str], body: bytes, retryable: bool, retry_after: float | None
) -> None:
    with pytest.raises(DeliveryError) as caught:
        classify(status, headers, body, datetime(2024, 3, 8, 12, 0, tzinfo=UTC))
    error = caught.value
    assert (error.retryable, error.status, error.retry_after) == (retryable, status, retry_after)
    assert error.detail.startswith(f"HTTP {status}")
    assert "token" not in error.detail


@pytest.mark.parametrize(
    ("status", "body", "answer"),
    [
        (204, b"", "HTTP 204"),
        (200, b"ok", "HTTP 200: ok"),
        (202, b"accepted\r\n\x1b[31mred\n", "HTTP 202: accepted [31mred"),
        (200, b"x" * 1000, "HTTP 200: " + "x" * 199 + "…"),
    ],
)
def test_success_returns_one_line(status: int, body: bytes, answer: str) -> None:
    assert classify(status, {}, body, NOW) == answer


def test_display_url_hides_paths_and_queries() -> None:
    assert display_url("https://hooks.example.org/services/T0/B0/secret") == (
        "https://hooks.example.org/…"
    )
    assert display_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/"
    assert display_url("http://[::1]:8080/x?k=1") == "http://[::1]:8080/…"


# --- the notifier keeps its secret ----------------------------------------------------------------


def hook(**fields: Any) -> NotifierConfig:
    values: dict[str, Any] = {
        "name": "ops-hook",
        "kind": "webhook",
        "url": "https://hooks.example.org/services/T0/B0/path-token",
        "secret_env": "OPS_HOOK_SECRET",
    }
    values.update(fields)
    return NotifierConfig(**values)


def test_no_secret_in_repr() -> None:
    notifier = WebhookNotifier(hook(), env={"OPS_HOOK_SECRET": SECRET})
    try:
        shown = repr(notifier)
        for secret in (SECRET, SECRET.removeprefix("whsec_"), KEY.decode(), "path-token"):
            assert secret not in shown
        assert shown == (
            "WebhookNotifier(name='ops-hook', url='https://hooks.example.org/…', signed)"
        )
        assert notifier.signed
    finally:
        asyncio.run(notifier.aclose())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {},
            "notifier 'ops-hook': $OPS_HOOK_SECRET is not set (it must hold the webhook "
            "secret, 'whsec_' followed by base64)",
        ),
        (
            {"OPS_HOOK_SECRET": "whsec_hunter2!!"},
            "notifier 'ops-hook': $OPS_HOOK_SECRET is not a webhook secret "
            "('whsec_' followed by base64)",
        ),
    ],
)
def test_a_missing_or_bad_secret_names_the_variable_not_the_value(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(NotifierSetupError) as caught:
        WebhookNotifier(hook(), env=env)
    assert str(caught.value) == message
    assert "hunter2" not in str(caught.value)


def test_without_secret_env_requests_go_unsigned() -> None:
    notifier = WebhookNotifier(hook(secret_env=None), env={})
    try:
        headers, _ = notifier.request(EVENT, NOW)
        assert "webhook-signature" not in headers
        assert not notifier.signed
    finally:
        asyncio.run(notifier.aclose())


def test_request_is_signed_at_the_moment_of_sending() -> None:
    notifier = WebhookNotifier(hook(), env={"OPS_HOOK_SECRET": SECRET})
    try:
        headers, body = notifier.request(EVENT)
        moment = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
        assert abs(moment - datetime.now(UTC)) < timedelta(seconds=5)
        assert Webhook(SECRET).verify(body, headers)["type"] == "advisory.changed"
    finally:
        asyncio.run(notifier.aclose())
