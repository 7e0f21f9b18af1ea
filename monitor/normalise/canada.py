"""Global Affairs Canada travel advice JSON (travel.gc.ca open data): one Draft per destination.

Two shapes share the envelope ``{"metadata": {"generated": ...}, "data": {...}}``:

* the all-destinations index (``index-alpha-eng.json``, ``index-updated.json``): ``data``
  maps a destination key to a record with ``advisory-state``, ``date-published`` and an
  ``eng`` block (name, url-slug, advisory-text, recent-updates, friendly-date);
* the per-country file (``cta-cap-{iso}.json``): ``data`` is one record with
  ``country-iso`` and an ``eng`` block that also holds the advisories and security HTML.

Quirks of the source:

* ``metadata.generated`` changes on every generation: nothing from it reaches the Draft.
* Some index keys are not countries: ``PT-20`` (the Azores, an ISO 3166-2 subdivision)
  and ``IC`` (the Canary Islands, an exceptionally reserved code). They map to the parent
  country through the ISO prefix or ``_PARENT_COUNTRY``; the destination becomes an area.
* ``date-published`` holds ``timestamp`` (epoch seconds, UTC) and ``date``/``asp`` in
  Ottawa local time without an offset (2014 AF: ``date`` 13:35:35, ``timestamp`` 17:35:35Z).
  The timestamp wins; a bare local date is read in America/Toronto. Files without
  ``date-published`` fall back to ``eng.friendly-date`` ("September 24, 2026 08:53 EDT").
* The 2014 index writes levels 3-4 in capitals ("AVOID ALL TRAVEL"); labels keep the
  issuer's wording but drop the "; see also regional advisories." suffix.
* Text fields carry HTML entities (``&amp;``, ``&rsquo;``, ``&nbsp;``): decoded once.
* The French (``fra``) block is ignored.
* Regional advisories (``has-regional-advisory`` 1) are named in the advisories HTML
  ("Avoid non-essential travel to ...", "Regional advisory - Avoid all travel" headings);
  they become areas with their own level and never change the national level.

Id: ``own_id`` is the ISO key (the index key, or ``country-iso`` in a per-country file),
stable for the life of the destination; without one it is None and the builder falls
back to the url (from ``eng.url-slug``), then to a hash of title and date.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import parser as date_parser

from monitor.models import Area, Kind
from monitor.normalise import levels
from monitor.normalise.draft import Draft, IssuerHint, SourceContext
from monitor.normalise.govuk import (
    Block,
    as_dict,
    as_str,
    html_blocks,
    load_json_object,
    regional_areas,
    travel_statements,
)
from monitor.normalise.inputs import Document, InputError
from monitor.normalise.places import gazetteer
from monitor.normalise.text import any_to_text, html_to_text, iter_sentences

ISSUER_COUNTRY = "CA"
ISSUER_NAME = "Global Affairs Canada"
DESTINATION_URL = "https://travel.gc.ca/destinations/"
_OTTAWA = ZoneInfo("America/Toronto")
_TZINFOS = {"EDT": -4 * 3600, "EST": -5 * 3600, "UTC": 0, "GMT": 0}
_FRIENDLY_DATE = re.compile(
    r"^[A-Z][a-z]+\.? \d{1,2}, \d{4}(?: \d{1,2}:\d{2})?(?: (?:EDT|EST|UTC|GMT))?$"
)
_NO_DEFAULT = datetime(2000, 1, 1)  # every part is required by _FRIENDLY_DATE anyway

# Destination keys that are not ISO 3166-1 countries, with the country they belong to.
# ISO 3166-2 keys ("PT-20", the Azores) use their prefix and need no entry here.
_PARENT_COUNTRY = {
    "IC": "ES",  # Canary Islands (exceptionally reserved)
    "EA": "ES",  # Ceuta and Melilla (exceptionally reserved)
    "AC": "SH",  # Ascension Island
    "TA": "SH",  # Tristan da Cunha
    "DG": "IO",  # Diego Garcia
    "CP": "FR",  # Clipperton Island
    "UK": "GB",
}
_REGIONAL_SUFFIX = re.compile(
    r"\s*[;,]?\s*(?:see\s+also\s+regional\s+advisories|\(with\s+regional\s+advisories\))\.?\s*$",
    re.IGNORECASE,
)
# "Avoid all travel to X", "Avoid non-essential travel to X", "Avoid any travel within X";
# a heading may carry the clause alone ("Regional advisory - Avoid all travel").
_CANADA_CLAUSE = re.compile(
    r"\bavoid\s+(?:all\s+(?:non[\s-]?essential\s+)?|any\s+|non[\s-]?essential\s+)travel\b"
    r"(?:\s+(?:to\b|in\b|(?=within\b)))?",
    re.IGNORECASE,
)


def parse(doc: Document, ctx: SourceContext) -> list[Draft]:
    """Drafts of a Canada index (one per destination) or per-country file (one)."""
    payload = load_json_object(doc, "Canada travel advice")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise InputError("Canada travel advice: the payload has no 'data' object")
    if "country-iso" in data or "eng" in data:
        if not isinstance(data.get("eng"), dict):
            raise InputError("Canada travel advice: the per-country file has no 'eng' block")
        draft = _draft(as_str(data.get("country-iso")).upper(), data, ctx)
        return [draft] if draft else []
    drafts = (_draft(str(key).strip().upper(), entry, ctx) for key, entry in data.items())
    return [d for d in drafts if d is not None]


def _draft(key: str, entry: object, ctx: SourceContext) -> Draft | None:
    """The Draft of one destination record; None for a record without an English name."""
    if not isinstance(entry, dict):
        return None
    eng = as_dict(entry.get("eng"))
    name = any_to_text(as_str(eng.get("name")) or as_str(entry.get("country-eng")))
    if not name:
        return None
    raw_text = any_to_text(as_str(eng.get("advisory-text")))
    level, label = _level(entry.get("advisory-state"), raw_text)
    code = _country(key, name)
    advisories_html = as_str(eng.get("advisories"))
    advisories = html_blocks(advisories_html)
    advisories_text = html_to_text(advisories_html)
    evidence_sentence = _level_sentence(advisories, level) or _state_evidence(entry, raw_text)
    slug = as_str(eng.get("url-slug"))
    return Draft(
        source=ctx.source,
        title=f"Travel advice and advisories for {name}",
        body=_body(advisories_text or raw_text, eng),
        own_id=key or None,
        url=DESTINATION_URL + slug if slug else None,
        language="en",
        published=_published(entry.get("date-published"), as_str(eng.get("friendly-date"))),
        kind=Kind.TRAVEL_ADVISORY,
        issuer=IssuerHint(ISSUER_COUNTRY, ISSUER_NAME, level, label, evidence_sentence),
        countries=(code,) if code else (),
        areas=_areas(key, code, name, entry, advisories, level, label),
        extra_content=_extra_content(entry),
        first_party=True,
        summary_text=advisories_text or None,
        evidence=_evidence(evidence_sentence, key, name, code),
    )


def _level(state: object, text: str) -> tuple[int | None, str | None]:
    """Level from ``advisory-state`` (the text only when the state is missing), and label."""
    level = levels.canada_level(state) if state is not None and state != "" else None
    if level is None and text:
        found = levels.find_levels(text, ISSUER_COUNTRY)
        level = found[0].level if found else None
    label = _REGIONAL_SUFFIX.sub("", text).strip() or None
    return level, label or (levels.CANADA_LABELS.get(level) if level else None)


def _country(key: str, name: str) -> str | None:
    """ISO 3166-1 code of the destination: the key, its parent, or the name."""
    countries = gazetteer().countries
    if key in _PARENT_COUNTRY:
        return _PARENT_COUNTRY[key]
    if key in countries:
        return key
    prefix = key.split("-", 1)[0]
    if "-" in key and prefix in countries:
        return prefix
    return gazetteer().lookup_country(re.sub(r"\s*\(.*?\)", "", name))


def _published(value: object, friendly: str) -> datetime | None:
    """``date-published`` (timestamp, else Ottawa local date), else ``friendly-date``."""
    published = as_dict(value)
    stamp = published.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        try:
            return datetime.fromtimestamp(stamp, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    local = as_str(published.get("date")) or as_str(published.get("asp"))
    if not local and isinstance(value, str):
        local = value.strip()
    return _local_time(local) or _friendly_time(friendly)


def _local_time(value: str) -> datetime | None:
    """An ISO date in UTC; without an offset it is Ottawa local time."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_OTTAWA)
    return parsed.astimezone(UTC)


