"""The email notifier against a real SMTP server on loopback (``smtp_server.SmtpServer``).

Each test sends through ``EmailNotifier`` exactly as the delivery engine will, and reads what
the server recorded: the envelope, the parsed message, the login and whether TLS was on.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from monitor.config import NotifierConfig
from monitor.notifiers.base import DeliveryError
from monitor.notifiers.email import EmailNotifier, message_id
from tests.integration.smtp_server import SmtpServer, tls_unavailable, unused_port
from tests.unit.test_email_message import ADVISORY_ID, LEVEL_UP, event

T = TypeVar("T")
NOW = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
SENDER = "Advisory Monitor <alerts@example.org>"
TO = ("jane@example.org", "ops@example.org")
PASSWORD_ENV = "TEST_SMTP_PASSWORD"
needs_tls = pytest.mark.skipif(tls_unavailable() is not None, reason=str(tls_unavailable()))


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A recording SMTP server on 127.0.0.1, no TLS, no AUTH."""
    with SmtpServer() as server:
        yield server


def notifier(url: str, **overrides: Any) -> EmailNotifier:
    tls_context = overrides.pop("tls_context", None)
    fields: dict[str, Any] = {
        "name": "mail", "kind": "email", "smtp_url": url, "sender": SENDER, "to": TO,
        "timeout": 2.0,
    }  # fmt: skip
    fields.update(overrides)
    return EmailNotifier(NotifierConfig(**fields), tls_context=tls_context, clock=lambda: NOW)


def send(mailer: EmailNotifier, evt: dict[str, Any]) -> str:
    async def go() -> str:
        try:
            return await mailer.send(evt)
        finally:
            await mailer.aclose()

    return run(go())


def failure(mailer: EmailNotifier, evt: dict[str, Any]) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        send(mailer, evt)
    return caught.value


# --- plain delivery --------------------------------------------------------------------------


def test_a_message_is_delivered_with_its_headers_and_envelope(smtp_server: SmtpServer) -> None:
    answer = send(notifier(smtp_server.url()), event())
    (received,) = smtp_server.wait_for(1)
    assert answer == f"accepted by {smtp_server.url()}: 2.0.0 OK queued as test-1"
    assert received.mail_from == "alerts@example.org"
    assert received.rcpt_tos == TO
    assert received.login is None and received.tls is False
    message = received.message
    assert message["From"] == SENDER
    assert message["To"] == "jane@example.org, ops@example.org"
    assert message["Subject"] == "[Level 4] Russia: Security Alert – U.S. Embassy Moscow"
    assert message["Message-ID"] == message_id(f"{ADVISORY_ID}:1")
    assert message["Date"] == "Fri, 08 Mar 2024 12:00:00 +0000"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    assert text is not None and "avoid large gatherings" in text.get_content()


def test_updates_thread_under_the_first_message(smtp_server: SmtpServer) -> None:
    mailer = notifier(smtp_server.url())
    for version in (1, 2, 3):
        send(mailer, event(version, changes=LEVEL_UP if version == 2 else ()))
    first, second, third = (r.message for r in smtp_server.wait_for(3))
    assert first["In-Reply-To"] is None
    for later in (second, third):
        assert later["In-Reply-To"] == first["Message-ID"]
        assert later["References"] == first["Message-ID"]
    assert second["Subject"].startswith("Updated: [Level 3 → 4] Russia")


def test_a_header_injection_attempt_reaches_the_server_as_one_subject(
    smtp_server: SmtpServer,
) -> None:
    evt = event(title="Security Alert\r\nBcc: victim@example.org")
    send(notifier(smtp_server.url()), evt)
    (received,) = smtp_server.wait_for(1)
    assert received.rcpt_tos == TO
    assert received.message["Bcc"] is None
    assert b"\r\nBcc:" not in received.raw
    assert received.message["Subject"].endswith("Security Alert Bcc: victim@example.org")


def test_a_digest_is_one_message_listing_every_event(smtp_server: SmtpServer) -> None:
    mailer = notifier(smtp_server.url(), digest=3600.0)
    events = [event(), event(2, changes=LEVEL_UP), event(1, advisory_id="fcdo:ua", title="UA")]

    async def go() -> str:
        return await mailer.send_digest(events)

    assert run(go()).startswith("accepted by")
    (received,) = smtp_server.wait_for(1)
    assert received.message["Subject"] == "[Level 4] Digest: 3 updates – Russia"
    text = received.message.get_body(("plain",))
    assert text is not None and text.get_content().count("Link: https://") == 3


# --- authentication --------------------------------------------------------------------------


