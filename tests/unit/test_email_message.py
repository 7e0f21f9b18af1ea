"""The email notifier's pure parts: messages, threading, sanitising, digests, classification.

Every message is checked the way a mail client sees it: serialised as it goes over SMTP and
parsed back, so a header that only looks right in memory cannot pass.
"""

from __future__ import annotations

import email
import email.policy
import ssl
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest

from monitor.config import NotifierConfig
from monitor.models import Advisory
from monitor.notifiers.base import NotifierSetupError
from monitor.notifiers.email import (
    DigestBuffer,
    EmailNotifier,
    SmtpSettings,
    accepted,
    build_digest,
    build_message,
    classify,
    digest_id,
    message_id,
    split_address,
    subject,
    thread_root,
)
from monitor.notifiers.templates import header_text

NOW = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
SENDER = "Advisory Monitor <alerts@example.org>"
TO = ("Doe, Jane <jane@example.org>", "ops@example.org")
ADVISORY_ID = "us-embassy-ru:moscow-2024-03-07"


def advisory(**overrides: Any) -> dict[str, Any]:
    """The embassy alert behind the reference case, as the stream carries it."""
    fields: dict[str, Any] = {
        "id": ADVISORY_ID,
        "source": "us-embassy-ru",
        "kind": "security_alert",
        "title": "Security Alert – U.S. Embassy Moscow",
        "summary": "Extremists have imminent plans to target large gatherings in Moscow.",
        "url": "https://ru.usembassy.gov/security-alert-2024-03-07/",
        "published": "2024-03-07T16:59:00Z",
        "issuers": [
            {"country": "US", "name": "U.S. Embassy in Moscow", "level": 4,
             "level_label": "Level 4: Do Not Travel", "advice": ["avoid crowds"]},
        ],
        "countries": ["RU"],
        "areas": [{"name": "Moscow", "country": "RU"}],
        "level": 4,
        "categories": ["terrorism"],
        "advice": ["avoid large gatherings", "avoid crowds", "monitor local media for updates"],
        "effective": "2024-03-07T16:59:00Z",
        "expires": "2024-03-09T16:59:00Z",
        "evidence": {"expires": "avoid large gatherings over the next 48 hours"},
    }  # fmt: skip
    fields.update(overrides)
    return Advisory.model_validate(fields).to_dict()


def event(
    version: int = 1,
    event_type: str | None = None,
    changes: Sequence[Mapping[str, Any]] = (),
    advisory_id: str = ADVISORY_ID,
    **overrides: Any,
) -> dict[str, Any]:
    """A decoded stream entry announcing ``version``."""
    kind = event_type or ("advisory.new" if version == 1 else "advisory.changed")
    return {
        "type": kind,
        "event_id": f"{advisory_id}:{version}",
        "advisory_id": advisory_id,
        "version": version,
        "source": "us-embassy-ru",
        "emitted_at": "2024-03-07T17:00:00.000Z",
        "changes": list(changes),
        "advisory": advisory(id=advisory_id, **overrides),
        "stream_id": f"1709830800000-{version}",
    }


def over_the_wire(message: EmailMessage) -> EmailMessage:
    """The message as a receiving client parses it after SMTP transfer."""
    parsed = email.message_from_bytes(
        message.as_bytes(policy=email.policy.SMTP), policy=email.policy.default
    )
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    page = message.get_body(("html",))
    assert text is not None and page is not None
    return str(text.get_content()), str(page.get_content())


def built(evt: Mapping[str, Any]) -> EmailMessage:
    return over_the_wire(build_message(evt, sender=SENDER, to=TO, now=NOW))


# --- subjects ----------------------------------------------------------------------------------

LEVEL_UP = [{"field": "level", "old": 3, "new": 4}]


TITLE = "Security Alert – U.S. Embassy Moscow"


