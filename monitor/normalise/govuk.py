"""GOV.UK Content API ``travel_advice`` items: one Draft per country page.

Format: ``https://www.gov.uk/api/content/foreign-travel-advice/{slug}`` returns one JSON
object per country (``schema_name: travel_advice``). The advice is in ``details.parts[]``
(each an HTML ``body`` with a ``title`` and ``slug``); the level is in
``details.alert_status``, a list of machine values.

Quirks of the source:

* ``updated_at`` moves on every republish, even for a fixed link; ``public_updated_at`` is
  the date GOV.UK shows as "Updated", so it is used for ``published`` and ``updated``.
* ``alert_status`` has whole-country values (``avoid_all_travel_to_whole_country``) and
  ``*_to_parts`` values; ``[]`` means no warning, which is level 1 on the common scale.
  ``*_to_parts`` never raises the national level: the regions named by "FCDO advises
  against all travel to ..." sentences become ``areas`` with their own level. With no
  whole-country value, the national level is what the text says for "the rest of X"
  (3 for "all but essential travel"), else 1.
* Newer payloads open with a "warnings-and-insurance" part, older ones (up to 2020) with
  a "summary" part, which is put first in the body. Level statements are read from those
  parts only: the "help and support" part explains generically that the FCDO may
  "advise against all or all but essential travel".
* ``withdrawn_notice`` is ``{}`` on live pages; a non-empty notice makes the Draft a CANCEL.
* Any key can be missing or ``null`` (``parts``, a part's ``body``); such values are
  skipped. A payload that is not an object, or has no ``details`` or ``title``, is not a
  travel advice item and raises ``InputError``.

Id: ``own_id`` is ``details.country.slug`` (one page per country for the page's whole
life; the Atom feed's entry id changes with every version and is never used), else the
last segment of ``base_path``; with neither, ``own_id`` is None and the builder falls
back to the url, then to a hash of title and date.

The HTML helpers (``html_blocks``, ``travel_statements``) are shared with the Canada
adapter, whose advisories name regions in the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from lxml import etree
from lxml import html as lxml_html

from monitor.models import Area, Kind, MsgType
from monitor.normalise import levels
from monitor.normalise.draft import Draft, IssuerHint, SourceContext
from monitor.normalise.inputs import Document, InputError
from monitor.normalise.places import fold, gazetteer
from monitor.normalise.text import (
    BLOCK_TAGS,
    SKIP_TAGS,
    clean_inline,
    html_to_text,
    split_sentences,
)

GOVUK_ROOT = "https://www.gov.uk"
ISSUER_COUNTRY = "GB"
ISSUER_NAME = "FCDO"
_WARNING_SLUGS = ("warnings-and-insurance", "summary")
_SUMMARY_SLUG = "summary"

# "(advises against) all [but essential] travel to X" / "... travel within X".
_GOVUK_CLAUSE = re.compile(
    r"\ball\s+(?P<but>but\s+essential\s+)?travel\s+(?:to\b|(?=within\b))", re.IGNORECASE
)


# -- shared HTML helpers ---------------------------------------------------------------

BlockKind = Literal["heading", "item", "text"]
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


@dataclass(frozen=True, slots=True)
class Block:
    """One line of an HTML fragment: a heading, a list item or other running text."""

    kind: BlockKind
    text: str


def html_blocks(markup: str) -> list[Block]:
    """The text blocks of an HTML fragment in document order, entities decoded once."""
    if not markup.strip():
        return []
    try:
        root = lxml_html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return [Block("text", line) for line in html_to_text(markup).split("\n") if line]
    blocks: list[Block] = []
    buffer: list[str] = []

    def flush(kind: BlockKind) -> None:
        text = clean_inline("".join(buffer))
        buffer.clear()
        if text:
            blocks.append(Block(kind, text))

    def walk(node: etree._Element, kind: BlockKind) -> None:
        tag = node.tag.lower() if isinstance(node.tag, str) else ""
        if tag and tag not in SKIP_TAGS:
            inner = kind
            if tag in BLOCK_TAGS:
                flush(kind)
                inner = "heading" if tag in _HEADING_TAGS else "item" if tag == "li" else kind
            buffer.append(node.text or "")
            for child in node:
                walk(child, inner)
            if tag in BLOCK_TAGS:
                flush(inner)
        buffer.append(node.tail or "")

    walk(root, "text")
    flush("text")
    return blocks


@dataclass(frozen=True, slots=True)
class Statement:
    """A level stated for a place: "advises against all travel to <place>"."""

    level: int
    place: str
    sentence: str


_PLACE_END = re.compile(
    r"\s+(?:due\s+to|because|owing\s+to|as\s+a\s+result|given|following|"
    r"except|unless|until|where|which)\b|\s+[-\u2013]\s+|[(;!?]|\.(?:\s|$)",
    re.IGNORECASE,
)
_TRAILING_JOINER = re.compile(r"(?:[\s,]+(?:and|or))+\s*$|[\s,.]+$", re.IGNORECASE)


def clean_place(rest: str) -> str:
    """The place named at the start of ``rest`` (the words after "travel to")."""
    end = _PLACE_END.search(rest)
    place = rest[: end.start()] if end else rest
    return _TRAILING_JOINER.sub("", place.strip(" \t:")).strip()


def _clauses(
    sentence: str, clause: re.Pattern[str], level_of: Callable[[re.Match[str]], int]
) -> Iterator[tuple[int, str, str]]:
    """(level, words before, words after) each clause, up to the neighbouring clauses."""
    matches = list(clause.finditer(sentence))
    for index, match in enumerate(matches):
        start = matches[index - 1].end() if index else 0
        stop = matches[index + 1].start() if index + 1 < len(matches) else len(sentence)
        yield level_of(match), sentence[start : match.start()], sentence[match.end() : stop]


def travel_statements(
    blocks: Iterable[Block],
    clause: re.Pattern[str],
    level_of: Callable[[re.Match[str]], int],
) -> list[Statement]:
    """Every place a level clause names, in order.

    A clause ending in a colon ("... all travel to:", "... to the following areas:") or a
    heading with a clause and no place ("Regional advisory - Avoid all travel") names the
    list items that follow it. A heading may also name its place before the clause
    ("Northern Mali - Avoid all travel").
    """
    found: list[Statement] = []
    pending: tuple[int, str] | None = None
    for block in blocks:
        if block.kind == "item" and pending is not None:
            place = clean_place(block.text)
            if place:
                found.append(Statement(pending[0], place, f"{pending[1]} {block.text}"))
            continue
        pending = None
        for sentence in split_sentences(block.text):
            for level, before, rest in _clauses(sentence, clause, level_of):
                place = clean_place(rest)
                if block.kind == "heading" and not place:
                    place = _heading_place(before)
                if rest.rstrip().endswith(":") or (block.kind == "heading" and not place):
                    pending = (level, sentence)
                elif place:
                    found.append(Statement(level, place, sentence))
    return found


_SEPARATORS = " \t-\u2013\u2014:|"
_HEADING_PREFIX = re.compile(
    r"^(?:regional\s+advisor(?:y|ies)(?:\s+(?:for|in|-))?|advisory\s+for)\s*", re.IGNORECASE
)


def _heading_place(before: str) -> str:
    """The place a heading names before its clause: "Northern Mali - Avoid all travel"."""
    return _HEADING_PREFIX.sub("", before.strip(_SEPARATORS)).strip(_SEPARATORS)


_REST_OF = re.compile(
    r"^(?:the\s+)?(?:rest|remainder|remaining\s+(?:parts|areas)|all\s+other\s+(?:parts|areas))"
    r"\s+of\b",
    re.IGNORECASE,
)
_WHOLE_OF = re.compile(r"^(?:the\s+)?(?:whole\s+of|all\s+of|entire)\s+", re.IGNORECASE)
_ARTICLE = re.compile(r"^the\s+", re.IGNORECASE)


def is_rest_of_country(place: str) -> bool:
    return bool(_REST_OF.match(place))


def is_whole_country(place: str, code: str | None, names: Iterable[str]) -> bool:
    """Whether ``place`` names the country itself ("Haiti", "the whole of Haiti")."""
    bare = _ARTICLE.sub("", _WHOLE_OF.sub("", place)).strip()
    key = fold(bare)
    if not key:
        return False
    if key == "country" or any(key == fold(_ARTICLE.sub("", n)) for n in names):
        return True
    return code is not None and gazetteer().lookup_country(bare) == code


def regional_areas(
    statements: Iterable[Statement],
    code: str | None,
    names: Iterable[str],
    labels: dict[int, str],
) -> tuple[Area, ...]:
    """Areas for the statements that name neither the country nor "the rest of" it.

    A place named twice keeps its highest level, at its first position. A place that is
    itself another country ("Gaza" on the Israel page) is filed under that country.
    """
    names = tuple(names)
    by_key: dict[str, Area] = {}
    for statement in statements:
        place = statement.place
        if is_rest_of_country(place) or is_whole_country(place, code, names):
            continue
        key = fold(place)
        known = by_key.get(key)
        if known is not None and (known.level or 0) >= statement.level:
            continue
        by_key[key] = Area(
            name=place,
            country=gazetteer().lookup_country(place) or code,
            level=statement.level,
            level_label=labels.get(statement.level),
        )
    return tuple(by_key.values())


# -- small typed accessors -------------------------------------------------------------


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_str(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def parse_iso(value: object) -> datetime | None:
    """An ISO 8601 timestamp in UTC; naive ones are taken as UTC; anything else is None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def load_json_object(document: Document, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(document.text)
    except ValueError as exc:
        raise InputError(f"{what}: not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InputError(f"{what}: expected a JSON object, got {type(payload).__name__}")
    return payload


# -- the adapter -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Part:
    slug: str
    title: str
    html: str
    text: str


@dataclass(frozen=True, slots=True)
class _National:
    level: int
    label: str | None
    evidence: str


def parse(doc: Document, ctx: SourceContext) -> list[Draft]:
    """The one Draft of a GOV.UK ``travel_advice`` content item."""
    payload = load_json_object(doc, "GOV.UK travel advice")
    details = payload.get("details")
    title = as_str(payload.get("title"))
    if not isinstance(details, dict) or not title:
        raise InputError("GOV.UK travel advice: the item has no 'details' object or no 'title'")
    country = as_dict(details.get("country"))
    slug = as_str(country.get("slug"))
    base_path = as_str(payload.get("base_path"))
    code, names = _country(country, slug)
    parts = _parts(details.get("parts"))
    status = _alert_status(details.get("alert_status"))
    statements = travel_statements(_warning_blocks(parts), _GOVUK_CLAUSE, _govuk_level)
    national = _national_level(status, statements, code, names)
    withdrawn = _withdrawn_text(payload.get("withdrawn_notice"))
    published = parse_iso(payload.get("public_updated_at"))
    return [
        Draft(
            source=ctx.source,
            title=clean_inline(title),
            body=_body(parts, withdrawn),
            own_id=slug or base_path.rstrip("/").rsplit("/", 1)[-1] or None,
            url=GOVUK_ROOT + base_path if base_path.startswith("/") else None,
            language=as_str(payload.get("locale")) or "en",
            published=published,
            updated=published,
            kind=Kind.TRAVEL_ADVISORY,
            msg_type=MsgType.CANCEL if withdrawn is not None else MsgType.ALERT,
            issuer=IssuerHint(
                ISSUER_COUNTRY, ISSUER_NAME, national.level, national.label, national.evidence
            ),
            countries=(code,) if code else (),
            areas=regional_areas(statements, code, names, levels.GOVUK_LABELS),
            extra_content=_extra_content(status, details),
            first_party=True,
            summary_text=_summary(parts, payload),
            evidence=_evidence(national, country, code),
        )
    ]


def _country(country: dict[str, Any], slug: str) -> tuple[str | None, tuple[str, ...]]:
    """ISO code of the page's country and the names the text may call it by."""
    name = as_str(country.get("name"))
    from_slug = slug.replace("-", " ")
    names = tuple(n for n in (name, from_slug) if n)
    for candidate in names:
        code = gazetteer().lookup_country(candidate) or gazetteer().lookup_country(
            _ARTICLE.sub("", candidate)
        )
        if code:
            return code, names
    return None, names


def _parts(value: object) -> list[_Part]:
    """The parts with any text, the "summary" part (older payloads) first."""
    parts: list[_Part] = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        title, html = as_str(item.get("title")), as_str(item.get("body"))
        if title or html:
            parts.append(_Part(as_str(item.get("slug")), title, html, html_to_text(html)))
    return sorted(parts, key=lambda p: p.slug != _SUMMARY_SLUG)


def _alert_status(value: object) -> list[str]:
    """``details.alert_status`` as a list of values (a lone string is one value)."""
    if isinstance(value, str):
        value = [value]
    return [s.strip() for s in value if isinstance(s, str)] if isinstance(value, list) else []


def _warning_blocks(parts: list[_Part]) -> list[Block]:
    warning = [p for p in parts if p.slug in _WARNING_SLUGS] or parts
    return [block for part in warning for block in html_blocks(part.html)]


def _govuk_level(match: re.Match[str]) -> int:
    return 3 if match.group("but") else 4


def _national_level(
    status: list[str], statements: list[Statement], code: str | None, names: tuple[str, ...]
) -> _National:
    whole = [levels.GOVUK_ALERT_STATUS[s] for s in status if s in levels.GOVUK_ALERT_STATUS]
    if whole:
        level = max(whole)
        sentences = [
            s.sentence
            for s in statements
            if s.level == level and is_whole_country(s.place, code, names)
        ]
        sentence = max(sentences, key=len, default=None)  # the sentence, not its heading
        stated = f"alert_status: {', '.join(status)}"
        return _National(level, levels.GOVUK_LABELS.get(level), sentence or stated)
    rest = [s for s in statements if is_rest_of_country(s.place)]
    if rest:
        top = max(rest, key=lambda s: s.level)
        return _National(top.level, levels.GOVUK_LABELS.get(top.level), top.sentence)
    if status:
        return _National(1, None, f"alert_status: {', '.join(status)} (regional warnings only)")
    return _National(1, None, "alert_status: [] (no FCDO warning)")


def _withdrawn_text(notice: object) -> str | None:
    """The withdrawal explanation (possibly empty) when the page is withdrawn, else None."""
    if not notice:
        return None
    if isinstance(notice, dict):
        return html_to_text(as_str(notice.get("explanation")))
    return html_to_text(notice) if isinstance(notice, str) else ""


def _body(parts: list[_Part], withdrawn: str | None) -> str:
    sections = [f"Withdrawn\n\n{withdrawn}".strip()] if withdrawn is not None else []
    for part in parts:
        sections.append("\n\n".join(x for x in (part.title, part.text) if x))
    return "\n\n".join(s for s in sections if s)


def _summary(parts: list[_Part], payload: dict[str, Any]) -> str | None:
    """The issuer's own summary part when there is one, else the page description.

    The description is GOV.UK boilerplate ("FCDO travel advice for Haiti. Includes
    safety and security..."), so the summary part, where present, says more.
    """
    summary = next((p.text for p in parts if p.slug == _SUMMARY_SLUG and p.html), "")
    return summary or html_to_text(as_str(payload.get("description"))) or None


def _extra_content(status: list[str], details: dict[str, Any]) -> str:
    lines = [f"alert_status: {', '.join(status) or '[]'}"]
    change = html_to_text(as_str(details.get("change_description")))
    if change:
        lines.append(f"change_description: {change}")
    return "\n".join(lines)


def _evidence(national: _National, country: dict[str, Any], code: str | None) -> dict[str, str]:
    evidence = {"level": national.evidence}
    if code:
        name = as_str(country.get("name")) or as_str(country.get("slug"))
        evidence["countries"] = f"details.country: {name}"
    return evidence