def _friendly_time(value: str) -> datetime | None:
    """ "September 24, 2026 08:53 EDT" in UTC; only this exact shape, so that dateutil
    never fills a missing part from today's date."""
    if not _FRIENDLY_DATE.match(value):
        return None
    try:
        parsed = date_parser.parse(value, tzinfos=_TZINFOS, default=_NO_DEFAULT)
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_OTTAWA)
    return parsed.astimezone(UTC)


def _level_sentence(advisories: list[Block], level: int | None) -> str | None:
    """The first advisories sentence that states the national level ("Avoid all travel to")."""
    text = "\n\n".join(b.text for b in advisories if b.kind != "heading")
    for _index, sentence in iter_sentences(text):
        found = levels.find_levels(sentence, ISSUER_COUNTRY)
        if found and found[0].level == level:
            return sentence
    return None


def _state_evidence(entry: dict[str, Any], text: str) -> str:
    state = entry.get("advisory-state")
    stated = f"advisory-state {state}" if state is not None else "advisory-text"
    return f'{stated}: "{text}"' if text else stated


def _body(advisories: str, eng: dict[str, Any]) -> str:
    sections = [advisories, html_to_text(as_str(eng.get("security")))]
    updates = any_to_text(as_str(eng.get("recent-updates")))
    if updates:
        sections.append(f"Recent updates: {updates}")
    return "\n\n".join(s for s in sections if s)


def _areas(
    key: str,
    code: str | None,
    name: str,
    entry: dict[str, Any],
    advisories: list[Block],
    level: int | None,
    label: str | None,
) -> tuple[Area, ...]:
    """The destination itself when it is part of a country, then the regional advisories."""
    areas: list[Area] = []
    if key and code and key not in gazetteer().countries:
        areas.append(Area(name=name, country=code, level=level, level_label=label))
    if str(entry.get("has-regional-advisory", 1)) != "0":
        statements = travel_statements(advisories, _CANADA_CLAUSE, _canada_level)
        names = (name, re.sub(r"\s*\(.*?\)", "", name))
        areas.extend(regional_areas(statements, code, names, levels.CANADA_LABELS))
    return tuple(areas)


def _canada_level(match: re.Match[str]) -> int:
    return 3 if "essential" in match.group(0).lower() else 4


def _evidence(level: str, key: str, name: str, code: str | None) -> dict[str, str]:
    evidence = {"level": level}
    if code:
        evidence["countries"] = f"destination {key or code}: {name}"
    return evidence


def _extra_content(entry: dict[str, Any]) -> str:
    fields = ("advisory-state", "has-advisory-warning", "has-regional-advisory")
    return "\n".join(f"{field}: {entry[field]}" for field in fields if field in entry)