@pytest.mark.parametrize(
    ("evt", "expected"),
    [
        (event(), f"[Level 4] Russia: {TITLE}"),
        (event(2, changes=LEVEL_UP), f"Updated: [Level 3 → 4] Russia: {TITLE}"),
        (event(2, changes=[{"field": "advice", "added": ["leave"], "removed": []}]),
         f"Updated: [Level 4] Russia: {TITLE}"),
        (event(3, "advisory.cancelled"), f"Cancelled: [Level 4] Russia: {TITLE}"),
        (event(4, "advisory.expired"), f"Expired: [Level 4] Russia: {TITLE}"),
        (event(level=None, issuers=[]), f"Russia: {TITLE}"),
        (event(countries=[], areas=[]), f"[Level 4] {TITLE}"),
        (event(countries=["RU", "UA", "BY", "GE", "AM"]),
         f"[Level 4] Russia, Ukraine, Belarus +2: {TITLE}"),
        (event(2, changes=[{"field": "level", "old": 2, "new": None}], level=None, issuers=[]),
         f"Updated: [Level 2 → none] Russia: {TITLE}"),
        ({"type": "source.failing", "event_id": "gdacs:source.failing:3", "source": "gdacs",
          "outcome": "http_error", "error": "HTTP 503", "consecutive_failures": 3},
         "Source failing: gdacs"),
    ],
)  # fmt: skip
def test_subject_says_type_level_countries_and_title(evt: dict[str, Any], expected: str) -> None:
    assert subject(evt) == expected
    assert built(evt)["Subject"] == expected


def test_a_long_title_is_cut_to_the_header_limit() -> None:
    text = subject(event(title="Alert " * 100))
    assert len(text) == 200
    assert text.endswith("…")


# --- threading ---------------------------------------------------------------------------------


def test_versions_thread_under_the_first_message() -> None:
    first, second, third = (built(event(v)) for v in (1, 2, 3))
    root = first["Message-ID"]
    assert root == message_id(f"{ADVISORY_ID}:1")
    assert first["In-Reply-To"] is None and first["References"] is None
    for later in (second, third):
        assert later["In-Reply-To"] == root
        assert later["References"] == root
    assert len({first["Message-ID"], second["Message-ID"], third["Message-ID"]}) == 3


def test_message_id_is_the_same_on_every_delivery_of_one_event() -> None:
    again = build_message(event(2), sender=SENDER, to=TO, now=NOW + timedelta(hours=1))
    assert built(event(2))["Message-ID"] == again["Message-ID"]


def test_message_ids_are_valid_and_fit_one_header_line() -> None:
    evt = event(7, advisory_id="cap:" + "x" * 300)
    message = built(evt)
    for name in ("Message-ID", "In-Reply-To", "References"):
        value = message[name]
        assert value.startswith("<") and value.endswith("@advisory-monitor>")
        assert "=?" not in value  # not folded into encoded words
    assert thread_root(event(1)) is None
    assert thread_root({"type": "source.silent", "event_id": "gdacs:source.silent:1"}) is None


def test_a_cancel_that_is_its_own_first_version_does_not_thread() -> None:
    message = built(event(1, "advisory.cancelled"))
    assert message["In-Reply-To"] is None


# --- header injection --------------------------------------------------------------------------

INJECTIONS = [
    "\r\nBcc: victim@example.org",
    "\nBcc: victim@example.org",
    "\rBcc: victim@example.org",
    "\u2028Bcc: victim@example.org",
    "\x85Bcc: victim@example.org",
    "\x00\r\n\r\n<html>body</html>",
]


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize("where", ["title", "countries", "source", "event_id"])
def test_feed_text_never_makes_a_header(payload: str, where: str) -> None:
    evt = event(2, changes=LEVEL_UP)
    if where == "title":
        evt["advisory"]["title"] = "Security Alert" + payload
    elif where == "countries":
        evt["advisory"]["countries"] = ["RU" + payload, "UA"]
    elif where == "source":
        evt["source"] = "us-embassy-ru" + payload
    else:
        evt["event_id"] = f"{ADVISORY_ID}:2{payload}"
    message = built(evt)
    names = [name.lower() for name in message]
    assert "bcc" not in names
    assert sorted(set(names)) == sorted(names)  # no header twice
    assert set(names) <= {
        "from", "to", "subject", "date", "auto-submitted", "message-id", "in-reply-to",
        "references", "x-advisory-event", "mime-version", "content-type",
    }  # fmt: skip
    for name in ("Subject", "X-Advisory-Event"):
        assert not any(char in message[name] for char in "\r\n\x00\x85\u2028")
    assert message["To"] == '"Doe, Jane" <jane@example.org>, ops@example.org'


