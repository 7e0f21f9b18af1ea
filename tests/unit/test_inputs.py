"""Reading raw input: hostile and broken inputs are refused, real-world quirks are tolerated.

Every hostile document is generated here, so the fixtures directory holds only real data.
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from fnmatch import fnmatch
from pathlib import Path

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from monitor.normalise.inputs import (
    FORMAT_NAMES,
    MAX_INPUT_BYTES,
    Document,
    InputError,
    check_input,
    check_size,
    detect_format,
    parse_xml,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
INPUT_DIRS = (FIXTURES / "feeds", FIXTURES / "examples", FIXTURES / "reference")

# What each fixture file is, by name; the first matching pattern wins.
EXPECTED_FORMAT = (
    ("cap-*.xml", "cap"),
    ("*.rss.xml", "rss"),
    ("gdacs-rss.xml", "rss"),
    ("uk-fcdo-*.json", "govuk"),
    ("canada-*.json", "canada"),
    ("*.txt", "text"),
)
INPUT_FILES = sorted(
    path
    for directory in INPUT_DIRS
    for path in directory.iterdir()
    if path.suffix in {".xml", ".json", ".txt"} and not path.name.endswith(".expected.json")
)
XML_FILES = [path for path in INPUT_FILES if path.suffix == ".xml"]
CAP_1_2 = "urn:oasis:names:tc:emergency:cap:1.2"
PROFILE = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read(data: bytes) -> str:
    """What ``normalise_bytes`` does before an adapter runs: check, then detect."""
    return detect_format(check_input(data))


def expected_format(path: Path) -> str:
    for pattern, fmt in EXPECTED_FORMAT:
        if fnmatch(path.name, pattern):
            return fmt
    raise AssertionError(f"{path.name}: add its format to EXPECTED_FORMAT")


def root_name(data: bytes) -> str:
    """The root's qualified name as the document spells it, read by lxml (the oracle)."""
    root = etree.fromstring(data)
    local = etree.QName(root).localname
    return f"{root.prefix}:{local}" if root.prefix else local


def rss(title: str, *, declaration: str | None = "UTF-8", newline: str = "\n") -> str:
    """A small RSS 2.0 feed with one item, optionally with an XML declaration."""
    lines = [
        '<rss version="2.0">',
        "<channel><title>Feed</title><link>https://example.org/</link>",
        f"<item><title>{title}</title><link>https://example.org/1</link></item>",
        "</channel>",
        "</rss>",
        "",
    ]
    if declaration is not None:
        lines.insert(0, f'<?xml version="1.0" encoding="{declaration}"?>')
    return newline.join(lines)


def cap(body: str = "<identifier>x</identifier>", *, namespace: str = CAP_1_2) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<alert xmlns="{namespace}">{body}</alert>\n'


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n<rss><channel><title>&lol9;</title></channel></rss>\n"
).encode()


def xxe(system_id: str, root: str = "rss") -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "{system_id}">]>\n'
        f"<{root}><channel><title>&xxe;</title></channel></{root}>\n"
    ).encode()


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("feed.xml", rss("zipped"))
    return buffer.getvalue()


# --- detection of real fixtures -------------------------------------------------------------


@pytest.mark.parametrize("path", INPUT_FILES, ids=lambda path: path.name)
def test_detects_the_format_of_every_fixture_file(path: Path) -> None:
    assert read(path.read_bytes()) == expected_format(path)


@pytest.mark.parametrize(
    "path", [p for p in XML_FILES if expected_format(p) == "cap"], ids=lambda p: p.name
)
def test_parse_xml_reads_every_cap_fixture(path: Path) -> None:
    root = parse_xml(check_input(path.read_bytes()))
    assert etree.QName(root).localname in {"alert", "feed"}


def test_detect_format_answers_only_format_names() -> None:
    assert {read(path.read_bytes()) for path in INPUT_FILES} <= set(FORMAT_NAMES)


