"""The delivery commands: ``deliver``, ``dlq list|replay|purge`` and ``notify-test``.

Each takes ``--config PATH`` after its name (``monitor dlq list --config PATH``). A
configuration error, an unknown notifier or a notifier that cannot be built (a secret missing
from the environment) is one message on stderr and exit status 2; Redis not answering is
exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.cli_ingest import add_config_option, load_or_report
from monitor.config import Config, NotifierConfig

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from monitor.dead_letters import DeadLetter
    from monitor.notifiers.base import Notifier

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
ERROR_COLUMN = 60


def _notifiers(config: Config, names: Sequence[str] | None) -> list[NotifierConfig] | None:
    """The selected notifiers' configuration (all without ``names``); None after a message."""
    if not names:
        return list(config.notifiers)
    chosen: list[NotifierConfig] = []
    for name in dict.fromkeys(names):
        try:
            chosen.append(config.notifier(name))
        except KeyError as error:
            print(f"monitor: {error}", file=sys.stderr)
            return None
    return chosen


def _client(config: Config) -> aioredis.Redis:
    import redis.asyncio as aioredis

    from monitor.runtime import redis_url

    return aioredis.Redis.from_url(redis_url(config))


async def _answers(client: aioredis.Redis) -> bool:
    from redis.exceptions import RedisError

    from monitor.groups import resolved

    try:
        await resolved(client.ping())
    except (RedisError, OSError) as error:
        print(f"monitor: Redis does not answer: {error}", file=sys.stderr)
        return False
    return True


def _build(config: Config, chosen: Sequence[NotifierConfig], client: aioredis.Redis | None
           ) -> list[Notifier] | None:  # fmt: skip
    from monitor.notifiers.base import NotifierSetupError
    from monitor.notifiers.registry import build_notifier

    built: list[Notifier] = []
    problems: list[str] = []
    for settings in chosen:
        try:
            built.append(build_notifier(settings, prefix=config.redis.prefix, redis=client))
        except NotifierSetupError as error:
            problems.append(str(error))
    for problem in problems:
        print(f"monitor: {problem}", file=sys.stderr)
    return None if problems else built


# --- deliver --------------------------------------------------------------------------------


async def _deliver(config: Config, chosen: list[NotifierConfig], *, until_idle: bool) -> int:
    from monitor.delivery import Channel, DeliveryEngine, EngineOptions
    from monitor.groups import prepare_groups
    from monitor.keys import Keys

    client = _client(config)
    notifiers: list[Notifier] = []
    try:
        if not await _answers(client):
            return EXIT_FAILED
        built = _build(config, chosen, client)
        if built is None:
            return EXIT_USAGE
        notifiers = built
        keys = Keys(config.redis.prefix)
        everyone = [n.name for n in config.notifiers]
        await prepare_groups(client, keys, everyone)
        engine = DeliveryEngine(
            client,
            keys,
            [Channel(n, s) for n, s in zip(notifiers, chosen, strict=True)],
            options=EngineOptions(keep=config.redis.stream_maxlen),
            configured=everyone,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        await engine.run(stop, until_idle=until_idle)
        return EXIT_OK
    finally:
        for notifier in notifiers:
            with contextlib.suppress(Exception):
                await notifier.aclose()
        await client.aclose()


def _cmd_deliver(args: argparse.Namespace) -> int:
    from monitor.logging import configure

    config = load_or_report(args)
    if config is None:
        return EXIT_USAGE
    chosen = _notifiers(config, args.notifier)
    if chosen is None:
        return EXIT_USAGE
    if not chosen:
        where = config.path or "the built-in defaults"
        print(f"monitor: no notifiers in {where}: nothing to deliver", file=sys.stderr)
        return EXIT_USAGE
    configure()
    return asyncio.run(_deliver(config, chosen, until_idle=args.until_idle))


def add_deliver(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "deliver",
        help="deliver stream events to the configured notifiers",
        description=(
            "Run the delivery engine alone: each notifier reads the events stream through "
            "its own consumer group, retries failures on its schedule and dead-letters what "
            "keeps failing. One log line per batch on stderr. Stops on SIGINT/SIGTERM, "
            "finishing deliveries in flight. With --until-idle it exits 0 once no event is "
            "undelivered, pending or waiting for a retry in any selected notifier's group."
        ),
    )
    add_config_option(parser)
    parser.add_argument(
        "--notifier", action="append", metavar="NAME", help="only this notifier (repeatable)"
    )
    parser.add_argument(
        "--until-idle", action="store_true", help="exit once there is nothing left to deliver"
    )
    parser.set_defaults(handler=_cmd_deliver)


# --- dlq ------------------------------------------------------------------------------------


def _table(letters: Sequence[DeadLetter]) -> str:
    headers = ("id", "notifier", "event id", "attempts", "failed at", "error")
    body = [
        (
            d.id,
            d.notifier,
            d.event_id,
            str(d.attempts),
            d.failed_at[:19],
            _cut(f"{d.status} {d.error}" if d.status else d.error, ERROR_COLUMN),
        )
        for d in letters
    ]
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h)
              for i, h in enumerate(headers)]  # fmt: skip
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in body]  # fmt: skip
    return "\n".join(lines)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _dlq_list(config: Config, *, notifier: str | None, as_json: bool) -> int:
    from monitor.dead_letters import list_letters
    from monitor.keys import Keys

    client = _client(config)
    try:
        if not await _answers(client):
            return EXIT_FAILED
        letters = await list_letters(client, Keys(config.redis.prefix), notifier=notifier)
    finally:
        await client.aclose()
    if as_json:
        for letter in letters:
            print(json.dumps(letter.row(), ensure_ascii=False))
    elif letters:
        print(_table(letters))
    else:
        print("no dead letters")
    return EXIT_OK


