"""The retry policy: when a failed delivery is tried again, and when it is given up. Pure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.groups import format_id, min_id, next_id, parse_id
from monitor.retry import (
    MAX_RETRY_AFTER,
    RetryPolicy,
    claim_idle,
    policy,
    send_deadline,
)

SCHEDULE = policy([2, 10, 60, 300, 1800])


def test_each_failure_waits_its_delay_from_the_schedule() -> None:
    delays = [SCHEDULE.next_delay(n, draw=0.5) for n in range(1, 6)]
    assert delays == [2, 10, 60, 300, 1800]


def test_after_the_last_delay_the_event_is_dead_lettered() -> None:
    assert SCHEDULE.max_attempts == 6
    assert SCHEDULE.next_delay(6) is None
    assert SCHEDULE.next_delay(60) is None


def test_a_permanent_failure_is_dead_lettered_at_once() -> None:
    assert SCHEDULE.next_delay(1, retryable=False) is None


def test_no_schedule_means_one_attempt() -> None:
    assert policy([]).next_delay(1) is None
    assert policy([]).max_attempts == 1


def test_the_first_retry_comes_within_a_few_seconds() -> None:
    assert max(SCHEDULE.next_delay(1, draw=d) or 0 for d in (0.0, 0.5, 0.999)) <= 2.4


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 8.0), (0.5, 10.0), (1.0, 12.0)])
def test_jitter_spreads_a_delay_by_a_fifth_either_way(draw: float, expected: float) -> None:
    assert SCHEDULE.next_delay(2, draw=draw) == pytest.approx(expected)


@given(st.integers(1, 5), st.floats(0, 1, exclude_max=True))
def test_jittered_delays_stay_in_their_band(failures: int, draw: float) -> None:
    base = SCHEDULE.delays[failures - 1]
    delay = SCHEDULE.next_delay(failures, draw=draw)
    assert delay is not None and base * 0.8 <= delay <= base * 1.2


def test_retry_after_is_a_floor_capped_at_an_hour() -> None:
    assert SCHEDULE.next_delay(1, retry_after=30, draw=0.5) == 30
    assert SCHEDULE.next_delay(3, retry_after=5, draw=0.5) == 60  # shorter than the schedule
    assert SCHEDULE.next_delay(1, retry_after=10**9) == MAX_RETRY_AFTER
    assert SCHEDULE.next_delay(1, retry_after=float("nan"), draw=0.5) == 2
    assert SCHEDULE.next_delay(1, retry_after=-5, draw=0.5) == 2


def test_retry_after_does_not_extend_the_schedule() -> None:
    assert SCHEDULE.next_delay(6, retry_after=1) is None


def test_failures_are_counted_from_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SCHEDULE.next_delay(0)


@pytest.mark.parametrize("delays", [(-1.0,), (float("inf"),), (float("nan"),)])
def test_a_schedule_has_finite_non_negative_delays(delays: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="finite"):
        RetryPolicy(delays)


def test_jitter_is_a_fraction_below_one() -> None:
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy((1.0,), jitter=1.0)
    assert RetryPolicy((1.0,), jitter=0.0).next_delay(1, draw=0.9) == 1.0


def test_another_consumer_waits_longer_than_an_attempt_before_taking_over() -> None:
    for timeout in (0.1, 1, 10, 60):
        assert claim_idle(timeout) > send_deadline(timeout) > timeout
    assert claim_idle(10) == 20
    assert claim_idle(0.5) == 2.5  # never less than two seconds of margin


# --- stream ids -----------------------------------------------------------------------------


def test_stream_ids_compare_as_numbers_not_text() -> None:
    assert parse_id("1709900000000-10") > parse_id("1709900000000-9")
    assert min_id(["1709900000000-10", "1709900000000-9", "999-0"]) == "999-0"
    assert min_id([]) is None
    assert parse_id("5") == (5, 0)


def test_the_next_id_is_the_smallest_after() -> None:
    assert next_id("1709900000000-3") == "1709900000000-4"
    assert next_id("0-0") == "0-1"
    assert format_id(parse_id("12-7")) == "12-7"
