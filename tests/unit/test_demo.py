"""``monitor demo``'s pure parts: the feed edit it makes, the validators it serves, the
signatures it checks, the configuration it runs and the summary it prints."""

from __future__ import annotations

import asyncio
import base64
import tomllib
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from monitor.config import ENV_REDIS_URL
from monitor.demo import (
    EDIT,
    FEEDS,
    INTERVAL,
    SECRET_ENV,
    Delivery,
    Inbox,
    Shown,
    advisory_ids,
    bundled,
    demo_config,
    level_change,
    new_secret,
    not_modified,
    other_changes,
    set_level,
    summary,
    unique,
    verify_signature,
)
from monitor.diff import diff
from monitor.normalise.api import normalise_bytes
from monitor.notifiers.webhook import build_request, decode_secret

ROOT = Path(__file__).parents[2]
DEMO_DATA = ROOT / "monitor" / "data" / "demo"
US_FEED = next(feed for feed in FEEDS if feed.source == EDIT.source)
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def _normalised(body: bytes) -> dict[str, dict[str, Any]]:
    found = normalise_bytes(body, source=US_FEED.source, fmt=US_FEED.format, issuer="US")
    return {advisory.id: advisory.to_dict() for advisory in found}


# --- the edit -----------------------------------------------------------------------------------


def test_raising_italy_keeps_its_advisory_id_and_normalises_to_level_3() -> None:
    before = _normalised(bundled(US_FEED))
    after = _normalised(set_level(bundled(US_FEED), EDIT.guid, EDIT.new))

    assert after.keys() == before.keys()
    assert EDIT.advisory_id in after
    assert before[EDIT.advisory_id]["level"] == EDIT.old == 2
    assert after[EDIT.advisory_id]["level"] == EDIT.new == 3
    assert after[EDIT.advisory_id]["title"] == "Italy - Level 3: Reconsider Travel"


def test_the_edit_is_a_level_change_to_the_change_detector() -> None:
    before = _normalised(bundled(US_FEED))[EDIT.advisory_id]
    after = _normalised(set_level(bundled(US_FEED), EDIT.guid, EDIT.new))[EDIT.advisory_id]

    assert diff(before, after)[0] == {"field": "level", "old": 2, "new": 3}


def test_the_edit_leaves_every_other_advisory_as_it_was() -> None:
    before = _normalised(bundled(US_FEED))
    after = _normalised(set_level(bundled(US_FEED), EDIT.guid, EDIT.new))

    assert [i for i in before if before[i] != after[i]] == [EDIT.advisory_id]


def test_the_edit_rewrites_only_the_items_title_category_and_opening_words() -> None:
    original = bundled(US_FEED)
    edited = set_level(original, EDIT.guid, 3)

    changed = [
        (old, new)
        for old, new in zip(original.split(b"\r\n"), edited.split(b"\r\n"), strict=True)
        if old != new
    ]
    assert [new.strip()[:48] for _, new in changed] == [
        b"<title>Italy - Level 3: Reconsider Travel</title",
        b"<description><![CDATA[Reconsider travel<p>in <b>",
        b'<category domain="Threat-Level">Level 3: Reconsi',
    ]


def test_setting_the_old_level_back_gives_the_original_bytes() -> None:
    original = bundled(US_FEED)

    assert set_level(set_level(original, EDIT.guid, 4), EDIT.guid, EDIT.old) == original


@pytest.mark.parametrize("level", [0, 5])
def test_a_level_outside_1_to_4_is_refused(level: int) -> None:
    with pytest.raises(ValueError, match="1 to 4"):
        set_level(bundled(US_FEED), EDIT.guid, level)


def test_an_unknown_item_is_refused() -> None:
    with pytest.raises(ValueError, match="no item"):
        set_level(bundled(US_FEED), "https://travel.state.gov/nowhere.html", 3)


def test_an_item_without_a_level_title_is_refused() -> None:
    feed = b"<rss><channel><item><title>Italy</title><guid>g</guid></item></channel></rss>"

    with pytest.raises(ValueError, match="Threat-Level"):
        set_level(feed, "g", 3)


# --- the bundled feeds ------------------------------------------------------------------------


def test_each_bundled_feed_is_the_fixture_it_was_copied_from() -> None:
    for feed in FEEDS:
        assert bundled(feed) == (ROOT / "tests" / "fixtures" / "feeds" / feed.file).read_bytes()


def test_each_bundled_feed_has_its_provenance_and_ships_in_the_wheel() -> None:
    sources = (DEMO_DATA / "SOURCES.md").read_text()
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    package = ROOT / "monitor"
    shipped = {
        path for pattern in setuptools["package-data"]["monitor"] for path in package.glob(pattern)
    }
    for feed in FEEDS:
        assert f"| `{feed.file}` |" in sources
        assert DEMO_DATA / feed.file in shipped, feed.file
    assert DEMO_DATA / "SOURCES.md" in shipped