def test_header_text_removes_controls_and_bidi_overrides() -> None:
    assert header_text("a\r\nb\tc\u202ed\u200be") == "a b c d e"
    assert header_text(None) == ""
    assert header_text("x" * 10, limit=5) == "xxxx…"


# --- both parts --------------------------------------------------------------------------------


def test_message_is_multipart_alternative_with_text_then_html() -> None:
    message = built(event())
    assert message.get_content_type() == "multipart/alternative"
    types = [part.get_content_type() for part in message.iter_parts()]
    assert types == ["text/plain", "text/html"]
    assert message["From"] == "Advisory Monitor <alerts@example.org>"
    assert message["Date"] == "Fri, 08 Mar 2024 12:00:00 +0000"
    assert message["Auto-Submitted"] == "auto-generated"


def test_both_parts_carry_every_fact() -> None:
    evt = event(
        2,
        changes=[*LEVEL_UP, {"field": "countries", "added": ["UA"], "removed": ["BY"]}],
    )
    text, page = parts(built(evt))
    facts = [
        "Security Alert – U.S. Embassy Moscow",
        "3 → 4",
        "Russia",
        "Moscow",
        "U.S. Embassy in Moscow (US): Level 4: Do Not Travel",
        "terrorism",
        "2024-03-07 16:59 UTC → 2024-03-09 16:59 UTC",
        "avoid large gatherings",
        "monitor local media for updates",
        "avoid large gatherings over the next 48 hours",
        "Countries: added Ukraine; removed Belarus",
        "https://ru.usembassy.gov/security-alert-2024-03-07/",
        "Extremists have imminent plans",
    ]
    for fact in facts:
        assert fact in text, fact
        assert fact in page.replace("&#x27;", "'"), fact
    assert text.startswith("Updated security alert for Russia (version 2): Level 3 → 4.")
    assert '<a href="https://ru.usembassy.gov/security-alert-2024-03-07/">' in page


def test_day_precision_shows_dates_and_open_ends_are_said() -> None:
    evt = event(date_precision="day", expires=None)
    text, _ = parts(built(evt))
    assert "from 2024-03-07, no end stated" in text


def test_everything_is_escaped_in_the_html_part() -> None:
    evt = event(
        title='<script>alert("t")</script> & co $headline ${link}',
        summary="<img src=x onerror=alert(1)>",
        advice=["<b>run</b>"],
        areas=[{"name": "<i>Moscow</i>", "country": "RU"}],
        evidence={"level": 'said "<u>4</u>"'},
        url="javascript:alert(document.cookie)",
    )
    text, page = parts(built(evt))
    for raw in ("<script>", "<img", "<b>run", "<i>Moscow", "<u>4", 'href="javascript'):
        assert raw not in page, raw
    assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt; &amp; co $headline ${link}" in page
    assert "&lt;b&gt;run&lt;/b&gt;" in page
    assert "javascript:alert(document.cookie)" in page  # shown, not linked
    assert '<script>alert("t")</script> & co $headline ${link}' in text  # as written


