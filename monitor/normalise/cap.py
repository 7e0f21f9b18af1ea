"""CAP 1.1/1.2 alerts and Atom indexes of CAP entries: one Draft per alert.

Inputs: a CAP ``<alert>`` (default namespace or a ``cap:`` prefix; namespaces
``urn:oasis:names:tc:emergency:cap:1.1``/``1.2``, and 1.0), any XML wrapper holding
alerts (EDXL, a list), or an Atom feed whose entries either embed an ``<alert>`` or carry
inline CAP fields (``cap:event``, ``cap:severity``, ``cap:areaDesc`` ...; the old NWS
``alerts.weather.gov`` index).

Quirks of the source and the choices made:

* One Draft per alert, not per ``<info>``: the English info (``language`` starting "en";
  a missing language is CAP's default ``en-US``), else the first.
* ``msgType`` Ack and Error are not warnings and are skipped, as are alerts whose
  ``status`` is Test, Exercise, System or Draft (CAP: not for the public). An alert
  without ``<info>`` is kept only when it is a Cancel (cancels often carry no info).
* CAP severity and urgency are kept as given (unknown values become Unknown); CAP has no
  travel level, so the issuer's level stays None. CAP categories Geo, Met and Env map to
  ``natural_disaster``, Health to ``health`` (and the kind ``health_notice``), Transport to
  ``transport``; the others (Fire covers structure fires, Security, CBRNE ...) map to none.
* Descriptions may hold escaped HTML (NSW RFS: ``&lt;br /&gt;``): read as text once.
* NWS ``areaDesc`` lists zones separated by "; "; each becomes an area.
* The issuing country is not a CAP field. In order: the configured issuer, the region of
  a non-English info language (``is-IS``), of an English one other than the default
  (``en-CA``, ``en-AU``), the sender's or web link's domain (``.gov``/``.mil`` -> US,
  ``.gov.au`` -> AU, ``.ca``), an explicit ``en-US``, then place names in the sender
  name, areas and headline (the gazetteer: "Alaska" is a US state). ``en-US`` comes late
  because non-US issuers label English text with it (the Icelandic Met Office does).

Id: ``own_id`` is ``sender/identifier`` (unique by the CAP spec); without both it is
None and the builder falls back to the ``web`` link, then a hash of title and date. An
Atom entry with inline fields uses its entry ``id``, which is stable in the NWS index.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from lxml import etree

from monitor.models import Area, Category, Kind, MsgType, Severity, Urgency
from monitor.normalise.draft import Draft, IssuerHint, SourceContext
from monitor.normalise.inputs import Document, InputError, parse_xml
from monitor.normalise.places import PlaceKind, gazetteer
from monitor.normalise.text import any_to_text, clean_inline

CAP_NAMESPACES = frozenset(
    {
        "urn:oasis:names:tc:emergency:cap:1.2",
        "urn:oasis:names:tc:emergency:cap:1.1",
        "urn:oasis:names:tc:emergency:cap:1.0",
        "http://www.incident.com/cap/1.0",
    }
)
ATOM = "http://www.w3.org/2005/Atom"
DEFAULT_LANGUAGE = "en-US"

_MSG_TYPES = {"alert": MsgType.ALERT, "update": MsgType.UPDATE, "cancel": MsgType.CANCEL}
_SKIPPED_MSG_TYPES = frozenset({"ack", "error"})
_SKIPPED_STATUSES = frozenset({"test", "exercise", "system", "draft"})
_SEVERITIES = {s.value.lower(): s for s in Severity}
_URGENCIES = {u.value.lower(): u for u in Urgency}
_CATEGORIES = {
    "geo": Category.NATURAL_DISASTER,
    "met": Category.NATURAL_DISASTER,
    "env": Category.NATURAL_DISASTER,
    "health": Category.HEALTH,
    "transport": Category.TRANSPORT,
}
# Country-code top-level domains that are sold worldwide and say nothing about a country.
_GENERIC_CCTLDS = frozenset(
    {"ai", "cc", "co", "fm", "io", "ly", "me", "nu", "tk", "to", "tv", "ws"}
)
_US_TLDS = frozenset({"gov", "mil"})
_HOST = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)+$", re.IGNORECASE)
_ISSUED_BY = re.compile(r"issued\s+by\s+(?:the\s+)?(.+?)\s*$", re.IGNORECASE)


# -- XML access ------------------------------------------------------------------------


def _is_cap(element: etree._Element, name: str) -> bool:
    if not isinstance(element.tag, str):
        return False
    qname = etree.QName(element)
    return qname.localname == name and qname.namespace in CAP_NAMESPACES


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in element if _is_cap(child, name)]


def _text(element: etree._Element, name: str) -> str:
    """Stripped text of the first CAP child called ``name``; "" when absent."""
    for child in _children(element, name):
        return clean_inline(child.text or "")
    return ""


def _texts(element: etree._Element, name: str) -> list[str]:
    return [t for t in (clean_inline(c.text or "") for c in _children(element, name)) if t]


def _atom_text(element: etree._Element, name: str) -> str:
    child = element.find(f"{{{ATOM}}}{name}")
    return clean_inline(child.text or "") if child is not None else ""


def _atom_link(entry: etree._Element) -> str | None:
    links = entry.findall(f"{{{ATOM}}}link")
    for link in sorted(links, key=lambda x: x.get("rel", "alternate") != "alternate"):
        href = (link.get("href") or "").strip()
        if href:
            return href
    return None


# -- values ----------------------------------------------------------------------------


def _time(value: str) -> datetime | None:
    """A CAP/Atom timestamp in UTC ("2011-09-02T11:36:50-00:00"); None when unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _severity(value: str) -> Severity:
    return _SEVERITIES.get(value.lower(), Severity.UNKNOWN)


