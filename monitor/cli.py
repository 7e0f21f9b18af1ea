"""The ``monitor`` command line.

Each subcommand is one ``_add_<name>`` function that declares its parser and sets ``handler``;
``main`` dispatches to it. Options belong to the subcommand, after its name
(``monitor poll --config PATH``), so commands added later (``poll``, ``run``, ``tail``,
``check-config``) can share a ``--config`` option through a parent parser without touching
the others. Handlers import heavy modules when they run, so that ``monitor schema`` does not
load the normaliser's gazetteers and ``monitor normalise`` will not load Redis or HTTP clients.

Errors about one input are reported as one line, ``monitor: PATH: problem``, on stderr, and
the command goes on with the next input; the exit status is 2 if any input failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, TypeAlias

from monitor import cli_check, cli_delivery, cli_demo, cli_ingest, cli_service
from monitor.models import json_schema
from monitor.normalise.inputs import FORMAT_NAMES, MAX_INPUT_BYTES, InputError, check_size

PROG = "monitor"
EXIT_OK = 0
EXIT_INPUT_FAILED = 2  # also what argparse uses for a usage error
STDIN = "-"

Handler = Callable[[argparse.Namespace], int]
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


# --- reading inputs -------------------------------------------------------------------------


def _read_bounded(stream: BinaryIO) -> bytes:
    """Read at most one byte more than the limit, so an endless stream cannot exhaust memory."""
    data = stream.read(MAX_INPUT_BYTES + 1)
    check_size(len(data), exact=False)
    return data


def read_input(path: str) -> bytes:
    """The bytes of ``path`` (``-`` for stdin), refusing an oversized file before reading it.

    The size check uses ``fstat`` on the opened file, so a 50 MB file costs one system call;
    pipes, FIFOs and devices have no meaningful size and are read with a bound instead.
    """
    if path == STDIN:
        return _read_bounded(sys.stdin.buffer)
    with Path(path).open("rb") as stream:
        info = os.fstat(stream.fileno())
        if stat.S_ISREG(info.st_mode):
            check_size(info.st_size)
        return _read_bounded(stream)


def _one_line(text: str) -> str:
    """Messages from parsers can span lines; the CLI promises one line per failed input."""
    return re.sub(r"\s+", " ", text).strip()


def _describe(error: BaseException) -> str:
    """A short, human message for an error, in the style of coreutils (``cat: x: ...``)."""
    if isinstance(error, InputError):
        return str(error)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return f"internal error: {type(error).__name__}: {error}"


def _report(path: str, error: BaseException) -> None:
    print(f"{PROG}: {path}: {_one_line(_describe(error))}", file=sys.stderr)


# --- monitor normalise ----------------------------------------------------------------------


def _country_code(value: str) -> str:
    code = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _source_for(path: str, source: str | None) -> str:
    """The configured source id, else the file's stem, else ``stdin``."""
    if source:
        return source
    return "stdin" if path == STDIN else Path(path).stem


def _cmd_normalise(args: argparse.Namespace) -> int:
    from monitor.normalise.api import normalise_bytes

    status = EXIT_OK
    for path in args.paths:
        try:
            advisories = normalise_bytes(
                read_input(path),
                source=_source_for(path, args.source),
                fmt=args.format,
                issuer=args.issuer,
            )
        except Exception as exc:  # one bad input (or a normaliser bug) must not stop the rest
            _report(path, exc)
            status = EXIT_INPUT_FAILED
            continue
        for advisory in advisories:
            sys.stdout.write(advisory.to_json() + "\n")
    return status


def _add_normalise(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "normalise",
        help="normalise feed files or articles to advisories, one JSON object per line",
        description=(
            "Read each input (a feed, an API payload or an article; '-' for stdin) and print "
            "one advisory per line as JSON. A bad input is reported on stderr and skipped."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="input file, or - for stdin")
    parser.add_argument(
        "--source", metavar="ID", help="source id for the advisory ids (default: file stem)"
    )
    parser.add_argument(
        "--format",
        default="auto",
        choices=("auto", *FORMAT_NAMES),
        help="input format (default: detect it)",
    )
    parser.add_argument(
        "--issuer",
        type=_country_code,
        metavar="CC",
        help="issuing government (ISO 3166-1 alpha-2) when the source does not say",
    )
    parser.set_defaults(handler=_cmd_normalise)


# --- monitor schema -------------------------------------------------------------------------


def schema_text() -> str:
    """The advisory JSON Schema exactly as ``docs/advisory.schema.json`` holds it."""
    return json.dumps(json_schema(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def _cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text())
    return EXIT_OK


def _add_schema(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of the advisory record",
        description="Print the JSON Schema of the advisory record (docs/advisory.schema.json).",
    )
    parser.set_defaults(handler=_cmd_schema)


# --- dispatch -------------------------------------------------------------------------------

COMMANDS: tuple[Callable[[SubParsers], None], ...] = (
    _add_normalise,
    _add_schema,
    cli_service.add_run,
    cli_service.add_check_config,
    cli_ingest.add_poll,
    cli_ingest.add_tail,
    cli_ingest.add_sources,
    cli_delivery.add_delivery,
    cli_check.add_check,
    cli_demo.add_demo,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Watch government travel and security advisories.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status instead of exiting, so tests can call it."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already printed by argparse
        return exit_.code if isinstance(exit_.code, int) else EXIT_OK
    handler: Handler = args.handler
    try:
        status = handler(args)
        sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe can't be caught
        return status
    except BrokenPipeError:
        # The reader went away (``monitor normalise ... | head``): stop quietly, and point
        # stdout at /dev/null so that the flush at interpreter exit does not fail again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130  # the shell's convention for SIGINT, without a traceback
