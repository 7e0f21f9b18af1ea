"""Parse and normalise one fetched body, in a worker process.

feedparser needs ~110 ms of CPU for a 200-item feed and the normaliser more, so this runs
in a process pool and the event loop never waits on it. Items whose own hash is the one
stored after the previous poll are not normalised again: their advisory cannot have
changed. The hash includes ``NORMALISER_VERSION`` so a release with new reading rules
re-reads everything once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from monitor.models import Advisory, Kind
from monitor.normalise.api import ADAPTERS, Format
from monitor.normalise.build import advisory_key, build_advisory
from monitor.normalise.draft import Draft, SourceContext
from monitor.normalise.inputs import InputError, check_input, detect_format

NORMALISER_VERSION = "1"


@dataclass(frozen=True, slots=True)
class ParseJob:
    source_id: str
    data: bytes
    fmt: str = "auto"
    issuer: str | None = None
    # item key -> item hash stored after the previous poll
    known: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ParseResult:
    advisories: tuple[Advisory, ...] = ()  # only items that are new or changed
    item_hashes: dict[str, str] = field(default_factory=dict)  # every item now in the body
    items: int = 0
    unchanged: int = 0  # items skipped because their hash was known
    error: str | None = None  # the body could not be read or parsed at all


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


def item_hash(draft: Draft) -> str:
    """Hash of everything an adapter read from one item."""
    payload = json.dumps(asdict(draft), sort_keys=True, default=_default, ensure_ascii=False)
    return hashlib.sha256(f"{NORMALISER_VERSION}\n{payload}".encode()).hexdigest()


def parse_and_normalise(job: ParseJob) -> ParseResult:
    """Everything between bytes and advisories; never raises (runs in a worker)."""
    try:
        document = check_input(job.data)
        fmt = Format(job.fmt)
        if fmt is Format.AUTO:
            fmt = Format(detect_format(document))
        drafts = ADAPTERS[fmt](document, SourceContext(source=job.source_id, issuer=job.issuer))
    except InputError as exc:
        return ParseResult(error=str(exc))
    except Exception as exc:  # a bug must not kill the worker or the poll loop
        return ParseResult(error=f"internal error: {type(exc).__name__}: {exc}")
    hashes: dict[str, str] = {}
    advisories: list[Advisory] = []
    unchanged = 0
    for draft in drafts:
        key = advisory_key(draft)
        digest = item_hash(draft)
        hashes[key] = digest
        if job.known.get(key) == digest:
            unchanged += 1
            continue
        try:
            advisories.append(build_advisory(draft))
        except Exception:  # one bad item never sinks the feed
            hashes.pop(key, None)
    return ParseResult(tuple(advisories), hashes, len(drafts), unchanged)


def advisory_items(result: ParseResult) -> tuple[list[Advisory], int]:
    """The advisories to emit, and how many items had nothing advisory in them."""
    keep = [a for a in result.advisories if a.kind is not Kind.OTHER]
    return keep, len(result.advisories) - len(keep)


def warm_up() -> None:
    """Process-pool initialiser: build the gazetteer once per worker, not per poll."""
    from monitor.normalise.places import gazetteer

    gazetteer()
