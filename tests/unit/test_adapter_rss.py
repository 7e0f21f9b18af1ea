"""RSS adapters on real feeds: State Department, GDACS, embassy WordPress, news."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.models import Advisory, Category, DatePrecision, Kind, Severity
from monitor.normalise import rss
from monitor.normalise.build import build_advisory
from monitor.normalise.draft import SourceContext
from monitor.normalise.inputs import check_input

FEEDS = Path(__file__).parents[1] / "fixtures" / "feeds"
EXAMPLES = Path(__file__).parents[1] / "fixtures" / "examples"


def normalise(path: Path, source: str = "test", issuer: str | None = None) -> list[Advisory]:
    drafts = rss.parse(check_input(path.read_bytes()), SourceContext(source, issuer))
    return [build_advisory(d) for d in drafts]


@pytest.fixture(scope="module")
def state() -> dict[str, Advisory]:
    return {a.countries[0]: a for a in normalise(FEEDS / "us-state-travel-advisories.rss.xml")}


@pytest.mark.parametrize(
    ("country", "level", "label"),
    [
        ("SA", 3, "Level 3: Reconsider Travel"),
        ("KH", 2, "Level 2: Exercise Increased Caution"),
        ("IT", 2, "Level 2: Exercise Increased Caution"),
        ("MK", 1, "Level 1: Exercise Normal Precautions"),
        ("CW", 1, "Level 1: Exercise Normal Precautions"),
        ("GB", 2, "Level 2: Exercise Increased Caution"),
        ("SR", 1, "Level 1: Exercise Normal Precautions"),
    ],
)
def test_state_items_carry_level_and_iso_country_not_fips_tag(
    state: dict[str, Advisory], country: str, level: int, label: str
) -> None:
    advisory = state[country]
    assert advisory.kind is Kind.TRAVEL_ADVISORY
    assert advisory.level == level
    assert advisory.countries == (country,)
    (issuer,) = advisory.issuers
    assert (issuer.country, issuer.level, issuer.level_label) == ("US", level, label)
    assert advisory.evidence["level"] == label


def test_state_feed_has_seven_items_with_date_only_precision(state: dict[str, Advisory]) -> None:
    assert len(state) == 7
    assert state["SA"].published == datetime(2026, 9, 15, tzinfo=UTC)
    assert all(a.date_precision is DatePrecision.DAY for a in state.values())


def test_state_id_uses_the_stable_guid(state: dict[str, Advisory]) -> None:
    assert state["SA"].id == (
        "test:https://travel.state.gov/content/tsg_aem/us/en/home/international-travel/"
        "travel-advisories/destination.sau.html"
    )


def test_state_regional_do_not_travel_is_an_area_not_the_national_level(
    state: dict[str, Advisory],
) -> None:
    saudi = state["SA"]
    assert saudi.level == 3
    border = [a for a in saudi.areas if "Yemen" in a.name]
    assert border and border[0].level == 4
    assert saudi.countries == ("SA",)


def test_state_categories_come_from_the_reasons_given(state: dict[str, Advisory]) -> None:
    assert Category.TERRORISM in state["SA"].categories
    assert Category.ARMED_CONFLICT in state["SA"].categories
    assert Category.TERRORISM in state["IT"].categories


@pytest.fixture(scope="module")
def gdacs() -> list[Advisory]:
    return normalise(FEEDS / "gdacs-rss.xml")


def test_gdacs_items_are_hazards_with_severity_and_no_travel_level(
    gdacs: list[Advisory],
) -> None:
    assert len(gdacs) == 16
    for advisory in gdacs:
        assert advisory.kind is Kind.HAZARD_ALERT
        assert advisory.level is None
        assert advisory.severity in {Severity.MINOR, Severity.MODERATE}
        assert Category.NATURAL_DISASTER in advisory.categories


def test_gdacs_colours_map_to_severity_and_countries_to_iso(gdacs: list[Advisory]) -> None:
    first = gdacs[0]
    assert first.id == "test:TC1000643"
    assert first.severity is Severity.MINOR
    assert first.countries == ("MU",)
    orange = [a for a in gdacs if a.countries and a.countries[0] == "PH"]
    assert orange and orange[0].severity is Severity.MODERATE
    multi = [a for a in gdacs if "AR" in a.countries and "CL" in a.countries]
    assert multi, "the 'Argentina, Chile' drought names both countries"


def test_gdacs_effective_is_the_event_start(gdacs: list[Advisory]) -> None:
    fiji = next(a for a in gdacs if a.countries == ("FJ",))
    assert fiji.effective == datetime(2019, 12, 26, 6, 0, tzinfo=UTC)


def test_embassy_alert_is_first_party_security_alert() -> None:
    (advisory,) = normalise(EXAMPLES / "embassy-moscow-2024.rss.xml")
    assert advisory.kind is Kind.SECURITY_ALERT
    assert advisory.issuers[0].name == "U.S. Embassy & Consulates in Russia"
    assert advisory.id == "test:https://ru.usembassy.gov/?p=31846"
    assert "russian federation" not in " ".join(advisory.advice)


def test_embassy_assistance_block_is_not_advice_or_area() -> None:
    (advisory,) = normalise(EXAMPLES / "embassy-moscow-2024.rss.xml")
    assert not any("enroll" in phrase for phrase in advisory.advice)
    assert [a.name for a in advisory.areas] == ["Moscow"]


NEWS_FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>World news</title><link>https://news.example</link>
<item><title>Football: City win the derby</title><link>https://news.example/1</link>
<pubDate>Mon, 04 Mar 2024 10:00:00 GMT</pubDate>
<description>City beat United 2-1 in Manchester on Sunday.</description></item>
<item><title>Canada tells citizens to avoid all travel to Haiti</title>
<link>https://news.example/2</link><pubDate>Tue, 05 Mar 2024 10:00:00 GMT</pubDate>
<description>Global Affairs Canada on Monday urged Canadians to avoid all travel to Haiti
as gang violence spread in Port-au-Prince.</description></item>
<item><title></title><description></description></item>
</channel></rss>"""


