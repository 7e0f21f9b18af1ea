"""The ingestion commands: ``poll``, ``tail`` and ``sources``.

Each takes ``--config PATH`` after its name; without it ``MONITOR_CONFIG`` or
``config/monitor.toml`` is used. A configuration error is one message naming the file and
the key, and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

from monitor.config import Config, ConfigError, Source, load_config

EXIT_OK = 0
EXIT_USAGE = 2


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="configuration file (default: $MONITOR_CONFIG, else config/monitor.toml)",
    )


def load_or_report(args: argparse.Namespace) -> Config | None:
    """The configuration named by ``--config``, or None after printing why it is wrong."""
    try:
        return load_config(args.config)
    except ConfigError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return None


def _selected(config: Config, ids: Sequence[str] | None) -> list[Source] | None:
    if not ids:
        return [s for s in config.sources if s.enabled]
    known = {s.id: s for s in config.sources}
    unknown = [i for i in ids if i not in known]
    if unknown:
        print(f"monitor: unknown source id(s): {', '.join(unknown)}", file=sys.stderr)
        return None
    return [known[i] for i in ids]


# --- poll -----------------------------------------------------------------------------------


async def _poll_once(config: Config, sources: list[Source]) -> int:
    from monitor.runtime import open_runtime

    async with open_runtime(config) as runtime:
        reports = await asyncio.gather(*(runtime.poller.poll(s) for s in sources))
    for report in reports:
        print(report.line(), flush=True)
    return EXIT_OK


async def _poll_forever(config: Config, sources: list[Source]) -> int:
    from monitor.runtime import open_runtime
    from monitor.scheduler import PollScheduler

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    async with open_runtime(config) as runtime:
        scheduler = PollScheduler(
            runtime.poller,
            runtime.store,
            tuple(sources),
            jitter=config.poll.jitter,
            max_backoff=config.poll.max_backoff,
        )
        scheduler.start()
        try:
            await stop.wait()
        finally:
            scheduler.shutdown()
    return EXIT_OK


def _cmd_poll(args: argparse.Namespace) -> int:
    from monitor.logging import configure

    config = load_or_report(args)
    if config is None:
        return EXIT_USAGE
    sources = _selected(config, args.source)
    if sources is None:
        return EXIT_USAGE
    configure()
    if args.once:
        return asyncio.run(_poll_once(config, sources))
    return asyncio.run(_poll_forever(config, sources))


def add_poll(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "poll",
        help="poll the configured sources and emit new or changed advisories",
        description=(
            "Poll sources, detect new and changed advisories and append one event per new "
            "version to the Redis stream. With --once: poll each source now, print one line "
            "per source (id, outcome, items, new, changed, duration) and exit 0, even when a "
            "source failed (the failure is in the line and in Redis)."
        ),
    )
    add_config_option(parser)
    parser.add_argument("--once", action="store_true", help="poll every source once and exit")
    parser.add_argument(
        "--source", action="append", metavar="ID", help="only this source (repeatable)"
    )
    parser.set_defaults(handler=_cmd_poll)


# --- tail -----------------------------------------------------------------------------------


async def _tail(config: Config, *, from_start: bool, count: int | None) -> int:
    from monitor.runtime import redis_url
    from monitor.store import Store

    store = Store.from_url(
        redis_url(config), prefix=config.redis.prefix, stream_maxlen=config.redis.stream_maxlen
    )
    try:
        if count is not None:
            chosen = await (store.first_events(count) if from_start else store.last_events(count))
            for _, event in chosen:
                print(json.dumps(event, ensure_ascii=False), flush=True)
            return EXIT_OK
        last = "0-0" if from_start else "$"
        while True:
            for entry_id, event in await store.read_events(last, count=100, block_ms=5000):
                last = entry_id
                print(json.dumps(event, ensure_ascii=False), flush=True)
    finally:
        await store.aclose()


def _cmd_tail(args: argparse.Namespace) -> int:
    config = load_or_report(args)
    if config is None:
        return EXIT_USAGE
    if args.count is not None and args.count < 0:
        print("monitor: --count must be 0 or more", file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(_tail(config, from_start=args.from_start, count=args.count))


def add_tail(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tail",
        help="print stream events as JSON lines",
        description=(
            "Print events of the Redis stream as JSON lines (type, event_id, advisory_id, "
            "version, advisory and changes as JSON values). Follows new events unless "
            "--count is given: then it prints at most N events already in the stream (the "
            "first N with --from-start, else the last N) and exits."
        ),
    )
    add_config_option(parser)
    parser.add_argument("--from-start", action="store_true", help="start at the oldest event")
    parser.add_argument("--count", type=int, metavar="N", help="print at most N events and exit")
    parser.set_defaults(handler=_cmd_tail)


# --- sources --------------------------------------------------------------------------------

STATE_COLUMNS = ("last_outcome", "consecutive_failures", "next_due", "last_new", "last_success")


async def _source_rows(config: Config) -> list[dict[str, Any]]:
    from monitor.runtime import redis_url
    from monitor.store import Store

    store = Store.from_url(
        redis_url(config), prefix=config.redis.prefix, stream_maxlen=config.redis.stream_maxlen
    )
    rows: list[dict[str, Any]] = []
    try:
        states = await store.source_states([s.id for s in config.sources])
        for source in config.sources:
            state = states.get(source.id, {})
            row: dict[str, Any] = {"id": source.id, "enabled": source.enabled, "url": source.url}
            for column in STATE_COLUMNS:
                row[column] = state.get(column) or None
            row["consecutive_failures"] = int(row["consecutive_failures"] or 0)
            row["last_error"] = state.get("last_error") or None
            rows.append(row)
    finally:
        await store.aclose()
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    headers = ("id", "outcome", "failures", "next due", "last new")
    body = [
        (
            str(r["id"]) + ("" if r["enabled"] else " (disabled)"),
            r["last_outcome"] or "-",
            str(r["consecutive_failures"]),
            (r["next_due"] or "-")[:19],
            (r["last_new"] or "-")[:19],
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in body)) if body else len(h)
              for i, h in enumerate(headers)]  # fmt: skip
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in body]
    return "\n".join(lines)


def _cmd_sources(args: argparse.Namespace) -> int:
    config = load_or_report(args)
    if config is None:
        return EXIT_USAGE
    rows = asyncio.run(_source_rows(config))
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    else:
        print(_table(rows))
    return EXIT_OK


def add_sources(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sources",
        help="show each source's state",
        description="Show each configured source's state: last outcome, consecutive "
        "failures, next due, last new item. A table on a terminal; JSON lines with --json.",
    )
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per source")
    parser.set_defaults(handler=_cmd_sources)
