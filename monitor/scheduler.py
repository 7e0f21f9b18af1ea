"""apscheduler wiring: one job per source, re-armed after each poll.

Each job is a one-shot date trigger that the finished poll re-arms with the delay from
``schedule.next_delay`` (interval, jitter, back-off after failures, Retry-After), so runs
of one source never overlap and a failing source slows down but is never dropped. The
Redis lease held for a whole interval makes several processes poll each source once per
interval between them; when the holder dies its lease expires and another takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from monitor.config import Source
from monitor.logging import get_logger
from monitor.poller import Clock, Poller, PollReport, utc_now
from monitor.schedule import next_delay
from monitor.store import Store

log = get_logger("monitor.scheduler")


class PollScheduler:
    def __init__(
        self,
        poller: Poller,
        store: Store,
        sources: tuple[Source, ...],
        *,
        jitter: float,
        max_backoff: float,
        clock: Clock = utc_now,
        rand: Callable[[], float] = random.random,
        on_report: Callable[[PollReport], None] | None = None,
    ) -> None:
        self.poller = poller
        self.store = store
        self.sources = tuple(s for s in sources if s.enabled)
        self.jitter = jitter
        self.max_backoff = max_backoff
        self.clock = clock
        self.rand = rand
        self.on_report = on_report
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.running: set[asyncio.Task[object]] = set()  # polls in flight
        self.stopped = False

    def start(self) -> None:
        now = self.clock()
        for source in self.sources:
            # Spread the first polls over a fraction of each interval: a fleet restart
            # does not hit every server at the same second.
            first = now + timedelta(seconds=self.rand() * min(source.interval, 30.0) * 0.5)
            self._arm(source, first)
        self.scheduler.start()

    def shutdown(self) -> None:
        """Stop now: no new poll, and apscheduler cancels the polls in flight."""
        self.stopped = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def pause(self) -> None:
        """Start no new poll; polls in flight go on."""
        self.stopped = True
        if self.scheduler.running:
            self.scheduler.pause()

    async def drain(self, grace: float) -> int:
        """Stop gracefully: no new poll, up to ``grace`` seconds for the polls in flight, then
        cancel the rest and shut down. Returns how many polls were cancelled.

        Cancelling a poll is safe: each advisory's compare-and-emit is one atomic script, and
        what the cancelled poll did not record (item hashes, validators) only makes the next
        poll look again and find the same fingerprints.
        """
        self.pause()
        running = {t for t in self.running if not t.done()}
        late: set[asyncio.Task[object]] = set()
        if running:
            _, late = await asyncio.wait(running, timeout=max(grace, 0.0))
        for task in late:
            task.cancel()
        if late:  # a cancelled poll ends at once, unless cleanup waits on a stuck Redis
            await asyncio.wait(late, timeout=1.0)
        if late:
            log.warning("poll.cancelled_at_stop", sources=len(late))
        self.shutdown()
        return len(late)

    def _arm(self, source: Source, when: object) -> None:
        self.scheduler.add_job(
            self._run,
            trigger=DateTrigger(run_date=when, timezone="UTC"),
            args=[source],
            id=source.id,
            replace_existing=True,
            max_instances=1,
            misfire_grace_time=None,
        )

    async def _run(self, source: Source) -> None:
        """Poll, then always re-arm: nothing after the poll may drop the source."""
        if self.stopped:
            return
        task = asyncio.current_task()
        if task is not None:
            self.running.add(task)
        delay = source.interval
        try:
            report = await self.poller.poll(source, hold_lease=True)
            delay = await self._next_delay(source, report)
            log.info("poll.done", **_fields(report), next_in=round(delay, 1))
            if self.on_report is not None:
                self.on_report(report)
        except Exception as exc:  # a bug in reporting must not stop the schedule
            with contextlib.suppress(Exception):
                log.error("poll.crashed", source=source.id, error=repr(exc))
        except asyncio.CancelledError:
            # Stopping (drain or shutdown): the job ends here rather than as an error in
            # apscheduler's log; nothing of the poll needs undoing (see drain).
            log.info("poll.cancelled", source=source.id)
        finally:
            if task is not None:
                self.running.discard(task)
            if not self.stopped:
                self._arm(source, self.clock() + timedelta(seconds=delay))

    async def _next_delay(self, source: Source, report: PollReport) -> float:
        failures = 0
        try:
            state = await self.store.source_state(source.id)
            failures = int(state.get("consecutive_failures") or 0)
        except Exception as exc:  # Redis away: keep the loop, retry with back-off
            log.warning("source.state_unavailable", source=source.id, error=str(exc))
            failures = 1
        delay = next_delay(
            interval=source.interval,
            failures=failures,
            retry_after=report.retry_after,
            max_backoff=self.max_backoff,
            jitter=self.jitter,
            rand=self.rand(),
        )
        due = self.clock() + timedelta(seconds=delay)
        with contextlib.suppress(Exception):  # state is informative; the job is re-armed anyway
            await self.store.update_source(source.id, {"next_due": due.isoformat()})
        return delay


def _fields(report: PollReport) -> dict[str, object]:
    return {
        "source": report.source_id,
        "outcome": report.outcome,
        "items": report.items,
        "new": report.new,
        "changed": report.changed,
        "cancelled": report.cancelled,
        "editorial": report.editorial,
        "other": report.other,
        "unchanged": report.unchanged,
        "details": report.details,
        "duration": round(report.duration, 3),
        "error": report.error,
        "events": list(report.events),
    }
