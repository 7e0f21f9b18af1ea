"""Properties of the normaliser: total, deterministic, blind to markup and whitespace."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.normalise.api import normalise_bytes
from monitor.normalise.build import build_advisory
from monitor.normalise.draft import Draft
from monitor.normalise.inputs import InputError
from monitor.normalise.text import html_to_text

EXAMPLES = Path(__file__).parents[1] / "fixtures" / "examples"
REFERENCE = (
    Path(__file__).parents[1] / "fixtures" / "reference" / "sample-article.txt"
).read_text()
PUBLISHED = datetime(2024, 3, 7, 16, 59, tzinfo=UTC)
MOSCOW_HTML = re.search(
    r"<content:encoded><!\[CDATA\[(.*)\]\]></content:encoded>",
    (EXAMPLES / "embassy-moscow-2024.rss.xml").read_text(),
    re.S,
).group(1)  # type: ignore[union-attr]

PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROFILE
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_anything_but_input_error(data: bytes) -> None:
    try:
        advisories = normalise_bytes(data, source="fuzz")
    except InputError:
        return
    assert isinstance(advisories, list)


@PROFILE
@given(st.text(max_size=1500))
def test_arbitrary_text_never_raises_anything_but_input_error(text: str) -> None:
    for fmt in ("auto", "text", "html"):
        try:
            normalise_bytes(text.encode("utf-8", "surrogatepass"), source="fuzz", fmt=fmt)
        except InputError:
            pass
        except UnicodeEncodeError:
            return


@PROFILE
@given(st.sampled_from(sorted(EXAMPLES.glob("*.txt")) + sorted(EXAMPLES.glob("*.xml"))))
def test_normalising_twice_gives_identical_records(path: Path) -> None:
    data = path.read_bytes()
    first = [a.to_json() for a in normalise_bytes(data, source="same")]
    second = [a.to_json() for a in normalise_bytes(data, source="same")]
    assert first == second


def _draft(body_html: str) -> Draft:
    return Draft(source="p", title="Security Alert - U.S. Embassy Moscow, Russia",
                 body=html_to_text(body_html), published=PUBLISHED, first_party=True)  # fmt: skip


INLINE_TAGS = ("b", "i", "em", "strong", "span", "u")


@st.composite
def markup_edits(draw: st.DrawFn) -> str:
    """The Moscow alert with inline tags around random words and random extra spaces."""
    words = re.split(r"(\s+)", MOSCOW_HTML)
    out: list[str] = []
    for piece in words:
        if piece.isspace() or not piece:
            out.append(piece + draw(st.sampled_from(["", " ", "  ", "\n", " \t"])))
            continue
        if "<" in piece or ">" in piece or "&" in piece or not draw(st.booleans()):
            out.append(piece)
            continue
        tag = draw(st.sampled_from(INLINE_TAGS))
        out.append(f"<{tag}>{piece}</{tag}>")
    return "".join(out)


@PROFILE
@given(markup_edits())
def test_fingerprint_survives_markup_and_whitespace_only_edits(edited: str) -> None:
    original = build_advisory(_draft(MOSCOW_HTML))
    changed = build_advisory(_draft(edited))
    assert changed.fingerprint == original.fingerprint


def test_fingerprint_changes_when_the_advice_changes() -> None:
    original = build_advisory(_draft(MOSCOW_HTML))
    edited = MOSCOW_HTML.replace("48 hours", "72 hours")
    assert build_advisory(_draft(edited)).fingerprint != original.fingerprint


def test_content_hash_changes_on_an_editorial_edit_that_keeps_the_fingerprint() -> None:
    original = build_advisory(_draft(MOSCOW_HTML))
    edited = build_advisory(
        _draft(MOSCOW_HTML.replace("Russia Country Information", "Russia country information page"))
    )
    assert edited.fingerprint == original.fingerprint
    assert edited.content_hash != original.content_hash


def test_reference_article_entities_decode_once() -> None:
    escaped = html.escape(REFERENCE).replace("\n", "<br>")
    assert "&amp;" not in html_to_text(escaped)
