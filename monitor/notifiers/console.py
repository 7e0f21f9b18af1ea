"""The console notifier: one readable line per event on standard output.

On by default (a configuration without ``[[notifiers]]`` gets one), so a new user sees alerts
in the terminal where ``monitor run`` works. :func:`format_line` is pure; the notifier only
prints it. Feed text reaches a terminal here, so every control character (an ANSI escape in a
title could rewrite the screen) is replaced and every line break folded before printing::

    2024-03-08 12:00Z advisory.changed  L3→4 RU,UA Russia - Level 4: Do Not Travel | leave …
    2024-03-08 12:05Z source.failing    us-embassy-ru: timeout (3 failures in a row)
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from monitor.config import NotifierConfig
from monitor.filters import event_countries, matches
from monitor.notifiers.base import DeliveryError, Event

TITLE_CHARS = 160
ADVICE_CHARS = 100
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s+")


def clean(text: Any, limit: int | None = None) -> str:
    """``text`` on one line, without control characters, cut to ``limit`` characters with ``…``."""
    one_line = _SPACES.sub(" ", _UNSAFE.sub(" ", str(text))).strip()
    if limit is not None and len(one_line) > limit:
        return one_line[: limit - 1].rstrip() + "…"
    return one_line


def format_line(event: Mapping[str, Any]) -> str:
    """One line: time, type, level, countries, title, first advice, link (those it has)."""
    event_type = clean(event.get("type", "?"))
    when = _when(event.get("emitted_at"))
    advisory = event.get("advisory")
    if not isinstance(advisory, Mapping):
        return f"{when} {event_type:<17} {_source_detail(event)}"
    parts = [
        f"{when} {event_type:<17}",
        _level(advisory.get("level"), event.get("changes")),
        ",".join(event_countries(event)) or "-",
        clean(advisory.get("title") or advisory.get("id") or "(untitled)", TITLE_CHARS),
    ]
    head = " ".join(parts)
    advice = advisory.get("advice")
    tail = []
    if isinstance(advice, list) and advice:
        tail.append(clean(advice[0], ADVICE_CHARS))
    if isinstance(advisory.get("url"), str) and advisory["url"]:
        tail.append(clean(advisory["url"]))
    return " | ".join([head, *tail])


def _when(emitted_at: Any) -> str:
    """``2024-03-08T12:00:00.000Z`` as ``2024-03-08 12:00Z``: minutes are enough to read."""
    text = clean(emitted_at or "")
    if len(text) >= 16 and text[10] == "T":
        return f"{text[:10]} {text[11:16]}Z"
    return text or "-"


def _level(level: Any, changes: Any) -> str:
    """``L3``, ``L-`` without a level, ``L3→4`` when this event changed it."""
    now = str(level) if isinstance(level, int) and not isinstance(level, bool) else "-"
    if isinstance(changes, list):
        for change in changes:
            if isinstance(change, Mapping) and change.get("field") == "level":
                old = change.get("old")
                was = str(old) if isinstance(old, int) and not isinstance(old, bool) else "-"
                return f"L{was}→{now}"
    return f"L{now}"


def _source_detail(event: Mapping[str, Any]) -> str:
    """What a source-health event says: the source, and why when it failed."""
    text = clean(event.get("source", "?"))
    reason = ", ".join(clean(event[k]) for k in ("outcome", "error") if event.get(k))
    if event.get("type") == "source.silent":
        since = clean(event.get("last_new") or "")
        reason = f"nothing new since {since}" if since else "nothing new yet"
    if reason:
        text += f": {clean(reason, TITLE_CHARS)}"
    failures = event.get("consecutive_failures")
    if event.get("type") == "source.failing" and isinstance(failures, int):
        text += f" ({failures} failures in a row)"
    return text


class ConsoleNotifier:
    """Prints :func:`format_line` of each wanted event to ``stream`` (standard output)."""

    kind = "console"

    def __init__(self, config: NotifierConfig, *, stream: TextIO | None = None) -> None:
        self.config = config
        self.name = config.name
        self._stream = stream

    def __repr__(self) -> str:
        return f"ConsoleNotifier(name={self.name!r})"

    def wants(self, event: Event) -> bool:
        return matches(self.config.filter, event)

    async def send(self, event: Event) -> str:
        stream = self._stream if self._stream is not None else sys.stdout
        try:
            print(format_line(event), file=stream, flush=True)
        except (OSError, ValueError) as error:  # a closed pipe, a closed file
            raise DeliveryError(f"cannot print: {error}", retryable=False) from None
        return "printed"

    async def aclose(self) -> None:
        """Nothing to close: the stream belongs to the process."""


__all__ = ["ConsoleNotifier", "clean", "format_line"]
