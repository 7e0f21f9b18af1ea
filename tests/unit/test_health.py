"""The health state: live while the loop beats, ready while Redis answers and not stopping."""

from __future__ import annotations

import threading

import pytest

from monitor.health import Health


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def health(clock: Clock) -> Health:
    return Health(role="all", stale_after=10.0, clock=clock)


def test_healthy_after_a_beat_and_a_good_redis_check(health: Health, clock: Clock) -> None:
    clock.now += 3
    health.beat(loop_lag=0.0125)
    health.redis(True)
    clock.now += 0.5

    healthy, body = health.report()

    assert healthy
    assert body == {
        "status": "ok",
        "live": True,
        "ready": True,
        "role": "all",
        "redis": "ok",
        "stopping": False,
        "loop_lag_ms": 12.5,
        "last_beat_ago_s": 0.5,
        "reasons": [],
    }


def test_not_ready_until_redis_was_checked(health: Health) -> None:
    healthy, body = health.report()

    assert not healthy
    assert (body["status"], body["live"], body["ready"], body["redis"]) == (
        "unhealthy",
        True,
        False,
        "unknown",
    )
    assert body["reasons"] == ["redis not checked yet"]


def test_a_stale_beat_makes_it_not_live(health: Health, clock: Clock) -> None:
    health.redis(True)
    health.beat()
    clock.now += 10.0
    assert health.report()[0]  # exactly stale_after: still live

    clock.now += 2.5
    healthy, body = health.report()

    assert not healthy
    assert body["live"] is False
    assert body["ready"] is True
    assert body["last_beat_ago_s"] == 12.5
    assert body["reasons"] == ["event loop stalled: no heartbeat for 12.5s"]


def test_starts_live_then_goes_stale_without_a_single_beat(health: Health, clock: Clock) -> None:
    health.redis(True)
    assert health.report("live")[0]
    clock.now += 11
    assert not health.report("live")[0]


def test_a_beat_brings_it_back(health: Health, clock: Clock) -> None:
    health.redis(True)
    clock.now += 60
    assert not health.report()[0]
    health.beat()
    assert health.report()[0]


def test_redis_down_makes_it_not_ready_with_the_reason(health: Health) -> None:
    health.beat()
    health.redis(False, "ConnectionError: Error 111 connecting to 127.0.0.1:6379.\n Refused.")

    healthy, body = health.report()

    assert not healthy
    assert (body["live"], body["ready"], body["redis"]) == (True, False, "down")
    assert body["reasons"] == [
        "redis unreachable: ConnectionError: Error 111 connecting to 127.0.0.1:6379. Refused."
    ]
    health.redis(True)
    assert health.report()[0]


def test_a_redis_error_never_carries_url_credentials(health: Health) -> None:
    health.redis(False, "cannot reach redis://monitor:s3cr@t@db.internal:6379/0 (refused)")

    _, body = health.report()

    assert "s3cr" not in str(body)
    assert body["reasons"] == [
        "redis unreachable: cannot reach redis://***@db.internal:6379/0 (refused)"
    ]


def test_stopping_is_live_but_not_ready(health: Health) -> None:
    health.beat()
    health.redis(True)
    health.stopping()

    healthy, body = health.report()

    assert not healthy
    assert (body["live"], body["ready"], body["stopping"]) == (True, False, True)
    assert body["reasons"] == ["shutting down"]


def test_live_and_ready_checks_see_only_their_own_reasons(health: Health, clock: Clock) -> None:
    health.redis(False, "refused")
    clock.now += 30

    live, live_body = health.report("live")
    ready, ready_body = health.report("ready")
    both, both_body = health.report("health")

    assert (live, ready, both) == (False, False, False)
    assert live_body["reasons"] == ["event loop stalled: no heartbeat for 30.0s"]
    assert ready_body["reasons"] == ["redis unreachable: refused"]
    assert both_body["reasons"] == [*live_body["reasons"], *ready_body["reasons"]]

    health.beat()
    assert health.report("live")[0]
    assert not health.report("ready")[0]


def test_negative_loop_lag_reads_as_zero(health: Health) -> None:
    health.beat(loop_lag=-0.2)
    assert health.report()[1]["loop_lag_ms"] == 0.0


def test_updates_from_many_threads_leave_a_consistent_state(health: Health) -> None:
    def hammer() -> None:
        for i in range(500):
            health.beat(loop_lag=i / 1000)
            health.redis(i % 2 == 0, "refused")
            health.report()

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    health.redis(True)

    healthy, body = health.report()
    assert healthy
    assert body["loop_lag_ms"] == 499.0