async def _dlq_replay(config: Config, ids: Sequence[str], *, every: bool,
                      notifier: str | None) -> int:  # fmt: skip
    from monitor.dead_letters import find, list_letters, replay
    from monitor.groups import prepare_groups
    from monitor.keys import Keys

    keys = Keys(config.redis.prefix)
    known = {n.name for n in config.notifiers}
    client = _client(config)
    status = EXIT_OK
    try:
        if not await _answers(client):
            return EXIT_FAILED
        if every:
            letters = await list_letters(client, keys, notifier=notifier)
        else:
            found = await find(client, keys, ids)
            for missing in (i for i in dict.fromkeys(ids) if i not in found):
                print(f"monitor: no dead letter {missing!r}", file=sys.stderr)
                status = EXIT_FAILED
            letters = list(found.values())
        chosen = []
        for letter in letters:
            if letter.notifier in known:
                chosen.append(letter)
                continue
            print(
                f"monitor: dead letter {letter.id}: notifier {letter.notifier!r} is not in "
                "the configuration; not replayed",
                file=sys.stderr,
            )
            status = EXIT_FAILED
        await prepare_groups(client, keys, sorted({d.notifier for d in chosen}))
        done = await replay(client, keys, chosen, now_ms=int(time.time() * 1000))
    finally:
        await client.aclose()
    print(f"replayed {done} dead letter{'' if done == 1 else 's'}")
    return status


async def _dlq_purge(config: Config, *, notifier: str | None, yes: bool) -> int:
    from monitor.dead_letters import list_letters, purge
    from monitor.keys import Keys

    keys = Keys(config.redis.prefix)
    client = _client(config)
    try:
        if not await _answers(client):
            return EXIT_FAILED
        count = len(await list_letters(client, keys, notifier=notifier))
        if count == 0:
            print("no dead letters")
            return EXIT_OK
        if not yes:
            if not sys.stdin.isatty():
                print(f"monitor: {count} dead letters; add --yes to delete them", file=sys.stderr)
                return EXIT_USAGE
            answer = input(f"delete {count} dead letter{'' if count == 1 else 's'}? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing deleted")
                return EXIT_OK
        deleted = await purge(client, keys, notifier=notifier)
    finally:
        await client.aclose()
    print(f"deleted {deleted} dead letter{'' if deleted == 1 else 's'}")
    return EXIT_OK


def _cmd_dlq(args: argparse.Namespace) -> int:
    config = load_or_report(args)
    if config is None:
        return EXIT_USAGE
    if args.dlq_command == "list":
        return asyncio.run(_dlq_list(config, notifier=args.notifier, as_json=args.json))
    if args.dlq_command == "replay":
        if bool(args.ids) == bool(args.all):
            print("monitor: dlq replay: give dead-letter ids or --all", file=sys.stderr)
            return EXIT_USAGE
        if args.notifier and not args.all:
            print("monitor: dlq replay: --notifier goes with --all", file=sys.stderr)
            return EXIT_USAGE
        return asyncio.run(_dlq_replay(config, args.ids, every=args.all, notifier=args.notifier))
    return asyncio.run(_dlq_purge(config, notifier=args.notifier, yes=args.yes))


