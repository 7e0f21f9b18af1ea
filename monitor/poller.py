"""One poll of one source: lease, fetch, parse and normalise, detect and emit, record.

A poll never raises: every failure (network, HTTP, unreadable body, Redis) becomes a
named outcome in the report, in the source's state in Redis and, after enough of them in
a row, one ``source.failing`` event. Discovery sources (the GOV.UK index, Canada's
all-countries file) are first-class: their items are not emitted themselves; each item
whose change token moved leads to a fetch of its detail document, whose advisories are.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from monitor.config import Config, Source
from monitor.fetch import Fetcher, FetchResult, Outcome, Validators
from monitor.store import EmitOutcome, Store
from monitor.worker import Normalised, ParseJob, ParseResult, advisory_items, parse_and_normalise

Clock = Callable[[], datetime]


LEASE_WRITE_TIMEOUT = 0.5  # seconds a poll's last lease write may take


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PollReport:
    """The canonical summary of one poll (one log line, one CLI line)."""

    source_id: str
    outcome: str
    items: int = 0
    new: int = 0
    changed: int = 0
    cancelled: int = 0
    editorial: int = 0
    other: int = 0
    unchanged: int = 0
    details: int = 0  # detail documents fetched by a discovery source
    duration: float = 0.0
    error: str | None = None
    retry_after: float | None = None
    events: tuple[str, ...] = field(default=())  # source.* events this poll emitted

    @property
    def failed(self) -> bool:
        return self.outcome not in {o.value for o in Outcome if not o.failed} | {"leased"}

    def line(self) -> str:
        text = (
            f"{self.source_id}  {self.outcome}  items={self.items} new={self.new} "
            f"changed={self.changed} duration={self.duration:.2f}s"
        )
        if self.cancelled:
            text += f" cancelled={self.cancelled}"
        if self.details:
            text += f" details={self.details}"
        if self.error:
            text += f"  error={self.error}"
        return text


ParseRunner = Callable[[ParseJob], Awaitable[ParseResult]]


def process_runner(pool: Executor | None) -> ParseRunner:
    """Run parse jobs in ``pool`` (a process pool), or inline when there is none."""

    async def run(job: ParseJob) -> ParseResult:
        if pool is None:
            return parse_and_normalise(job)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, parse_and_normalise, job)

    return run


def discovered_key(advisory: Normalised) -> str:
    """The issuer's key of a discovered item: its id without the source prefix."""
    return advisory.id.split(":", 1)[1] if ":" in advisory.id else advisory.id


def change_token(advisory: Normalised) -> str:
    return f"{advisory.updated or ''}|{advisory.content_hash}"


