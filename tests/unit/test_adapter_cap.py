"""CAP adapter: every CAP fixture checked by hand, message types, countries, broken input."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.models import Category, Kind, MsgType, Severity, Urgency
from monitor.normalise import cap
from monitor.normalise.draft import Draft, SourceContext
from monitor.normalise.inputs import InputError, check_input

FEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
NOAA = "cap-sample-noaa-wcatwc-tsunami-warning-2011.xml"
ICELAND = "cap-sample-iceland-imo-2021.xml"
NSW = "cap-sample-au-nsw-rfs-2011.xml"
NAAD = "cap-sample-canada-eccc-naad-2019.xml"
NWS_ATOM = "cap-index-us-nws.atom.xml"
CTX = SourceContext(source="cap")
CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"


def parse_bytes(data: bytes, ctx: SourceContext = CTX) -> list[Draft]:
    return cap.parse(check_input(data), ctx)


def parse_fixture(name: str) -> list[Draft]:
    return parse_bytes((FEEDS / name).read_bytes())


def one(name: str) -> Draft:
    drafts = parse_fixture(name)
    assert len(drafts) == 1
    return drafts[0]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# -- the fixtures, field by field ----------------------------------------------------------

FIXTURE_FACTS: list[tuple[str, str, object]] = [
    # NOAA tsunami warning: an Update, no <language> (CAP default en-US)
    (NOAA, "own_id", "http://newwcatwc.arh.noaa.gov/tsuPortal//PAAQ-2-lqw6d6"),
    (NOAA, "msg_type", MsgType.UPDATE),
    (NOAA, "kind", Kind.HAZARD_ALERT),
    (NOAA, "severity", Severity.EXTREME),
    (NOAA, "urgency", Urgency.IMMEDIATE),
    (NOAA, "published", utc(2011, 9, 2, 11, 36, 50)),
    (NOAA, "effective", utc(2011, 9, 2, 11, 36, 50)),  # onset
    (NOAA, "expires", utc(2011, 9, 2, 12, 36, 50)),
    (NOAA, "language", "en-US"),
    (NOAA, "countries", ("US",)),
    (NOAA, "categories", (Category.NATURAL_DISASTER,)),
    (
        NOAA,
        "url",
        "http://newwcatwc.arh.noaa.gov/tsuPortal/events/PAAQ/2011/09/02/lqw6d6/2/WEPA41/WEPA41.txt",
    ),
    # Icelandic Met Office: is-IS info first, en-US info second
    (ICELAND, "title", "Southeast gales"),
    (ICELAND, "language", "en-US"),
    (ICELAND, "countries", ("IS",)),
    (ICELAND, "own_id", "IMO-Icelandic_Met_Office/is-IMO-2a4c2db8-07fd-4a0f-b372-9667280d46d1"),
    (ICELAND, "severity", Severity.MODERATE),
    (ICELAND, "urgency", Urgency.UNKNOWN),
    (ICELAND, "effective", utc(2021, 9, 12, 18, 0)),  # onset, no <effective>
    (ICELAND, "expires", utc(2021, 9, 13, 10, 0)),
    (ICELAND, "url", "http://en.vedur.is/#forec_area=ho"),
    # NSW Rural Fire Service: cap: prefix, two en-AU infos, escaped HTML description
    (NSW, "title", "Yerong Creek Structure Fire"),
    (NSW, "language", "en-AU"),
    (NSW, "countries", ("AU",)),
    (NSW, "msg_type", MsgType.ALERT),
    (NSW, "severity", Severity.MINOR),
    (NSW, "urgency", Urgency.EXPECTED),
    (NSW, "published", utc(2011, 10, 5, 13, 4)),
    (NSW, "expires", utc(2011, 10, 6, 13, 4)),
    (NSW, "own_id", "webmaster@rfs.nsw.gov.au/tag:www.rfs.nsw.gov.au2011-10-06:40184"),
    # Environment Canada via NAAD: en-CA and fr-CA infos, XML signature after them
    (NAAD, "title", "special weather statement in effect"),
    (NAAD, "language", "en-CA"),
    (NAAD, "countries", ("CA",)),
    (NAAD, "severity", Severity.MINOR),
    (NAAD, "urgency", Urgency.FUTURE),
    (NAAD, "effective", utc(2019, 7, 12, 17, 59, 29)),
    (NAAD, "expires", utc(2019, 7, 13, 1, 59, 29)),
    (NAAD, "own_id", "cap-pac@canada.ca/urn:oid:2.49.0.1.124.3026064006.2019"),
]


@pytest.mark.parametrize(("fixture", "field", "expected"), FIXTURE_FACTS)
def test_fixture_fields(fixture: str, field: str, expected: object) -> None:
    assert getattr(one(fixture), field) == expected


ISSUERS = [
    (NOAA, "US", "NWS West Coast/Alaska Tsunami Warning Center Palmer AK"),
    (ICELAND, "IS", "IMO - Meteorologist on duty"),
    (NSW, "AU", "NSW Rural Fire Service"),
    (NAAD, "CA", "Environment Canada"),
]


@pytest.mark.parametrize(("fixture", "country", "name"), ISSUERS)
def test_issuer_has_no_travel_level(fixture: str, country: str, name: str) -> None:
    issuer = one(fixture).issuer
    assert issuer is not None
    assert (issuer.country, issuer.name, issuer.level, issuer.level_label) == (
        country,
        name,
        None,
        None,
    )


def test_noaa_area_is_in_alaska() -> None:
    (area,) = one(NOAA).areas
    assert area.name.startswith("Coastal areas between and including Unimak Pass, Alaska")
    assert (area.country, area.admin1) == ("US", "Alaska")


def test_noaa_body_is_description_then_instruction() -> None:
    body = one(NOAA).body
    assert body.startswith("The tsunami Warning continues in effect")
    assert "\n\nRecommended Actions: Persons in low-lying coastal areas" in body


def test_iceland_uses_the_english_info_only() -> None:
    draft = one(ICELAND)
    assert draft.body.startswith("Southeast gales (15-20 m/s) and rain.")
    assert "Suðaustan" not in draft.body
    assert [a.name for a in draft.areas] == ["Reykjavik - Capital Region"]


def test_nsw_description_is_plain_text() -> None:
    draft = one(NSW)
    assert "<br" not in draft.body and "&lt;" not in draft.body
    assert "LOCATION: 12 Cox Street, Yerong Creek\n" in draft.body
    assert draft.body.startswith("ALERT LEVEL: Not Applicable\n")
    (area,) = draft.areas
    assert (area.name, area.country, area.lat, area.lon) == (
        "Yerong Creek Structure Fire",
        "AU",
        -35.3888,
        147.0598,
    )


def test_naad_is_one_draft_from_the_english_info() -> None:
    draft = one(NAAD)
    assert "Environment Canada" in draft.body
    assert "Environnement" not in draft.body
    assert [a.name for a in draft.areas] == ["Channel-Port aux Basques and vicinity"]


def test_nws_atom_gives_one_draft_per_entry() -> None:
    drafts = parse_fixture(NWS_ATOM)
    assert [d.severity for d in drafts] == [Severity.MINOR, Severity.SEVERE]
    assert [d.urgency for d in drafts] == [Urgency.EXPECTED, Urgency.EXPECTED]
    for draft in drafts:
        assert draft.countries == ("US",)
        assert draft.issuer is not None and draft.issuer.country == "US"
        assert draft.issuer.name == "National Weather Service"
        assert draft.issuer.level is None
        assert draft.msg_type is MsgType.ALERT
        assert draft.kind is Kind.HAZARD_ALERT
        assert draft.own_id == draft.url
        assert draft.own_id is not None
        assert draft.own_id.startswith("http://alerts.weather.gov/cap/wwacapget.php?x=NM")
        assert draft.effective == utc(2014, 5, 11, 4, 0)
        assert draft.expires == utc(2014, 5, 12, 1, 0)
    assert drafts[0].title.startswith("Wind Advisory issued May 10")
    assert drafts[1].title.startswith("High Wind Warning issued May 10")
    names = [a.name for a in drafts[1].areas]
    assert names == [
        "Central Highlands",
        "Northeast Highlands",
        "Sandia, Manzano Mountains",
        "South Central Highlands",
        "South Central Mountains",
        "Southwest Mountains",
        "Upper Tularosa Valley",
    ]


# -- synthetic alerts ------------------------------------------------------------------------


def info(
    *,
    language: str | None = "en-US",
    category: str = "Met",
    severity: str = "Severe",
    urgency: str = "Expected",
    headline: str = "Storm warning",
    area: str = "Somewhere",
    description: str = "A storm.",
) -> str:
    lang = f"<language>{language}</language>" if language else ""
    return (
        f"<info>{lang}<category>{category}</category><event>Storm</event>"
        f"<urgency>{urgency}</urgency><severity>{severity}</severity>"
        f"<certainty>Likely</certainty><headline>{headline}</headline>"
        f"<description>{description}</description>"
        f"<area><areaDesc>{area}</areaDesc></area></info>"
    )


def alert(
    *infos: str,
    ns: str = CAP12,
    msg_type: str = "Alert",
    status: str = "Actual",
    sender: str = "alerts@example.gov",
    extra: str = "",
) -> bytes:
    return (
        f'<?xml version="1.0"?><alert xmlns="{ns}"><identifier>ID-1</identifier>'
        f"<sender>{sender}</sender><sent>2024-03-07T10:00:00+03:00</sent>"
        f"<status>{status}</status><msgType>{msg_type}</msgType><scope>Public</scope>"
        f"{extra}{''.join(infos)}</alert>"
    ).encode()


MSG_TYPES = [
    ("Alert", [MsgType.ALERT]),
    ("Update", [MsgType.UPDATE]),
    ("Cancel", [MsgType.CANCEL]),
    ("Ack", []),
    ("Error", []),
]


@pytest.mark.parametrize(("msg_type", "expected"), MSG_TYPES)
def test_msg_types(msg_type: str, expected: list[MsgType]) -> None:
    assert [d.msg_type for d in parse_bytes(alert(info(), msg_type=msg_type))] == expected


@pytest.mark.parametrize("status", ["Test", "Exercise", "System", "Draft"])
def test_non_public_statuses_are_skipped(status: str) -> None:
    assert parse_bytes(alert(info(), status=status)) == []


NAMESPACES = [
    "urn:oasis:names:tc:emergency:cap:1.1",
    "urn:oasis:names:tc:emergency:cap:1.2",
]


@pytest.mark.parametrize("ns", NAMESPACES)
def test_cap_versions(ns: str) -> None:
    (draft,) = parse_bytes(alert(info(), ns=ns))
    assert draft.own_id == "alerts@example.gov/ID-1"
    assert draft.published == utc(2024, 3, 7, 7, 0)
    assert draft.effective == draft.published  # no effective or onset: sent


def test_prefixed_alert() -> None:
    data = (
        f'<cap:alert xmlns:cap="{CAP12}"><cap:identifier>X</cap:identifier>'
        "<cap:sender>a@b.gov.au</cap:sender><cap:msgType>Alert</cap:msgType>"
        "<cap:info><cap:event>Flood</cap:event><cap:severity>Moderate</cap:severity>"
        "</cap:info></cap:alert>"
    ).encode()
    (draft,) = parse_bytes(data)
    assert (draft.title, draft.severity, draft.countries) == ("Flood", Severity.MODERATE, ("AU",))
    assert draft.urgency is Urgency.UNKNOWN  # absent


INFO_CHOICE = [
    ([info(language="fr-CA", headline="Tempête"), info(language="en-CA")], "Storm warning"),
    ([info(language="de-DE", headline="Sturm"), info(language="es", headline="Tormenta")], "Sturm"),
    ([info(language=None)], "Storm warning"),  # default en-US
]


@pytest.mark.parametrize(("infos", "title"), INFO_CHOICE)
def test_english_info_is_chosen(infos: list[str], title: str) -> None:
    (draft,) = parse_bytes(alert(*infos))
    assert draft.title == title


def test_health_category_is_a_health_notice() -> None:
    (draft,) = parse_bytes(alert(info(category="Health")))
    assert draft.kind is Kind.HEALTH_NOTICE
    assert draft.categories == (Category.HEALTH,)


def test_unknown_severity_and_urgency_are_unknown() -> None:
    (draft,) = parse_bytes(alert(info(severity="Apocalyptic", urgency="Soonish")))
    assert (draft.severity, draft.urgency) == (Severity.UNKNOWN, Urgency.UNKNOWN)


COUNTRY_CASES = [
    # (languages, sender, issuer in context, expected country)
    (["en-US"], "alerts@weather.gov", None, "US"),
    (["is-IS", "en-US"], "IMO", None, "IS"),  # en-US is CAP's default, not a country
    (["en-US"], "cap@vedur.is", None, "IS"),  # the domain beats en-US
    (["en-AU"], "alerts@example.com", None, "AU"),
    (["en-US"], "webmaster@rfs.nsw.gov.au", None, "AU"),
    (["en-US"], "alerts@example.io", None, "US"),  # .io says nothing
    (["en-CA"], "alerts@weather.gov", "GB", "GB"),  # the configured issuer wins
]


@pytest.mark.parametrize(("languages", "sender", "issuer", "expected"), COUNTRY_CASES)
def test_country_inference(
    languages: list[str], sender: str, issuer: str | None, expected: str
) -> None:
    infos = [info(language=lang) for lang in languages]
    ctx = SourceContext(source="cap", issuer=issuer)
    (draft,) = parse_bytes(alert(*infos, sender=sender), ctx)
    assert draft.countries == (expected,)
    assert draft.issuer is not None and draft.issuer.country == expected
    assert draft.evidence["countries"]


def test_country_from_place_names_when_nothing_else_says() -> None:
    data = alert(info(language=None, area="Kenai Peninsula, Alaska"), sender="NTWC")
    (draft,) = parse_bytes(data)
    assert draft.countries == ("US",)
    assert draft.areas[0].admin1 == "Alaska"


def test_unknown_country_gives_no_issuer() -> None:
    (draft,) = parse_bytes(alert(info(language=None, area="Zone 7"), sender="someone"))
    assert (draft.countries, draft.issuer) == ((), None)


def test_alert_without_info() -> None:
    assert parse_bytes(alert()) == []
    extra = "<note>Storm warning withdrawn</note><references>a@b.gov,ID-0,2024-03-07</references>"
    (draft,) = parse_bytes(alert(msg_type="Cancel", extra=extra))
    assert draft.msg_type is MsgType.CANCEL
    assert draft.title == "Storm warning withdrawn"
    assert draft.countries == ("US",)
    assert "references: a@b.gov,ID-0,2024-03-07" in draft.extra_content


def test_wrapped_alerts_are_all_read() -> None:
    inner = alert(info()).decode().split("?>", 1)[1]
    data = f"<batch>{inner}{inner.replace('ID-1', 'ID-2')}</batch>".encode()
    assert [d.own_id for d in parse_bytes(data)] == [
        "alerts@example.gov/ID-1",
        "alerts@example.gov/ID-2",
    ]


def test_empty_atom_feed_gives_no_drafts() -> None:
    data = b'<feed xmlns="http://www.w3.org/2005/Atom"><title>Nothing</title></feed>'
    assert parse_bytes(data) == []


# -- broken and hostile input ----------------------------------------------------------------

BROKEN_INPUTS = [
    pytest.param(b'{"alert": {}}', id="json"),
    pytest.param(b"[1, 2]", id="json-list"),
    pytest.param(b"<rss><channel><item/></channel></rss>", id="not-cap"),
    pytest.param(alert(info())[:-20], id="truncated"),
    pytest.param(
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xx"><!ENTITY y "&x;&x;">]>'
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&y;</alert>',
        id="entity-expansion",
    ),
    pytest.param(b"plain text, not XML", id="text"),
]


@pytest.mark.parametrize("data", BROKEN_INPUTS)
def test_broken_input_raises_input_error(data: bytes) -> None:
    with pytest.raises(InputError):
        parse_bytes(data)


def test_garbage_values_do_not_crash() -> None:
    extra = ""
    bad_info = (
        "<info><language>??</language><effective>yesterday</effective>"
        "<expires>2024-13-45T99:99:99Z</expires><severity/><area><areaDesc/>"
        "<circle>999,999 1</circle></area><area><areaDesc>;;;</areaDesc></area></info>"
    )
    (draft,) = parse_bytes(alert(bad_info, extra=extra))
    assert draft.expires is None
    assert draft.effective == draft.published
    assert draft.areas == ()
    assert draft.title == "ID-1"


# -- fuzzing: any tree of CAP elements gives drafts or InputError, never another exception ---

_ELEMENTS = [
    "info", "area", "areaDesc", "language", "msgType", "status", "sender", "identifier",
    "sent", "effective", "onset", "expires", "severity", "urgency", "category", "headline",
    "event", "description", "circle", "web", "senderName",
]  # fmt: skip
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)


Tree = str | tuple[str, list["Tree"]]


def _render(tree: Tree) -> str:
    if isinstance(tree, str):
        return escape(tree)
    name, children = tree
    return f"<{name}>{''.join(_render(c) for c in children)}</{name}>"


_TREE = st.recursive(
    _TEXT | st.sampled_from(["Alert", "Cancel", "en-CA", "2024-01-01T00:00:00Z", "a@b.ca"]),
    lambda inner: st.tuples(st.sampled_from(_ELEMENTS), st.lists(inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TREE, max_size=6))
def test_any_cap_tree_gives_drafts_or_input_error(children: list[Tree]) -> None:
    body = "".join(_render(c) for c in children)
    data = f'<alert xmlns="{CAP12}">{body}</alert>'.encode()
    try:
        drafts = parse_bytes(data)
    except InputError:
        return
    assert all(isinstance(d, Draft) for d in drafts)