def test_auth_uses_the_user_from_the_url_and_the_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "correct horse")
    with SmtpServer(users={"alerts": "correct horse"}) as server:
        mailer = notifier(server.url(user="alerts"), password_env=PASSWORD_ENV)
        assert "correct horse" not in repr(mailer)
        send(mailer, event())
        (received,) = server.wait_for(1)
    assert received.login == "alerts"
    assert server.auth_attempts == [("alerts", True)]


def test_a_wrong_password_is_a_permanent_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with SmtpServer(users={"alerts": "right"}) as server:
        error = failure(notifier(server.url(user="alerts"), password_env=PASSWORD_ENV), event())
        assert server.messages() == []
    assert not error.retryable and error.status == 535
    assert "wrong" not in error.detail


def test_a_server_that_requires_auth_refuses_an_anonymous_sender() -> None:
    with SmtpServer(users={"alerts": "pw"}) as server:
        error = failure(notifier(server.url()), event())
    assert not error.retryable and error.status == 530


# --- refusals and failures -------------------------------------------------------------------


def test_every_recipient_refused_is_a_permanent_failure(smtp_server: SmtpServer) -> None:
    for address in TO:
        smtp_server.refuse(address)
    error = failure(notifier(smtp_server.url()), event())
    assert not error.retryable and error.status == 550
    assert "jane@example.org (550 5.1.1 Mailbox unavailable)" in error.detail
    assert smtp_server.messages() == []


def test_one_recipient_refused_is_a_success_that_names_it(smtp_server: SmtpServer) -> None:
    smtp_server.refuse("ops@example.org")
    answer = send(notifier(smtp_server.url()), event())
    (received,) = smtp_server.wait_for(1)
    assert received.rcpt_tos == ("jane@example.org",)
    assert answer.endswith(
        "refused 1 of 2 recipients: ops@example.org (550 5.1.1 Mailbox unavailable)"
    )


@pytest.mark.parametrize(("code", "stage"), [(421, "MAIL"), (451, "DATA"), (452, "RCPT")])
def test_temporary_failures_are_retryable_and_the_retry_succeeds(
    smtp_server: SmtpServer, code: int, stage: Any
) -> None:
    smtp_server.fail(code, stage=stage, times=len(TO) if stage == "RCPT" else 1)
    mailer = notifier(smtp_server.url())
    error = failure(mailer, event())
    assert error.retryable and error.status == code
    assert smtp_server.messages() == []
    send(mailer, event())
    assert len(smtp_server.wait_for(1)) == 1


def test_a_permanent_failure_after_data_is_not_retried(smtp_server: SmtpServer) -> None:
    smtp_server.fail(554, "5.6.0 Message rejected", stage="DATA")
    error = failure(notifier(smtp_server.url()), event())
    assert not error.retryable and error.status == 554


def test_connection_refused_is_retryable() -> None:
    error = failure(notifier(f"smtp://127.0.0.1:{unused_port()}"), event())
    assert error.retryable and error.status is None
    assert "connection to smtp://127.0.0.1:" in error.detail


def test_a_server_that_never_greets_times_out_retryably() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel accepts the connection; nobody ever says 220
        port = silent.getsockname()[1]
        error = failure(notifier(f"smtp://127.0.0.1:{port}", timeout=0.3), event())
    assert error.retryable
    assert "timed out after 0.3s" in error.detail


# --- TLS -------------------------------------------------------------------------------------


@needs_tls
@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_tls_modes_deliver_encrypted_with_auth(mode: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    with SmtpServer(users={"alerts": "pw"}, tls=mode) as server:
        url = server.url(user="alerts")
        assert url.startswith("smtp+starttls://" if mode == "starttls" else "smtps://")
        mailer = notifier(url, password_env=PASSWORD_ENV, tls_context=server.client_tls_context())
        send(mailer, event())
        (received,) = server.wait_for(1)
    assert received.tls and received.login == "alerts"


@needs_tls
@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_an_untrusted_certificate_is_refused(mode: Any) -> None:
    with SmtpServer(tls=mode) as server:
        error = failure(notifier(server.url()), event())  # the system's trust store only
        assert server.messages() == []
    assert error.retryable
    assert "certificate" in error.detail.lower()


def test_starttls_required_but_not_offered_fails_without_sending(
    smtp_server: SmtpServer,
) -> None:
    url = smtp_server.url().replace("smtp://", "smtp+starttls://")
    error = failure(notifier(url), event())
    assert "STARTTLS" in error.detail
    assert smtp_server.messages() == []


def test_a_lasting_failure_holds_until_the_server_recovers(smtp_server: SmtpServer) -> None:
    smtp_server.fail(450, "4.2.1 Mailbox busy", stage="RCPT", times=None)
    mailer = notifier(smtp_server.url())
    for _ in range(2):
        error = failure(mailer, event())
        assert error.retryable and error.status == 450
    smtp_server.recover()
    send(mailer, event())
    assert len(smtp_server.wait_for(1)) == 1