def add_dlq(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dlq",
        help="list, replay or purge dead-lettered deliveries",
        description=(
            "Deliveries that failed for good, or ran out of retries, wait in the dead-letter "
            "stream with their notifier, attempts and last error."
        ),
    )
    commands = parser.add_subparsers(dest="dlq_command", metavar="COMMAND", required=True)
    listing = commands.add_parser(
        "list",
        help="show the dead letters",
        description="Show every dead letter, oldest first: a table, or JSON lines with --json.",
    )
    add_config_option(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per dead letter")
    listing.add_argument("--notifier", metavar="NAME", help="only this notifier's")
    again = commands.add_parser(
        "replay",
        help="deliver dead letters again",
        description=(
            "Hand dead letters back to their notifier's consumer group, due now, with the "
            "whole retry schedule ahead of them; the same event id goes out again, so a "
            "receiver that saw an earlier attempt recognises it. The dead letters are deleted "
            "once handed back; a running `monitor deliver` (or `run`) delivers them."
        ),
    )
    add_config_option(again)
    again.add_argument("ids", nargs="*", metavar="ID", help="dead-letter id (from `dlq list`)")
    again.add_argument("--all", action="store_true", help="every dead letter")
    again.add_argument("--notifier", metavar="NAME", help="with --all: only this notifier's")
    purge = commands.add_parser(
        "purge",
        help="delete dead letters",
        description="Delete every dead letter (or one notifier's). Asks first on a terminal.",
    )
    add_config_option(purge)
    purge.add_argument("--yes", action="store_true", help="do not ask")
    purge.add_argument("--notifier", metavar="NAME", help="only this notifier's")
    parser.set_defaults(handler=_cmd_dlq)


# --- notify-test ----------------------------------------------------------------------------


async def _notify_test(config: Config, settings: NotifierConfig) -> int:
    from monitor.notifiers.base import DeliveryError
    from monitor.retry import send_deadline
    from monitor.sample import sample_event

    client = _client(config) if settings.kind == "pubsub" else None
    try:
        built = _build(config, [settings], client)
        if built is None:
            return EXIT_USAGE
        (notifier,) = built
        event = sample_event(datetime.now(UTC))
        if not notifier.wants(event):
            print(
                f"monitor: note: the filter of {settings.name!r} would not pass this sample; "
                "sending it anyway",
                file=sys.stderr,
            )
        deadline = send_deadline(settings.timeout)
        try:
            answer = await asyncio.wait_for(notifier.send(event), deadline)
        except DeliveryError as error:
            status = f" (status {error.status})" if error.status is not None else ""
            kind = "retryable" if error.retryable else "permanent"
            print(f"monitor: notify-test {settings.name}: {kind} failure{status}: "
                  f"{error.detail}", file=sys.stderr)  # fmt: skip
            return EXIT_FAILED
        except TimeoutError:
            print(f"monitor: notify-test {settings.name}: no answer within {deadline:g}s",
                  file=sys.stderr)  # fmt: skip
            return EXIT_FAILED
        finally:
            await notifier.aclose()
        print(f"{settings.name} ({settings.kind}): sent {event['event_id']}: {answer}")
        return EXIT_OK
    finally:
        if client is not None:
            await client.aclose()


def _cmd_notify_test(args: argparse.Namespace) -> int:
    config = load_or_report(args)
    if config is None:
        return EXIT_USAGE
    chosen = _notifiers(config, [args.name])
    if chosen is None:
        return EXIT_USAGE
    return asyncio.run(_notify_test(config, chosen[0]))


def add_notify_test(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "notify-test",
        help="send a sample advisory through one notifier now",
        description=(
            "Send a sample advisory (the reference case: warnings of attacks in Moscow) "
            "through the notifier NAME now, bypassing the stream and its filter, and print "
            "what the receiver answered; exit 1 with the error when it failed."
        ),
    )
    add_config_option(parser)
    parser.add_argument("name", metavar="NAME", help="a notifier in the configuration")
    parser.set_defaults(handler=_cmd_notify_test)


def add_delivery(subparsers: Any) -> None:
    """Every delivery command (what ``cli.COMMANDS`` lists)."""
    add_deliver(subparsers)
    add_dlq(subparsers)
    add_notify_test(subparsers)


__all__ = ["add_deliver", "add_delivery", "add_dlq", "add_notify_test"]