def test_each_bundled_feed_yields_advisories() -> None:
    counts = {feed.source: len(advisory_ids(feed, bundled(feed))) for feed in FEEDS}

    assert counts == {"us-state-advisories": 7, "gb-fcdo-haiti": 1, "ca-ukraine": 1, "gdacs": 16}


# --- validators -------------------------------------------------------------------------------

ETAG = '"abc123"'
MODIFIED = 1_790_000_000


@pytest.mark.parametrize(
    ("request_headers", "expected"),
    [
        ({}, False),
        ({"if-none-match": ETAG}, True),
        ({"if-none-match": f'"other", W/{ETAG}'}, True),
        ({"if-none-match": "*"}, True),
        ({"if-none-match": '"other"'}, False),
        # If-None-Match decides when present, even if the date alone would match
        (
            {"if-none-match": '"other"', "if-modified-since": formatdate(MODIFIED, usegmt=True)},
            False,
        ),
        ({"if-modified-since": formatdate(MODIFIED, usegmt=True)}, True),
        ({"if-modified-since": formatdate(MODIFIED + 60, usegmt=True)}, True),
        ({"if-modified-since": formatdate(MODIFIED - 1, usegmt=True)}, False),
        ({"if-modified-since": "yesterday"}, False),
    ],
)
def test_a_conditional_get_is_answered_304_only_when_its_validator_matches(
    request_headers: dict[str, str], expected: bool
) -> None:
    assert not_modified(ETAG, MODIFIED, request_headers) is expected


# --- signatures -------------------------------------------------------------------------------


def _signed(secret: str, body: bytes, at: datetime, msg_id: str = "msg_1") -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
    }


NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
BODY = b'{"type":"advisory.changed","data":{}}'


def test_a_signature_made_by_the_standardwebhooks_library_verifies() -> None:
    assert verify_signature(SECRET, _signed(SECRET, BODY, NOW), BODY, now=NOW.timestamp())


def test_a_request_built_by_the_webhook_notifier_verifies() -> None:
    event = {"type": "advisory.new", "event_id": "us:https://x.example/a b:1", "version": 1}
    headers, body = build_request(event, secret=decode_secret(SECRET), now=NOW)

    assert verify_signature(SECRET, headers, body, now=NOW.timestamp())


def test_a_fresh_secret_is_a_standard_webhooks_secret() -> None:
    secret = new_secret()

    assert secret.startswith("whsec_")
    assert len(decode_secret(secret)) == 24
    assert verify_signature(secret, _signed(secret, BODY, NOW), BODY, now=NOW.timestamp())


@pytest.mark.parametrize(
    "tamper",
    ["body", "secret", "id", "stale", "future", "no signature", "v2 only", "garbage"],
)
def test_a_signature_that_does_not_match_is_refused(tamper: str) -> None:
    headers = _signed(SECRET, BODY, NOW)
    body, secret, now = BODY, SECRET, NOW.timestamp()
    if tamper == "body":
        body = BODY.replace(b"changed", b"new")
    elif tamper == "secret":
        secret = "whsec_" + base64.b64encode(b"another key of 32 bytes........").decode()
    elif tamper == "id":
        headers["webhook-id"] = "msg_2"
    elif tamper == "stale":
        now = (NOW + timedelta(minutes=6)).timestamp()
    elif tamper == "future":
        now = (NOW - timedelta(minutes=6)).timestamp()
    elif tamper == "no signature":
        del headers["webhook-signature"]
    elif tamper == "v2 only":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    else:
        headers["webhook-signature"] = "v1,not*base64"

    assert not verify_signature(secret, headers, body, now=now)


def test_one_matching_signature_among_several_is_enough() -> None:
    headers = _signed(SECRET, BODY, NOW)
    headers["webhook-signature"] = "v1,AAAA " + headers["webhook-signature"]

    assert verify_signature(SECRET, headers, BODY, now=NOW.timestamp())


# --- the configuration ------------------------------------------------------------------------


def _config(console: bool = True) -> Any:
    urls = {feed.source: f"http://127.0.0.1:8000{feed.path}" for feed in FEEDS}
    return demo_config(
        urls, "http://127.0.0.1:8001/hook", "/tmp/monitor-demo-x/redis", console=console
    )


def test_the_daemon_runs_on_an_embedded_redis_of_its_own_whatever_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_REDIS_URL, "redis://127.0.0.1:6379/15")
    config = _config()

    assert config.redis.url is None
    assert config.redis.data_dir == "/tmp/monitor-demo-x/redis"