class Poller:
    def __init__(
        self,
        config: Config,
        store: Store,
        fetcher: Fetcher,
        run_parse: ParseRunner,
        *,
        owner: str,
        clock: Clock = utc_now,
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.run_parse = run_parse
        self.owner = owner
        self.clock = clock

    async def poll(self, source: Source, *, hold_lease: bool = False) -> PollReport:
        """Poll ``source`` now. ``hold_lease``: keep the lease for the whole interval (the
        scheduler: once per interval across every process); otherwise release it at the
        end (``monitor poll --once``)."""
        started = time.monotonic()
        # The scheduler holds a source for its whole interval, renewing its own lease at
        # each poll, so the fleet polls it once per interval and another process takes it
        # only when the holder stops. A one-off poll holds it only while it runs.
        ttl = source.interval if hold_lease else max(self.config.http.total_timeout * 4, 5.0)
        ttl_ms = int(ttl * 1000)
        try:
            if not await self._take_lease(source.id, ttl_ms, renew=hold_lease):
                return PollReport(source.id, "leased", duration=time.monotonic() - started)
        except Exception as exc:  # Redis down: report, never raise
            return PollReport(source.id, "store_error", error=_one_line(exc),
                              duration=time.monotonic() - started)  # fmt: skip
        # A poll can outlast its interval (a slow server, a first poll warming the worker
        # pool): the lease is renewed while it runs, and once more at its end so the next
        # interval counts from there, so no other process polls the source meanwhile.
        keeper = asyncio.create_task(self._keep_lease(source.id, ttl_ms)) if hold_lease else None
        try:
            report = await self._poll(source)
        except Exception as exc:
            report = PollReport(source.id, "store_error", error=_one_line(exc))
        finally:
            if keeper is not None:
                keeper.cancel()
                await asyncio.gather(keeper, return_exceptions=True)
            # Bounded: a poll cancelled at a stop must not wait out a Redis that stopped
            # answering (otherwise the lease expires by itself).
            with contextlib.suppress(Exception):
                async with asyncio.timeout(LEASE_WRITE_TIMEOUT):
                    if hold_lease:
                        await self.store.renew_lease(source.id, self.owner, ttl_ms)
                    else:
                        await self.store.release_lease(source.id, self.owner)
        return replace(report, duration=time.monotonic() - started)

    async def _keep_lease(self, source_id: str, ttl_ms: int) -> None:
        while True:
            await asyncio.sleep(ttl_ms / 2000)
            with contextlib.suppress(Exception):  # Redis away: the poll reports it anyway
                await self.store.renew_lease(source_id, self.owner, ttl_ms)

    async def _take_lease(self, source_id: str, ttl_ms: int, *, renew: bool) -> bool:
        if await self.store.acquire_lease(source_id, self.owner, ttl_ms):
            return True
        return renew and await self.store.renew_lease(source_id, self.owner, ttl_ms)

    async def _poll(self, source: Source) -> PollReport:
        state = await self.store.source_state(source.id)
        previous = Validators(
            etag=state.get("etag") or None,
            last_modified=state.get("last_modified") or None,
            body_hash=state.get("body_hash") or None,
        )
        fetched = await self.fetcher.fetch(
            source.url, previous, expect_html=source.format == "html"
        )
        if fetched.outcome.failed:
            return await self._failed(source, fetched.outcome.value, fetched.error,
                                      fetched.retry_after, fetched)  # fmt: skip
        if fetched.outcome in (Outcome.NOT_MODIFIED, Outcome.UNCHANGED):
            events = await self._succeeded(source, fetched, state, new=0)
            return PollReport(source.id, fetched.outcome.value, events=events)
        known = {} if source.discover else await self.store.item_hashes(source.id)
        parsed = await self.run_parse(
            ParseJob(source.id, fetched.body, source.format, source.issuer, known)
        )
        if parsed.error:
            return await self._failed(source, "not_a_feed", parsed.error, None, fetched)
        if source.discover:
            return await self._discover(source, fetched, parsed, state)
        advisories, other = advisory_items(parsed)
        outcomes = await self.store.emit(advisories, now=self.clock())
        gone = set(known) - set(parsed.item_hashes)
        # Only the hashes that moved: the rest are stored already (a changed 200-item feed
        # rewrote 200 fields to change two).
        moved = {k: v for k, v in parsed.item_hashes.items() if known.get(k) != v}
        await self.store.set_item_hashes(source.id, moved, remove=gone)
        report = _count(source.id, "ok", outcomes, items=parsed.items, other=other,
                        unchanged=parsed.unchanged)  # fmt: skip
        events = await self._succeeded(source, fetched, state, new=report.new + report.changed)
        return replace(report, events=events)

    async def _discover(
        self, source: Source, fetched: FetchResult, index: ParseResult, state: dict[str, str]
    ) -> PollReport:
        """Fetch the detail document of every discovered item whose token moved."""
        assert source.discover is not None
        seen = await self.store.discovered(source.id)
        changed = [a for a in index.advisories if seen.get(a.id) != change_token(a)]
        results = await asyncio.gather(*(self._detail(source, a) for a in changed))
        outcomes: list[EmitOutcome] = []
        tokens: dict[str, str] = {}
        failures: list[str] = []
        other = 0
        for advisory, (ok, emitted, skipped, error) in zip(changed, results, strict=True):
            outcomes.extend(emitted)
            other += skipped
            if ok:
                tokens[advisory.id] = change_token(advisory)
            else:
                failures.append(f"{advisory.id}: {error}")
        if tokens:
            await self.store.set_discovered(source.id, tokens)
        outcome = "ok" if not failures else "partial"
        report = _count(source.id, outcome, outcomes, items=index.items, other=other,
                        unchanged=index.items - len(changed), details=len(changed))  # fmt: skip
        if failures:
            report = replace(report, error=f"{len(failures)} detail(s) failed; {failures[0]}")
        events = await self._succeeded(source, fetched, state, new=report.new + report.changed)
        return replace(report, events=events)

    async def _detail(
        self, source: Source, advisory: Normalised
    ) -> tuple[bool, Sequence[EmitOutcome], int, str | None]:
        assert source.discover is not None
        url = source.discover.detail_url_for(discovered_key(advisory), advisory.url or "")
        fetched = await self.fetcher.fetch(url)
        if fetched.outcome.failed:
            return False, (), 0, f"{fetched.outcome.value} {fetched.error or ''}".strip()
        parsed = await self.run_parse(
            ParseJob(source.id, fetched.body, source.discover.detail_format, source.issuer)
        )
        if parsed.error:
            return False, (), 0, parsed.error
        advisories, other = advisory_items(parsed)
        return True, await self.store.emit(advisories, now=self.clock()), other, None

    async def _failed(
        self,
        source: Source,
        outcome: str,
        error: str | None,
        retry_after: float | None,
        fetched: FetchResult,
    ) -> PollReport:
        health = await self.store.record_failure(
            source.id,
            outcome=outcome,
            error=error or outcome,
            now=self.clock(),
            threshold=self.config.poll.failing_after,
            fields={"retry_after": f"{retry_after:g}" if retry_after else ""},
        )
        events = (health.event_type,) if health.event_type else ()
        return PollReport(source.id, outcome, error=error, retry_after=retry_after,
                          events=events)  # fmt: skip

    async def _succeeded(
        self, source: Source, fetched: FetchResult, state: dict[str, str], *, new: int
    ) -> tuple[str, ...]:
        """Record a good poll; announce recovery, and silence when nothing new came for
        longer than the source's configured or learned cadence."""
        now = self.clock()
        validators = fetched.validators
        fields: dict[str, str | int | float] = {
            "etag": validators.etag or "",
            "last_modified": validators.last_modified or "",
            "body_hash": validators.body_hash or "",
            "retry_after": "",
        }
        last_new = _parse_time(state.get("last_new"))
        cadence = _float(state.get("cadence"))
        if new and last_new is not None:
            gap = (now - last_new).total_seconds()
            cadence = gap if cadence is None else 0.7 * cadence + 0.3 * gap
            fields["cadence"] = f"{cadence:.1f}"
        health = await self.store.record_success(
            source.id, outcome=fetched.outcome.value, now=now, new_items=new, fields=fields
        )
        events = [health.event_type] if health.event_type else []
        threshold = self.silent_after(source, cadence)
        if not new and last_new is not None and (now - last_new).total_seconds() > threshold:
            silent = await self.store.emit_silent(
                source.id, last_new=state.get("last_new"), now=now, cadence_seconds=threshold
            )
            if silent.event_type:
                events.append(silent.event_type)
        return tuple(events)

    def silent_after(self, source: Source, cadence: float | None) -> float:
        """How long without anything new before a source is reported silent."""
        if source.silent_after is not None:
            return source.silent_after
        return max(source.interval, cadence or 0.0) * self.config.poll.silent_factor


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _count(
    source_id: str,
    outcome: str,
    outcomes: Sequence[EmitOutcome],
    *,
    items: int,
    other: int,
    unchanged: int,
    details: int = 0,
) -> PollReport:
    tally = {"new": 0, "changed": 0, "cancelled": 0, "editorial": 0, "unchanged": 0}
    for result in outcomes:
        tally[result.status] = tally.get(result.status, 0) + 1
    return PollReport(
        source_id,
        outcome,
        items=items,
        new=tally["new"],
        changed=tally["changed"],
        cancelled=tally["cancelled"],
        editorial=tally["editorial"],
        other=other,
        unchanged=unchanged + tally["unchanged"],
        details=details,
    )


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]
