"""Reading raw input safely: size, binary data, encoding, hostile XML, truncation, sniffing.

Every poll of every source passes its body through ``check_input`` (and, for ``auto``,
``detect_format``), so both look only at a prefix or a suffix of the document wherever that is
enough, and leave the full parse to the one adapter that needs it. Whatever cannot be read
becomes an ``InputError`` with a one-line message that says what the input looks like, so that
the CLI and the poller can report it in one line, without a traceback.

What is refused and why:

* more than ``MAX_INPUT_BYTES``: bounds the memory one poll can take;
* empty or whitespace-only: nothing to normalise, and usually a failed fetch;
* binary data (NUL bytes, control characters, the magic number of an image, an archive, a
  compressed stream or a PDF): a misconfigured URL or a body that was not decompressed;
* XML that declares entities (``<!ENTITY``): billion laughs and XXE live there, and no advisory
  feed needs them; ``parse_xml`` also never loads a DTD or touches the network;
* XML or JSON that stops before its root closes: a truncated download would otherwise parse
  into a feed with the last items silently missing, and look like withdrawn advisories.

What is tolerated, because real feeds do it: a byte-order mark (UTF-8, UTF-16, UTF-32), CRLF
line ends, blank lines before the XML declaration, a declared encoding that does not match the
bytes, and HTML entities such as ``&nbsp;`` that XML does not define.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from html.entities import html5 as _HTML5_ENTITIES
from typing import Any, Literal

from lxml import etree

MAX_INPUT_BYTES = 20 * 1024 * 1024
"""The largest input accepted. The biggest real feed we read (the State Department's, with
every country) is about 0.6 MB, so 20 MiB leaves ample room while bounding a poll's memory."""

FORMAT_NAMES: tuple[str, ...] = ("rss", "govuk", "canada", "cap", "text", "html")
"""What ``detect_format`` can answer; ``monitor.normalise.api.Format`` adds ``auto``."""

Syntax = Literal["xml", "json", "html", "text"]

_HEAD = 4096  # how much of the start is enough to find declarations and sample for binary data
_CAP_SNIFF = 64 * 1024  # how far into an Atom feed to look for a CAP namespace declaration


class InputError(ValueError):
    """The input cannot be read or parsed as any supported format.

    The message is one line that names the problem, fit to print after the input's name.
    """


@dataclass(frozen=True, slots=True)
class Document:
    """An input that passed ``check_input``.

    ``text`` is the decoded document. ``raw`` is the same document as UTF-8 bytes, without a
    byte-order mark, and (for XML and HTML) with a declared encoding that agrees with the
    bytes: hand ``raw`` to byte-oriented parsers (lxml, feedparser), never the original body,
    whose declaration may lie. ``syntax`` is the family sniffed from the first characters.
    """

    raw: bytes
    text: str
    syntax: Syntax


# --- size -----------------------------------------------------------------------------------


def check_size(size: int, *, exact: bool = True) -> None:
    """Refuse an input of ``size`` bytes if it is over ``MAX_INPUT_BYTES``.

    Separate from ``check_input`` so that a reader (the CLI, the fetcher) can refuse a body from
    its announced size before reading it. ``exact=False`` when the reader stopped reading at the
    limit and only knows that the body is bigger.
    """
    if size <= MAX_INPUT_BYTES:
        return
    amount = f"{size:,} bytes, over" if exact else "over"
    raise InputError(
        f"input is too large: {amount} the limit of {MAX_INPUT_BYTES:,} bytes (20 MiB)"
    )


# --- binary data ----------------------------------------------------------------------------

_MAGIC: tuple[tuple[re.Pattern[bytes], str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), what)
    for pattern, what in (
        (rb"\x89PNG\r\n\x1a\n", "a PNG image"),
        (rb"\xff\xd8\xff", "a JPEG image"),
        (rb"GIF8[79]a", "a GIF image"),
        (rb"RIFF....WEBP", "a WebP image"),
        (rb"%PDF-", "a PDF document"),
        (rb"PK\x03\x04|PK\x05\x06", "a ZIP archive"),
        (rb"\x1f\x8b", "gzip-compressed data (was the body decompressed?)"),
        (rb"BZh[1-9]1AY&SY", "bzip2-compressed data"),
        (rb"\xfd7zXZ\x00", "xz-compressed data"),
        (rb"\x28\xb5\x2f\xfd", "zstd-compressed data"),
        (rb"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
        (rb"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a Microsoft Office (OLE) file"),
        (rb"\x7fELF", "an ELF executable"),
    )
)

