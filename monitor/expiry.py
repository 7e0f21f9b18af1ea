"""The expiry sweep: ``advisory.expired`` once for each advisory whose ``expires`` passed.

The emit script keeps an index of the advisories with an expiry still to announce (their
``expires`` as score, see :attr:`monitor.keys.Keys.expiries`), so a sweep reads only what is
due instead of scanning advisories. Every daemon runs the sweep; the expire script checks
that an entry is still due and that the advisory is at the version the sweep read before it
appends the event, so when several sweep at once each expiry is announced by one of them and
the others find nothing left to do.

Redis access stays in :class:`~monitor.store.Store`; this module is the loop around it, with
``now`` passed in, so tests say exactly when a sweep happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from monitor.logging import get_logger
from monitor.schedule import backoff_delay
from monitor.store import Store

log = get_logger("monitor.expiry")

SWEEP_LIMIT: Final = 100
"""Due advisories read and expired per round trip pair; a sweep goes on until fewer are due."""
MAX_BACKOFF: Final = 60.0
"""Longest wait between sweeps while Redis keeps failing (the interval doubles up to this)."""

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


async def sweep(store: Store, now: datetime, *, limit: int = SWEEP_LIMIT) -> list[str]:
    """Announce every expiry due at ``now``; the ids of the events this call appended.

    Reads ``limit`` due advisories at a time and expires them, until a batch is not full.
    A batch in which nothing settled (every advisory kept changing under pollers) ends the
    sweep too, rather than reading the same batch again: the next sweep retries it.
    """
    emitted: list[str] = []
    while True:
        due = await store.due_expiries(now, limit=limit)
        if not due:
            break
        outcomes = await store.expire(due, now=now)
        emitted.extend(o.event_id for o in outcomes if o.event_id is not None)
        settled = sum(o.status != "conflict" for o in outcomes)
        if len(due) < limit or settled == 0:
            break
    return emitted


async def run_expiry(
    store: Store,
    *,
    every: float,
    stop: asyncio.Event,
    on_expired: Callable[[int], None] | None = None,
    clock: Clock = utc_now,
) -> None:
    """Sweep every ``every`` seconds until ``stop`` is set; the first sweep runs at once.

    Never raises: a failed sweep (Redis away, a script error) is logged and the next one
    waits longer (``every`` doubling up to :data:`MAX_BACKOFF`), so the daemon keeps going
    and catches up when Redis is back; nothing is lost meanwhile, since due entries stay in
    the index until announced. ``on_expired`` gets the number of events of each sweep that
    appended some (the metrics).
    """
    if not (math.isfinite(every) and every > 0):
        raise ValueError(f"every must be a positive number of seconds, got {every}")
    failures = 0
    while not stop.is_set():
        error = await _sweep_once(store, clock, on_expired)
        failures = 0 if error is None else failures + 1
        delay = every if failures == 0 else backoff_delay(failures, every, MAX_BACKOFF)
        if error is not None:
            with contextlib.suppress(Exception):
                log.warning("expiry.failed", error=error, failures=failures, next_in=delay)
        if await _stopped(stop, delay):
            break


async def _sweep_once(
    store: Store, clock: Clock, on_expired: Callable[[int], None] | None
) -> str | None:
    """One sweep, with its log line and metrics; what went wrong, or None."""
    started = time.perf_counter()
    try:
        emitted = await sweep(store, clock())
    except Exception as exc:
        return str(exc) or repr(exc)
    if emitted:
        duration = time.perf_counter() - started
        # Reporting must not turn a sweep that worked into a failed one.
        with contextlib.suppress(Exception):
            log.info("expiry.swept", count=len(emitted), duration=round(duration, 3))
        if on_expired is not None:
            with contextlib.suppress(Exception):
                on_expired(len(emitted))
    return None


async def _stopped(stop: asyncio.Event, delay: float) -> bool:
    """Wait ``delay`` seconds or until ``stop`` is set; whether it was set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay)
    return stop.is_set()


__all__ = ["MAX_BACKOFF", "SWEEP_LIMIT", "run_expiry", "sweep"]
