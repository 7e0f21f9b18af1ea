"""The Prometheus metrics: what the daemon's reports turn into, read back from the exposition."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from monitor.delivery import Report
from monitor.groups import GroupStatus
from monitor.metrics import LATENCY_BUCKETS, POLL_BUCKETS, Metrics
from monitor.poller import PollReport


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the rendered text, by name and sorted labels."""
    body, _ = metrics.render()
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def test_each_instance_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.poll(PollReport("a", "ok", items=3))
    assert first.registry is not second.registry
    assert value(second, "monitor_polls_total", source="a", outcome="ok") is None


def test_a_given_registry_is_used() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.expired(1)
    assert metrics.registry is registry
    assert registry.get_sample_value("monitor_events_emitted_total", {"type": "advisory.expired"})


def test_polls_count_by_source_and_outcome(metrics: Metrics) -> None:
    metrics.poll(PollReport("us-state", "ok", items=40, duration=0.2))
    metrics.poll(PollReport("us-state", "ok", items=41, duration=0.3))
    metrics.poll(PollReport("us-state", "timeout", error="slow", duration=10.0))
    metrics.poll(PollReport("uk-fcdo", "not_modified", duration=0.05))

    assert value(metrics, "monitor_polls_total", source="us-state", outcome="ok") == 2
    assert value(metrics, "monitor_polls_total", source="us-state", outcome="timeout") == 1
    assert value(metrics, "monitor_polls_total", source="uk-fcdo", outcome="not_modified") == 1
    assert value(metrics, "monitor_poll_items_total", source="us-state") == 81
    assert value(metrics, "monitor_poll_items_total", source="uk-fcdo") == 0


def test_poll_duration_histogram_has_buckets_from_10ms_to_60s(metrics: Metrics) -> None:
    metrics.poll(PollReport("s", "ok", duration=0.004))
    metrics.poll(PollReport("s", "ok", duration=2.0))
    metrics.poll(PollReport("s", "ok", duration=90.0))

    assert (POLL_BUCKETS[0], POLL_BUCKETS[-1]) == (0.01, 60.0)
    name = "monitor_poll_duration_seconds"
    assert value(metrics, f"{name}_count", source="s") == 3
    assert value(metrics, f"{name}_sum", source="s") == pytest.approx(92.004)
    assert value(metrics, f"{name}_bucket", source="s", le="0.01") == 1
    assert value(metrics, f"{name}_bucket", source="s", le="2.5") == 2
    assert value(metrics, f"{name}_bucket", source="s", le="60.0") == 2
    assert value(metrics, f"{name}_bucket", source="s", le="+Inf") == 3


def test_a_poll_skipped_as_leased_is_counted_but_not_timed(metrics: Metrics) -> None:
    metrics.poll(PollReport("s", "leased", duration=0.001))

    assert value(metrics, "monitor_polls_total", source="s", outcome="leased") == 1
    assert value(metrics, "monitor_poll_duration_seconds_count", source="s") is None
    assert value(metrics, "monitor_poll_items_total", source="s") is None


def test_events_emitted_count_advisory_and_source_events_by_type(metrics: Metrics) -> None:
    metrics.poll(PollReport("a", "ok", new=3, changed=2, cancelled=1, editorial=5))
    metrics.poll(PollReport("a", "ok", new=1, events=("source.recovered",)))
    metrics.poll(PollReport("b", "timeout", events=("source.failing",)))
    metrics.expired(4)
    metrics.expired(0)

    def emitted(event_type: str) -> float | None:
        return value(metrics, "monitor_events_emitted_total", type=event_type)

    assert emitted("advisory.new") == 4
    assert emitted("advisory.changed") == 2
    assert emitted("advisory.cancelled") == 1
    assert emitted("advisory.expired") == 4
    assert emitted("source.failing") == 1
    assert emitted("source.recovered") == 1
    assert emitted("source.silent") == 0  # every type exists from the start


def test_every_event_type_starts_at_zero(metrics: Metrics) -> None:
    found = {
        dict(labels)["type"]: v
        for (name, labels), v in samples(metrics).items()
        if name == "monitor_events_emitted_total"
    }
    assert found == dict.fromkeys(
        [
            "advisory.new",
            "advisory.changed",
            "advisory.cancelled",
            "advisory.expired",
            "source.failing",
            "source.recovered",
            "source.silent",
        ],
        0.0,
    )


def test_deliveries_count_by_notifier_and_outcome(metrics: Metrics) -> None:
    metrics.delivery(
        Report(
            "hook", entries=9, retries=2, delivered=3, filtered=1, retrying=2, dead=1,
            handed_back=1, lost=1, held=4,
        )
    )  # fmt: skip
    metrics.delivery(Report("hook", entries=2, delivered=2))
    metrics.delivery(Report("mail", entries=1, dead=1))

    def delivered(notifier: str, outcome: str) -> float | None:
        return value(metrics, "monitor_deliveries_total", notifier=notifier, outcome=outcome)

    assert delivered("hook", "delivered") == 5
    assert delivered("hook", "filtered") == 1
    assert delivered("hook", "retrying") == 2
    assert delivered("hook", "dead_lettered") == 1
    assert delivered("hook", "handed_back") == 1
    assert delivered("hook", "lost") == 1
    assert delivered("hook", "held") is None  # counted when the digest goes out
    assert delivered("mail", "dead_lettered") == 1
    assert delivered("mail", "delivered") == 0  # every outcome exists once a notifier ran
    assert value(metrics, "monitor_delivery_retries_total", notifier="hook") == 2
    assert value(metrics, "monitor_dead_letters_total", notifier="hook") == 1
    assert value(metrics, "monitor_dead_letters_total", notifier="mail") == 1


