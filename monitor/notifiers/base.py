"""What every notifier is to the delivery engine.

An event is the decoded stream entry (``events.decode_entry``: ``type``, ``event_id``,
``advisory_id``, ``version``, ``source``, ``advisory`` and ``changes`` as JSON values,
``emitted_at``) plus ``stream_id``. A notifier decides whether it wants the event (its
filter, a pure function of the event), sends it, and reports failure as a
``DeliveryError`` that says whether trying again can help.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

Event = Mapping[str, Any]

FIELD_ORDER = (
    "type",
    "event_id",
    "advisory_id",
    "version",
    "source",
    "emitted_at",
    "stream_id",
    "advisory",
    "changes",
)
"""Key order of an event sent out (webhook ``data``, pub/sub messages): identity first, the
bulky advisory last, any other field after them, sorted."""


def ordered(event: Event) -> dict[str, Any]:
    """The event's fields in :data:`FIELD_ORDER`, so equal events serialise to equal text."""
    known = [name for name in FIELD_ORDER if name in event]
    rest = sorted(name for name in event if name not in FIELD_ORDER)
    return {name: event[name] for name in (*known, *rest)}


def event_json(event: Event) -> str:
    """The event as compact JSON text in a stable key order (UTF-8, not ASCII-escaped)."""
    return json.dumps(ordered(event), ensure_ascii=False, separators=(",", ":"))


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


class NotifierSetupError(Exception):
    """A notifier cannot be built: a missing or malformed secret in the environment, a URL its
    library does not know, a dependency that is not installed. The message names the notifier
    and the environment variable, never a secret's value."""


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