def test_a_source_event_is_mailed_with_its_fields() -> None:
    evt = {
        "type": "source.failing", "event_id": "gdacs:source.failing:3", "source": "gdacs",
        "emitted_at": "2024-03-08T10:00:00.000Z", "outcome": "http_error",
        "error": "HTTP 503", "consecutive_failures": 3,
    }  # fmt: skip
    message = built(evt)
    text, page = parts(message)
    assert text.startswith("Source gdacs is failing.")
    assert "Consecutive failures: 3" in text
    assert "HTTP 503" in page
    assert message["In-Reply-To"] is None


# --- digests -----------------------------------------------------------------------------------


def digest_events() -> list[dict[str, Any]]:
    return [
        event(),
        event(2, changes=LEVEL_UP, title="Security Alert – update"),
        event(1, advisory_id="fcdo:ukraine", title="Ukraine travel advice", countries=["UA"],
              level=3, issuers=[]),
        {"type": "source.silent", "event_id": "gdacs:source.silent:1", "source": "gdacs"},
    ]  # fmt: skip


def test_digest_lists_every_event_in_both_parts() -> None:
    events = digest_events()
    message = over_the_wire(build_digest(events, sender=SENDER, to=TO, now=NOW))
    text, page = parts(message)
    for title in (
        "Security Alert – U.S. Embassy Moscow",
        "Security Alert – update",
        "Ukraine travel advice",
        "Source gdacs: silent",
    ):
        assert title in text and title in page
    assert text.startswith("4 advisory events, 2024-03-07 17:00 UTC.")
    assert message["Subject"] == "[Level 4] Digest: 4 updates – Russia, Ukraine"
    assert message["In-Reply-To"] is None


def test_digest_id_depends_on_the_events_not_their_order() -> None:
    events = digest_events()
    one = build_digest(events, sender=SENDER, to=TO, now=NOW)
    other = build_digest(events[::-1], sender=SENDER, to=TO, now=NOW + timedelta(days=1))
    assert one["Message-ID"] == other["Message-ID"]
    assert one["Message-ID"] == digest_id(str(e["event_id"]) for e in events)
    assert (
        one["Message-ID"] != build_digest(events[:2], sender=SENDER, to=TO, now=NOW)["Message-ID"]
    )
    with pytest.raises(ValueError, match="at least one"):
        build_digest([], sender=SENDER, to=TO, now=NOW)


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def stamped(n: int, minutes: float) -> dict[str, Any]:
    return {"type": "advisory.new", "event_id": f"a:{n}", "emitted_at": at(minutes).isoformat()}


def test_digest_buffer_is_due_one_period_after_its_oldest_event() -> None:
    buffer = DigestBuffer(3600)
    assert not buffer.due(at(0)) and buffer.due_at() is None
    assert buffer.add(stamped(1, 0), now=at(0))
    assert buffer.add(stamped(2, 30), now=at(30))
    assert not buffer.add(stamped(2, 30), now=at(31))  # a reclaimed entry, kept once
    assert len(buffer) == 2
    assert buffer.due_at() == at(60)
    assert not buffer.due(at(59))
    assert buffer.due(at(60))
    assert [e["event_id"] for e in buffer.drain(at(60))] == ["a:1", "a:2"]
    assert len(buffer) == 0 and buffer.drain(at(61)) == []


def test_digest_buffer_sends_at_most_one_digest_per_period() -> None:
    buffer = DigestBuffer(3600)
    buffer.add(stamped(1, 0), now=at(0))
    buffer.drain(at(60))
    buffer.add(stamped(2, -600), now=at(61))  # an old event read late
    assert buffer.due_at() == at(120)
    assert not buffer.due(at(100))


def test_digest_buffer_after_a_restart_dates_events_from_their_emission() -> None:
    fresh = DigestBuffer(3600)  # the buffer of a restarted engine re-reading pending entries
    fresh.add(stamped(1, -90), now=at(0))
    assert fresh.due(at(0))
    future = DigestBuffer(3600)
    future.add(stamped(2, 30), now=at(0))  # a clock ahead of ours never delays the digest
    assert future.due_at() == at(60)


