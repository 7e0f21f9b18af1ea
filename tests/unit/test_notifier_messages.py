"""What the console and chat notifiers say (pure functions of the event), and the registry
that builds every configured notifier."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest

from monitor.config import CONSOLE_NOTIFIER, Config, Filter, NotifierConfig
from monitor.notifiers.base import DeliveryError, Notifier, NotifierSetupError, event_json
from monitor.notifiers.chat import AppriseNotifier, build_message, classify
from monitor.notifiers.console import ConsoleNotifier, clean, format_line
from monitor.notifiers.registry import build_notifier, build_notifiers
from monitor.notifiers.webhook import WebhookNotifier

CHANGED: dict[str, Any] = {
    "type": "advisory.changed",
    "event_id": "us-state:ru:2",
    "advisory_id": "us-state:ru",
    "version": 2,
    "source": "us-state",
    "emitted_at": "2024-03-08T12:00:00.000Z",
    "advisory": {
        "id": "us-state:ru",
        "title": "Russia - Level 4: Do Not Travel",
        "countries": ["UA", "RU"],
        "level": 4,
        "advice": ["leave immediately", "avoid crowds", "monitor local media", "carry ID"],
        "url": "https://travel.state.gov/ru.html",
        "issuers": [{"country": "US", "name": "U.S. Department of State", "level": 4}],
        "effective": "2024-03-08T00:00:00Z",
        "expires": "2024-04-01T00:00:00Z",
    },
    "changes": [
        {"field": "level", "old": 3, "new": 4},
        {"field": "countries", "added": ["UA"], "removed": ["BY"]},
    ],
}
NEW_UNLEVELLED: dict[str, Any] = {
    "type": "advisory.new",
    "event_id": "gdacs:eq-1:1",
    "emitted_at": "2024-03-08T12:00:00.000Z",
    "advisory": {"id": "gdacs:eq-1", "title": "Earthquake M6.1", "countries": [], "level": None},
    "changes": [],
}
FAILING: dict[str, Any] = {
    "type": "source.failing",
    "event_id": "us-embassy-ru:source.failing:1",
    "source": "us-embassy-ru",
    "emitted_at": "2024-03-08T12:05:00.000Z",
    "consecutive_failures": 3,
    "outcome": "timeout",
    "error": "read timed out",
}
SILENT: dict[str, Any] = {
    "type": "source.silent",
    "event_id": "gdacs:source.silent:1",
    "source": "gdacs",
    "emitted_at": "2024-03-08T12:05:00.000Z",
    "consecutive_failures": 0,
    "last_new": "2024-03-01T00:00:00.000Z",
    "cadence_seconds": "600",
}


# --- console ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            CHANGED,
            "2024-03-08 12:00Z advisory.changed  L3→4 RU,UA Russia - Level 4: Do Not Travel | "
            "leave immediately | https://travel.state.gov/ru.html",
        ),
        (NEW_UNLEVELLED, "2024-03-08 12:00Z advisory.new      L- - Earthquake M6.1"),
        (
            FAILING,
            "2024-03-08 12:05Z source.failing    us-embassy-ru: timeout, read timed out "
            "(3 failures in a row)",
        ),
        (
            SILENT,
            "2024-03-08 12:05Z source.silent     gdacs: nothing new since 2024-03-01T00:00:00.000Z",
        ),
        ({"type": "advisory.new", "advisory": {}}, "- advisory.new      L- - (untitled)"),
    ],
)
def test_console_line(event: dict[str, Any], line: str) -> None:
    assert format_line(event) == line


def test_console_line_cannot_drive_the_terminal() -> None:
    hostile = dict(CHANGED, advisory={"title": "A\x1b[2J\x1b]0;owned\x07\r\nB\u2028C\x9b31m"})
    line = format_line(hostile)
    assert line.isprintable()
    assert line.endswith("A [2J ]0;owned B C 31m")


def test_clean_cuts_long_text() -> None:
    assert clean("x" * 10, 5) == "xxxx…"
    assert clean(" a\n\tb ") == "a b"


def test_console_notifier_prints_one_line() -> None:
    stream = io.StringIO()
    notifier = ConsoleNotifier(CONSOLE_NOTIFIER, stream=stream)
    assert notifier.wants(CHANGED) and not notifier.wants(FAILING)
    assert asyncio.run(notifier.send(CHANGED)) == "printed"
    assert stream.getvalue() == format_line(CHANGED) + "\n"


def test_console_notifier_on_a_closed_stream_is_a_permanent_failure() -> None:
    stream = io.StringIO()
    stream.close()
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(ConsoleNotifier(CONSOLE_NOTIFIER, stream=stream).send(CHANGED))
    assert not caught.value.retryable


# --- chat ---------------------------------------------------------------------------------------


def test_chat_message_of_a_change() -> None:
    title, body = build_message(CHANGED)
    assert title == "Changed: Russia - Level 4: Do Not Travel"
    assert body.splitlines() == [
        "Level 4 (was level 3)",
        "Countries: RU, UA",
        "Issued by: U.S. Department of State (level 4)",
        "Advice: leave immediately; avoid crowds; monitor local media",
        "Changes: level 3→4; countries +UA −BY",
        "Valid from 2024-03-08T00:00:00Z until 2024-04-01T00:00:00Z",
        "https://travel.state.gov/ru.html",
        "Event us-state:ru:2",
    ]


@pytest.mark.parametrize(
    ("event", "title", "body"),
    [
        (NEW_UNLEVELLED, "New: Earthquake M6.1", "Event gdacs:eq-1:1"),
        (
            FAILING,
            "Source failing: us-embassy-ru",
            "Outcome: timeout\nError: read timed out\nFailures in a row: 3\n"
            "Event us-embassy-ru:source.failing:1",
        ),
        (
            dict(CHANGED, type="advisory.cancelled", changes=[], advisory={"title": "T\r\nX"}),
            "Cancelled: T X",
            "Event us-state:ru:2",
        ),
        (
            dict(CHANGED, changes=[{"field": "level", "old": None, "new": 2}], advisory={}),
            "Changed: (untitled)",
            "Level none (was no level)\nChanges: level none→2\nEvent us-state:ru:2",
        ),
    ],
)
def test_chat_messages(event: dict[str, Any], title: str, body: str) -> None:
    assert build_message(event) == (title, body)


def test_chat_body_is_bounded() -> None:
    long = dict(CHANGED, advisory=dict(CHANGED["advisory"], advice=["a" * 500] * 3, url="u" * 5000))
    _, body = build_message(long)
    assert len(body) <= 1800 and body.endswith("…")


@pytest.mark.parametrize(
    ("logs", "timed_out", "retryable", "status"),
    [
        (["Failed to send JSON POST notification: Gone, error=410."], False, False, 410),
        (["Failed to send JSON POST notification: error=401."], False, False, 401),
        (["Failed to send JSON POST notification: error=429."], False, True, 429),
        (["Failed to send JSON POST notification: error=502."], False, True, 502),
        (
            ["A Connection error occurred sending JSON notification to 127.0.0.1."],
            False,
            True,
            None,
        ),
        ([], False, True, None),
        ([], True, True, None),
    ],
)
def test_apprise_failures_are_classified(
    logs: list[str], timed_out: bool, retryable: bool, status: int | None
) -> None:
    with pytest.raises(DeliveryError) as caught:
        classify(False, timed_out, logs)
    assert (caught.value.retryable, caught.value.status) == (retryable, status)
    classify(True, False, logs)  # success raises nothing


def test_apprise_url_from_the_environment_is_never_shown() -> None:
    config = NotifierConfig(name="team-chat", kind="apprise", secret_env="TEAM_CHAT_URL")
    with pytest.raises(NotifierSetupError) as caught:
        AppriseNotifier(config, env={})
    assert str(caught.value) == (
        "notifier 'team-chat': $TEAM_CHAT_URL is not set (it must hold the Apprise URL, "
        "e.g. slack://TokenA/TokenB/TokenC)"
    )
    with pytest.raises(NotifierSetupError) as caught:
        AppriseNotifier(config, env={"TEAM_CHAT_URL": "nosuchservice://hunter2/token"})
    assert "hunter2" not in str(caught.value)
    assert "'nosuchservice'" in str(caught.value)
    notifier = AppriseNotifier(config, env={"TEAM_CHAT_URL": "json://127.0.0.1:9/hunter2"})
    assert repr(notifier) == "AppriseNotifier(name='team-chat')"


# --- registry -----------------------------------------------------------------------------------


def test_event_json_is_compact_and_ordered() -> None:
    text = event_json(dict(reversed(list(FAILING.items()))))
    assert text.startswith('{"type":"source.failing","event_id":"us-embassy-ru:source.failing:1"')


def test_registry_builds_each_kind_in_order() -> None:
    config = Config(
        notifiers=(
            CONSOLE_NOTIFIER,
            NotifierConfig(name="hook", kind="webhook", url="http://127.0.0.1:9/h"),
            NotifierConfig(name="chat", kind="apprise", url="json://127.0.0.1:9/"),
        )
    )
    built = build_notifiers(config, redis=None, env={})
    try:
        assert [(n.name, n.kind) for n in built] == [
            ("console", "console"),
            ("hook", "webhook"),
            ("chat", "apprise"),
        ]
        assert isinstance(built[1], WebhookNotifier)
        notifiers: list[Notifier] = built  # each satisfies the protocol
        assert all(n.wants(CHANGED) for n in notifiers)
    finally:
        asyncio.run(_close(built))


def test_registry_reports_every_notifier_it_cannot_build() -> None:
    config = Config(
        notifiers=(
            NotifierConfig(name="hook", kind="webhook", url="http://h/", secret_env="HOOK_SECRET"),
            NotifierConfig(name="mirror", kind="pubsub"),
        )
    )
    with pytest.raises(NotifierSetupError) as caught:
        build_notifiers(config, redis=None, env={})
    assert str(caught.value).splitlines() == [
        "notifier 'hook': $HOOK_SECRET is not set (it must hold the webhook secret, "
        "'whsec_' followed by base64)",
        "notifier 'mirror': kind pubsub needs Redis",
    ]


def test_registry_email_kind_is_built_by_the_email_notifier_or_named_missing() -> None:
    mail = NotifierConfig(
        name="mail",
        kind="email",
        smtp_url="smtp://127.0.0.1:2525",
        sender="a@example.org",
        to=("b@example.org",),
    )
    try:
        notifier = build_notifier(mail, prefix="m:", redis=None, env={})
    except NotifierSetupError as error:
        assert str(error).startswith("notifier 'mail': kind 'email' is not available")
    else:
        assert (notifier.name, notifier.kind) == ("mail", "email")
        asyncio.run(notifier.aclose())


def test_filters_reach_the_notifier() -> None:
    only_ua = NotifierConfig(name="c", kind="console", filter=Filter(countries=("BY",)))
    notifier = build_notifier(only_ua, prefix="m:", redis=None)
    assert not notifier.wants(NEW_UNLEVELLED)
    assert notifier.wants(CHANGED)  # BY was taken off by this change


async def _close(notifiers: list[Notifier]) -> None:
    for notifier in notifiers:
        await notifier.aclose()
