"""Draft (what the structure says) + Reading (what the text says) -> Advisory.

Structure wins where it speaks: a GOV.UK ``alert_status``, a State Department
Threat-Level category, a CAP ``expires`` are facts; the text fills in the rest.

Identity (``id``) fallback order, fixed:
  1. the issuer's own id (CAP sender + identifier, GOV.UK country slug, Canada ISO key),
  2. the RSS/Atom GUID when it is stable (not a GOV.UK Atom id, which changes with
     every version, nor a GUID carrying a version fragment),
  3. the link,
  4. a hash of title + published date.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Any

from monitor.models import (
    LEVEL_SEVERITY,
    Advisory,
    Area,
    Category,
    Issuer,
    Kind,
    MsgType,
    Urgency,
)
from monitor.normalise.analysis import Reading, read
from monitor.normalise.draft import Draft
from monitor.normalise.places import gazetteer
from monitor.normalise.text import summarise, summarise_flat

_UNSTABLE_GUID = re.compile(r"(?:^https?://(?:www\.)?gov\.uk/)|#.*\d{4}")
_IMMEDIATE_WINDOW = timedelta(days=7)


# What json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
# builds on every call, built once.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _digest(payload: Any) -> str:
    data = _CANONICAL_JSON.encode(payload)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def advisory_key(draft: Draft) -> str:
    if draft.own_id:
        return draft.own_id.strip()
    if draft.guid and draft.guid.strip() and not _UNSTABLE_GUID.search(draft.guid.strip()):
        return draft.guid.strip()
    if draft.url:
        return draft.url.strip()
    published = draft.published.isoformat() if draft.published else ""
    return "sha256:" + hashlib.sha256(f"{draft.title}\n{published}".encode()).hexdigest()[:32]


def fingerprint(advisory: Advisory) -> str:
    """Hash of the material fields only; editorial edits keep it."""
    material = {
        "kind": advisory.kind.value,
        "msg_type": advisory.msg_type.value,
        "issuers": sorted([i.country, i.level, sorted(i.advice)] for i in advisory.issuers),
        "countries": sorted(advisory.countries),
        "areas": sorted([a.name, a.country, a.level] for a in advisory.areas),
        "categories": sorted(c.value for c in advisory.categories),
        "targets": sorted(advisory.targets),
        "expires": advisory.expires.isoformat() if advisory.expires else None,
    }
    return _digest(material)


def content_hash(draft: Draft, flat_body: str | None = None) -> str:
    """sha256 of title, body and extra content with all whitespace runs as one space.
    ``flat_body``: the body already flattened so (build_advisory needs it anyway)."""
    if flat_body is None:
        flat_body = " ".join(draft.body.split())
    # The words of "title\nbody\nextra" are the words of each part in turn.
    parts = (" ".join(draft.title.split()), flat_body, " ".join(draft.extra_content.split()))
    text = " ".join([part for part in parts if part])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _urgency(effective: datetime | None, expires: datetime | None,
             published: datetime | None) -> Urgency:  # fmt: skip
    if expires is None:
        return Urgency.UNKNOWN
    if published is not None and expires < published:
        return Urgency.PAST
    start = effective or published
    if start is not None and expires - start <= _IMMEDIATE_WINDOW:
        return Urgency.IMMEDIATE
    return Urgency.EXPECTED


def _issuers(draft: Draft, reading: Reading) -> tuple[Issuer, ...]:
    out: list[Issuer] = []
    hint = draft.issuer
    for facts in reading.issuers.values():
        level, label = facts.level, facts.level_label
        name = facts.name
        evidence = facts.level_evidence or facts.evidence
        if hint and facts.code == hint.country:
            name = hint.name
            if hint.level is not None:
                level, label = hint.level, hint.level_label
                evidence = hint.evidence or evidence
        out.append(Issuer(country=facts.code, name=name, level=level, level_label=label,
                          advice=tuple(facts.advice), evidence=evidence))  # fmt: skip
    if hint and all(i.country != hint.country for i in out):
        out.insert(0, Issuer(country=hint.country, name=hint.name, level=hint.level,
                             level_label=hint.level_label, evidence=hint.evidence))  # fmt: skip
    return tuple(out)


def _merge_areas(structured: tuple[Area, ...], found: list[Area]) -> tuple[Area, ...]:
    merged: list[Area] = list(structured)
    for area in found:
        if all(a.name.lower() != area.name.lower() for a in merged):
            merged.append(area)
    return tuple(merged)


def build_advisory(draft: Draft) -> Advisory:
    hint = (draft.issuer.country, draft.issuer.name) if draft.issuer else None
    # Articles without a headline use their first sentence as title; read it once.
    title = "" if draft.body.startswith(draft.title) else draft.title
    reading = read(
        title,
        draft.body,
        published=draft.published,
        first_party=draft.first_party,
        issuer_hint=hint,
        structured_countries=draft.countries,
    )
    kind = draft.kind
    if kind is None and draft.first_party:
        kind = Kind.SECURITY_ALERT if reading.advisory else Kind.OTHER
    elif kind is None:
        kind = Kind.NEWS_REPORT if reading.advisory and reading.issuers else Kind.OTHER
    issuers = _issuers(draft, reading)
    # Structure that names the subject (a State item's country, a GOV.UK slug) is the
    # whole answer: the text's "Yemen border" does not make Yemen a subject.
    countries = draft.countries or tuple(reading.countries)
    areas = _merge_areas(
        draft.areas,
        [a for a in reading.areas if not draft.countries or a.country in (None, *draft.countries)],
    )
    categories = tuple(dict.fromkeys((*draft.categories, *reading.categories)))
    targets = tuple(reading.targets)
    advice = tuple(dict.fromkeys(a for i in issuers for a in i.advice)) or tuple(reading.advice)
    if kind is Kind.OTHER:
        issuers, countries, areas, categories, targets, advice = (), (), (), (), (), ()
    levels = [i.level for i in issuers if i.level is not None]
    level = max(levels) if levels else None
    severity = draft.severity or LEVEL_SEVERITY[level]
    effective = draft.effective or reading.effective
    expires = draft.expires if draft.expires is not None else reading.expires
    if draft.msg_type is MsgType.CANCEL:
        urgency = draft.urgency or Urgency.PAST
    else:
        urgency = draft.urgency or _urgency(effective, expires, draft.published)
    evidence = _evidence(draft, reading, issuers, level, categories, expires)
    flat_body = " ".join(draft.body.split())
    summary_source = draft.summary_text or draft.body or draft.title
    advisory = Advisory(
        id=f"{draft.source}:{advisory_key(draft)}",
        source=draft.source,
        kind=kind,
        msg_type=draft.msg_type,
        title=draft.title,
        summary=summarise_flat(flat_body)
        if summary_source is draft.body
        else summarise(summary_source),
        url=draft.url,
        language=draft.language or "en",
        published=draft.published,
        updated=draft.updated or draft.published,
        date_precision=draft.date_precision,
        issuers=issuers,
        countries=countries,
        areas=areas,
        level=level,
        severity=severity,
        urgency=urgency,
        categories=categories,
        targets=targets,
        advice=advice,
        effective=effective,
        expires=expires,
        evidence=evidence,
        content_hash=content_hash(draft, flat_body),
    )
    return advisory.model_copy(update={"fingerprint": fingerprint(advisory)})


def _evidence(
    draft: Draft,
    reading: Reading,
    issuers: tuple[Issuer, ...],
    level: int | None,
    categories: tuple[Category, ...],
    expires: datetime | None,
) -> dict[str, str]:
    evidence: dict[str, str] = {}
    if level is not None:
        top = next(i for i in issuers if i.level == level)
        evidence["level"] = draft.evidence.get("level") or top.evidence or top.level_label or ""
    if draft.countries:
        names = ", ".join(gazetteer().country_name(c) for c in draft.countries)
        evidence["countries"] = draft.evidence.get("countries") or names
    elif reading.country_evidence:
        evidence["countries"] = reading.country_evidence
    if categories:
        first = categories[0]
        evidence["categories"] = draft.evidence.get("categories") or reading.category_evidence.get(
            first, first.value
        )
    if draft.effective is not None:
        evidence["effective"] = draft.evidence.get("effective", "stated by the source")
    elif reading.effective_evidence:
        evidence["effective"] = reading.effective_evidence
    if expires is not None:
        if draft.expires is not None:
            evidence["expires"] = draft.evidence.get("expires", "stated by the source")
        elif reading.expires_evidence:
            evidence["expires"] = reading.expires_evidence
    return {k: v for k, v in evidence.items() if v}