def test_digest_buffer_goes_out_early_when_full() -> None:
    buffer = DigestBuffer(3600, max_events=2)
    buffer.add(stamped(1, 0), now=at(0))
    assert not buffer.due(at(1))
    buffer.add(stamped(2, 1), now=at(1))
    assert buffer.due(at(1))
    with pytest.raises(ValueError):
        DigestBuffer(0)


# --- SMTP settings, the password, failures -------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "port", "user", "tls", "starttls"),
    [
        ("smtp://mail.example.org", "mail.example.org", 25, None, False, False),
        ("smtp+starttls://alerts@mail.example.org", "mail.example.org", 587, "alerts", False, True),
        ("smtps://alerts%40example.org@mail.example.org:2465", "mail.example.org", 2465,
         "alerts@example.org", True, False),
        ("SMTPS://[::1]", "::1", 465, None, True, False),
    ],
)  # fmt: skip
def test_smtp_settings_from_url(
    url: str, host: str, port: int, user: str | None, tls: bool, starttls: bool
) -> None:
    settings = SmtpSettings.from_url(url)
    assert (settings.host, settings.port, settings.username) == (host, port, user)
    assert (settings.use_tls, settings.start_tls) == (tls, starttls)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://mail.example.org", "scheme 'http'"),
        ("smtp://user:hunter2@mail.example.org", "password"),
        ("smtp://", "no host"),
        ("smtp://mail.example.org:99999", "invalid port"),
    ],
)
def test_smtp_settings_refuse_bad_urls(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        SmtpSettings.from_url(url)
    assert "hunter2" not in str(caught.value)


def config(**overrides: Any) -> NotifierConfig:
    fields: dict[str, Any] = {
        "name": "mail",
        "kind": "email",
        "smtp_url": "smtp+starttls://alerts@mail.example.org",
        "password_env": "SMTP_PASSWORD",
        "sender": SENDER,
        "to": TO,
    }
    fields.update(overrides)
    return NotifierConfig(**fields)


def test_the_password_comes_from_the_named_variable_and_is_never_shown() -> None:
    notifier = EmailNotifier(config(), env={"SMTP_PASSWORD": "hunter2"})
    assert "hunter2" not in repr(notifier)
    assert "hunter2" not in str(vars(notifier).get("config"))
    assert notifier.sender == "alerts@example.org"
    assert notifier.to == ("jane@example.org", "ops@example.org")


@pytest.mark.parametrize(
    ("overrides", "env", "problem"),
    [
        ({}, {}, r"\$SMTP_PASSWORD is not set"),
        ({}, {"SMTP_PASSWORD": ""}, r"\$SMTP_PASSWORD is not set"),
        ({"password_env": None}, {}, "password_env is not set"),
        ({"smtp_url": "smtp://mail.example.org"}, {"SMTP_PASSWORD": "x"}, "names no user"),
        ({"smtp_url": None}, {}, "needs smtp_url, from and to"),
        ({"to": ()}, {}, "needs smtp_url, from and to"),
        ({"smtp_url": "smtp://u:p@mail.example.org"}, {}, "password"),
    ],
)
def test_setup_errors_name_the_notifier_and_the_variable(
    overrides: dict[str, Any], env: dict[str, str], problem: str
) -> None:
    with pytest.raises(NotifierSetupError, match=problem) as caught:
        EmailNotifier(config(**overrides), env=env)
    assert "notifier 'mail'" in str(caught.value)


def test_a_notifier_without_auth_needs_no_password() -> None:
    notifier = EmailNotifier(config(smtp_url="smtp://127.0.0.1:2525", password_env=None), env={})
    assert "no auth" in repr(notifier)
    assert notifier.kind == "email" and notifier.name == "mail"
    assert notifier.digest is None
    with pytest.raises(ValueError, match="no digest"):
        notifier.digest_buffer()
    buffer = EmailNotifier(config(digest=60.0), env={"SMTP_PASSWORD": "x"}).digest_buffer()
    assert buffer.period == timedelta(seconds=60)


def test_wants_applies_the_filter() -> None:
    from monitor.config import Filter

    notifier = EmailNotifier(config(filter=Filter(countries=("UA",))), env={"SMTP_PASSWORD": "x"})
    assert not notifier.wants(event())
    assert notifier.wants(event(countries=["UA"]))


def refusal(address: str, code: int) -> aiosmtplib.SMTPRecipientRefused:
    return aiosmtplib.SMTPRecipientRefused(code, "no", address)


@pytest.mark.parametrize(
    ("error", "retryable", "status"),
    [
        (aiosmtplib.SMTPSenderRefused(421, "4.3.2 shutting down", "a@example.org"), True, 421),
        (aiosmtplib.SMTPResponseException(450, "mailbox busy"), True, 450),
        (aiosmtplib.SMTPDataError(451, "local error"), True, 451),
        (aiosmtplib.SMTPDataError(452, "out of storage"), True, 452),
        (aiosmtplib.SMTPAuthenticationError(454, "auth unavailable"), True, 454),
        (aiosmtplib.SMTPRecipientRefused(550, "mailbox unavailable", "x@example.org"), False, 550),
        (aiosmtplib.SMTPSenderRefused(553, "bad address", "a@example.org"), False, 553),
        (aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), False, 535),
        (aiosmtplib.SMTPRecipientsRefused([refusal("a@x.org", 550), refusal("b@x.org", 553)]),
         False, 553),
        (aiosmtplib.SMTPRecipientsRefused([refusal("a@x.org", 550), refusal("b@x.org", 452)]),
         True, 550),
        (aiosmtplib.SMTPConnectTimeoutError("timed out"), True, None),
        (aiosmtplib.SMTPReadTimeoutError("timed out"), True, None),
        (TimeoutError(), True, None),
        (aiosmtplib.SMTPConnectError("Error connecting to 127.0.0.1 on port 1"), True, None),
        (aiosmtplib.SMTPServerDisconnected("Connection lost"), True, None),
        (ConnectionRefusedError(111, "Connection refused"), True, None),
        (aiosmtplib.SMTPException("SMTP STARTTLS extension not supported by server."), True, None),
        (aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported by this server"), False, None),
        (ValueError("address contains a line break"), False, None),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), True, None),
    ],
)  # fmt: skip
def test_failures_are_classified(error: Exception, retryable: bool, status: int | None) -> None:
    failure = classify(error, where="smtp://mail.example.org:25", timeout=10)
    assert failure.retryable is retryable
    assert failure.status == status
    assert "smtp://mail.example.org:25" in failure.detail
    assert "\n" not in failure.detail


def test_a_partial_refusal_is_a_success_that_names_the_refused() -> None:
    line = accepted(
        {"b@example.org": aiosmtplib.SMTPResponse(550, "5.1.1 no such user")},
        "2.0.0 OK queued",
        where="smtp://mail.example.org:25",
        total=2,
    )
    assert line == (
        "accepted by smtp://mail.example.org:25: 2.0.0 OK queued; "
        "refused 1 of 2 recipients: b@example.org (550 5.1.1 no such user)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ops@example.org", ("", "ops@example.org")),
        ("Ops <ops@example.org>", ("Ops", "ops@example.org")),
        ('"Doe, Jane" <jane@example.org>', ("Doe, Jane", "jane@example.org")),
        ("Doe, Jane <jane@example.org>", ("Doe, Jane", "jane@example.org")),
    ],
)
def test_split_address(text: str, expected: tuple[str, str]) -> None:
    assert split_address(text) == expected


@pytest.mark.parametrize("text", ["nobody", "a@b, c@d", "<>", "x <a b@c>"])
def test_split_address_refuses_what_is_not_one_address(text: str) -> None:
    with pytest.raises(ValueError, match="not an e-mail address"):
        split_address(text)