def test_news_feed_items_are_reports_or_other(tmp_path: Path) -> None:
    path = tmp_path / "news.xml"
    path.write_bytes(NEWS_FEED)
    football, haiti = normalise(path)
    assert football.kind is Kind.OTHER and football.level is None
    assert haiti.kind is Kind.NEWS_REPORT
    assert haiti.countries == ("HT",)
    assert haiti.level == 4
    assert [(i.country, i.level) for i in haiti.issuers] == [("CA", 4)]
    assert haiti.effective == datetime(2024, 3, 4, tzinfo=UTC)
    assert Category.CRIME in haiti.categories or Category.CIVIL_UNREST in haiti.categories


def test_configured_issuer_makes_a_plain_feed_first_party(tmp_path: Path) -> None:
    path = tmp_path / "smartraveller.xml"
    path.write_bytes(
        b"<rss version='2.0'><channel><title>Smartraveller</title><item>"
        b"<title>Niger</title><link>https://www.smartraveller.gov.au/destinations/niger</link>"
        b"<description>Do not travel to Niger due to the threat of terrorism.</description>"
        b"</item></channel></rss>"
    )
    (advisory,) = normalise(path, issuer="AU")
    assert advisory.kind is Kind.TRAVEL_ADVISORY
    assert [(i.country, i.level) for i in advisory.issuers] == [("AU", 4)]
    assert advisory.countries == ("NE",)


def test_one_broken_item_does_not_sink_the_feed(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_bytes(NEWS_FEED.replace(b"<pubDate>Mon, 04 Mar 2024 10:00:00 GMT</pubDate>",
                                       b"<pubDate>not a date</pubDate>"))  # fmt: skip
    assert len(normalise(path)) == 2
