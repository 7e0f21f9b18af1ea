"""When to poll a source next: pure arithmetic of its interval, its failures and server hints.

Nothing here reads a clock or draws a random number. The caller passes ``now`` and ``rand``,
so the scheduler and its tests get the same answer for the same inputs (the shape of
miniflux's ``ScheduleNextCheck`` without its hidden ``time.Now()``, and of arq's
``next_cron(previous_dt, ...)``).

Polling never gives up: however many failures a source has, the next delay is finite and
capped, so a source that comes back is picked up again within ``max_backoff``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MIN_DELAY = 1.0
"""No poll is ever scheduled sooner than this many seconds after the previous one."""

MAX_RETRY_AFTER = 24 * 3600.0
"""A server asking for more than a day of silence is capped: we still check back daily."""

_MAX_EXPONENT = 62
"""2**62 times any sane interval is far beyond any cap; it keeps the float finite."""


def backoff_delay(failures: int, interval: float, max_backoff: float) -> float:
    """The un-jittered delay after ``failures`` consecutive failures.

    ``interval * 2**failures``, capped at ``max(max_backoff, interval)`` so that a cap
    configured below the interval never makes a failing source poll *faster* than a
    healthy one. ``failures <= 0`` is a healthy source: the interval itself.
    """
    _require_finite_positive("interval", interval)
    _require_finite_positive("max_backoff", max_backoff)
    cap = max(max_backoff, interval)
    if failures <= 0:
        return interval
    return min(interval * 2.0 ** min(failures, _MAX_EXPONENT), cap)


def next_delay(
    *,
    interval: float,
    failures: int,
    retry_after: float | None,
    max_backoff: float,
    jitter: float,
    rand: float,
) -> float:
    """Seconds until the next poll of one source (one URL).

    The back-off delay is spread by ``±jitter`` of itself (``rand`` in [0, 1) picks the
    point: 0 is the earliest, ~1 the latest), so sources that failed together do not
    retry together. A ``retry_after`` from a 429/503 is a floor: the result is never
    earlier than it; when it wins, the spread goes above it only, for the same reason.
    The result is at least ``MIN_DELAY``.
    """
    if not 0.0 <= rand < 1.0:
        raise ValueError(f"rand must be in [0, 1), got {rand!r}")
    spread = min(max(jitter, 0.0), 1.0)
    base = backoff_delay(failures, interval, max_backoff)
    delay = base * (1.0 + spread * (2.0 * rand - 1.0))
    if retry_after is not None and math.isfinite(retry_after) and retry_after > delay:
        delay = retry_after * (1.0 + spread * rand)
    return max(delay, MIN_DELAY)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a server asked us to wait, from a ``Retry-After`` header value.

    Either delta-seconds (``"120"``) or an HTTP-date (``"Wed, 21 Oct 2015 07:28:00 GMT"``),
    measured from ``now`` (pass the response's ``Date`` when there is one, so clock skew
    between us and the server does not matter). Absent, negative, past or unparsable
    values give ``None``: no floor. Values are capped at ``MAX_RETRY_AFTER``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return min(float(int(text)), MAX_RETRY_AFTER)
    when = _http_date(text)
    if when is None:
        return None
    seconds = (when - _aware(now)).total_seconds()
    if seconds <= 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


def _http_date(text: str) -> datetime | None:
    """An HTTP-date (or any RFC 5322 date) as an aware datetime, or ``None``."""
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return _aware(when)


def _aware(when: datetime) -> datetime:
    """HTTP dates are GMT; a naive datetime is read as UTC rather than local time."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _require_finite_positive(name: str, value: float) -> None:
    """A zero, negative or infinite interval is a configuration bug; say so loudly."""
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number of seconds, got {value!r}")
