"""Polling end to end: a loopback HTTP server stands in for the internet, Redis is real."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_sync

from monitor.config import Config, Discovery, HttpSettings, PollSettings, RedisSettings, Source
from monitor.events import decode_entry
from monitor.keys import Keys
from monitor.poller import PollReport
from monitor.runtime import open_runtime

FEEDS = Path(__file__).parents[1] / "fixtures" / "feeds"
EXAMPLES = Path(__file__).parents[1] / "fixtures" / "examples"
STATE = (FEEDS / "us-state-travel-advisories.rss.xml").read_bytes()
MOSCOW = (EXAMPLES / "embassy-moscow-2024.rss.xml").read_bytes()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    value = f"test-{uuid.uuid4().hex[:8]}:"
    yield value
    client = redis_sync.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{value}*"):
        client.delete(key)
    client.close()


def make_config(redis_url: str, prefix: str, *sources: Source, workers: int = 0) -> Config:
    return Config(
        path=None,
        redis=RedisSettings(url=redis_url, prefix=prefix),
        http=HttpSettings(total_timeout=5.0, read_timeout=3.0, connect_timeout=2.0),
        poll=PollSettings(workers=workers, failing_after=3),
        sources=tuple(sources),
    )


def events(redis_url: str, prefix: str) -> list[dict[str, Any]]:
    client = redis_sync.Redis.from_url(redis_url)
    try:
        entries = client.xrange(Keys(prefix).events, "-", "+")
    finally:
        client.close()
    return [decode_entry(fields) for _, fields in entries]


def poll(config: Config, *ids: str) -> list[PollReport]:
    async def run() -> list[PollReport]:
        async with open_runtime(config) as runtime:
            chosen = [s for s in config.sources if not ids or s.id in ids]
            return list(await asyncio.gather(*(runtime.poller.poll(s) for s in chosen)))

    return asyncio.run(run())


def test_second_poll_emits_nothing_and_unchanged_200_emits_nothing(
    http_server: Any,
    redis_url: str,
    prefix: str,
) -> None:
    http_server.set("/state.xml", STATE)
    config = make_config(redis_url, prefix, Source("state", http_server.url("/state.xml")))
    (first,) = poll(config)
    assert (first.outcome, first.items, first.new) == ("ok", 7, 7)
    assert [e["type"] for e in events(redis_url, prefix)] == ["advisory.new"] * 7
    (second,) = poll(config)
    assert (second.outcome, second.new, second.changed) == ("not_modified", 0, 0)
    http_server.set("/state.xml", STATE, etag=False, last_modified=False)
    poll(config)  # stores the new validators (none) and the body hash
    (third,) = poll(config)
    assert third.outcome == "unchanged"
    assert len(events(redis_url, prefix)) == 7


def test_a_level_change_emits_exactly_one_typed_change(
    http_server: Any,
    redis_url: str,
    prefix: str,
) -> None:
    http_server.set("/state.xml", STATE)
    config = make_config(redis_url, prefix, Source("state", http_server.url("/state.xml")))
    poll(config)
    raised = STATE.replace(b"Saudi Arabia - Level 3: Reconsider Travel",
                           b"Saudi Arabia - Level 4: Do Not Travel").replace(
        b'<category domain="Threat-Level">Level 3: Reconsider Travel</category>',
        b'<category domain="Threat-Level">Level 4: Do Not Travel</category>')  # fmt: skip
    http_server.set("/state.xml", raised)
    (report,) = poll(config)
    assert (report.new, report.changed) == (0, 1)
    changed = [e for e in events(redis_url, prefix) if e["type"] == "advisory.changed"]
    assert len(changed) == 1
    event = changed[0]
    assert event["version"] == 2
    assert event["event_id"] == f"{event['advisory_id']}:2"
    assert {"field": "level", "old": 3, "new": 4} in event["changes"]
    assert event["advisory"]["level"] == 4


def test_kind_other_items_are_counted_but_emit_nothing(
    http_server: Any,
    redis_url: str,
    prefix: str,
) -> None:
    feed = (
        b"<rss version='2.0'><channel><title>News</title><item><title>Cup final</title>"
        b"<link>https://news.invalid/1</link><description>City beat United 2-1.</description>"
        b"</item></channel></rss>"
    )
    http_server.set("/news.xml", feed)
    config = make_config(redis_url, prefix, Source("news", http_server.url("/news.xml")))
    (report,) = poll(config)
    assert (report.outcome, report.items, report.other, report.new) == ("ok", 1, 1, 0)
    assert events(redis_url, prefix) == []


def test_a_challenge_page_is_a_failure_and_failing_then_recovered_are_emitted_once(
    http_server: Any,
    redis_url: str,
    prefix: str,
) -> None:
    challenge = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>"
    http_server.set("/feed.xml", challenge, content_type="text/html")
    config = make_config(redis_url, prefix, Source("moscow", http_server.url("/feed.xml")))
    outcomes = [poll(config)[0].outcome for _ in range(5)]
    assert outcomes == ["not_a_feed"] * 5
    http_server.set("/feed.xml", MOSCOW)
    assert poll(config)[0].outcome == "ok"
    assert poll(config)[0].outcome == "not_modified"
    types = [e["type"] for e in events(redis_url, prefix)]
    assert types.count("source.failing") == 1
    assert types.count("source.recovered") == 1
    assert types.count("advisory.new") == 1
    assert types.index("source.failing") < types.index("source.recovered")


def test_racing_pollers_never_duplicate_or_skip_a_version(
    http_server: Any,
    redis_url: str,
    prefix: str,
) -> None:
    http_server.set("/state.xml", STATE)
    config = make_config(redis_url, prefix, Source("state", http_server.url("/state.xml")))

    async def race(body: bytes) -> None:
        http_server.set("/state.xml", body)
        async with open_runtime(config) as one, open_runtime(config) as two:
            source = config.sources[0]
            # Bypass the lease on purpose: the emission itself must stay exactly-once.
            await asyncio.gather(*(r.poller._poll(source) for r in (one, two) for _ in range(3)))

    asyncio.run(race(STATE))
    raised = STATE.replace(b"Level 2: Exercise Increased Caution", b"Level 3: Reconsider Travel")
    asyncio.run(race(raised))
    seen = events(redis_url, prefix)
    ids = [e["event_id"] for e in seen]
    assert len(ids) == len(set(ids))
    versions: dict[str, list[int]] = {}
    for event in seen:
        versions.setdefault(event["advisory_id"], []).append(event["version"])
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
    assert sum(len(v) for v in versions.values()) == 7 + 3  # three items went 2 -> 3


def test_a_poller_killed_mid_poll_loses_nothing_and_duplicates_nothing(
    http_server: Any,
    redis_url: str,
    prefix: str,
    tmp_path: Path,
) -> None:
    canada = (FEEDS / "canada-index-alpha-eng-2014.json").read_bytes()
    http_server.set("/canada.json", canada)
    config_file = tmp_path / "monitor.toml"
    config_file.write_text(
        f'[redis]\nurl = "{redis_url}"\nprefix = "{prefix}"\n[poll]\nworkers = 0\n'
        f'[[sources]]\nid = "canada"\nurl = "{http_server.url("/canada.json")}"\n'
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "monitor", "poll", "--once", "--config", str(config_file)]
    client = redis_sync.Redis.from_url(redis_url)
    stream = Keys(prefix).events
    for kill_at in (0, 1):  # before any emission, then as soon as the first event lands
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 60
        while client.xlen(stream) < kill_at and time.monotonic() < deadline:
            time.sleep(0.005)
        if kill_at == 0:
            time.sleep(0.5)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        # The lease of a killed poller expires by itself; make the next poll not wait.
        client.delete(Keys(prefix).lease("canada"))
    client.close()
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    seen = [e for e in events(redis_url, prefix) if e["type"] == "advisory.new"]
    ids = [e["advisory_id"] for e in seen]
    assert len(ids) == len(set(ids)) == 229
    assert all(e["version"] == 1 for e in seen)


def test_discovery_source_fetches_details_of_changed_items_only(
    http_server: Any,
    redis_url: str,
    prefix: str,
) -> None:
    haiti = (FEEDS / "uk-fcdo-content-api-haiti.json").read_bytes()
    albania = (FEEDS / "uk-fcdo-content-api-albania-2017-example.json").read_bytes()
    http_server.set("/api/content/foreign-travel-advice/haiti", haiti,
                    content_type="application/json")  # fmt: skip
    http_server.set("/api/content/foreign-travel-advice/albania", albania,
                    content_type="application/json")  # fmt: skip

    def index(haiti_updated: str) -> bytes:
        # The shape of https://www.gov.uk/foreign-travel-advice.atom (no stored copy exists).
        entries = "".join(
            f"<entry><id>https://www.gov.uk/foreign-travel-advice/{slug}#{updated}</id>"
            f"<updated>{updated}</updated><title>{name} travel advice</title>"
            f'<link rel="alternate" type="text/html" href="{http_server.url("")}'
            f'foreign-travel-advice/{slug}"/><summary>Latest update</summary></entry>'
            for slug, name, updated in (
                ("haiti", "Haiti", haiti_updated),
                ("albania", "Albania", "2017-02-14T15:42:21Z"),
            )
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>Foreign travel advice</title><id>x</id><updated>{haiti_updated}</updated>"
            f"{entries}</feed>"
        ).encode()

    http_server.set("/foreign-travel-advice.atom", index("2025-12-10T13:57:03Z"))
    source = Source(
        "uk-fcdo",
        http_server.url("/foreign-travel-advice.atom"),
        format="rss",
        issuer="GB",
        discover=Discovery(
            detail_url=http_server.url("") + "api/content{path}", detail_format="govuk"
        ),
    )
    config = make_config(redis_url, prefix, source)
    (first,) = poll(config)
    assert (first.outcome, first.details, first.new) == ("ok", 2, 2)
    new = {e["advisory"]["countries"][0]: e for e in events(redis_url, prefix)}
    assert new["HT"]["advisory"]["level"] == 4
    assert set(new) == {"HT", "AL"}
    http_server.set("/foreign-travel-advice.atom", index("2026-01-05T09:00:00Z"))
    (second,) = poll(config)
    assert second.details == 1  # only Haiti's entry moved
    assert http_server.requests("/api/content/foreign-travel-advice/albania") == 1
    assert len(events(redis_url, prefix)) == 2  # Haiti's detail did not change materially


def test_monitor_poll_once_tail_and_sources_as_a_user_runs_them(
    http_server: Any,
    redis_url: str,
    prefix: str,
    tmp_path: Path,
) -> None:
    http_server.set("/state.xml", STATE)
    http_server.set("/down.xml", b"", status=503, headers={"Retry-After": "120"})
    config_file = tmp_path / "monitor.toml"
    config_file.write_text(
        f'[redis]\nurl = "{redis_url}"\nprefix = "{prefix}"\n[poll]\nworkers = 1\n'
        f'[[sources]]\nid = "state"\nurl = "{http_server.url("/state.xml")}"\n'
        f'[[sources]]\nid = "down"\nurl = "{http_server.url("/down.xml")}"\n'
    )

    def monitor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "monitor", *args, "--config",
                               str(config_file)], capture_output=True, text=True,
                              timeout=120)  # fmt: skip

    polled = monitor("poll", "--once")
    assert polled.returncode == 0, polled.stderr
    lines = polled.stdout.splitlines()
    assert lines[0].startswith("state  ok  items=7 new=7 changed=0")
    assert lines[1].startswith("down  rate_limited")
    tail = monitor("tail", "--from-start", "--count", "3")
    printed = [json.loads(line) for line in tail.stdout.splitlines()]
    assert len(printed) == 3
    assert all(p["type"] == "advisory.new" and isinstance(p["advisory"], dict) for p in printed)
    sources = monitor("sources", "--json")
    rows = {row["id"]: row for row in map(json.loads, sources.stdout.splitlines())}
    assert rows["state"]["last_outcome"] == "ok"
    assert rows["down"]["consecutive_failures"] == 1


def test_a_source_with_nothing_new_for_too_long_is_reported_silent_once(
    http_server: Any, redis_url: str, prefix: str
) -> None:
    http_server.set("/feed.xml", MOSCOW)
    source = Source("moscow", http_server.url("/feed.xml"), interval=1.0, silent_after=1.0)
    config = make_config(redis_url, prefix, source)
    assert poll(config)[0].new == 1
    assert poll(config)[0].events == ()  # not silent yet
    time.sleep(1.2)
    silent = poll(config)[0]
    assert silent.events == ("source.silent",)
    assert poll(config)[0].events == ()  # once per silence
    types = [e["type"] for e in events(redis_url, prefix)]
    assert types == ["advisory.new", "source.silent"]
