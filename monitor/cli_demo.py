"""``monitor demo``: the whole pipeline offline, in one command (see :mod:`monitor.demo`).

It takes no configuration: what it runs is built in code, against bundled feeds and a Redis
of its own, so it works on a fresh machine with no network and leaves nothing behind. Exit 0
when the change it makes has been shown, 1 with a message when it was not (within
``--timeout``), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from monitor.demo import DEFAULT_TIMEOUT


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 5 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 5 to 3600 seconds")
    return value


def _cmd_demo(args: argparse.Namespace) -> int:
    from monitor import demo
    from monitor.logging import configure

    # The daemon's logs go to stderr; at info they would bury the story told on stdout.
    configure(level="info" if args.verbose else "warning")
    options = demo.DemoOptions(timeout=args.timeout, quiet=args.quiet, verbose=args.verbose)
    try:
        return asyncio.run(demo.run_demo(options, sys.stdout))
    except demo.Interrupted as error:
        print(f"monitor demo: {error}", file=sys.stderr)
        return demo.EXIT_INTERRUPTED
    except demo.DemoFailed as error:
        for line in str(error).splitlines():
            print(f"monitor demo: {line}", file=sys.stderr)
        return demo.EXIT_FAILED


def add_demo(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="see the whole pipeline work offline, on bundled real feeds, in about 10 s",
        description=(
            "Serve bundled real feeds (U.S. State Department, GOV.UK, Global Affairs Canada, "
            "GDACS) on a loopback port, run the daemon against them with an embedded Redis "
            "in a temporary directory, the console notifier and a local webhook receiver "
            "that verifies each signature, then raise one advisory's level in the served "
            "feed and show the advisory.changed event arrive. It stops by itself, removes "
            "what it made and prints what it showed. No network, no configuration: neither "
            "config/monitor.toml, var/ nor MONITOR_REDIS_URL is used."
        ),
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="give up (exit 1) if the change has not arrived by then "
        f"(default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no console notifier and no narration: only the summary",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="the daemon's info logs on stderr as well"
    )
    parser.set_defaults(handler=_cmd_demo)
