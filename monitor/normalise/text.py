"""Plain text from HTML, whitespace and punctuation normalisation, sentences.

HTML goes through lxml's HTML parser (entities decoded exactly once); block
elements become line breaks and list items their own lines, inline markup
disappears without a trace, so ``<b>Moscow</b>`` and ``Moscow`` read the same.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from lxml import etree

BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table",
        "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "title",
    }
)  # fmt: skip
SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe"})

_BULLETS = re.compile(
    r"^[ \t]*(?:[\u00b7\u2022\u25aa\u25cf\u2023\u2043\u25e6*]|-(?=\s))[ \t]*", re.M
)
# Starts with a literal so the engine jumps from line break to line break.
_CONTINUED_BLOCK = re.compile(r"\n(?<=[^.!?:;\n\"')\]]\n)\n*(?=[a-z])")
# Typographic dashes, quotes and exotic spaces; replaced only where they occur (a
# translate() table runs Python per character and costs more than the rare matches).
_TYPOGRAPHY_MAP = {
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\t\f\v\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
                    "\u2008\u2009\u200a\u200b\u202f\u205f\u3000", " "),
    "\u2026": "...",
    "\ufeff": "",
    "\r": "\n",
}  # fmt: skip
_TYPOGRAPHY = re.compile("[" + "".join(_TYPOGRAPHY_MAP) + "]")


def _typography(value: str) -> str:
    return _TYPOGRAPHY.sub(lambda m: _TYPOGRAPHY_MAP[m.group()], value)


_RUNS_OF_SPACES = re.compile(r"  +")
_ANY_BULLET_CHAR = re.compile("[\u00b7\u2022\u25aa\u25cf\u2023\u2043\u25e6*-]")
_TAG_HINT = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>")


def looks_like_html(value: str) -> bool:
    return bool(_TAG_HINT.search(value))


def clean_inline(value: str) -> str:
    """Normalise dashes, quotes and spaces of one line; strip it."""
    value = _typography(value).replace("\n", " ")
    return _RUNS_OF_SPACES.sub(" ", value).strip()


def _strip_line_edges(value: str) -> str:
    """The spaces at either end of every line removed (``re.sub(" *\\n *", "\\n", value)``,
    without trying the pattern at every character)."""
    if "\n" not in value:
        return value
    lines = value.split("\n")
    inner = [line.strip(" ") for line in lines[1:-1]]
    return "\n".join([lines[0].rstrip(" "), *inner, lines[-1].lstrip(" ")])


def _at_most_two_newlines(value: str) -> str:
    """Runs of three or more line breaks as two (``re.sub(r"\\n{3,}", "\\n\\n", value)``):
    each pass shortens every such run, a run of two is left alone."""
    while "\n\n\n" in value:
        value = value.replace("\n\n\n", "\n\n")
    return value


def normalise_text(value: str) -> str:
    """Clean plain text: unify line ends, bullets, quotes and spaces; keep paragraphs."""
    value = _typography(value.replace("\r\n", "\n"))
    if _ANY_BULLET_CHAR.search(value):
        value = _BULLETS.sub("\n", value)
    if "  " in value:
        value = _RUNS_OF_SPACES.sub(" ", value)
    text = _at_most_two_newlines(_strip_line_edges(value)).strip()
    # A block that opens in lower case continues the previous one: feeds break sentences
    # with stray block tags ("Reconsider travel<p>to Saudi Arabia ...").
    return _CONTINUED_BLOCK.sub(" ", text)


# Block boundaries are marked with private-use characters while walking, so that the
# whitespace of all text nodes collapses in one pass afterwards (HTML whitespace is not
# significant) without touching the boundaries; <pre> keeps its line breaks.
_PARAGRAPH, _LINE, _PRE_BREAK = "\ue000", "\ue001", "\ue002"
_PARAGRAPH_TAGS = frozenset({"p", "div", "table", "ul", "ol", "section"})
_MARKS = {_PARAGRAPH: "\n\n", _LINE: "\n", _PRE_BREAK: "\n"}


def _walk(node: etree._Element, out: list[str], pre: bool = False) -> None:
    """Text of ``node`` and its tail, with block boundaries marked."""
    # lxml builds a new string on every read of tag, text and tail: read each once.
    tag = node.tag
    tag = tag.lower() if isinstance(tag, str) else ""
    if tag in SKIP_TAGS or not tag:
        tail = node.tail
        if tail:
            out.append(tail)
        return
    inner_pre = pre or tag == "pre"
    block = tag in BLOCK_TAGS
    if block:
        out.append(_PARAGRAPH if tag in _PARAGRAPH_TAGS else _LINE)
    text = node.text
    if text:
        out.append(text.replace("\n", _PRE_BREAK) if inner_pre else text)
    for child in node:
        _walk(child, out, inner_pre)
    if block:
        out.append(_LINE)
    tail = node.tail
    if tail:
        out.append(tail.replace("\n", _PRE_BREAK) if pre else tail)


_HTML_PARSER = etree.HTMLParser(no_network=True, remove_comments=True, remove_pis=True)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment or page, paragraphs kept as blank lines."""
    if not markup.strip():
        return ""
    if not looks_like_html(markup):
        return normalise_text(html.unescape(markup))
    try:
        root = etree.fromstring(f"<div>{markup}</div>", parser=_HTML_PARSER)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:
        return normalise_text(html.unescape(_TAG_HINT.sub(" ", markup)))
    out: list[str] = []
    _walk(root, out)
    joined = _collapse_space("".join(out).replace(_PARAGRAPH, " " + _PARAGRAPH + " "))
    for mark, replacement in _MARKS.items():
        joined = joined.replace(mark, replacement)
    return normalise_text(joined)


