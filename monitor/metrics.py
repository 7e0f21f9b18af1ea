"""The daemon's Prometheus metrics: what was polled, emitted and delivered, and what is left.

One :class:`Metrics` owns its own ``CollectorRegistry`` instead of the library's global one,
so several daemons in one test process (or one test after another) never share or collide on
a series. The event loop feeds it the reports it already produces — a
:class:`~monitor.poller.PollReport` per poll, a delivery :class:`~monitor.delivery.Report` per
batch, the groups' :class:`~monitor.groups.GroupStatus` now and then — and the health
endpoint's thread renders it; ``prometheus_client`` metrics are thread-safe, so neither side
waits for the other.

The metric names and labels are a contract with dashboards and alerts: docs/metrics.md lists
them, and a change there is a breaking change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from monitor import events

# The ``*_created`` series (a timestamp per counter) double the output and no dashboard of
# this service reads them; off for every registry in the process.
disable_created_metrics()  # type: ignore[no-untyped-call]

if TYPE_CHECKING:  # the types only: importing metrics must not load Redis or HTTP clients
    from monitor.delivery import Report
    from monitor.groups import GroupStatus
    from monitor.poller import PollReport

POLL_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
"""Seconds: a 304 from a nearby server takes ~10 ms, a slow feed with detail fetches a minute."""

LATENCY_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
)  # fmt: skip
"""Seconds from XADD to delivered: milliseconds when all is well, an hour for a retried one."""

SKIPPED_POLL: Final = "leased"
"""The outcome of a poll that did not run because another process holds the source."""

DELIVERY_OUTCOMES: Final = (
    "delivered",
    "filtered",
    "retrying",
    "dead_lettered",
    "handed_back",
    "lost",
)


def _delivery_counts(report: Report) -> dict[str, int]:
    """A batch's entries by outcome label. Digest entries ``held`` are counted when the digest
    goes out (as ``delivered``, or ``dead_lettered``), not when they are held, so an event is
    counted once."""
    return {
        "delivered": report.delivered,
        "filtered": report.filtered,
        "retrying": report.retrying,
        "dead_lettered": report.dead,
        "handed_back": report.handed_back,
        "lost": report.lost,
    }


class Metrics:
    """Every metric of one daemon, in its own registry (see the module docstring)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._declare_polling()
        self._declare_delivery()
        self._declare_state()
        self._groups: set[str] = set()
        for event_type in events.EVENT_TYPES:  # every type at 0 from the start, for rate()
            self._events.labels(event_type)

    def _declare_polling(self) -> None:
        r = self.registry
        self._polls = Counter(
            "monitor_polls_total",
            "Polls finished, by source and outcome (ok, not_modified, unchanged, partial, "
            "leased: skipped because another process holds the source, or a failure such "
            "as timeout, http_error, connection_error, not_a_feed, store_error).",
            ["source", "outcome"],
            registry=r,
        )
        self._items = Counter(
            "monitor_poll_items_total",
            "Items read from each source's feed (every item of every successful poll).",
            ["source"],
            registry=r,
        )
        self._events = Counter(
            "monitor_events_emitted_total",
            "Events this process appended to the events stream, by type.",
            ["type"],
            registry=r,
        )
        self._poll_seconds = Histogram(
            "monitor_poll_duration_seconds",
            "Duration of polls that ran (not the ones skipped as leased), in seconds.",
            ["source"],
            buckets=POLL_BUCKETS,
            registry=r,
        )

    def _declare_delivery(self) -> None:
        r = self.registry
        self._deliveries = Counter(
            "monitor_deliveries_total",
            "Events handled by each notifier, by outcome (delivered, filtered, retrying, "
            "dead_lettered, handed_back, lost).",
            ["notifier", "outcome"],
            registry=r,
        )
        self._retries = Counter(
            "monitor_delivery_retries_total",
            "Delivery attempts that were retries: entries taken from the notifier's retry set.",
            ["notifier"],
            registry=r,
        )
        self._dead = Counter(
            "monitor_dead_letters_total",
            "Events dead-lettered by each notifier (failed for good or out of attempts).",
            ["notifier"],
            registry=r,
        )
        self._latency = Histogram(
            "monitor_delivery_latency_seconds",
            "Seconds from an event's append to the stream (XADD) to its delivery.",
            ["notifier"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def _declare_state(self) -> None:
        r = self.registry
        self._lag = Gauge(
            "monitor_stream_lag",
            "Events not yet read by each notifier's group. Exact on Redis 7; on Redis 6.2 "
            "only 0 (none) or 1 (some), since the server does not count them.",
            ["group"],
            registry=r,
        )
        self._pending = Gauge(
            "monitor_stream_pending",
            "Events read by each group but not yet acknowledged (being delivered).",
            ["group"],
            registry=r,
        )
        self._waiting = Gauge(
            "monitor_retries_waiting",
            "Events in each group's retry set, waiting for their next attempt.",
            ["group"],
            registry=r,
        )
        self._loop_lag = Gauge(
            "monitor_loop_lag_seconds",
            "How late the event loop last woke the health watcher, in seconds.",
            registry=r,
        )
        self._redis_up = Gauge(
            "monitor_redis_up",
            "1 when Redis answered the health watcher's last ping, else 0.",
            registry=r,
        )

    # --- what the daemon reports --------------------------------------------------------------

    def poll(self, report: PollReport) -> None:
        """One finished poll: its outcome, items, duration and the events it emitted."""
        source = report.source_id
        self._polls.labels(source, report.outcome).inc()
        if report.outcome == SKIPPED_POLL:
            return
        self._items.labels(source).inc(max(report.items, 0))
        self._poll_seconds.labels(source).observe(max(report.duration, 0.0))
        self._count_events(
            (events.ADVISORY_NEW, report.new),
            (events.ADVISORY_CHANGED, report.changed),
            (events.ADVISORY_CANCELLED, report.cancelled),
        )
        self._count_events(*((event_type, 1) for event_type in report.events))

    def delivery(self, report: Report) -> None:
        """One delivery batch of one notifier (the engine's ``on_report``)."""
        notifier = report.notifier
        for outcome, count in _delivery_counts(report).items():
            # every outcome's series exists once the notifier has run, so rate() sees zeros
            self._deliveries.labels(notifier, outcome).inc(max(count, 0))
        self._retries.labels(notifier).inc(max(report.retries, 0))
        self._dead.labels(notifier).inc(max(report.dead, 0))
        histogram = self._latency.labels(notifier)
        for seconds in report.latencies:
            histogram.observe(max(seconds, 0.0))  # another host's clock may be a little ahead

    def expired(self, count: int) -> None:
        """``count`` advisory.expired events emitted by this process's expiry sweep."""
        self._count_events((events.ADVISORY_EXPIRED, count))

    def groups(self, found: Sequence[GroupStatus]) -> None:
        """The work each notifier's group has left. ``found`` is every configured group: a
        group no longer in it loses its series. A missing group (``exists`` False, recreated
        by the delivery engine) has no lag or pending series until it exists again — absent,
        rather than a zero that would read as "all delivered"."""
        names = {status.name for status in found}
        for gone in self._groups - names:
            self._forget(gone, (self._lag, self._pending, self._waiting))
        for status in found:
            self._waiting.labels(status.name).set(status.retrying)
            if status.exists:
                self._lag.labels(status.name).set(status.undelivered)
                self._pending.labels(status.name).set(status.pending)
            else:
                self._forget(status.name, (self._lag, self._pending))
        self._groups = names

    def loop_lag(self, seconds: float) -> None:
        self._loop_lag.set(max(seconds, 0.0))

    def redis_up(self, ok: bool) -> None:
        self._redis_up.set(1 if ok else 0)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    # --- helpers ------------------------------------------------------------------------------

    def _count_events(self, *counts: tuple[str, int]) -> None:
        for event_type, count in counts:
            if count > 0:
                self._events.labels(event_type).inc(count)

    @staticmethod
    def _forget(group: str, gauges: Iterable[Gauge]) -> None:
        for gauge in gauges:
            with contextlib.suppress(KeyError):  # never set: nothing to remove
                gauge.remove(group)


__all__ = ["DELIVERY_OUTCOMES", "LATENCY_BUCKETS", "POLL_BUCKETS", "Metrics"]
