"""When a failed delivery is tried again, and when it is given up. Pure: no clock, no I/O.

A notifier's schedule (``retry = ["2s", "10s", "1m", "5m", "30m"]``) lists the delay before
each retry: after the first failure the event waits about 2 s, after the second about 10 s, and
after a failure with no delay left it goes to the dead-letter stream. So ``len(delays) + 1``
attempts in all. A permanent failure (``DeliveryError.retryable`` false) is dead-lettered at
once, whatever is left of the schedule.

Each delay is spread by ``±jitter`` (20 %), so that many events that failed together (an
endpoint down for a minute) do not come back in one burst. A receiver's ``Retry-After`` is
honoured as a floor, capped at :data:`MAX_RETRY_AFTER` so that a confused server cannot park an
event for days. The random draw is an argument (``draw`` in ``[0, 1)``), so tests name it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

DEFAULT_JITTER: Final = 0.2
MAX_RETRY_AFTER: Final = 3600.0
MIN_CLAIM_MARGIN: Final = 2.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A notifier's retry schedule: ``delays[i]`` seconds before retry ``i + 1``."""

    delays: tuple[float, ...]
    jitter: float = DEFAULT_JITTER
    max_retry_after: float = MAX_RETRY_AFTER

    def __post_init__(self) -> None:
        if any(not math.isfinite(d) or d < 0 for d in self.delays):
            raise ValueError(f"retry delays must be finite and >= 0, got {self.delays}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")

    @property
    def max_attempts(self) -> int:
        """Attempts before an event is dead-lettered: the first plus one per delay."""
        return len(self.delays) + 1

    def next_delay(
        self,
        failures: int,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        draw: float = 0.5,
    ) -> float | None:
        """Seconds to wait before the next attempt after ``failures`` failed attempts (the
        one that just failed included), or ``None``: dead-letter it now.

        ``draw`` in ``[0, 1)`` places the delay in ``[d·(1-jitter), d·(1+jitter)]``; 0.5 is
        the delay as configured.
        """
        if failures < 1:
            raise ValueError(f"failures counts the failed attempts, at least 1, got {failures}")
        if not retryable or failures > len(self.delays):
            return None
        base = self.delays[failures - 1]
        delay = base * (1 + self.jitter * (2 * min(max(draw, 0.0), 1.0) - 1))
        if retry_after is not None and math.isfinite(retry_after) and retry_after > 0:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay


def policy(delays: Sequence[float], *, jitter: float = DEFAULT_JITTER) -> RetryPolicy:
    return RetryPolicy(tuple(float(d) for d in delays), jitter=jitter)


def claim_idle(timeout: float) -> float:
    """How long an entry must sit untouched before another consumer may take it over.

    Longer than one delivery attempt (``timeout``) by a margin: a live engine touches the
    entries it holds more often than that (see ``delivery``), so only a dead or frozen
    consumer's entries ever get this old.
    """
    return timeout + max(timeout, MIN_CLAIM_MARGIN)


def send_deadline(timeout: float) -> float:
    """The engine's own bound on one attempt, a little past the notifier's ``timeout``, for a
    notifier that does not keep its own."""
    return timeout + max(1.0, timeout / 2)


__all__ = ["RetryPolicy", "claim_idle", "policy", "send_deadline"]
