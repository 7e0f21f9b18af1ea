"""The sample advisory ``monitor notify-test`` sends: the reference case, as an event.

The advisory is the normaliser's record of ``tests/fixtures/reference/sample-article.txt`` (the
US, UK and Canadian warnings of attacks in Moscow, March 2024), shipped as package data
(``monitor/data/sample_advisory.json``) so an installed ``monitor`` has it without the tests
and without loading the normaliser. ``python -m monitor.sample ARTICLE`` writes it again from
the article (a unit test says when the normaliser's output has moved away from it).

Each test event has an id of its own (``{advisory_id}:test-{time}``): a receiver that drops a
``webhook-id`` it has seen must not drop the second test of the day.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

from monitor import events

SAMPLE: Final = "sample_advisory.json"
SOURCE: Final = "reference"


def sample_advisory() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (files("monitor") / "data" / SAMPLE).read_text(encoding="utf-8")
    )
    return data


def sample_event(now: datetime) -> dict[str, Any]:
    """An ``advisory.new`` event of the sample advisory, emitted ``now``, with a fresh id."""
    advisory = sample_advisory()
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return {
        "type": events.ADVISORY_NEW,
        "event_id": f"{advisory['id']}:test-{stamp}",
        "advisory_id": advisory["id"],
        "version": 1,
        "source": advisory.get("source", SOURCE),
        "emitted_at": events.utc_iso(now),
        "changes": [],
        "advisory": advisory,
    }


def normalised_sample(article: Path) -> dict[str, Any]:
    """What the sample should be: the normaliser's record of the reference article."""
    from monitor.normalise.api import normalise_bytes

    (advisory,) = normalise_bytes(article.read_bytes(), source=SOURCE)
    data: dict[str, Any] = json.loads(advisory.to_json())
    return data


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m monitor.sample tests/fixtures/reference/sample-article.txt")
        return 2
    target = Path(__file__).parent / "data" / SAMPLE
    text = json.dumps(normalised_sample(Path(argv[0])), ensure_ascii=False, indent=2) + "\n"
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
