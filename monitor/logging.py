"""The one structlog setup: JSON lines when stderr is not a terminal, readable on one.

One "canonical" line per unit of work (``poll.done`` with its counts and duration,
``delivery.batch`` per notifier batch); secrets never reach a log line because none is ever
passed to one.

Libraries that log through the standard library (apscheduler, httpx, asyncio) go through the
same renderer, so a container's log is JSON lines throughout; they are heard from at
``WARNING`` and above only (httpx's per-request ``INFO`` lines carry full URLs, apscheduler's
announce every job run).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

LIBRARY_LEVEL = logging.WARNING


class _Stderr:
    """Whatever ``sys.stderr`` is when a line is written (tests and daemons replace it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that looks ``sys.stderr`` up at each record, like :class:`_Stderr`."""

    def __init__(self) -> None:
        super().__init__(_Stderr())


def _name_as_logger(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """``logger_name`` → ``logger``, the key the standard library's records get too."""
    if "logger_name" in event:
        event["logger"] = event.pop("logger_name")
    return event


def configure(*, level: str = "info", json: bool | None = None) -> None:
    """Configure structlog and the standard library's root logger once."""
    as_json = not sys.stderr.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, _name_as_logger, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LIBRARY_LEVEL)


def get_logger(name: str) -> Any:
    # The name travels as an initial value of the lazy proxy, so it is bound when the logger
    # is first used, after ``configure``; ``_name_as_logger`` renames it (structlog reserves
    # the keyword ``logger``).
    return structlog.get_logger(logger_name=name)
