"""Next-poll arithmetic: capped exponential back-off, jitter bounds, Retry-After as a floor."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.schedule import (
    MAX_RETRY_AFTER,
    MIN_DELAY,
    backoff_delay,
    next_delay,
    parse_retry_after,
)

NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
ALMOST_ONE = math.nextafter(1.0, 0.0)


@pytest.mark.parametrize(
    ("failures", "interval", "max_backoff", "expected"),
    [
        (0, 300.0, 3600.0, 300.0),
        (-3, 300.0, 3600.0, 300.0),
        (1, 300.0, 3600.0, 600.0),
        (2, 300.0, 3600.0, 1200.0),
        (3, 300.0, 3600.0, 2400.0),
        (4, 300.0, 3600.0, 3600.0),
        (20, 300.0, 3600.0, 3600.0),
        (10_000, 300.0, 3600.0, 3600.0),
        (5, 7200.0, 3600.0, 7200.0),  # a cap below the interval never speeds a source up
        (0, 1.0, 1.0, 1.0),
    ],
)
def test_backoff_doubles_per_failure_and_stays_capped(
    failures: int, interval: float, max_backoff: float, expected: float
) -> None:
    assert backoff_delay(failures, interval, max_backoff) == expected


@pytest.mark.parametrize("failures", range(21))
def test_backoff_never_exceeds_the_cap_nor_stops(failures: int) -> None:
    delay = backoff_delay(failures, 60.0, 1800.0)
    assert 60.0 <= delay <= 1800.0
    assert math.isfinite(delay)


@pytest.mark.parametrize("failures", range(21))
def test_next_delay_stays_within_jitter_of_the_capped_backoff(failures: int) -> None:
    base = backoff_delay(failures, 60.0, 1800.0)
    for rand in (0.0, 0.5, ALMOST_ONE):
        delay = next_delay(
            interval=60.0,
            failures=failures,
            retry_after=None,
            max_backoff=1800.0,
            jitter=0.1,
            rand=rand,
        )
        assert base * 0.9 - 1e-9 <= delay <= base * 1.1 + 1e-9


@pytest.mark.parametrize(
    ("rand", "expected"),
    [(0.0, 270.0), (0.5, 300.0), (ALMOST_ONE, 330.0)],
)
def test_rand_picks_the_point_within_plus_minus_jitter(rand: float, expected: float) -> None:
    delay = next_delay(
        interval=300.0, failures=0, retry_after=None, max_backoff=3600.0, jitter=0.1, rand=rand
    )
    assert delay == pytest.approx(expected)


@pytest.mark.parametrize(
    ("interval", "jitter", "rand"),
    [(1.0, 0.5, 0.0), (1.0, 1.0, 0.0), (1.0, 5.0, 0.0), (2.0, 0.9, 0.0)],
)
def test_next_delay_is_never_below_one_second(interval: float, jitter: float, rand: float) -> None:
    delay = next_delay(
        interval=interval,
        failures=0,
        retry_after=None,
        max_backoff=60.0,
        jitter=jitter,
        rand=rand,
    )
    assert delay >= MIN_DELAY


@pytest.mark.parametrize(
    ("failures", "retry_after", "rand", "expected"),
    [
        (0, 900.0, 0.0, 900.0),  # Retry-After beyond the interval wins
        (0, 900.0, 0.5, 945.0),  # ... and its spread only goes later
        (0, 10.0, 0.0, 270.0),  # a Retry-After shorter than the schedule changes nothing
        (6, 900.0, 0.0, 3240.0),  # back-off beyond the Retry-After wins
        (0, 0.0, 0.0, 270.0),
    ],
)
def test_retry_after_is_a_floor(
    failures: int, retry_after: float, rand: float, expected: float
) -> None:
    delay = next_delay(
        interval=300.0,
        failures=failures,
        retry_after=retry_after,
        max_backoff=3600.0,
        jitter=0.1,
        rand=rand,
    )
    assert delay == pytest.approx(expected)
    assert delay >= retry_after


@pytest.mark.parametrize("rand", [-0.1, 1.0, 2.0, math.nan])
def test_rand_outside_the_unit_interval_is_a_caller_bug(rand: float) -> None:
    with pytest.raises(ValueError, match="rand"):
        next_delay(
            interval=60.0, failures=0, retry_after=None, max_backoff=60.0, jitter=0.1, rand=rand
        )


@pytest.mark.parametrize("interval", [0.0, -1.0, math.inf, math.nan])
def test_non_positive_or_infinite_interval_is_refused(interval: float) -> None:
    with pytest.raises(ValueError, match="interval"):
        backoff_delay(1, interval, 3600.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("86400", 86400.0),
        ("999999999", MAX_RETRY_AFTER),
        ("Wed, 21 Oct 2015 07:30:00 GMT", 120.0),
        ("Wednesday, 21-Oct-15 07:30:00 GMT", 120.0),  # obsolete RFC 850 form
        ("Wed Oct 21 07:30:00 2015", 120.0),  # obsolete asctime form, read as GMT
        ("Thu, 22 Oct 2015 09:28:00 GMT", MAX_RETRY_AFTER),
    ],
)
def test_retry_after_parses_seconds_and_http_dates(value: str, expected: float) -> None:
    assert parse_retry_after(value, NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "-5",
        "1.5",
        "soon",
        "120 seconds",
        "Wed, 21 Oct 2015 07:27:00 GMT",  # already past
        "Wed, 21 Oct 2015 07:28:00 GMT",  # now
        "Wed, 99 Foo 2015 07:30:00 GMT",
        "١٢٠",  # non-ASCII digits are not delta-seconds
    ],
)
def test_retry_after_garbage_negative_or_past_gives_no_floor(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_retry_after_date_is_measured_from_the_given_now_in_any_zone() -> None:
    now = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert parse_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now) == pytest.approx(60.0)


def test_retry_after_naive_now_is_read_as_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert parse_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", naive) == pytest.approx(60.0)
