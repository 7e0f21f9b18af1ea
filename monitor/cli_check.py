"""``monitor check``: ask a running daemon's ``/healthz``; the container health check.

It must be quick and must not need what the daemon needs (Redis, notifiers' secrets): it reads
only the ``[service]`` section to find the endpoint, makes one HTTP request with the standard
library, prints one line and exits 0 (healthy), 1 (unhealthy or unreachable) or 2 (it cannot
tell where to ask: a configuration error, the endpoint turned off, or a port picked at start).
Proxies from the environment are ignored: the endpoint is local, and a container's
``HTTP_PROXY`` must not turn a loopback check into a request through a proxy.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from monitor.cli_ingest import add_config_option, load_or_report

if TYPE_CHECKING:
    from monitor.config import ServiceSettings

EXIT_OK: Final = 0
EXIT_UNHEALTHY: Final = 1
EXIT_USAGE: Final = 2
DEFAULT_TIMEOUT: Final = 3.0
MAX_BODY: Final = 64 * 1024
ANY_ADDRESS: Final = frozenset({"0.0.0.0", "::", "[::]", ""})


class _Unusable(Exception):
    """No endpoint to ask; the message says why (exit status 2)."""


def health_url(service: ServiceSettings) -> str:
    """The ``/healthz`` URL of the configured listener. A wildcard listen address is asked
    on 127.0.0.1, which it includes."""
    if service.health_port == -1:
        raise _Unusable("the health endpoint is turned off (service.health_port = -1)")
    if service.health_port == 0:
        raise _Unusable(
            "service.health_port = 0 picks a port at start; give the endpoint with --url"
        )
    host = service.health_host.strip()
    host = "127.0.0.1" if host in ANY_ADDRESS else host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{service.health_port}/healthz"


def _describe(error: BaseException) -> str:
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, TimeoutError):
        return "no answer in time"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _verdict(status: int, body: bytes) -> tuple[int, str]:
    """The exit status and line for an HTTP answer."""
    try:
        report = json.loads(body)
    except ValueError:
        report = None
    if not isinstance(report, dict):
        return EXIT_UNHEALTHY, f"unhealthy: HTTP {status}, not a health report"
    if status == 200 and report.get("status") == "ok":
        return EXIT_OK, "ok"
    reasons = report.get("reasons")
    listed = [str(r) for r in reasons] if isinstance(reasons, list) else []
    return EXIT_UNHEALTHY, f"unhealthy: {'; '.join(listed) or f'HTTP {status}'}"


def check(url: str, timeout: float) -> tuple[int, str]:
    """Ask ``url`` once; the exit status and the line to print."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with opener.open(request, timeout=timeout) as response:
            return _verdict(response.status, response.read(MAX_BODY))
    except urllib.error.HTTPError as answer:  # 503 and friends: still an answer to read
        with answer:
            return _verdict(answer.code, answer.read(MAX_BODY))
    except (urllib.error.URLError, OSError, ValueError) as error:
        return EXIT_UNHEALTHY, f"unreachable: {url}: {_describe(error)}"
    except http.client.HTTPException as error:  # something answered, but not HTTP
        detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return EXIT_UNHEALTHY, f"unhealthy: {url} did not answer in HTTP ({detail})"


def _target(args: argparse.Namespace) -> str | None:
    """The URL to ask, or None after printing why there is none."""
    if args.url:
        if urlsplit(args.url).scheme not in ("http", "https"):
            print(f"monitor: --url: {args.url!r} is not an http(s) URL", file=sys.stderr)
            return None
        return str(args.url)
    config = load_or_report(args)
    if config is None:
        return None
    try:
        return health_url(config.service)
    except _Unusable as problem:
        print(f"monitor: {problem}", file=sys.stderr)
        return None


def _cmd_check(args: argparse.Namespace) -> int:
    url = _target(args)
    if url is None:
        return EXIT_USAGE
    status, line = check(url, args.timeout)
    print(line)
    return status


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 300:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds in (0, 300]")
    return seconds


def add_check(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help="ask a running daemon whether it is healthy (container health check)",
        description=(
            "GET the daemon's /healthz (the [service] health_host and health_port of the "
            "configuration, or --url) and print 'ok' or why not. Exit status: 0 healthy, "
            "1 unhealthy or unreachable, 2 configuration error or no endpoint to ask."
        ),
    )
    add_config_option(parser)
    parser.add_argument(
        "--url",
        metavar="URL",
        help="ask this endpoint instead (e.g. http://127.0.0.1:9180/healthz); no config read",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up after this long (default: {DEFAULT_TIMEOUT:g})",
    )
    parser.set_defaults(handler=_cmd_check)


__all__ = ["add_check", "check", "health_url"]
