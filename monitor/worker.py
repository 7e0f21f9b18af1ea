"""Parse and normalise one fetched body, in a worker process.

feedparser needs ~110 ms of CPU for a 200-item feed and the normaliser more, so this runs
in a process pool and the event loop never waits on it. Items whose own hash is the one
stored after the previous poll are not normalised again: their advisory cannot have
changed. The hash includes ``NORMALISER_VERSION`` so a release with new reading rules
re-reads everything once.

What comes back is plain data: each advisory already serialised (:class:`Normalised`), not
pydantic models. Unpickling 200 models took ~50 ms in the result thread of the pool,
holding the interpreter lock the event loop needs, and serialising them again for Redis
was the loop's own work; a string crosses the process boundary for next to nothing.
"""

from __future__ import annotations

import gc
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from monitor.models import Advisory, Kind
from monitor.normalise.api import ADAPTERS, Format
from monitor.normalise.build import advisory_key, build_advisory
from monitor.normalise.draft import Draft, SourceContext
from monitor.normalise.inputs import InputError, check_input, detect_format
from monitor.store import Prepared

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
class Normalised:
    """One new or changed advisory as a worker hands it back: what the poller reads of it,
    and the record :meth:`monitor.store.Store.emit` sends, serialised in the worker."""

    prepared: Prepared
    kind: str
    url: str | None
    updated: str | None  # Advisory.updated.isoformat(): discovery's change token

    @property
    def id(self) -> str:
        return self.prepared.id

    @property
    def content_hash(self) -> str:
        return self.prepared.content_hash

    @classmethod
    def of(cls, advisory: Advisory) -> Normalised:
        updated = advisory.updated.isoformat() if advisory.updated else None
        return cls(Prepared.of(advisory), advisory.kind.value, advisory.url, updated)


@dataclass(frozen=True, slots=True)
class ParseResult:
    advisories: tuple[Normalised, ...] = ()  # only items that are new or changed
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
    advisories: list[Normalised] = []
    unchanged = 0
    for draft in drafts:
        key = advisory_key(draft)
        digest = item_hash(draft)
        hashes[key] = digest
        if job.known.get(key) == digest:
            unchanged += 1
            continue
        try:
            advisories.append(Normalised.of(build_advisory(draft)))
        except Exception:  # one bad item never sinks the feed
            hashes.pop(key, None)
    return ParseResult(tuple(advisories), hashes, len(drafts), unchanged)


def advisory_items(result: ParseResult) -> tuple[list[Prepared], int]:
    """The advisories to emit, and how many items had nothing advisory in them."""
    keep = [a.prepared for a in result.advisories if a.kind != Kind.OTHER.value]
    return keep, len(result.advisories) - len(keep)


def warm_up() -> None:
    """Process-pool initialiser: build the gazetteer once per worker, not per poll."""
    from monitor.normalise.places import gazetteer

    gazetteer()
    # The gazetteer and the modules are most of the worker's objects and live as long as
    # it does: out of the collector's sight, a full collection no longer walks them all.
    gc.collect()
    gc.freeze()