# C0 controls other than tab, line feed, vertical tab, form feed and carriage return, plus DEL:
# text never has many of them, binary data always does.
_CONTROL_BYTES = bytes(range(1, 9)) + bytes(range(14, 32)) + b"\x7f"
_CONTROL_CHARS = re.compile("[\x01-\x08\x0e-\x1f\x7f]")


def _refuse_magic(head: bytes) -> None:
    """Name the file type when the input starts with a well-known binary signature."""
    for pattern, what in _MAGIC:
        if pattern.match(head):
            raise InputError(f"input looks like {what}, not a feed or an article")


def _refuse_controls(has_nul: bool, sample_size: int, controls: int) -> None:
    if has_nul:
        raise InputError("input contains NUL bytes: it looks like binary data, not text")
    if controls * 20 > sample_size:  # more than 5 %
        share = round(100 * controls / sample_size)
        raise InputError(
            f"input is full of control characters ({share}% of the first {sample_size:,}"
            " characters): it looks like binary data, not text"
        )


def _refuse_binary_bytes(body: bytes) -> None:
    """Binary check on undecoded bytes, before the (slower) decoding of garbage is tried."""
    sample = body[:_HEAD]
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    _refuse_controls(b"\x00" in body, len(sample), controls)


def _refuse_binary_text(text: str) -> None:
    """The same check after a UTF-16/32 decode, where NUL bytes are part of the encoding."""
    sample = text[:_HEAD]
    _refuse_controls("\x00" in text, len(sample), len(_CONTROL_CHARS.findall(sample)))


# --- decoding -------------------------------------------------------------------------------

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),  # before UTF-16 LE: FF FE 00 00 starts both
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_PRINTABLE_ASCII = frozenset(b"\t\n\r" + bytes(range(0x20, 0x7F)))

_XML_DECL_ENCODING_BYTES = re.compile(rb"""\s*<\?xml\b[^>]*?\bencoding\s*=\s*["']([\w.:-]+)""")
_META_CHARSET_BYTES = re.compile(rb"""<meta\b[^>]*?\bcharset\s*=\s*["']?([\w.:-]+)""", re.I)
_XML_DECL_ENCODING = re.compile(r"""\s*<\?xml\b[^>]*?\bencoding\s*=\s*(["'])([^"']*)\1""")
_META_CHARSET = re.compile(r"""(<meta\b[^>]*?\bcharset\s*=\s*["']?)([\w.:-]+)""", re.I)

# Codecs that a declaration may name but that must not be trusted over the bytes: the UTF-8 and
# Latin-1 family are handled by the UTF-8-with-cp1252-fallback decode, and the rest are not
# text encodings that a web server means.
_LATIN = frozenset({"utf-8", "ascii", "iso8859-1", "cp1252"})
_NOT_WEB = frozenset({"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined"})
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")