def test_delivery_latency_histogram_observes_each_delivered_event(metrics: Metrics) -> None:
    metrics.delivery(Report("hook", delivered=3, latencies=[0.004, 0.2, 4000.0]))
    metrics.delivery(Report("hook", delivered=1, latencies=[-0.5]))  # a clock a little ahead

    name = "monitor_delivery_latency_seconds"
    assert (LATENCY_BUCKETS[0], LATENCY_BUCKETS[-1]) == (0.005, 3600.0)
    assert value(metrics, f"{name}_count", notifier="hook") == 4
    assert value(metrics, f"{name}_sum", notifier="hook") == pytest.approx(4000.204)
    assert value(metrics, f"{name}_bucket", notifier="hook", le="0.005") == 2
    assert value(metrics, f"{name}_bucket", notifier="hook", le="0.25") == 3
    assert value(metrics, f"{name}_bucket", notifier="hook", le="3600.0") == 3
    assert value(metrics, f"{name}_bucket", notifier="hook", le="+Inf") == 4


def test_groups_set_lag_pending_and_waiting_retries(metrics: Metrics) -> None:
    metrics.groups([GroupStatus("hook", True, 7, 2, 1), GroupStatus("mail", True, 0, 0, 0)])

    assert value(metrics, "monitor_stream_lag", group="hook") == 7
    assert value(metrics, "monitor_stream_pending", group="hook") == 2
    assert value(metrics, "monitor_retries_waiting", group="hook") == 1
    assert value(metrics, "monitor_stream_lag", group="mail") == 0

    metrics.groups([GroupStatus("hook", True, 1, 0, 0), GroupStatus("mail", True, 3, 1, 0)])

    assert value(metrics, "monitor_stream_lag", group="hook") == 1
    assert value(metrics, "monitor_stream_pending", group="hook") == 0
    assert value(metrics, "monitor_stream_lag", group="mail") == 3


def test_a_group_no_longer_reported_loses_its_series(metrics: Metrics) -> None:
    metrics.groups([GroupStatus("hook", True, 7, 2, 1), GroupStatus("old", True, 4, 0, 2)])
    metrics.groups([GroupStatus("hook", True, 7, 2, 1)])

    assert value(metrics, "monitor_stream_lag", group="old") is None
    assert value(metrics, "monitor_stream_pending", group="old") is None
    assert value(metrics, "monitor_retries_waiting", group="old") is None
    assert value(metrics, "monitor_stream_lag", group="hook") == 7


def test_a_missing_group_has_no_lag_rather_than_a_false_zero(metrics: Metrics) -> None:
    metrics.groups([GroupStatus("hook", True, 5, 1, 0)])
    metrics.groups([GroupStatus("hook", False, 0, 0, 3)])

    assert value(metrics, "monitor_stream_lag", group="hook") is None
    assert value(metrics, "monitor_stream_pending", group="hook") is None
    assert value(metrics, "monitor_retries_waiting", group="hook") == 3


def test_lag_help_text_says_redis_6_only_tells_some_or_none(metrics: Metrics) -> None:
    body, _ = metrics.render()
    help_line = next(
        line for line in body.decode().splitlines() if line.startswith("# HELP monitor_stream_lag ")
    )
    assert "Redis 7" in help_line
    assert "6.2" in help_line


def test_loop_lag_and_redis_up_gauges(metrics: Metrics) -> None:
    assert value(metrics, "monitor_redis_up") == 0  # nothing checked yet
    metrics.loop_lag(0.25)
    metrics.redis_up(True)
    assert value(metrics, "monitor_loop_lag_seconds") == 0.25
    assert value(metrics, "monitor_redis_up") == 1
    metrics.redis_up(False)
    assert value(metrics, "monitor_redis_up") == 0


def test_render_answers_prometheus_text_with_its_content_type(metrics: Metrics) -> None:
    metrics.poll(PollReport("a", "ok", items=1, duration=0.1))
    body, content_type = metrics.render()

    assert content_type.startswith("text/plain")
    assert "version=" in content_type
    names = {family.name for family in text_string_to_metric_families(body.decode())}
    assert {
        "monitor_polls",
        "monitor_poll_items",
        "monitor_events_emitted",
        "monitor_poll_duration_seconds",
        "monitor_deliveries",
        "monitor_delivery_retries",
        "monitor_dead_letters",
        "monitor_delivery_latency_seconds",
        "monitor_stream_lag",
        "monitor_stream_pending",
        "monitor_retries_waiting",
        "monitor_loop_lag_seconds",
        "monitor_redis_up",
    } <= names
    assert all(math.isfinite(v) for v in samples(metrics).values())
