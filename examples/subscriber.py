"""A Redis consumer of the monitor's events stream, with a consumer group of its own.

Run it beside ``monitor poll`` (or ``monitor run``)::

    python examples/subscriber.py --redis-url redis://127.0.0.1:6379/0
    python examples/subscriber.py --group my-dashboard --from-start --count 10

It prints one line per event and acknowledges each entry after handling it. Being a consumer
group, it gets every event appended while it is stopped as soon as it starts again, and after a
crash it first handles the entries it had read but not yet acknowledged (its pending entries):
delivery is at least once, so a handler should be idempotent, keyed on ``event_id``, which is
the same every time one event is delivered. Several copies with the same ``--group`` and
different ``--consumer`` names share the work; another ``--group`` gets its own copy of every
event. The stream's fields and event types are in ``docs/events.md`` and
``docs/events.schema.json``.

Standalone: it needs the ``redis`` package only, not the monitor, so it can be copied into
another project.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis

JSON_FIELDS = ("advisory", "changes")
INT_FIELDS = ("version", "consecutive_failures")


def decode(fields: Mapping[bytes, bytes]) -> dict[str, Any]:
    """A stream entry as values: ``advisory`` and ``changes`` are JSON text on the stream."""
    event: dict[str, Any] = {}
    for raw_key, raw_value in fields.items():
        key, value = raw_key.decode(), raw_value.decode()
        if key in JSON_FIELDS:
            event[key] = json.loads(value)
        elif key in INT_FIELDS and value.lstrip("-").isdigit():
            event[key] = int(value)
        else:
            event[key] = value
    return event


def handle(stream_id: str, event: Mapping[str, Any]) -> None:
    """What this subscriber does with an event: here, print it. Make yours idempotent."""
    advisory = event.get("advisory")
    if isinstance(advisory, dict):
        level = advisory.get("level") or "-"
        countries = ",".join(advisory.get("countries") or []) or "-"
        what = f"L{level} {countries} {advisory.get('title', '')}"
    else:
        what = f"{event.get('source', '')} {event.get('error', '')}".strip()
    print(f"{stream_id} {event.get('type')} {event.get('event_id')} {what}", flush=True)


def ensure_group(client: redis.Redis, stream: str, group: str, *, from_start: bool) -> None:
    """Create the group (and the stream, if none yet): at the end of the stream, so only new
    events, unless ``from_start``. A group that exists already keeps its position."""
    try:
        client.xgroup_create(stream, group, id="0" if from_start else "$", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


Entries = list[tuple[bytes, dict[bytes, bytes]]]


def read(client: redis.Redis, stream: str, group: str, consumer: str, start: str) -> Entries:
    """One XREADGROUP: ``start="0"`` re-reads this consumer's pending entries (after a crash),
    ``">"`` waits up to 5 s for entries no consumer of the group has been given yet."""
    block = None if start == "0" else 5000
    reply = client.xreadgroup(group, consumer, {stream: start}, count=100, block=block)
    streams = cast(list[tuple[bytes, Entries]], reply or [])
    return [entry for _name, entries in streams for entry in entries]


def consume(
    client: redis.Redis, stream: str, group: str, consumer: str, *, limit: int | None
) -> int:
    """Handle and acknowledge events until ``limit`` were handled (forever without one)."""
    handled = 0
    start = "0"  # first our own pending entries, then new ones
    while limit is None or handled < limit:
        try:
            entries = read(client, stream, group, consumer, start)
        except redis.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            # Redis lost the group (a restart without persistence): make it again, carry on.
            ensure_group(client, stream, group, from_start=False)
            continue
        if start == "0" and not entries:
            start = ">"
            continue
        for entry_id, fields in entries:
            if not fields:  # pending, but trimmed off the stream meanwhile: nothing to handle
                client.xack(stream, group, entry_id)
                continue
            handle(entry_id.decode(), decode(fields))
            client.xack(stream, group, entry_id)  # only after handling: at least once
            handled += 1
            if limit is not None and handled >= limit:
                break
    return handled


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the monitor's events as they happen.")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("MONITOR_REDIS_URL") or "redis://127.0.0.1:6379/0",
        help="the monitor's Redis (default: $MONITOR_REDIS_URL, else redis://127.0.0.1:6379/0)",
    )
    parser.add_argument("--prefix", default=os.environ.get("MONITOR_REDIS_PREFIX") or "monitor:")
    parser.add_argument("--group", default="example-subscriber", help="the consumer group")
    parser.add_argument(
        "--consumer",
        default=f"{socket.gethostname()}-{os.getpid()}",
        help="this consumer's name within the group (keep it across restarts to resume)",
    )
    parser.add_argument(
        "--from-start", action="store_true", help="a new group starts at the oldest event"
    )
    parser.add_argument("--count", type=int, help="exit after handling this many events")
    args = parser.parse_args(argv)

    stream = f"{args.prefix}events"
    client = redis.Redis.from_url(args.redis_url)
    try:
        ensure_group(client, stream, args.group, from_start=args.from_start)
        consume(client, stream, args.group, args.consumer, limit=args.count)
    except KeyboardInterrupt:
        return 0
    except redis.RedisError as error:
        print(f"subscriber: {error}", file=sys.stderr)
        return 1
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
