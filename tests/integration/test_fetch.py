"""Every fetch outcome against a real loopback server: validators, limits, failures, politeness."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
import tracemalloc
import zlib
from dataclasses import replace
from email.utils import formatdate
from typing import Any

import pytest

from monitor.config import HttpSettings
from monitor.fetch import (
    Fetcher,
    FetchResult,
    Outcome,
    Validators,
    looks_like_challenge,
    not_a_feed_reason,
    redact_url,
)
from tests.integration.http_server import CLOUDFLARE_CHALLENGE, FeedServer

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
HTTP = HttpSettings(
    user_agent="advisory-monitor-tests/1 (+https://example.invalid/bot)",
    connect_timeout=2.0,
    read_timeout=5.0,
    total_timeout=5.0,
    max_redirects=3,
    max_body_bytes=1 << 20,
    max_decoded_bytes=2 << 20,
    per_host_limit=4,
)


def fetch(
    url: str,
    previous: Validators | None = None,
    *,
    http: HttpSettings = HTTP,
    expect_html: bool = False,
) -> FetchResult:
    """One fetch through a fresh Fetcher, from a sync test."""

    async def go() -> FetchResult:
        async with Fetcher(http) as fetcher:
            return await fetcher.fetch(url, previous, expect_html=expect_html)

    return asyncio.run(go())


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- validators and the three successes -----------------------------------------------------


def test_first_fetch_is_ok_with_the_body_and_validators_to_store(http_server: FeedServer) -> None:
    url = http_server.set("/feed.xml", FEED)

    result = fetch(url)

    assert result.outcome is Outcome.OK
    assert not result.outcome.failed
    assert (result.status, result.body, result.content_type) == (200, FEED, "application/rss+xml")
    sent = http_server.received("/feed.xml")[0]
    assert result.validators.etag is not None
    assert result.validators.last_modified is not None
    assert result.validators.body_hash == hashlib.sha256(FEED).hexdigest()
    assert "if-none-match" not in sent.headers
    assert result.final_url == url
    assert result.error is None


def test_stored_validators_make_the_next_get_conditional_and_304_is_not_modified(
    http_server: FeedServer,
) -> None:
    url = http_server.set("/feed.xml", FEED)
    first = fetch(url)

    second = fetch(url, first.validators)

    sent = http_server.received("/feed.xml")[1].headers
    assert sent["if-none-match"] == first.validators.etag
    assert sent["if-modified-since"] == first.validators.last_modified
    assert second.outcome is Outcome.NOT_MODIFIED
    assert (second.status, second.body) == (304, b"")
    assert second.validators == first.validators


def test_if_modified_since_alone_gives_not_modified(http_server: FeedServer) -> None:
    url = http_server.set("/feed.xml", FEED, etag=False)
    first = fetch(url)

    second = fetch(url, first.validators)

    assert first.validators.etag is None
    assert second.outcome is Outcome.NOT_MODIFIED


def test_a_200_with_the_same_body_is_unchanged_by_hash_and_returns_no_body(
    http_server: FeedServer,
) -> None:
    url = http_server.set("/feed.xml", FEED, etag=False, last_modified=False)
    first = fetch(url)

    second = fetch(url, first.validators)

    assert second.outcome is Outcome.UNCHANGED
    assert (second.status, second.body) == (200, b"")
    assert second.validators == first.validators


def test_a_changed_body_is_ok_with_new_validators(http_server: FeedServer) -> None:
    url = http_server.set("/feed.xml", FEED)
    first = fetch(url)
    changed = FEED.replace(b"<title>t</title>", b"<title>level 4</title>")
    http_server.set("/feed.xml", changed)

    second = fetch(url, first.validators)

    assert second.outcome is Outcome.OK
    assert second.body == changed
    assert second.validators.etag != first.validators.etag
    assert second.validators.body_hash == hashlib.sha256(changed).hexdigest()


def test_a_gzip_body_is_decoded_and_hashed_as_decoded(http_server: FeedServer) -> None:
    body = FEED * 200
    url = http_server.set("/feed.xml", body, gzip=True)

    result = fetch(url)

    assert http_server.received("/feed.xml")[0].headers["accept-encoding"] == "gzip, deflate"
    assert result.outcome is Outcome.OK
    assert result.body == body
    assert result.validators.body_hash == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_is_decoded_whether_zlib_wrapped_or_raw(
    http_server: FeedServer, wbits: int
) -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    wire = compressor.compress(FEED) + compressor.flush()
    url = http_server.set("/feed.xml", wire, headers={"Content-Encoding": "deflate"})

    assert fetch(url).body == FEED


def test_a_chunked_body_is_read_whole(http_server: FeedServer) -> None:
    body = FEED * 1000
    url = http_server.set("/feed.xml", body, chunked=True)

    assert fetch(url).body == body


# -- HTTP failures ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 403, 404, 410, 500, 502])
def test_error_statuses_are_http_error_with_the_status(
    http_server: FeedServer, status: int
) -> None:
    http_server.set("/feed.xml", FEED)
    http_server.fail("/feed.xml", status)

    result = fetch(http_server.url("/feed.xml"))

    assert result.outcome is Outcome.HTTP_ERROR
    assert result.outcome.failed
    assert result.status == status
    assert result.error is not None
    assert result.error.startswith(f"HTTP {status}")
    assert result.retry_after is None


def test_a_failure_keeps_the_previous_validators(http_server: FeedServer) -> None:
    url = http_server.set("/feed.xml", FEED)
    first = fetch(url)
    http_server.fail("/feed.xml", 500)

    failed = fetch(url, first.validators)

    assert failed.outcome is Outcome.HTTP_ERROR
    assert failed.validators == first.validators


def test_429_with_retry_after_seconds_is_rate_limited_with_the_delay(
    http_server: FeedServer,
) -> None:
    http_server.fail("/feed.xml", 429, retry_after=120)

    result = fetch(http_server.url("/feed.xml"))

    assert result.outcome is Outcome.RATE_LIMITED
    assert result.status == 429
    assert result.retry_after == 120.0
    assert result.error is not None
    assert "Retry-After '120'" in result.error


def test_503_with_an_http_date_retry_after_is_measured_from_the_server_date(
    http_server: FeedServer,
) -> None:
    http_server.fail("/feed.xml", 503, retry_after=formatdate(time.time() + 120, usegmt=True))

    result = fetch(http_server.url("/feed.xml"))

    assert result.outcome is Outcome.RATE_LIMITED
    assert result.status == 503
    assert result.retry_after == pytest.approx(120.0, abs=2.0)


def test_503_without_retry_after_is_rate_limited_without_a_floor(
    http_server: FeedServer,
) -> None:
    http_server.fail("/feed.xml", 503)

    result = fetch(http_server.url("/feed.xml"))

    assert (result.outcome, result.retry_after) == (Outcome.RATE_LIMITED, None)


def test_a_fault_for_n_requests_then_the_content_again(http_server: FeedServer) -> None:
    url = http_server.set("/feed.xml", FEED)
    http_server.fail("/feed.xml", 503, times=1)

    assert fetch(url).outcome is Outcome.RATE_LIMITED
    assert fetch(url).outcome is Outcome.OK
    assert http_server.requests("/feed.xml") == 2


# -- 200s that are not feeds -----------------------------------------------------------------


def test_a_challenge_page_with_200_is_not_a_feed(http_server: FeedServer) -> None:
    http_server.challenge("/feed.xml")

    result = fetch(http_server.url("/feed.xml"))

    assert result.outcome is Outcome.NOT_A_FEED
    assert result.status == 200
    assert result.error == "challenge page instead of the document"
    assert result.body == b""


def test_a_challenge_page_is_refused_even_for_an_html_source(http_server: FeedServer) -> None:
    http_server.challenge("/article.html")

    result = fetch(http_server.url("/article.html"), expect_html=True)

    assert result.outcome is Outcome.NOT_A_FEED


@pytest.mark.parametrize("body", [b"{}", b"[]", b"{ }\n", b"null", b"", b" \r\n", b"\xef\xbb\xbf"])
def test_an_empty_body_or_empty_json_is_not_a_feed(http_server: FeedServer, body: bytes) -> None:
    url = http_server.set("/feed.json", body, "application/json")

    result = fetch(url)

    assert result.outcome is Outcome.NOT_A_FEED
    assert result.error in ("empty body", "empty document")


def test_an_html_page_where_a_feed_was_expected_is_not_a_feed(http_server: FeedServer) -> None:
    page = b"<!DOCTYPE html><html><head><title>Travel advice</title></head><body>hi</body></html>"
    url = http_server.set("/feed.xml", page, "text/html")

    assert fetch(url).outcome is Outcome.NOT_A_FEED
    html = fetch(url, expect_html=True)
    assert html.outcome is Outcome.OK
    assert html.body == page
    assert http_server.received("/feed.xml")[1].headers["accept"].startswith("text/html")


def test_a_feed_served_as_text_html_is_still_a_feed(http_server: FeedServer) -> None:
    url = http_server.set("/feed.xml", FEED, "text/html; charset=utf-8")

    assert fetch(url).outcome is Outcome.OK


def test_a_fixture_feed_is_served_and_fetched_byte_exact(http_server: FeedServer) -> None:
    url = http_server.serve_fixture("gdacs-rss.xml")  # starts with a UTF-8 BOM

    result = fetch(url)

    assert result.outcome is Outcome.OK
    assert result.body == (http_server.fixtures_dir / "gdacs-rss.xml").read_bytes()


def test_an_unsupported_content_encoding_is_refused(http_server: FeedServer) -> None:
    url = http_server.set("/feed.xml", b"\x1b\x00\x00", headers={"Content-Encoding": "br"})

    result = fetch(url)

    assert result.outcome is Outcome.NOT_A_FEED
    assert result.error == "unsupported Content-Encoding 'br'"


def test_a_corrupt_gzip_body_is_not_a_feed(http_server: FeedServer) -> None:
    url = http_server.set("/feed.xml", b"not gzip at all", headers={"Content-Encoding": "gzip"})

    result = fetch(url)

    assert result.outcome is Outcome.NOT_A_FEED
    assert result.error is not None
    assert result.error.startswith("undecodable gzip body (Error -3 while decompressing")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (CLOUDFLARE_CHALLENGE, "text/html; charset=UTF-8"),
        (b"<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title>", None),
        (b"<html><head><TITLE>Access Denied</TITLE></head><body>Reference #18</body></html>", None),
        (b"<html><head><title>hCaptcha check</title></head></html>", "text/html"),
        (b'<html><body><script src="/_Incapsula_Resource?x=1"></script></body></html>', None),
        (b"<head><title>Just a moment...</title></head>", "text/html"),
    ],
)
def test_challenge_pages_are_recognised(body: bytes, content_type: str | None) -> None:
    assert looks_like_challenge(body, content_type)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (FEED, "application/rss+xml"),
        (b"<rss><item><title>Just a moment...: captcha scams</title></item></rss>", "text/html"),
        (b'{"title": "Just a moment", "captcha": true}', "application/json"),
        (
            b"<!DOCTYPE html><html><head><title>Travel advice: Haiti</title>"
            b'<script src="https://www.google.com/recaptcha/api.js"></script>'
            b'<script src="/cdn-cgi/challenge-platform/scripts/jsd/main.js"></script>'
            b"</head><body>Do not travel</body></html>",
            "text/html",
        ),
    ],
)
def test_feeds_and_ordinary_pages_are_not_challenges(body: bytes, content_type: str | None) -> None:
    assert not looks_like_challenge(body, content_type)


def test_not_a_feed_reason_accepts_json_and_cap() -> None:
    assert not_a_feed_reason(b'{"data": {}}', "application/json") is None
    assert not_a_feed_reason(b"<?xml version='1.0'?><alert xmlns='cap'/>", "text/xml") is None


# -- time and size limits -----------------------------------------------------------------


def test_a_trickling_server_times_out_at_the_total_deadline(http_server: FeedServer) -> None:
    http_server.trickle("/feed.xml", every=0.2)
    http = replace(HTTP, read_timeout=5.0, total_timeout=1.0)

    started = time.perf_counter()
    result = fetch(http_server.url("/feed.xml"), http=http)
    took = time.perf_counter() - started

    assert result.outcome is Outcome.TIMEOUT
    assert result.error is not None
    assert result.error.startswith("no complete answer within 1s after")
    assert took < 1.0 + 0.5
    assert 1.0 <= result.elapsed < 1.5


def test_a_server_slow_to_answer_is_a_read_timeout(http_server: FeedServer) -> None:
    http_server.set("/feed.xml", FEED, delay=3.0)
    http = replace(HTTP, read_timeout=0.3, total_timeout=5.0)

    result = fetch(http_server.url("/feed.xml"), http=http)

    assert result.outcome is Outcome.TIMEOUT
    assert result.error is not None
    assert result.error.startswith("ReadTimeout")
    assert result.elapsed < 1.0


def test_a_gzip_bomb_is_too_large_and_never_inflated_in_memory(http_server: FeedServer) -> None:
    http_server.gzip_bomb("/feed.xml", decoded_size=256 << 20)
    http = replace(HTTP, max_body_bytes=10 << 20, max_decoded_bytes=1 << 20)

    tracemalloc.start()
    try:
        result = fetch(http_server.url("/feed.xml"), http=http)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.outcome is Outcome.TOO_LARGE
    assert result.error == "gzip body inflates past the 1048576-byte decoded cap"
    assert peak < 8 << 20  # the cap plus change, not 256 MiB


def test_a_content_length_over_the_cap_is_refused_before_reading(
    http_server: FeedServer,
) -> None:
    http_server.claim_length("/feed.xml", 10**12)  # sends 5 bytes, then hangs up

    result = fetch(http_server.url("/feed.xml"))

    assert result.outcome is Outcome.TOO_LARGE
    assert result.error == f"Content-Length {10**12} over the {1 << 20}-byte cap"


def test_a_chunked_body_over_the_cap_is_refused_while_streaming(
    http_server: FeedServer,
) -> None:
    url = http_server.set("/feed.xml", bytes(3 << 20), chunked=True)

    result = fetch(url, http=replace(HTTP, max_decoded_bytes=10 << 20))

    assert result.outcome is Outcome.TOO_LARGE
    assert result.error == f"body over the {1 << 20}-byte cap"


# -- redirects, connections, URLs ---------------------------------------------------------


def test_a_redirect_is_followed_and_the_final_url_reported(http_server: FeedServer) -> None:
    target = http_server.set("/new.xml", FEED)
    http_server.redirect("/old.xml", "/new.xml", status=301)

    result = fetch(http_server.url("/old.xml"))

    assert result.outcome is Outcome.OK
    assert result.final_url == target


def test_a_redirect_loop_is_too_many_redirects(http_server: FeedServer) -> None:
    http_server.redirect("/a", "/b")
    http_server.redirect("/b", "/a")

    result = fetch(http_server.url("/a"))

    assert result.outcome is Outcome.TOO_MANY_REDIRECTS
    assert http_server.requests("/a") + http_server.requests("/b") == HTTP.max_redirects + 1
    assert result.error is not None
    assert result.error.startswith("more than 3 redirects")


def test_a_refused_connection_is_a_connection_error() -> None:
    result = fetch(f"http://127.0.0.1:{unused_port()}/feed.xml")

    assert result.outcome is Outcome.CONNECTION_ERROR
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("ConnectError")


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_dropped_connection_is_a_connection_error(http_server: FeedServer, reset: bool) -> None:
    http_server.drop("/feed.xml", reset=reset)

    result = fetch(http_server.url("/feed.xml"))

    assert result.outcome is Outcome.CONNECTION_ERROR


@pytest.mark.parametrize(
    "url", ["ftp://example.org/feed.xml", "feed.xml", "http://", "http://[::1/feed", ""]
)
def test_a_url_that_cannot_be_fetched_is_invalid_url(url: str) -> None:
    result = fetch(url)

    assert result.outcome is Outcome.INVALID_URL
    assert result.outcome.failed


def test_credentials_in_the_url_never_reach_the_error_or_final_url(
    http_server: FeedServer,
) -> None:
    http_server.redirect("/a", "/a")
    for url in (
        f"http://reader:s3cret@127.0.0.1:{unused_port()}/feed.xml",
        f"http://reader:s3cret@127.0.0.1:{http_server.port}/a",
    ):
        result = fetch(url)

        assert result.outcome.failed
        assert "s3cret" not in f"{result.error} {result.final_url}"
        assert "reader" not in f"{result.error} {result.final_url}"


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://user:pw@example.org/feed?x=1", "https://example.org/feed?x=1"),
        ("https://example.org/feed?api_key=abc&x=1", "https://example.org/feed?api_key=***&x=1"),
        ("https://example.org/feed?token=abc", "https://example.org/feed?token=***"),
        ("https://example.org/feed", "https://example.org/feed"),
    ],
)
def test_redact_url_strips_userinfo_and_masks_secret_query_values(url: str, safe: str) -> None:
    assert redact_url(url) == safe


# -- politeness -------------------------------------------------------------------------------


def test_an_honest_user_agent_and_feed_accept_header_are_sent(http_server: FeedServer) -> None:
    url = http_server.set("/feed.xml", FEED)

    fetch(url)

    headers = http_server.received("/feed.xml")[0].headers
    assert headers["user-agent"] == HTTP.user_agent
    assert headers["accept"].startswith("application/rss+xml, application/atom+xml")


def test_the_per_host_limit_bounds_concurrent_requests(http_server: FeedServer) -> None:
    for n in range(8):
        http_server.set(f"/feed{n}.xml", FEED, delay=0.2)
    http = replace(HTTP, per_host_limit=2)

    async def go() -> list[FetchResult]:
        async with Fetcher(http) as fetcher:
            return await asyncio.gather(
                *(fetcher.fetch(http_server.url(f"/feed{n}.xml")) for n in range(8))
            )

    results = asyncio.run(go())

    assert all(result.outcome is Outcome.OK for result in results)
    assert http_server.max_concurrent() == 2


def test_queueing_for_a_host_slot_does_not_count_against_the_deadline(
    http_server: FeedServer,
) -> None:
    http_server.set("/feed.xml", FEED, delay=0.4)
    http = replace(HTTP, per_host_limit=1, total_timeout=1.0)

    async def go() -> list[FetchResult]:
        async with Fetcher(http) as fetcher:
            url = http_server.url("/feed.xml")
            return await asyncio.gather(*(fetcher.fetch(url) for _ in range(4)))

    results = asyncio.run(go())

    assert [result.outcome for result in results] == [Outcome.OK] * 4


@pytest.mark.parametrize("outcome", list(Outcome))
def test_only_ok_not_modified_and_unchanged_are_not_failures(outcome: Outcome) -> None:
    assert outcome.failed is (outcome.value not in ("ok", "not_modified", "unchanged"))


def test_the_fetcher_serves_many_sources_from_one_loop(http_server: FeedServer) -> None:
    urls = [http_server.set(f"/s{n}.xml", FEED + str(n).encode()) for n in range(50)]

    async def go() -> list[Any]:
        async with Fetcher(HTTP) as fetcher:
            first = await asyncio.gather(*(fetcher.fetch(url) for url in urls))
            return await asyncio.gather(*(fetcher.fetch(r.url, r.validators) for r in first))

    assert {result.outcome for result in asyncio.run(go())} == {Outcome.NOT_MODIFIED}
