"""The advisory record: the one shape every source item is normalised to.

Field names and meanings follow ``docs/advisory-schema.md``; the JSON Schema in
``docs/advisory.schema.json`` is generated from these models (``monitor schema``).
Serialisation is stable: fields in declaration order, datetimes in UTC with ``Z``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator


def _utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


UtcDatetime = Annotated[
    datetime,
    PlainSerializer(_utc_iso, return_type=str, when_used="json"),
    Field(json_schema_extra={"format": "date-time"}),
]


class Kind(StrEnum):
    TRAVEL_ADVISORY = "travel_advisory"
    SECURITY_ALERT = "security_alert"
    HAZARD_ALERT = "hazard_alert"
    HEALTH_NOTICE = "health_notice"
    NEWS_REPORT = "news_report"
    OTHER = "other"


class MsgType(StrEnum):
    ALERT = "alert"
    UPDATE = "update"
    CANCEL = "cancel"


class Severity(StrEnum):
    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"


class Urgency(StrEnum):
    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"
    FUTURE = "Future"
    PAST = "Past"
    UNKNOWN = "Unknown"


class Category(StrEnum):
    TERRORISM = "terrorism"
    CIVIL_UNREST = "civil_unrest"
    ARMED_CONFLICT = "armed_conflict"
    CRIME = "crime"
    KIDNAPPING = "kidnapping"
    HEALTH = "health"
    NATURAL_DISASTER = "natural_disaster"
    POLITICAL = "political"
    TRANSPORT = "transport"
    OTHER = "other"


class DatePrecision(StrEnum):
    SECOND = "second"
    DAY = "day"


LEVEL_SEVERITY: dict[int | None, Severity] = {
    4: Severity.EXTREME,
    3: Severity.SEVERE,
    2: Severity.MODERATE,
    1: Severity.MINOR,
    None: Severity.UNKNOWN,
}

Level = Annotated[int, Field(ge=1, le=4)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Issuer(_Record):
    """A government (or one of its bodies) that gave the advice."""

    country: str = Field(description="ISO 3166-1 alpha-2 of the issuing government")
    name: str = Field(description='e.g. "U.S. Embassy in Moscow", "Global Affairs Canada"')
    level: Level | None = Field(default=None, description="Common 1-4 scale, null if unstated")
    level_label: str | None = Field(default=None, description="The issuer's own words")
    advice: tuple[str, ...] = Field(default=(), description="Lower-case action phrases")
    evidence: str | None = Field(default=None, description="The sentence the issuer came from")


class Area(_Record):
    """A sub-national place the advice names."""

    name: str
    country: str | None = None
    admin1: str | None = None
    lat: float | None = None
    lon: float | None = None
    level: Level | None = Field(default=None, description="Regional level, never the national one")
    level_label: str | None = None


class Advisory(_Record):
    """One advisory, whatever the source format."""

    id: str = Field(description='"{source}:{key}"')
    source: str
    kind: Kind
    msg_type: MsgType = MsgType.ALERT
    title: str
    summary: str = ""
    url: str | None = None
    language: str = "en"
    published: UtcDatetime | None = None
    updated: UtcDatetime | None = None
    date_precision: DatePrecision = DatePrecision.SECOND
    issuers: tuple[Issuer, ...] = ()
    countries: tuple[str, ...] = ()
    areas: tuple[Area, ...] = ()
    level: Level | None = None
    severity: Severity = Severity.UNKNOWN
    urgency: Urgency = Urgency.UNKNOWN
    categories: tuple[Category, ...] = ()
    targets: tuple[str, ...] = ()
    advice: tuple[str, ...] = ()
    effective: UtcDatetime | None = None
    expires: UtcDatetime | None = None
    evidence: dict[str, str] = Field(default_factory=dict)
    fingerprint: str = ""
    content_hash: str = ""

    @field_validator("published", "updated", "effective", "expires")
    @classmethod
    def _aware_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def to_json(self) -> str:
        """Stable one-line JSON: declaration order, UTC ``Z`` datetimes."""
        return self.model_dump_json()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the advisory record, as written to ``docs/``."""
    schema = Advisory.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://advisory-monitor.invalid/schema/advisory.json"
    return schema
