"""Reading raw input safely: size, encoding, hostile XML, truncation, format sniffing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from lxml import etree

MAX_INPUT_BYTES = 20 * 1024 * 1024

Syntax = Literal["xml", "json", "html", "text"]


class InputError(ValueError):
    """The input cannot be read or parsed as any supported format."""


@dataclass(frozen=True, slots=True)
class Document:
    raw: bytes  # the bytes without a BOM
    text: str  # decoded text
    syntax: Syntax


_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)


def _decode(data: bytes) -> str:
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _sniff(text: str) -> Syntax:
    head = text.lstrip()[:512].lower()
    if head.startswith(("{", "[")):
        return "json"
    if head.startswith(("<!doctype html", "<html")):
        return "html"
    if head.startswith("<"):
        return "xml"
    return "text"


def check_input(data: bytes) -> Document:
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"input is {len(data):,} bytes, over the {MAX_INPUT_BYTES:,} byte limit")
    for bom in _BOMS[:1]:
        if data.startswith(bom):
            data = data[len(bom) :]
    if not data.strip():
        raise InputError("input is empty")
    text = _decode(data)
    syntax = _sniff(text)
    if syntax == "xml" and _ENTITY_DECL.search(data):
        raise InputError("XML entity declarations are refused (entity expansion)")
    return Document(data, text, syntax)


def detect_format(document: Document) -> str:
    if document.syntax == "json":
        try:
            payload = json.loads(document.text)
        except ValueError as exc:
            raise InputError(f"not valid JSON: {exc}") from exc
        if isinstance(payload, dict):
            if payload.get("schema_name") == "travel_advice" or "details" in payload:
                return "govuk"
            if isinstance(payload.get("data"), dict):
                return "canada"
        raise InputError("JSON input is neither a GOV.UK travel_advice item nor Canada data")
    if document.syntax == "html":
        return "html"
    if document.syntax == "xml":
        head = document.text[:4096]
        if re.search(r"<(?:\w+:)?alert[\s>]", head) and "emergency:cap" in head:
            return "cap"
        return "rss"
    return "text"


def parse_xml(document: Document) -> etree._Element:
    """A safe lxml parse: no entity expansion, no network, no huge trees."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True
    )
    try:
        return etree.fromstring(document.raw, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise InputError(f"not well-formed XML: {exc}") from exc
