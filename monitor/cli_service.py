"""The daemon's commands: ``run`` and ``check-config``.

``monitor run`` is the product as its users run it (see :mod:`monitor.app`); ``monitor
check-config`` reads the same configuration the daemon would, builds every notifier the way the
daemon would (so a secret missing from the environment shows now, not at 3 a.m.), and prints
what would run. Both take ``--config PATH`` after their name.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from monitor.cli_ingest import add_config_option, load_or_report
from monitor.config import Config, ConfigError, Filter, NotifierConfig, Source, load_config

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
ROLES = ("all", "poll", "deliver")


# --- run ------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    from monitor.logging import configure

    config = load_or_report(args)
    if config is None:
        return EXIT_USAGE
    configure()
    from monitor import app

    try:
        asyncio.run(app.run(config, role=args.role))
    except app.StartError as error:
        for line in str(error).splitlines():
            print(f"monitor: {line}", file=sys.stderr)
        return EXIT_FAILED
    except asyncio.CancelledError:  # a second signal: stopped without waiting for the grace
        print("monitor: stopped at once by a second signal", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def add_run(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the service: poll, detect, deliver, serve /healthz and /metrics",
        description=(
            "Run the daemon: the scheduler polls every enabled source, new and changed "
            "advisories go to the Redis stream, and the delivery engine sends them to every "
            "configured notifier (without a [[notifiers]] block: the terminal). Without a "
            "Redis URL (MONITOR_REDIS_URL or [redis] url) an embedded Redis server is started. "
            "SIGTERM or SIGINT stops it: deliveries in flight get [service] grace (5 s) to "
            "finish, the rest are handed back for the next process; a second signal stops at "
            "once. Several processes may share one Redis: each source is polled once per "
            "interval and each event delivered once per notifier between them."
        ),
    )
    add_config_option(parser)
    parser.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="poll: scheduler, pollers and expiry only; deliver: delivery engine only; "
        "all (default): both",
    )
    parser.set_defaults(handler=_cmd_run)


# --- check-config ---------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def _filter(rules: Filter) -> dict[str, Any]:
    """Only the rules that narrow anything; an empty dict means every advisory event."""
    found: dict[str, Any] = {}
    for name in ("countries", "categories", "issuers", "kinds", "events"):
        values = getattr(rules, name)
        if values:
            found[name] = list(values)
    if rules.min_level is not None:
        found["min_level"] = rules.min_level
    return found


def _target(notifier: NotifierConfig) -> str | None:
    from monitor.config import redact_url

    if notifier.kind == "email":
        smtp = redact_url(notifier.smtp_url) if notifier.smtp_url else "?"
        return f"{smtp} -> {', '.join(notifier.to)}"
    if notifier.url:
        return redact_url(notifier.url)
    if notifier.secret_env and notifier.kind == "apprise":
        return f"${notifier.secret_env}"
    return None


def _source_row(source: Source) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": source.id,
        "url": source.url,
        "format": source.format,
        "interval": _duration(source.interval),
        "enabled": source.enabled,
    }
    if source.issuer:
        row["issuer"] = source.issuer
    if source.discover is not None:
        row["detail_url"] = source.discover.detail_url
    return row


def _notifier_row(notifier: NotifierConfig, env: Mapping[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {"name": notifier.name, "kind": notifier.kind}
    target = _target(notifier)
    if target:
        row["target"] = target
    secrets = [v for v in (notifier.secret_env, notifier.password_env) if v]
    if secrets:  # whether each is set, never its value
        row["secrets"] = {f"${name}": bool(env.get(name)) for name in secrets}
    if notifier.digest is not None:
        row["digest"] = _duration(notifier.digest)
    row["filter"] = _filter(notifier.filter)
    return row


def describe(config: Config, env: Mapping[str, str]) -> dict[str, Any]:
    """What ``monitor run`` would run with ``config``, as plain data. Pure."""
    from monitor.config import redact_url

    redis = config.redis
    target = redact_url(redis.url) if redis.url else f"embedded server, data in {redis.data_dir}/"
    service = config.service
    health = (
        "off"
        if service.health_port < 0
        else f"http://{service.health_host}:{service.health_port or 'any'}/healthz"
    )
    return {
        "config": config.path,
        "redis": {"target": target, "prefix": redis.prefix, "stream_maxlen": redis.stream_maxlen},
        "service": {
            "grace": _duration(service.grace),
            "expiry_every": _duration(service.expiry_every),
            "health": health,
        },
        "sources": [_source_row(s) for s in config.sources],
        "notifiers": [_notifier_row(n, env) for n in config.notifiers],
    }


def _setup_problems(config: Config, env: Mapping[str, str]) -> list[str]:
    """Why a notifier could not be built (a secret missing from the environment...)."""
    from monitor.notifiers.base import NotifierSetupError
    from monitor.notifiers.registry import build_notifier

    problems: list[str] = []
    for index, settings in enumerate(config.notifiers):
        try:
            # No Redis here: a pubsub notifier is built without one only to check its settings.
            build_notifier(settings, prefix=config.redis.prefix, redis=_NO_REDIS, env=env)
        except NotifierSetupError as error:
            problems.append(f"notifiers[{index}]: {error}")
    return problems


class _NoRedis:
    """Stands in for a Redis client when building notifiers only to validate them."""


_NO_REDIS: Any = _NoRedis()


def _text(description: Mapping[str, Any]) -> str:
    lines = [f"configuration: {description['config'] or 'built-in defaults'}"]
    redis = description["redis"]
    lines.append(f"redis: {redis['target']} (prefix {redis['prefix']!r})")
    service = description["service"]
    lines.append(
        f"service: grace {service['grace']}, expiry sweep every {service['expiry_every']}, "
        f"health {service['health']}"
    )
    sources = description["sources"]
    enabled = sum(1 for s in sources if s["enabled"])
    lines.append(f"sources: {enabled} enabled of {len(sources)}")
    for s in sources:
        mark = "" if s["enabled"] else "  (disabled)"
        extra = f" -> {s['detail_url']}" if "detail_url" in s else ""
        lines.append(f"  {s['id']}  every {s['interval']}  {s['format']}  {s['url']}{extra}{mark}")
    notifiers = description["notifiers"]
    lines.append(f"notifiers: {len(notifiers)}")
    for n in notifiers:
        line = f"  {n['name']}  {n['kind']}"
        if "target" in n:
            line += f"  {n['target']}"
        if "digest" in n:
            line += f"  digest every {n['digest']}"
        lines.append(line)
        rules = n["filter"]
        lines.append(
            "    filter: "
            + (", ".join(f"{k}={v}" for k, v in rules.items()) if rules else "every advisory event")
        )
        for name, present in n.get("secrets", {}).items():
            lines.append(f"    secret {name}: {'set' if present else 'NOT SET'}")
    return "\n".join(lines)


def _cmd_check_config(args: argparse.Namespace) -> int:
    env = os.environ
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"monitor: {error}", file=sys.stderr)
        return EXIT_FAILED
    description = describe(config, env)
    problems = _setup_problems(config, env)
    if args.json:
        print(json.dumps({**description, "problems": problems}, ensure_ascii=False, indent=2))
    else:
        print(_text(description))
    for problem in problems:
        print(f"monitor: {config.path}: {problem}", file=sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK


def add_check_config(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check-config",
        help="validate the configuration and print what would run",
        description=(
            "Validate the configuration (and the environment variables its notifiers name) "
            "and print what `monitor run` would run: the Redis target, the sources, the "
            "notifiers with their filters. Exit 0 when it would start, 1 with messages naming "
            "each key at fault."
        ),
    )
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print the description as JSON")
    parser.set_defaults(handler=_cmd_check_config)
