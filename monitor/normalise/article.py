"""Plain-text articles and HTML pages.

A text article may open with ``date YYYY-MM-DD`` (the publication date, as in the
reference article); a short first line followed by a blank line is its headline.
HTML pages give their headline from ``og:title``, ``<h1>`` or ``<title>`` and their date
from the usual meta tags; the text comes from ``<article>``, ``<main>`` or ``<body>``
with navigation, headers, footers and scripts removed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from dateutil import parser as date_parser
from lxml import etree
from lxml import html as lxml_html

from monitor.models import DatePrecision
from monitor.normalise.draft import Draft, SourceContext
from monitor.normalise.inputs import Document, InputError
from monitor.normalise.text import html_to_text, normalise_text, split_sentences

_DATE_TOKEN = re.compile(r"^\s*date\s+(\d{4})-(\d{2})-(\d{2})\b[ \t]*", re.I)
_HEADLINE_MAX = 200
_DATE_META = (
    "article:published_time", "og:published_time", "datePublished", "date", "pubdate",
    "publishdate", "dc.date", "dc.date.issued", "sailthru.date", "parsely-pub-date",
)  # fmt: skip
_DROP = ("script", "style", "nav", "header", "footer", "aside", "form", "noscript", "svg")


def _title_and_body(text: str) -> tuple[str, str]:
    lines = text.split("\n", 1)
    first = lines[0].strip()
    rest = lines[1] if len(lines) > 1 else ""
    if (
        first
        and rest.startswith("\n")
        and len(first) <= _HEADLINE_MAX
        and not first.endswith((".", "!", "?", '"'))
    ):
        return first, rest.strip()
    sentences = split_sentences(first)
    title = sentences[0] if sentences else first
    if len(title) > _HEADLINE_MAX:
        title = title[:_HEADLINE_MAX].rsplit(" ", 1)[0] + "..."
    return title, text


def parse_text(doc: Document, ctx: SourceContext) -> list[Draft]:
    text = normalise_text(doc.text)
    published: datetime | None = None
    precision = DatePrecision.SECOND
    match = _DATE_TOKEN.match(text)
    if match:
        try:
            published = datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=UTC)
        except ValueError as exc:
            raise InputError(f"bad date token {match.group().strip()!r}") from exc
        precision = DatePrecision.DAY
        text = text[match.end() :]
    if not text.strip():
        raise InputError("article has no text")
    title, body = _title_and_body(text)
    return [Draft(source=ctx.source, title=title, body=body, published=published,
                  date_precision=precision)]  # fmt: skip


def _meta_date(root: etree._Element) -> tuple[datetime | None, DatePrecision]:
    candidates: list[str] = []
    for meta in root.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key in {k.lower() for k in _DATE_META} and meta.get("content"):
            candidates.append(meta.get("content") or "")
    for node in root.iter("time"):
        if node.get("datetime"):
            candidates.append(node.get("datetime") or "")
    for value in candidates:
        try:
            parsed = date_parser.parse(value)
        except (ValueError, OverflowError):
            continue
        day_only = not re.search(r"\d{1,2}:\d{2}", value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC), DatePrecision.DAY if day_only else DatePrecision.SECOND
    return None, DatePrecision.SECOND


def _nodes(root: etree._Element, xpath: str) -> list[Any]:
    result = root.xpath(xpath)
    return list(result) if isinstance(result, list) else []


def _first_text(root: etree._Element, xpath: str) -> str | None:
    for node in _nodes(root, xpath):
        raw = node.text_content() if hasattr(node, "text_content") else node
        value = " ".join(str(raw).split())
        if value:
            return value
    return None


def parse_html(doc: Document, ctx: SourceContext) -> list[Draft]:
    try:
        root = lxml_html.document_fromstring(doc.text)
    except (etree.ParserError, ValueError) as exc:
        raise InputError(f"unreadable HTML: {exc}") from exc
    title = (
        _first_text(root, "//meta[@property='og:title']/@content")
        or _first_text(root, "//h1")
        or _first_text(root, "//title")
        or ""
    )
    published, precision = _meta_date(root)
    url = _first_text(root, "//link[@rel='canonical']/@href") or _first_text(
        root, "//meta[@property='og:url']/@content"
    )
    language = root.get("lang") or "en"
    containers = _nodes(root, "//article") or _nodes(root, "//main") or _nodes(root, "//body")
    container: Any = containers[0] if containers else root
    for tag in _DROP:
        for node in _nodes(container, f".//{tag}"):
            node.drop_tree()
    markup = etree.tostring(container, encoding="unicode", method="html")
    body = html_to_text(markup)
    if title and body.startswith(title):
        body = body[len(title) :].strip()
    if not title and not body:
        raise InputError("HTML page has no text")
    if not title:
        title, body = _title_and_body(body)
    return [Draft(source=ctx.source, title=title, body=body, url=url, published=published,
                  date_precision=precision, language=language.split("-")[0] or "en")]  # fmt: skip