# --- truncation -----------------------------------------------------------------------------


def _cuts(path: Path) -> list[tuple[Path, int]]:
    data = path.read_bytes()
    before_end_tag = data.rindex(b"</")
    return [(path, cut) for cut in (len(data) // 4, len(data) // 2, before_end_tag)]


@pytest.mark.parametrize(
    ("path", "cut"),
    [case for path in XML_FILES for case in _cuts(path)],
    ids=lambda value: value.name if isinstance(value, Path) else str(value),
)
def test_refuses_xml_fixture_cut_before_its_root_closes(path: Path, cut: int) -> None:
    data = path.read_bytes()
    expected = f"truncated: root element <{root_name(data)}> is not closed"
    with pytest.raises(InputError, match=f"^{re.escape(expected)}$"):
        check_input(data[:cut])


def test_truncation_message_names_a_prefixed_cap_root() -> None:
    data = (FIXTURES / "feeds" / "cap-sample-au-nsw-rfs-2011.xml").read_bytes()
    with pytest.raises(InputError, match=r"^truncated: root element <cap:alert> is not closed$"):
        check_input(data[: len(data) // 2])


def test_refuses_a_feed_cut_inside_the_comment_after_its_root() -> None:
    data = (FIXTURES / "feeds" / "gdacs-rss.xml").read_bytes()
    assert data.rstrip().endswith(b"-->")
    with pytest.raises(InputError, match=r"^truncated: the input ends in a comment"):
        check_input(data.rstrip()[:-5])


@PROFILE
@given(path=st.sampled_from(XML_FILES), data=st.data())
def test_any_cut_of_an_xml_fixture_is_refused(path: Path, data: st.DataObject) -> None:
    content = path.read_bytes()
    cut = data.draw(st.integers(min_value=64, max_value=len(content.rstrip()) - 1))
    with pytest.raises(InputError):
        check_input(content[:cut])


# --- hostile and broken input ---------------------------------------------------------------

HOSTILE: list[tuple[str, bytes, str]] = [
    ("empty", b"", r"^input is empty$"),
    ("whitespace only", b" \r\n\t \n", r"^input is empty$"),
    ("byte-order mark only", b"\xef\xbb\xbf\n", r"^input is empty$"),
    ("NUL bytes", b"<rss>\x00\x00\x00</rss>", r"NUL bytes: it looks like binary data"),
    ("control characters", bytes(range(1, 9)) * 64, r"full of control characters"),
    ("PNG image", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"looks like a PNG image"),
    ("JPEG image", b"\xff\xd8\xff\xe0\x00\x10JFIF", r"looks like a JPEG image"),
    ("gzip-compressed feed", gzip.compress(rss("x").encode()), r"looks like gzip-compressed"),
    ("ZIP archive", zip_archive(), r"looks like a ZIP archive"),
    ("PDF document", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", r"looks like a PDF document"),
    ("billion laughs", BILLION_LAUGHS, r"^XML declares entities .*billion laughs"),
    ("XXE on a local file", xxe("file:///etc/passwd"), r"^XML declares entities .*XXE"),
    ("XXE on a URL", xxe("http://127.0.0.1:9/secret"), r"^XML declares entities"),
    ("XXE in a CAP alert", xxe("file:///etc/passwd", root="alert"), r"^XML declares entities"),
    (
        "parameter entity",
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x">%p;]>'
        b"<rss></rss>",
        r"^XML declares entities",
    ),
    (
        "entity hidden after a ']>' in the internal subset",
        b'<!DOCTYPE rss [<!ATTLIST rss a CDATA "]>"><!ENTITY x "y">]><rss>&x;</rss>',
        r"^XML declares entities",
    ),
    ("truncated JSON", b'{"data": {"country-iso": "UA", "eng": {', r"^truncated: JSON object"),
    ("JSON cut after an inner brace", b'{"data": {"x": {}}, "y": [1, {}', r"^truncated: JSON"),
    ("invalid JSON", b'{"data": }', r"^not valid JSON: Expecting value at line 1"),
    ("empty JSON object", b"{}", r"^JSON is neither a GOV.UK travel_advice item nor Global"),
    ("JSON list", b"[1, 2]", r"^JSON is neither a GOV.UK travel_advice item"),
    ("deeply nested JSON", b"[" * 100_000 + b"]" * 100_000, r"JSON"),
    ("unknown XML root", b"<?xml version='1.0'?><note><to>x</to></note>", r"<note> is not RSS"),
    ("alert outside CAP", b"<alert><identifier>x</identifier></alert>", r"not in a CAP names"),
    ("XML with no root", b'<?xml version="1.0"?>\n<!-- nothing -->\n', r"^truncated: the XML"),
    ("junk after the root", rss("x").encode() + b"<html>ad</html>", r"^unexpected content"),
    ("UTF-16 cut mid-character", "\ufeff<rss></rss>".encode("utf-16-le")[:-1], r"UTF-16"),
]


@pytest.mark.parametrize(("name", "data", "message"), HOSTILE, ids=[case[0] for case in HOSTILE])
def test_refuses_hostile_or_broken_input(name: str, data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read(data)


def test_refuses_a_50_mb_input_by_its_size_alone() -> None:
    data = b"<rss>" + b" " * (50 * 1024 * 1024)
    expected = f"input is too large: {len(data):,} bytes, over the limit of {MAX_INPUT_BYTES:,}"
    with pytest.raises(InputError, match=re.escape(expected)):
        check_input(data)


def test_check_size_accepts_the_limit_and_words_an_unknown_size() -> None:
    check_size(MAX_INPUT_BYTES)
    with pytest.raises(InputError, match=r"^input is too large: over the limit of 20,971,520"):
        check_size(MAX_INPUT_BYTES + 1, exact=False)


def test_quotes_of_entity_declarations_inside_a_feed_item_are_not_refused() -> None:
    item = "<![CDATA[How XXE works: <!DOCTYPE x [<!ENTITY e SYSTEM 'file:///'>]>]]>"
    assert read(rss(item).encode()) == "rss"


@PROFILE
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_raise_nothing_but_input_error(data: bytes) -> None:
    try:
        document = check_input(data)
        detect_format(document)
        if document.syntax == "xml":
            parse_xml(document)
    except InputError:
        pass


# --- tolerated quirks -----------------------------------------------------------------------

TITLE = "Café – “quoted” ’"

QUIRKS: list[tuple[str, bytes, str]] = [
    ("UTF-8 byte-order mark", b"\xef\xbb\xbf" + rss(TITLE).encode(), TITLE),
    ("UTF-16 LE with BOM", rss(TITLE, declaration="UTF-16").encode("utf-16"), TITLE),
    (
        "UTF-16 BE with BOM",
        b"\xfe\xff" + rss(TITLE, declaration="UTF-16").encode("utf-16-be"),
        TITLE,
    ),
    ("UTF-16 LE without BOM", rss(TITLE, declaration="UTF-16").encode("utf-16-le"), TITLE),
    ("UTF-32 with BOM", rss(TITLE, declaration="UTF-32").encode("utf-32"), TITLE),
    ("CRLF line ends", rss(TITLE, newline="\r\n").encode(), TITLE),
    ("declared iso-8859-1, bytes UTF-8", rss(TITLE, declaration="iso-8859-1").encode(), TITLE),
    ("declared utf-8, bytes cp1252", rss(TITLE).encode("cp1252"), TITLE),
    ("no declaration, bytes cp1252", rss(TITLE, declaration=None).encode("cp1252"), TITLE),
    ("unknown declared encoding", rss(TITLE, declaration="x-no-such-thing").encode(), TITLE),
    ("declared windows-1251", rss("Москва", declaration="windows-1251").encode("cp1251"), "Москва"),
    (
        "UTF-8 with one stray cp1252 byte",
        rss("Café ’x’").encode().replace("’x".encode(), b"\x92x"),
        "Café ’x’",
    ),
    ("blank lines before the declaration", b"\n\n  " + rss(TITLE).encode(), TITLE),
    ("comment after the root", rss(TITLE).encode() + b"<!-- served in 3 ms -->\n", TITLE),
]


@pytest.mark.parametrize(("name", "data", "title"), QUIRKS, ids=[case[0] for case in QUIRKS])
def test_tolerates_recoverable_quirks(name: str, data: bytes, title: str) -> None:
    document = check_input(data)
    assert detect_format(document) == "rss"
    assert title in document.text
    assert document.raw == document.text.encode("utf-8")
    # raw must say what it is: both parsers read the same title from it.
    assert parse_xml(document).findtext("channel/item/title") == title
    assert feedparser.parse(document.raw).entries[0].title == title


def test_raw_is_the_input_itself_when_it_is_already_clean_utf8() -> None:
    data = (FIXTURES / "feeds" / "us-state-travel-advisories.rss.xml").read_bytes()
    assert check_input(data).raw is data


def test_undefined_html_entities_in_rss_are_left_to_feedparser() -> None:
    document = check_input(rss("Level&nbsp;4: Do&nbsp;Not Travel").encode())
    assert detect_format(document) == "rss"
    assert feedparser.parse(document.raw).entries[0].title == "Level\xa04: Do\xa0Not Travel"


def test_parse_xml_turns_html_entities_into_characters_and_keeps_unknown_ones_as_text() -> None:
    body = (
        "<headline>Tsunami&nbsp;warning &eacute;t&eacute; &amp; &bogus;</headline>"
        "<description><![CDATA[&nbsp;stays]]></description>"
    )
    root = parse_xml(check_input(cap(body).encode()))
    namespaces = {"cap": CAP_1_2}
    assert (
        root.findtext("cap:headline", namespaces=namespaces) == "Tsunami\xa0warning été & &bogus;"
    )
    assert root.findtext("cap:description", namespaces=namespaces) == "&nbsp;stays"


def test_parse_xml_stays_strict_about_other_errors() -> None:
    document = Document(b"<alert><a></b></alert>", "<alert><a></b></alert>", "xml")
    with pytest.raises(InputError, match=r"^not well-formed XML"):
        parse_xml(document)


def test_parse_xml_refuses_entity_declarations_in_a_hand_built_document() -> None:
    document = Document(BILLION_LAUGHS, BILLION_LAUGHS.decode(), "xml")
    with pytest.raises(InputError, match=r"^XML declares entities"):
        parse_xml(document)


def test_parse_xml_refuses_a_document_that_is_not_xml() -> None:
    with pytest.raises(InputError, match="expected XML, but the input looks like html"):
        parse_xml(check_input(b"<!DOCTYPE html><html><body>x</body></html>"))


@pytest.mark.parametrize("broken_dtd", [False, True], ids=["entity DTD", "malformed DTD"])
def test_parse_xml_never_loads_an_external_dtd(tmp_path: Path, broken_dtd: bool) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text("<!ENTITY secret 'TOPSECRET'>" if not broken_dtd else "<!ELEMENT oops")
    data = cap("<note>&secret;</note>").replace(
        "<alert", f'<!DOCTYPE alert SYSTEM "{dtd.as_uri()}">\n<alert', 1
    )
    root = parse_xml(check_input(data.encode()))
    assert "TOPSECRET" not in etree.tostring(root, encoding="unicode")


def test_parse_xml_does_not_fetch_a_dtd_over_http() -> None:
    data = cap("<note>x</note>").replace(
        "<alert", '<!DOCTYPE alert SYSTEM "http://127.0.0.1:9/evil.dtd">\n<alert', 1
    )
    assert parse_xml(check_input(data.encode())).findtext(f"{{{CAP_1_2}}}note") == "x"


# --- sniffing -------------------------------------------------------------------------------

ATOM = '<feed xmlns="http://www.w3.org/2005/Atom"{extra}><title>t</title>{entry}</feed>'
CHALLENGE_PAGE = (
    "<!DOCTYPE html><html lang='en-US'><head><title>Just a moment...</title>"
    "<meta http-equiv='refresh' content='360'></head><body><noscript>Enable JavaScript"
    "</noscript><script src='/cdn-cgi/challenge-platform/orchestrate/jsch/v1'></script>"
)  # not even closed: such pages are served cut short too

SNIFFED: list[tuple[str, str, str]] = [
    ("dated article", "date 2024-03-08 The United States warned ...", "text"),
    ("dated article after blank space", "\n  date 2024-03-08 Headline\n\nBody.", "text"),
    ("article in brackets", "[Reuters] Embassy warns of attacks", "text"),
    ("HTML challenge page", CHALLENGE_PAGE, "html"),
    ("HTML page with a leading comment", "<!-- cache --><!doctype html><html></html>", "html"),
    ("HTML without a doctype", "<html><body>Service unavailable</body></html>", "html"),
    ("HTML error fragment", "<h1>502 Bad Gateway</h1>", "html"),
    (
        "XHTML with an XML declaration",
        '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
        "html",
    ),
    ("CAP 1.2 alert", cap(), "cap"),
    ("CAP 1.1 alert", cap(namespace="urn:oasis:names:tc:emergency:cap:1.1"), "cap"),
    ("CAP 1.0 alert", cap(namespace="http://www.incident.com/cap/1.0"), "cap"),
    ("prefixed CAP alert", f'<cap:alert xmlns:cap="{CAP_1_2}"><cap:status/></cap:alert>', "cap"),
    ("Atom feed", ATOM.format(extra="", entry="<entry><title>e</title></entry>"), "rss"),
    (
        "Atom feed of CAP alerts",
        ATOM.format(extra=' xmlns:cap="urn:oasis:names:tc:emergency:cap:1.1"', entry=""),
        "cap",
    ),
    (
        "Atom feed with CAP declared on its entries",
        ATOM.format(extra="", entry=f'<entry xmlns:cap="{CAP_1_2}"><cap:event/></entry>'),
        "cap",
    ),
    ("RSS without a declaration", rss("x", declaration=None), "rss"),
    (
        "RSS 0.91 with its public DTD",
        '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"\n'
        ' "http://my.netscape.com/publish/formats/rss-0.91.dtd">\n<rss version="0.91"></rss>',
        "rss",
    ),
    ("self-closing RSS root", '<rss version="2.0"/>', "rss"),
    (
        "RDF feed",
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"></rdf:RDF>',
        "rss",
    ),
    ("GOV.UK item by schema_name", '{"title": "Haiti", "schema_name": "travel_advice"}', "govuk"),
    ("GOV.UK item by document_type", '{"document_type": "travel_advice"}', "govuk"),
    ("Canada country file", '{"data": {"country-iso": "UA", "advisory-state": 3}}', "canada"),
    (
        "Canada index",
        '{"data": {"AF": {"advisory-state": 3}, "AL": {"advisory-state": 0}}}',
        "canada",
    ),
]


@pytest.mark.parametrize(("name", "text", "fmt"), SNIFFED, ids=[case[0] for case in SNIFFED])
def test_detects_the_format_from_the_document_itself(name: str, text: str, fmt: str) -> None:
    assert read(text.encode()) == fmt


def test_xml_is_classified_without_parsing_the_whole_document() -> None:
    # A broken item in the middle is for feedparser to cope with; sniffing never reaches it.
    broken = rss("x").replace("<item>", "<item><title>unclosed</item><item>", 1)
    assert read(broken.encode()) == "rss"
