"""What a format adapter knows about one item before text analysis.

Adapters read structure (feed fields, JSON keys, CAP elements) into a ``Draft``;
``build.build_advisory`` then reads the text for what structure does not say and
merges both into an ``Advisory``. Structured facts always win over text guesses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from monitor.models import Area, Category, DatePrecision, Kind, MsgType, Severity, Urgency


@dataclass(frozen=True, slots=True)
class IssuerHint:
    """An issuer stated by the source's structure (a feed's owner, an API's publisher)."""

    country: str
    name: str
    level: int | None = None
    level_label: str | None = None
    evidence: str | None = None


@dataclass(slots=True)
class Draft:
    source: str
    title: str
    # Plain text, paragraphs separated by blank lines, list items one per line.
    body: str = ""
    # The key used for the id, in the documented fallback order (see ``ids.advisory_key``).
    own_id: str | None = None
    guid: str | None = None
    url: str | None = None
    language: str = "en"
    published: datetime | None = None
    updated: datetime | None = None
    date_precision: DatePrecision = DatePrecision.SECOND
    kind: Kind | None = None
    msg_type: MsgType = MsgType.ALERT
    issuer: IssuerHint | None = None
    # Subject countries stated by structure (e.g. a GOV.UK country slug).
    countries: tuple[str, ...] = ()
    areas: tuple[Area, ...] = ()
    # Structured level overrides text: None means "the structure does not say".
    severity: Severity | None = None
    urgency: Urgency | None = None
    effective: datetime | None = None
    expires: datetime | None = None
    categories: tuple[Category, ...] = ()
    # Text that identifies the item's content for ``content_hash`` beyond title and body
    # (e.g. structured fields that are not in the body); never volatile metadata.
    extra_content: str = ""
    # Whether the body is the issuer's own words (feed) rather than a report about them.
    first_party: bool = False
    summary_text: str | None = None
    evidence: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What the configuration says about the source an input came from."""

    source: str
    # ISO code of the government that speaks, for feeds that do not say so themselves.
    issuer: str | None = None
