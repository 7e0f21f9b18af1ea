"""What every notifier is to the delivery engine.

An event is the decoded stream entry (``events.decode_entry``: ``type``, ``event_id``,
``advisory_id``, ``version``, ``source``, ``advisory`` and ``changes`` as JSON values,
``emitted_at``) plus ``stream_id``. A notifier decides whether it wants the event (its
filter, a pure function of the event), sends it, and reports failure as a
``DeliveryError`` that says whether trying again can help.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

Event = Mapping[str, Any]


class DeliveryError(Exception):
    """A failed delivery. ``retryable``: timeouts, connection errors, 429 and 5xx; not
    other 4xx or an invalid address. ``detail`` is one line for logs and dead letters
    and never contains a secret."""

    def __init__(self, detail: str, *, retryable: bool, status: int | None = None,
                 retry_after: float | None = None) -> None:  # fmt: skip
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class Notifier(Protocol):
    name: str
    kind: str

    def wants(self, event: Event) -> bool:
        """Whether the event passes this notifier's filter (pure)."""
        ...

    async def send(self, event: Event) -> str:
        """Deliver one event; return what the receiver answered (one line). Raises
        ``DeliveryError`` on failure."""
        ...

    async def aclose(self) -> None: ...