def _urgency(value: str) -> Urgency:
    return _URGENCIES.get(value.lower(), Urgency.UNKNOWN)


def _kind(categories: Iterable[str]) -> Kind:
    lowered = {c.lower() for c in categories}
    return Kind.HEALTH_NOTICE if "health" in lowered else Kind.HAZARD_ALERT


def _categories(categories: Iterable[str]) -> tuple[Category, ...]:
    mapped = (_CATEGORIES.get(c.lower()) for c in categories)
    return tuple(dict.fromkeys(c for c in mapped if c is not None))


def _area_names(descriptions: Iterable[str]) -> list[str]:
    """Area names, NWS "A; B; C" lists split, duplicates dropped."""
    names = (n.strip() for d in descriptions for n in d.split(";"))
    return list(dict.fromkeys(n for n in names if n))


def _circle_centre(area: etree._Element) -> tuple[float | None, float | None]:
    """Centre of the area's first ``circle`` ("lat,lon radius"), when it is valid."""
    match = re.match(r"\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)", _text(area, "circle"))
    if not match:
        return None, None
    lat, lon = float(match.group(1)), float(match.group(2))
    return (lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else (None, None)


# -- the issuing country ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Hints:
    languages: tuple[str, ...]  # as stated, the default language not included
    hosts: tuple[str, ...]  # sender, web link and feed hosts
    places: tuple[str, ...]  # sender name, area descriptions, headline


def _region(language: str) -> str | None:
    """ISO region subtag of a BCP 47 tag ("en-CA" -> CA), when it is a known country."""
    for subtag in language.replace("_", "-").split("-")[1:]:
        if len(subtag) == 2 and subtag.isalpha() and subtag.upper() in gazetteer().countries:
            return subtag.upper()
    return None


def host_of(value: str) -> str | None:
    """The domain in an e-mail address, URL or bare host name; None for other ids."""
    value = value.strip()
    if "@" in value and "://" not in value:
        value = value.rsplit("@", 1)[1]
    elif "://" in value:
        value = urlsplit(value).hostname or ""
    value = value.strip().rstrip(".").lower()
    return value if _HOST.match(value) else None


def _hosts(*values: str) -> tuple[str, ...]:
    return tuple(host for value in values if (host := host_of(value)))


def _host_country(host: str) -> str | None:
    tld = host.rsplit(".", 1)[-1]
    if tld in _US_TLDS:
        return "US"
    if tld == "uk":
        return "GB"
    if len(tld) == 2 and tld not in _GENERIC_CCTLDS and tld.upper() in gazetteer().countries:
        return tld.upper()
    return None


def _place_country(texts: Iterable[str]) -> tuple[str, str] | None:
    """The country most named (as a country or a state/province) in ``texts``."""
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    for text in texts:
        for mention in gazetteer().scan(text):
            place = mention.candidates[0]
            if place.kind in (PlaceKind.COUNTRY, PlaceKind.ADMIN):
                counts[place.country] += 1
                first.setdefault(place.country, mention.text)
    if not counts:
        return None
    code = counts.most_common(1)[0][0]
    return code, f"place name {first[code]!r}"


def _infer_country(ctx: SourceContext, hints: _Hints) -> tuple[str | None, str]:
    """(ISO code of the issuing country, why) in the order the module docstring gives."""
    if ctx.issuer:
        return ctx.issuer.upper(), f"configured issuer {ctx.issuer.upper()}"
    regions = [(lang, code) for lang in hints.languages if (code := _region(lang))]
    local = [(lang, code) for lang, code in regions if not lang.lower().startswith("en")]
    english = [(lang, code) for lang, code in regions if code != "US"]
    for lang, code in (*local, *english):
        return code, f"language {lang}"
    for host in hints.hosts:
        code = _host_country(host)
        if code:
            return code, f"domain {host}"
    for lang, code in regions:
        return code, f"language {lang}"
    found = _place_country(hints.places)
    return found if found else (None, "")


def _admin1(name: str, country: str | None) -> str | None:
    """The state or province an area name mentions, when it is in ``country``."""
    for mention in gazetteer().scan(name):
        place = mention.candidates[0]  # the likeliest reading only: "Reykjavik" is a city
        if place.kind is PlaceKind.ADMIN and place.country == country:
            return place.admin1 or place.name
    return None


# -- drafts ----------------------------------------------------------------------------


def parse(doc: Document, ctx: SourceContext) -> list[Draft]:
    """Drafts of a CAP alert, a wrapper of alerts, or an Atom index of CAP entries."""
    root = parse_xml(doc)
    if _is_cap(root, "alert"):
        alerts = [root]
    elif isinstance(root.tag, str) and root.tag == f"{{{ATOM}}}feed":
        return _atom_drafts(root, ctx)
    else:
        alerts = [el for el in root.iter() if _is_cap(el, "alert")]
        if not alerts:
            raise InputError("not a CAP document: no CAP <alert> and not an Atom feed")
    drafts = (_alert_draft(alert, ctx) for alert in alerts)
    return [d for d in drafts if d is not None]


def _wanted(msg_type: str, status: str) -> MsgType | None:
    """The Draft msg_type, or None for messages that are not public warnings."""
    if msg_type.lower() in _SKIPPED_MSG_TYPES or status.lower() in _SKIPPED_STATUSES:
        return None
    return _MSG_TYPES.get(msg_type.lower(), MsgType.ALERT)


def _choose_info(infos: list[etree._Element]) -> etree._Element:
    for info in infos:
        if (_text(info, "language") or DEFAULT_LANGUAGE).lower().startswith("en"):
            return info
    return infos[0]


def _alert_draft(alert: etree._Element, ctx: SourceContext) -> Draft | None:
    msg_type = _wanted(_text(alert, "msgType"), _text(alert, "status"))
    if msg_type is None:
        return None
    sender, identifier = _text(alert, "sender"), _text(alert, "identifier")
    own_id = f"{sender}/{identifier}" if sender and identifier else None
    sent = _time(_text(alert, "sent"))
    infos = _children(alert, "info")
    if not infos:
        return _cancel_draft(alert, ctx, own_id, sent) if msg_type is MsgType.CANCEL else None
    info = _choose_info(infos)
    language = _text(info, "language") or DEFAULT_LANGUAGE
    area_elements = _children(info, "area")
    area_names = _area_names(_text(a, "areaDesc") for a in area_elements)
    headline, event = _text(info, "headline"), _text(info, "event")
    web = _text(info, "web")
    sender_name = _text(info, "senderName") or _text(alert, "source") or sender
    hints = _Hints(
        languages=tuple(lang for i in infos if (lang := _text(i, "language"))),
        hosts=_hosts(sender, web),
        places=(sender_name, *area_names, headline),
    )
    country, why = _infer_country(ctx, hints)
    categories = _texts(info, "category")
    effective, effective_field = _effective(info, sent)
    expires = _time(_text(info, "expires"))
    return Draft(
        source=ctx.source,
        title=headline or event or identifier or "CAP alert",
        body=_join(
            _plain(_text_block(info, "description")), _plain(_text_block(info, "instruction"))
        ),
        own_id=own_id,
        url=web or None,
        language=language,
        published=sent,
        kind=_kind(categories),
        msg_type=msg_type,
        issuer=IssuerHint(country, sender_name or country) if country else None,
        countries=(country,) if country else (),
        areas=_areas(area_elements, country),
        severity=_severity(_text(info, "severity")),
        urgency=_urgency(_text(info, "urgency")),
        effective=effective,
        expires=expires,
        categories=_categories(categories),
        extra_content=_extra(
            event=event,
            category=", ".join(categories),
            certainty=_text(info, "certainty"),
            responseType=", ".join(_texts(info, "responseType")),
            areaDesc="; ".join(area_names),
            references=_text(alert, "references"),
        ),
        first_party=True,
        evidence=_evidence(why, effective_field, effective, expires),
    )


def _text_block(element: etree._Element, name: str) -> str:
    """Text of a multi-line CAP field, line breaks kept."""
    for child in _children(element, name):
        return (child.text or "").strip()
    return ""


def _plain(value: str) -> str:
    return any_to_text(value) if value else ""


def _join(*sections: str) -> str:
    return "\n\n".join(s for s in sections if s)


def _areas(area_elements: list[etree._Element], country: str | None) -> tuple[Area, ...]:
    areas: dict[str, Area] = {}
    for element in area_elements:
        lat, lon = _circle_centre(element)
        for name in _area_names([_text(element, "areaDesc")]):
            areas.setdefault(
                name,
                Area(name=name, country=country, admin1=_admin1(name, country), lat=lat, lon=lon),
            )
    return tuple(areas.values())


def _extra(**fields: str) -> str:
    return "\n".join(f"{name}: {value}" for name, value in fields.items() if value)


def _effective(
    info: etree._Element, fallback: datetime | None, fallback_field: str = "sent"
) -> tuple[datetime | None, str]:
    """``info/effective``, else ``info/onset``, else ``alert/sent``; and which one it was."""
    for field in ("effective", "onset"):
        value = _time(_text(info, field))
        if value is not None:
            return value, field
    return fallback, fallback_field


def _evidence(
    why: str, effective_field: str, effective: datetime | None, expires: datetime | None
) -> dict[str, str]:
    evidence: dict[str, str] = {}
    if why:
        evidence["countries"] = why
    if effective is not None:
        evidence["effective"] = f"CAP {effective_field} {_iso(effective)}"
    if expires is not None:
        evidence["expires"] = f"CAP expires {_iso(expires)}"
    return evidence


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cancel_draft(
    alert: etree._Element, ctx: SourceContext, own_id: str | None, sent: datetime | None
) -> Draft:
    """A Cancel without ``<info>``: what it cancels is in ``references`` and ``note``."""
    references = _text(alert, "references")
    note = _text(alert, "note")
    sender = _text(alert, "sender")
    country, why = _infer_country(ctx, _Hints(languages=(), hosts=_hosts(sender), places=()))
    return Draft(
        source=ctx.source,
        title=note or f"Cancel: {references or _text(alert, 'identifier')}",
        body=note,
        own_id=own_id,
        published=sent,
        kind=Kind.HAZARD_ALERT,
        msg_type=MsgType.CANCEL,
        issuer=IssuerHint(country, _text(alert, "source") or sender or country)
        if country
        else None,
        countries=(country,) if country else (),
        extra_content=_extra(references=references),
        first_party=True,
        evidence={"countries": why} if why else {},
    )


# -- Atom indexes ----------------------------------------------------------------------


def _atom_drafts(feed: etree._Element, ctx: SourceContext) -> list[Draft]:
    drafts: list[Draft] = []
    for entry in feed.findall(f"{{{ATOM}}}entry"):
        embedded = [el for el in entry.iter() if _is_cap(el, "alert")]
        if embedded:
            found = (_alert_draft(alert, ctx) for alert in embedded)
            drafts.extend(d for d in found if d is not None)
            continue
        draft = _entry_draft(feed, entry, ctx)
        if draft is not None:
            drafts.append(draft)
    return drafts


def _feed_issuer_name(feed: etree._Element) -> str:
    """ "... Issued by the National Weather Service" -> the name; else the author."""
    match = _ISSUED_BY.search(_atom_text(feed, "title"))
    if match:
        return match.group(1)
    author = feed.find(f"{{{ATOM}}}author")
    name = _atom_text(author, "name") if author is not None else ""
    return name if name and "@" not in name else ""


def _entry_draft(feed: etree._Element, entry: etree._Element, ctx: SourceContext) -> Draft | None:
    """An Atom entry with inline CAP fields (``cap:event``, ``cap:severity`` ...)."""
    msg_type = _wanted(_text(entry, "msgType"), _text(entry, "status"))
    entry_id = _atom_text(entry, "id")
    event = _text(entry, "event")
    title = _atom_text(entry, "title") or event
    if msg_type is None or not (title or entry_id):
        return None
    link = _atom_link(entry)
    author = entry.find(f"{{{ATOM}}}author")
    author_name = _atom_text(author, "name") if author is not None else ""
    area_names = _area_names([_text(entry, "areaDesc")])
    sender_name = _feed_issuer_name(feed)
    hosts = (link or "", entry_id, author_name, _atom_text(feed, "id"))
    hints = _Hints(
        languages=tuple(lang for lang in [_text(entry, "language")] if lang),
        hosts=_hosts(*hosts),
        places=(sender_name, *area_names, title),
    )
    country, why = _infer_country(ctx, hints)
    categories = _texts(entry, "category")
    published = _time(_atom_text(entry, "published"))
    effective, effective_field = _effective(entry, published, "published")
    expires = _time(_text(entry, "expires"))
    return Draft(
        source=ctx.source,
        title=title or entry_id,
        body=any_to_text(_atom_text(entry, "summary")),
        own_id=entry_id or None,
        url=link,
        language=_text(entry, "language") or DEFAULT_LANGUAGE,
        published=published,
        updated=_time(_atom_text(entry, "updated")),
        kind=_kind(categories),
        msg_type=msg_type,
        issuer=IssuerHint(country, sender_name or country) if country else None,
        countries=(country,) if country else (),
        areas=tuple(Area(name=n, country=country, admin1=_admin1(n, country)) for n in area_names),
        severity=_severity(_text(entry, "severity")),
        urgency=_urgency(_text(entry, "urgency")),
        effective=effective,
        expires=expires,
        categories=_categories(categories),
        extra_content=_extra(
            event=event,
            category=", ".join(categories),
            certainty=_text(entry, "certainty"),
            areaDesc="; ".join(area_names),
        ),
        first_party=True,
        evidence=_evidence(why, effective_field, effective, expires),
    )