def _codec(label: str | None) -> str | None:
    """Python's canonical name for an encoding label, or None if Python does not know it."""
    if label is None:
        return None
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _split_bom(data: bytes) -> tuple[str | None, bytes]:
    """The encoding a byte-order mark announces, and the body after it.

    Without a mark, UTF-16 is still recognised from two ASCII characters with NUL high bytes
    (how an XML declaration or a JSON brace looks in UTF-16), as XML 1.0 Appendix F does.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, data[len(bom) :]
    head = data[:4]
    if len(head) == 4 and head[1] == head[3] == 0 and {head[0], head[2]} <= _PRINTABLE_ASCII:
        return "utf-16-le", data
    if len(head) == 4 and head[0] == head[2] == 0 and {head[1], head[3]} <= _PRINTABLE_ASCII:
        return "utf-16-be", data
    return None, data


def _declared_label(head: bytes) -> str | None:
    """The encoding an XML declaration or an HTML ``<meta charset>`` names, if any."""
    match = _XML_DECL_ENCODING_BYTES.match(head) or _META_CHARSET_BYTES.search(head)
    return match.group(1).decode("ascii") if match else None


def _decode_mixed(body: bytes) -> str:
    """UTF-8, with each run of bytes that is not UTF-8 read as cp1252.

    Feeds assembled from several sources often carry one stray cp1252 quote (0x92) in otherwise
    valid UTF-8: decoding everything as cp1252 would garble every other non-ASCII character.
    """
    text = body.decode("utf-8", "surrogateescape")
    return _ESCAPED_BYTES.sub(
        lambda run: bytes(ord(c) - 0xDC00 for c in run.group()).decode("cp1252", "replace"),
        text,
    )


def _decode_legacy(body: bytes, declared: str | None) -> str:
    """Decode bytes that are not valid UTF-8.

    A declared legacy encoding (windows-1251, Shift_JIS, ...) is honoured when the bytes decode
    with it. Otherwise (no declaration, or one that claims UTF-8 or Latin-1) the bytes are
    cp1252, the usual truth behind a wrong declaration, or UTF-8 with stray cp1252 bytes when
    valid multi-byte UTF-8 sequences are present too.
    """
    codec = _codec(declared)
    if codec and codec not in _LATIN and codec not in _NOT_WEB and not codec.startswith("utf"):
        try:
            return body.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    if _UTF8_MULTIBYTE.search(body) is None:
        return body.decode("cp1252", "replace")
    return _decode_mixed(body)


def _to_text(data: bytes) -> tuple[str, bytes | None]:
    """Decode the input; also return the body when it already is that text in UTF-8.

    Binary data is refused here, before decoding it could cost anything.
    """
    encoding, body = _split_bom(data)
    if encoding not in (None, "utf-8"):
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError as exc:
            raise InputError(f"input is not valid {encoding.upper()}: {exc.reason}") from exc
        _refuse_binary_text(text)
        return text, None
    _refuse_binary_bytes(body)
    try:
        return body.decode("utf-8"), body
    except UnicodeDecodeError:
        return _decode_legacy(body, _declared_label(body[:_HEAD])), None


def _declares_utf8(text: str, syntax: Syntax) -> bool:
    """Whether parsers reading the UTF-8 bytes of ``text`` will take them as UTF-8."""
    if syntax == "xml":
        xml = _XML_DECL_ENCODING.match(text)
        return xml is None or _codec(xml.group(2)) == "utf-8"
    if syntax == "html":
        meta = _META_CHARSET.search(text, 0, _HEAD)
        return meta is None or _codec(meta.group(2)) == "utf-8"
    return True


def _declare_utf8(text: str, syntax: Syntax) -> str:
    """Make the XML declaration or HTML ``<meta charset>`` say UTF-8, to match ``raw``."""
    if syntax == "xml" and (xml := _XML_DECL_ENCODING.match(text)):
        return text[: xml.start(2)] + "UTF-8" + text[xml.end(2) :]
    if syntax == "html":
        return _META_CHARSET.sub(r"\1utf-8", text[:_HEAD]) + text[_HEAD:]
    return text


# --- the XML prolog -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Prolog:
    """What precedes the root element, found without parsing the document."""

    doctype: str | None  # the whole <!DOCTYPE ...> declaration
    root: str | None  # the root element's qualified name, None when no start tag follows
    root_start: int  # where the root start tag begins (or where the scan stopped)


_MISC = re.compile(r"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
_DOCTYPE = re.compile(r"<!DOCTYPE\b[^\[>]*(?:\[.*?\]\s*)?>", re.DOTALL | re.IGNORECASE)
_START_TAG_NAME = re.compile(r"<([^\W\d][\w.-]*(?::[^\W\d][\w.-]*)?)")
_ATTRIBUTE = re.compile(r"""\s+([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_TAG_END = re.compile(r"\s*(/?)>")
_END_TAG_CLOSE = re.compile(r"\s*>")
_ENTITY_DECL = re.compile(r"<!ENTITY", re.IGNORECASE)
_VISIBLE = re.compile(r"[^\s\ufeff]")


def _first_visible(text: str) -> int | None:
    """Index of the first character that is not white space (or a stray BOM)."""
    match = _VISIBLE.search(text)
    return match.start() if match else None


def _skip_misc(text: str, pos: int) -> int:
    """Skip white space, comments and processing instructions from ``pos``."""
    while (match := _MISC.match(text, pos)) is not None:
        pos = match.end()
    return pos


def _scan_prolog(text: str, pos: int) -> _Prolog:
    doctype = None
    while True:
        pos = _skip_misc(text, pos)
        if doctype is None and (match := _DOCTYPE.match(text, pos)) is not None:
            doctype, pos = match.group(), match.end()
            continue
        tag = _START_TAG_NAME.match(text, pos)
        return _Prolog(doctype, tag.group(1) if tag else None, pos)


def _refuse_entity_declarations(text: str, prolog: _Prolog) -> None:
    """Refuse ``<!ENTITY`` anywhere before the root element.

    Entities can only be declared in the DOCTYPE, so the prolog is all there is to search; a
    feed item that quotes ``<!ENTITY`` in a CDATA section is not refused. When no root element
    was found the whole text is searched, to name the real problem in the message.
    """
    end = prolog.root_start if prolog.root else len(text)
    if _ENTITY_DECL.search(text, 0, end):
        raise InputError(
            "XML declares entities (<!ENTITY>): refused, as expanding them can exhaust memory"
            " (billion laughs) or read local files and URLs (XXE)"
        )


def _no_root(text: str, prolog: _Prolog) -> InputError:
    rest = text[prolog.root_start : prolog.root_start + 40]
    if not rest.strip() or rest.startswith(("<!--", "<?", "<!DOCTYPE", "<!doctype")):
        return InputError("truncated: the XML ends before its root element")
    return InputError(f"not XML: unexpected {rest[:20]!r} before the root element")


def _check_closed(text: str, prolog: _Prolog) -> None:
    """Refuse XML whose root element is not closed by the end of the input.

    Only the end is read: the last ``</root`` must close a tag, and nothing but white space,
    comments and processing instructions may follow it. A self-closing root is accepted too.
    """
    assert prolog.root is not None
    root = prolog.root
    close = text.rfind(f"</{root}", prolog.root_start)
    if close >= 0 and (gt := _END_TAG_CLOSE.match(text, close + 2 + len(root))):
        rest = _skip_misc(text, gt.end())
        if rest == len(text):
            return
        if text.startswith(("<!--", "<?"), rest):  # a trailer that was cut off
            raise InputError(f"truncated: the input ends in a comment after root element <{root}>")
        raise InputError(f"unexpected content after the end of root element <{root}>")
    if close < 0 and _self_closing_end(text, prolog) == len(text):
        return
    raise InputError(f"truncated: root element <{root}> is not closed")


def _start_tag(text: str, prolog: _Prolog) -> tuple[dict[str, str], int, bool]:
    """The root start tag's attributes, where the tag ends, and whether it is ``<x/>``.

    The end is -1 when the input ends inside the tag.
    """
    assert prolog.root is not None
    attributes: dict[str, str] = {}
    pos = prolog.root_start + 1 + len(prolog.root)
    while (match := _ATTRIBUTE.match(text, pos)) is not None:
        attributes[match.group(1)] = match.group(2) if match.group(2) is not None else match[3]
        pos = match.end()
    end = _TAG_END.match(text, pos)
    return attributes, (end.end() if end else -1), bool(end and end.group(1))


def _self_closing_end(text: str, prolog: _Prolog) -> int:
    _, end, empty = _start_tag(text, prolog)
    return _skip_misc(text, end) if empty else -1


# --- sniffing -------------------------------------------------------------------------------

# Roots that only HTML has: error pages often skip the doctype ("<h1>502 Bad Gateway</h1>").
_HTML_ROOTS = frozenset(
    {"html", "head", "body", "div", "p", "span", "table", "script", "style", "meta"}
    | {"title", "center", "h1", "h2", "pre", "iframe", "noscript", "form", "br", "hr"}
)
# JSON opens with an object or an array of values; "[Reuters] ..." is an article.
_JSON_START = re.compile(r"""\{\s*["}]|\[\s*(?:[\[{"\]\d-]|true\b|false\b|null\b)""")
_HTML_DOCTYPE = re.compile(r"<!DOCTYPE\s+html\b", re.IGNORECASE)


def _sniff(text: str, start: int) -> tuple[Syntax, _Prolog | None]:
    """The syntax family from the first visible character and, for markup, the prolog."""
    if _JSON_START.match(text, start):
        return "json", None
    if text[start] != "<":
        return "text", None
    prolog = _scan_prolog(text, start)
    doctype_is_html = prolog.doctype is not None and _HTML_DOCTYPE.match(prolog.doctype)
    if doctype_is_html or (prolog.root or "").lower() in _HTML_ROOTS:
        return "html", prolog
    return "xml", prolog


def _check_json_closed(text: str, start: int) -> None:
    """A cheap truncation check: the document must end with the bracket that opened it.

    It catches most cuts without parsing; ``detect_format`` parses and catches the rest.
    """
    tail = text[-256:].rstrip() or text.rstrip()
    opener = text[start]
    if tail[-1:] != ("}" if opener == "{" else "]"):
        kind = "object" if opener == "{" else "array"
        raise InputError(f"truncated: JSON {kind} is not closed")


def check_input(data: bytes) -> Document:
    """Check that ``data`` is a readable document, decode it and sniff its syntax.

    Raises ``InputError`` for input that is too large, empty, binary, hostile or truncated
    XML, or truncated JSON. The result's ``raw`` is always UTF-8 that agrees with its own
    declaration, whatever encoding the input was in or claimed to be in.
    """
    check_size(len(data))
    _refuse_magic(data[:16])
    text, verbatim = _to_text(data)
    start = _first_visible(text)
    if start is None:
        raise InputError("input is empty")
    syntax, prolog = _sniff(text, start)
    if prolog is not None:
        _refuse_entity_declarations(text, prolog)
    if syntax == "xml" and prolog is not None:
        if prolog.root is None:
            raise _no_root(text, prolog)
        _check_closed(text, prolog)
        if start > 0 and text.startswith("<?xml", start):
            # An XML declaration is only allowed at the very start; blank lines before it are
            # a common server quirk that strict parsers reject.
            text, verbatim = text[start:], None
    elif syntax == "json":
        _check_json_closed(text, start)
    if verbatim is None or not _declares_utf8(text, syntax):
        text = _declare_utf8(text, syntax)
        verbatim = None
    return Document(verbatim if verbatim is not None else text.encode("utf-8"), text, syntax)


# --- format detection -----------------------------------------------------------------------

_CAP_NAMESPACE_PREFIXES = ("urn:oasis:names:tc:emergency:cap:", "http://www.incident.com/cap/")
_CAP_NAMESPACES = "|".join(re.escape(prefix) for prefix in _CAP_NAMESPACE_PREFIXES)
_CAP_NAMESPACE_DECL = re.compile(rf"""xmlns(?::[\w.-]+)?\s*=\s*["'](?:{_CAP_NAMESPACES})""")
_FEED_ROOTS = frozenset({"rss", "rdf", "feed"})


def _is_govuk(payload: Any) -> bool:
    return isinstance(payload, dict) and "travel_advice" in (
        payload.get("schema_name"),
        payload.get("document_type"),
    )


def _is_canada(payload: Any) -> bool:
    """One country (``data`` has ``country-iso``) or the index (every value has a state)."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict) or not data:
        return False
    if "country-iso" in data:
        return True
    return all(isinstance(value, dict) and "advisory-state" in value for value in data.values())


def _json_format(text: str) -> str:
    """Parse the JSON once to classify it: the markers can sit anywhere in the object."""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            raise InputError(f"truncated: JSON ends early ({exc.msg})") from exc
        where = f"line {exc.lineno} column {exc.colno}"
        raise InputError(f"not valid JSON: {exc.msg} at {where}") from exc
    except (ValueError, RecursionError) as exc:
        raise InputError(f"not valid JSON: {exc}") from exc
    if _is_govuk(payload):
        return "govuk"
    if _is_canada(payload):
        return "canada"
    raise InputError("JSON is neither a GOV.UK travel_advice item nor Global Affairs Canada data")


def _xml_format(text: str) -> str:
    """Classify XML by its root element and the namespaces it declares; no parse needed."""
    prolog = _scan_prolog(text, _first_visible(text) or 0)
    if prolog.root is None:
        raise _no_root(text, prolog)
    root = prolog.root
    prefix, _, local = root.rpartition(":")
    if local == "alert":
        namespace = _start_tag(text, prolog)[0].get(f"xmlns:{prefix}" if prefix else "xmlns")
        if namespace and namespace.startswith(_CAP_NAMESPACE_PREFIXES):
            return "cap"
        raise InputError(f"XML root <{root}> is not in a CAP namespace ({namespace or 'none'})")
    if local == "feed" and _CAP_NAMESPACE_DECL.search(
        text, prolog.root_start, prolog.root_start + _CAP_SNIFF
    ):
        return "cap"  # an Atom index of CAP alerts (entries carry cap: fields)
    if local.lower() in _FEED_ROOTS:
        return "rss"
    raise InputError(f"XML root element <{root}> is not RSS, Atom, RDF or CAP")


def detect_format(document: Document) -> str:
    """Which adapter reads this document: one of ``FORMAT_NAMES``.

    XML is classified from its prolog and root start tag only; JSON is parsed once, since the
    GOV.UK marker (``schema_name``) can come last. Raises ``InputError`` for JSON and XML that
    no adapter reads.
    """
    if document.syntax == "json":
        return _json_format(document.text)
    if document.syntax == "xml":
        return _xml_format(document.text)
    return document.syntax


# --- parsing XML ----------------------------------------------------------------------------

_XML_PREDEFINED = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})
_UNDEFINED_REF = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos);)[A-Za-z]")
_CDATA_OR_REF = re.compile(rb"<!\[CDATA\[.*?\]\]>|&([A-Za-z][A-Za-z0-9]*);", re.DOTALL)


def _numeric_reference(match: re.Match[bytes]) -> bytes:
    name = match.group(1)
    if name is None or name in _XML_PREDEFINED:
        return match.group()  # a CDATA section or an XML entity: keep as is
    chars = _HTML5_ENTITIES.get(name.decode("ascii") + ";")
    if chars is None:
        return b"&amp;" + name + b";"  # unknown: keep the text as the author wrote it
    return "".join(f"&#{ord(char)};" for char in chars).encode("ascii")


def _define_html_entities(raw: bytes) -> bytes:
    """Rewrite HTML entity references (``&nbsp;``) as numeric references XML understands.

    Done instead of a recovering parse, which would drop the characters (and could hide other
    damage); CDATA sections, where ``&`` is literal, are left alone.
    """
    return _CDATA_OR_REF.sub(_numeric_reference, raw)


def _safe_parser() -> etree.XMLParser:
    """A parser that never expands entities, never loads a DTD and never uses the network.

    Made per call: lxml parsers are not safe to share between threads.
    """
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(document: Document) -> etree._Element:
    """A strict, safe lxml parse of an XML document (for CAP).

    Entity declarations are refused again here, so a ``Document`` built by hand is no way
    around ``check_input``. Undefined HTML entities are rewritten first; any other
    well-formedness error is an ``InputError``.
    """
    if document.syntax != "xml":
        raise InputError(f"expected XML, but the input looks like {document.syntax}")
    text = document.text
    _refuse_entity_declarations(text, _scan_prolog(text, _first_visible(text) or 0))
    raw = document.raw
    if _UNDEFINED_REF.search(raw):
        raw = _define_html_entities(raw)
    try:
        return etree.fromstring(raw, parser=_safe_parser())
    except etree.XMLSyntaxError as exc:
        raise InputError(f"not well-formed XML: {exc}") from exc
