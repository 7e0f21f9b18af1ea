"""RSS 2.0, Atom and RDF feeds through feedparser.

Recognised publishers get their structure read:

* U.S. State Department advisories: the level is in the title and in
  ``<category domain="Threat-Level">``; the country is resolved from the title's name.
  ``Country-Tag`` codes are FIPS 10-4, not ISO ("UK", "UC" for Curaçao, "NS" for
  Suriname), so they are used only when the name is unknown, through the FIPS table.
* WordPress feeds of U.S. embassies and consulates (``*.usembassy.gov``): first-party
  security alerts with a "Location: / Event: / Actions to Take:" body in
  ``content:encoded``.
* GDACS: hazard alerts; the alert colour is a severity, never a travel level.
* GOV.UK travel-advice Atom: the entry id changes with every version and is never used.

Anything else is a news feed: each item is read as a report that may or may not relay
advice (``kind`` news_report or other), unless the source config names the issuer.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.models import Category, DatePrecision, Kind, Severity
from monitor.normalise.categories import HAZARD_CATEGORIES
from monitor.normalise.draft import Draft, IssuerHint, SourceContext
from monitor.normalise.inputs import Document, InputError
from monitor.normalise.levels import US_LABELS, find_levels
from monitor.normalise.places import gazetteer
from monitor.normalise.text import any_to_text, clean_inline

_STATE_TITLE = re.compile(r"^(?P<country>.+?)\s+-\s+(?P<label>Level\s*(?P<level>[1-4])\b.*)$")
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}")
_EMBASSY_HOST = re.compile(r"(?:^|\.)(?:usembassy|usconsulate|usmission)\.gov$")
_CHANNEL_PREFIX = re.compile(r"^(?:alerts?|news|messages?|security alerts?)\s*[-:|]\s*", re.I)
_ALERT_TITLE = re.compile(r"\b(?:alert|message for u\.?s\.? citizens|warning)\b", re.I)
_GDACS_SEVERITY = {"green": Severity.MINOR, "orange": Severity.MODERATE, "red": Severity.SEVERE}


# FeedParserDict.get maps every key through feedparser's aliases in Python; the keys read
# with _get are canonical (no alias, no special case), for which a plain dict lookup
# returns the same. Aliased keys ("description") still go through FeedParserDict.get.
_get = dict.get


def _datetime(entry: Any, *keys: str) -> tuple[datetime | None, DatePrecision]:
    for key in keys:
        # dict.get: feedparser's own get() maps updated to published with a warning.
        parsed = dict.get(entry, f"{key}_parsed")
        if parsed:
            value = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
            raw = dict.get(entry, key) or ""
            day_only = bool(raw) and not _TIME_OF_DAY.search(raw)
            return value, DatePrecision.DAY if day_only else DatePrecision.SECOND
    return None, DatePrecision.SECOND


def _body_and_summary(entry: Any) -> tuple[str, str | None]:
    """Text of the full content (``content:encoded``) and of the summary, if different."""
    summary = _get(entry, "summary") or entry.get("description") or ""
    for content in _get(entry, "content") or []:
        value = _get(content, "value")
        if value and value.strip():
            body = any_to_text(value)
            if not summary or summary == value:
                return body, None
            return body, any_to_text(summary) or None
    return any_to_text(summary), None


_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^@/?#]*@)?([^/:?#]+)", re.I)


def _host(url: str | None) -> str:
    match = _HOST.match(url.strip()) if url else None
    return match.group(1).lower() if match else ""


def _tag(entry: Any, scheme: str) -> str | None:
    for tag in _get(entry, "tags") or []:
        if (_get(tag, "scheme") or "").lower() == scheme.lower() and _get(tag, "term"):
            return str(tag["term"]).strip()
    return None


def parse(doc: Document, ctx: SourceContext) -> list[Draft]:
    feed = feedparser.parse(doc.raw, sanitize_html=False, resolve_relative_uris=False)
    version = feed.get("version") or ""
    if not version and not feed.entries:
        problem = feed.get("bozo_exception")
        raise InputError(f"not an RSS, Atom or RDF feed ({problem or 'no feed element'})")
    channel = feed.get("feed", {})
    drafts: list[Draft] = []
    for entry in feed.entries:
        try:
            draft = _entry(entry, channel, ctx)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # one broken item never sinks the feed
        if draft is not None:
            drafts.append(draft)
    return drafts


def _entry(entry: Any, channel: Any, ctx: SourceContext) -> Draft | None:
    title = clean_inline(any_to_text(_get(entry, "title") or ""))
    link = _get(entry, "link") or None
    guid = _get(entry, "id") or None
    published, precision = _datetime(entry, "published", "updated", "created")
    updated, _ = _datetime(entry, "updated", "published")
    body, summary = _body_and_summary(entry)
    if not title and not body:
        return None
    draft = Draft(
        source=ctx.source,
        title=title or body[:120],
        body=body,
        guid=guid,
        url=link,
        language=(_get(entry, "language") or _get(channel, "language") or "en").split("-")[0],
        published=published,
        updated=updated,
        date_precision=precision,
        summary_text=summary,
    )
    host, channel_host = _host(link), _host(_get(channel, "link"))
    if _tag(entry, "Threat-Level") or host.endswith("travel.state.gov"):
        return _state(draft, entry)
    if _get(entry, "gdacs_alertlevel") is not None or _get(entry, "gdacs_eventtype") is not None:
        return _gdacs(draft, entry)
    if host.endswith("gov.uk") and "/foreign-travel-advice/" in (link or ""):
        return _govuk_atom(draft, link or "")
    if _EMBASSY_HOST.search(channel_host) or _EMBASSY_HOST.search(host):
        return _embassy(draft, channel, ctx)
    if ctx.issuer:
        name = _CHANNEL_PREFIX.sub("", clean_inline(channel.get("title") or "")) or (
            gazetteer().country_name(ctx.issuer)
        )
        draft.issuer = IssuerHint(ctx.issuer, name)
        draft.first_party = True
        draft.kind = (
            Kind.TRAVEL_ADVISORY if find_levels(f"{title}\n{body[:400]}") else Kind.SECURITY_ALERT
        )
    return draft


def _state(draft: Draft, entry: Any) -> Draft:
    g = gazetteer()
    label = _tag(entry, "Threat-Level")
    match = _STATE_TITLE.match(draft.title)
    if label is None and match:
        label = match.group("label")
    level_match = re.search(r"Level\s*([1-4])", label or "")
    level = int(level_match.group(1)) if level_match else None
    country = None
    if match:
        country = g.lookup_country(match.group("country"))
    if country is None:
        tag = _tag(entry, "Country-Tag")
        country = g.by_fips.get(tag) if tag else None
    draft.kind = Kind.TRAVEL_ADVISORY
    draft.first_party = True
    draft.issuer = IssuerHint(
        "US", "U.S. Department of State", level,
        US_LABELS.get(level, label) if level else label,
        evidence=label,
    )  # fmt: skip
    draft.countries = (country,) if country else ()
    if label:
        draft.evidence["level"] = label
    if country and match:
        draft.evidence["countries"] = match.group("country")
    return draft


def _gdacs(draft: Draft, entry: Any) -> Draft:
    g = gazetteer()
    colour = str(entry.get("gdacs_alertlevel") or "").strip().lower()
    draft.kind = Kind.HAZARD_ALERT
    draft.first_party = True
    draft.severity = _GDACS_SEVERITY.get(colour, Severity.UNKNOWN)
    event_type = str(entry.get("gdacs_eventtype") or "").strip().lower()
    category = HAZARD_CATEGORIES.get(event_type)
    draft.categories = (category,) if category else (Category.NATURAL_DISASTER,)
    codes: list[str] = []
    for name in re.split(r",\s*", str(entry.get("gdacs_country") or "")):
        code = g.lookup_country(name.replace("&", "and"))
        if code and code not in codes:
            codes.append(code)
    iso3 = str(entry.get("gdacs_iso3") or "").strip().upper()
    if not codes and iso3 in g.by_iso3:
        codes.append(g.by_iso3[iso3])
    draft.countries = tuple(codes)
    start, _ = _datetime(entry, "gdacs_fromdate")
    if start is None and entry.get("gdacs_fromdate"):
        start = _parse_rfc822(str(entry["gdacs_fromdate"]))
    draft.effective = start or draft.published
    if entry.get("gdacs_fromdate"):
        draft.evidence["effective"] = f"gdacs:fromdate {entry['gdacs_fromdate']}"
    draft.own_id = draft.guid
    draft.evidence["severity"] = colour
    if colour:
        draft.evidence["level"] = f"GDACS {colour.capitalize()} alert"
    return draft


def _parse_rfc822(value: str) -> datetime | None:
    parsed = feedparser.datetimes._parse_date(value)
    return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC) if parsed else None


def _govuk_atom(draft: Draft, link: str) -> Draft:
    slug = link.rstrip("/").rsplit("/", 1)[-1]
    draft.own_id = slug
    draft.guid = None
    draft.kind = Kind.TRAVEL_ADVISORY
    draft.first_party = True
    draft.issuer = IssuerHint("GB", "FCDO")
    name = re.sub(r"\s+travel advice$", "", draft.title, flags=re.I)
    code = gazetteer().lookup_country(name) or gazetteer().lookup_country(slug.replace("-", " "))
    draft.countries = (code,) if code else ()
    return draft


def _embassy(draft: Draft, channel: Any, ctx: SourceContext) -> Draft:
    name = _CHANNEL_PREFIX.sub("", clean_inline(channel.get("title") or "")) or clean_inline(
        channel.get("description") or "U.S. Embassy"
    )
    draft.issuer = IssuerHint(ctx.issuer or "US", name)
    draft.first_party = True
    # Alert feeds hold alerts; other embassy posts are classed by their content.
    draft.kind = Kind.SECURITY_ALERT if _ALERT_TITLE.search(draft.title) else None
    return draft