def _collapse_space(value: str) -> str:
    """Every run of whitespace as one space, kept at either end (str.split knows the
    same whitespace characters as a pattern's ``\\s``)."""
    words = value.split()
    if not words:
        return " " if value else ""
    lead = " " if value[0].isspace() else ""
    trail = " " if value[-1].isspace() else ""
    return lead + " ".join(words) + trail


def any_to_text(value: str) -> str:
    """Text of a field that may or may not hold HTML (feeds mix both)."""
    return html_to_text(value) if looks_like_html(value) else normalise_text(html.unescape(value))


# Sentence splitting: a period, question or exclamation mark (optionally followed by a
# closing quote or bracket) ends a sentence when whitespace and an upper-case letter, a
# digit or an opening quote follow; known abbreviations do not end one.
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof st sr jr gen col lt sgt capt gov sen rep rev no vs etc inc ltd co corp
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun approx est
    dept ave blvd mt ft e.g i.e u.s u.k u.n u.a.e a.m p.m d.c""".split()
)
_SENTENCE_END = re.compile(r"""([.!?]+["')\]]*)(\s+)(?=["'(\[]?[A-Z0-9])""")


def split_sentences(paragraph: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(paragraph):
        if match.group(1).startswith("."):  # only a period can follow an abbreviation
            before = paragraph[start : match.start(1)]
            last_word = before.rsplit(None, 1)[-1].lower().rstrip(".") if before.strip() else ""
            if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
                continue
        sentences.append(paragraph[start : match.end(1)].strip())
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return [s for s in sentences if s]


_BLANK_LINE = re.compile(r"\n\s*\n")


def paragraphs(text: str) -> Iterator[str]:
    for block in _BLANK_LINE.split(text):
        block = block.strip()
        if block:
            yield block


def iter_sentences(text: str) -> Iterator[tuple[int, str]]:
    """(paragraph index, sentence) for every sentence; each line of a block is split too."""
    for index, block in enumerate(paragraphs(text)):
        for line in block.split("\n"):
            line = line.strip()
            if line:
                for sentence in split_sentences(line):
                    yield index, sentence


# Case-insensitive word patterns (``\b(?:advis\w*|urg\w*|...)``) are tried by the regex
# engine at every character. On ASCII text, case-insensitive matching is matching the
# lower case, so every match starts where one of the pattern's lower-case stems occurs
# (the literal each alternative opens with): trying the pattern only at those offsets
# finds the same matches. Text in other scripts (case folds lower() lacks, such as the
# long s matching "s") takes the plain scan.


def stem_starts(low: str, stems: tuple[str, ...], lo: int = 0, hi: int | None = None) -> list[int]:
    """Every offset in [lo, hi) where one of ``stems`` occurs in full, ascending."""
    end = len(low) if hi is None else hi
    starts: set[int] = set()
    for stem in stems:
        at = low.find(stem, lo, end)
        while at >= 0:
            starts.add(at)
            at = low.find(stem, at + 1, end)
    return sorted(starts)


def finditer_at_stems(
    pattern: re.Pattern[str], text: str, stems: tuple[str, ...]
) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)`` for a pattern each of whose matches opens with one of
    ``stems`` (case-insensitively), tried only where a stem is on ASCII text."""
    if not text.isascii():
        yield from pattern.finditer(text)
        return
    end = 0
    for at in stem_starts(text.lower(), stems):
        if at >= end and (match := pattern.match(text, at)) is not None:
            yield match
            end = match.end()


def search_at_stems(
    pattern: re.Pattern[str], text: str, stems: tuple[str, ...]
) -> re.Match[str] | None:
    """``pattern.search(text)`` under the same condition as ``finditer_at_stems``."""
    if not text.isascii():
        return pattern.search(text)
    for at in stem_starts(text.lower(), stems):
        if (match := pattern.match(text, at)) is not None:
            return match
    return None


def summarise(text: str, limit: int = 600) -> str:
    """At most ``limit`` characters of ``text`` on one line, cut at a sentence end."""
    return summarise_flat(" ".join(text.split()), limit)


def summarise_flat(flat: str, limit: int = 600) -> str:
    """``summarise`` of text already flattened (``" ".join(text.split())``)."""
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    best = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    if best >= limit // 3:
        return cut[: best + 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > 0 else cut).rstrip(",;:") + "..."