def test_the_daemon_polls_every_demo_feed_every_two_seconds_in_process() -> None:
    config = _config()

    assert [s.id for s in config.sources] == [feed.source for feed in FEEDS]
    assert {s.interval for s in config.sources} == {INTERVAL} == {2.0}
    assert all(s.url.startswith("http://127.0.0.1:8000/") for s in config.sources)
    assert config.poll.workers == 0
    assert config.service.health_port == 0
    assert config.service.health_host == "127.0.0.1"


def test_the_daemon_delivers_to_the_console_and_a_signed_webhook() -> None:
    config = _config()

    assert [(n.name, n.kind) for n in config.notifiers] == [
        ("console", "console"),
        ("webhook", "webhook"),
    ]
    webhook = config.notifier("webhook")
    assert webhook.url == "http://127.0.0.1:8001/hook"
    assert webhook.secret_env == SECRET_ENV != "MONITOR_WEBHOOK_SECRET"


def test_quiet_leaves_the_console_notifier_out() -> None:
    assert [n.name for n in _config(console=False).notifiers] == ["webhook"]


# --- what arrived, and the summary ----------------------------------------------------------

CHANGED_EVENT = {
    "type": "advisory.changed",
    "event_id": f"{EDIT.advisory_id}:2",
    "advisory": {"id": EDIT.advisory_id, "title": "Italy - Level 3: Reconsider Travel"},
    "changes": [
        {"field": "level", "old": 2, "new": 3},
        {"field": "advice", "added": ["reconsider travel in italy"], "removed": []},
        {"field": "severity", "old": "Moderate", "new": "Severe"},
    ],
}


def _delivery(webhook_id: str, kind: str = "advisory.new", verified: bool = True) -> Delivery:
    return Delivery(webhook_id, kind, {"type": kind, "advisory": {"id": webhook_id}}, verified)


def test_the_level_change_and_the_other_changes_are_read_from_the_event() -> None:
    assert level_change(CHANGED_EVENT) == (2, 3)
    assert other_changes(CHANGED_EVENT) == ["advice", "severity"]
    assert level_change({"type": "advisory.new"}) is None
    assert level_change({"changes": [{"field": "advice"}]}) is None


def test_a_retried_delivery_counts_once() -> None:
    first, again, other = _delivery("a:1"), _delivery("a:1", verified=False), _delivery("b:1")

    assert unique([first, other, again]) == [first, other]


def test_the_summary_says_what_changed_its_ids_and_that_its_signature_verified() -> None:
    changed = Delivery(f"{EDIT.advisory_id}:2", "advisory.changed", CHANGED_EVENT, True)
    shown = Shown(
        feeds=4,
        advisories=2,
        received=(_delivery("a:1"), _delivery("b:1"), changed),
        changed=changed,
        change_after=1.5,
        requests=9,
        not_modified=5,
    )

    text = "\n".join(summary(shown, elapsed=7.31))

    assert "done in 7.3 s" in text
    assert "9 requests, 5 answered 304 Not Modified" in text
    assert "3 events (advisory.changed 1, advisory.new 2), 3 signatures verified" in text
    assert "advisory.changed  level 2 → 3, 1.5 s after the feed was edited" in text
    assert "also changed      advice, severity" in text
    assert f"event id          {EDIT.advisory_id}:2" in text
    assert f"webhook-id        {EDIT.advisory_id}:2" in text
    assert "signature verified" in text
    assert "monitor run" in text


# --- waiting -----------------------------------------------------------------------------------


def test_the_inbox_waits_until_the_expected_delivery_arrives() -> None:
    async def scenario() -> bool:
        inbox = Inbox()
        loop = asyncio.get_running_loop()
        daemon = asyncio.create_task(asyncio.Event().wait())  # runs until cancelled
        loop.call_soon(inbox.add, _delivery("a:1"))
        loop.call_soon(inbox.add, _delivery("b:1", "advisory.changed"))
        try:
            return await inbox.wait_for(
                lambda ds: any(d.type == "advisory.changed" for d in ds),
                until=loop.time() + 60,
                watch=daemon,
            )
        finally:
            daemon.cancel()

    assert asyncio.run(scenario()) is True


def test_the_inbox_stops_waiting_when_the_daemon_ends_or_time_is_up() -> None:
    async def scenario(daemon_ends: bool) -> bool:
        inbox = Inbox()
        loop = asyncio.get_running_loop()
        daemon = asyncio.create_task(asyncio.sleep(0 if daemon_ends else 60))
        try:
            return await inbox.wait_for(
                lambda ds: bool(ds), until=loop.time() + (60 if daemon_ends else 0.01), watch=daemon
            )
        finally:
            daemon.cancel()

    assert asyncio.run(scenario(daemon_ends=True)) is False
    assert asyncio.run(scenario(daemon_ends=False)) is False
