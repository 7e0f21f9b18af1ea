"""Sentence-level attribution: who speaks, what about, and what is merely mentioned."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.models import Advisory, Kind
from monitor.normalise.build import build_advisory
from monitor.normalise.draft import Draft

PUBLISHED = datetime(2024, 8, 7, tzinfo=UTC)


def read(text: str, title: str = "") -> Advisory:
    return build_advisory(Draft(source="test", title=title or text[:60], body=text,
                                published=PUBLISHED))  # fmt: skip


@pytest.mark.parametrize(
    ("text", "issuer", "name"),
    [
        ("The U.S. Embassy in Colombo has advised citizens to avoid places of worship.", "US",
         "U.S. Embassy in Colombo"),
        ("The Indonesian Embassy in London issued a warning, advising nationals to exercise "
         "caution.", "ID", "Indonesian Embassy in London"),
        ("The British High Commission urged travellers to avoid the border.", "GB",
         "British High Commission"),
        ("The Embassy of Japan warned citizens to avoid the protests.", "JP", "Embassy of Japan"),
        ("Global Affairs Canada advises Canadians to avoid all travel to Haiti.", "CA",
         "Global Affairs Canada"),
        ("The FCDO advises against all travel to Haiti.", "GB", "FCDO"),
        ("The State Department urged Americans to leave Lebanon.", "US",
         "U.S. Department of State"),
        ("The German Foreign Office warned Germans against travel to Iran.", "DE",
         "Auswärtiges Amt"),
        ("Australia issued a travel advisory telling citizens to reconsider travel to Niger.",
         "AU", "Australia"),
        ("Beijing urged Chinese nationals to leave Myanmar immediately.", "CN", "China"),
    ],
)  # fmt: skip
def test_government_named_any_way_is_the_issuer(text: str, issuer: str, name: str) -> None:
    advisory = read(text)
    assert [i.country for i in advisory.issuers] == [issuer]
    assert advisory.issuers[0].name == name


@pytest.mark.parametrize(
    ("text", "subjects", "issuers"),
    [
        ("France warned its citizens to leave Mali as fighting spread.", ["ML"], ["FR"]),
        ("Britain advised against all travel to Sudan, citing intelligence from Egypt.",
         ["SD"], ["GB"]),
        ("The Czech Republic acts as protecting power. The US urged Americans to depart from "
         "Syria.", ["SY"], ["US"]),
        ("Italy's foreign ministry told Italians in Tunisia to avoid demonstrations.",
         ["TN"], ["IT"]),
        ("Officials in Washington urged Americans to avoid travel to Haiti.", ["HT"], ["US"]),
    ],
)  # fmt: skip
def test_subject_countries_exclude_issuers_and_mentions(
    text: str, subjects: list[str], issuers: list[str]
) -> None:
    advisory = read(text)
    assert list(advisory.countries) == subjects
    assert [i.country for i in advisory.issuers] == issuers


def test_a_government_summoned_or_quoted_without_advice_is_not_an_issuer() -> None:
    text = (
        "The US embassy urged citizens to avoid crowds in Moscow. The American ambassador "
        "was summoned to the Russian Foreign Ministry, even though the alert was published. "
        "In Moscow they did not take it well."
    )
    advisory = read(text)
    assert [i.country for i in advisory.issuers] == ["US"]
    assert list(advisory.countries) == ["RU"]


def test_intelligence_from_a_third_country_is_not_an_issuer() -> None:
    text = (
        "The U.S. Embassy advised people to avoid places of worship in Sri Lanka. Officials "
        "did not share the intelligence alerts that came from India days earlier."
    )
    advisory = read(text)
    assert [i.country for i in advisory.issuers] == ["US"]
    assert list(advisory.countries) == ["LK"]


def test_domestic_advice_names_the_issuers_own_country_through_its_area() -> None:
    text = "Health officials advised pregnant women to avoid Miami's Wynwood neighborhood."
    advisory = read(text + " The CDC warned pregnant women to avoid the area.")
    assert list(advisory.countries) == ["US"]
    assert [i.country for i in advisory.issuers] == ["US"]
    assert "Wynwood" in [a.name for a in advisory.areas]


def test_regional_do_not_travel_goes_to_the_area_not_the_national_level() -> None:
    text = (
        "The State Department urged Americans to exercise increased caution in Mexico and "
        "said: do not travel to Tamaulipas state due to crime and kidnapping."
    )
    advisory = read(text)
    assert advisory.level == 2
    tamaulipas = [a for a in advisory.areas if a.name == "Tamaulipas"]
    assert tamaulipas and tamaulipas[0].level == 4


@pytest.mark.parametrize(
    "text",
    [
        "Manchester United beat Arsenal 2-1 on Saturday in London.",
        "The Bank of Japan kept interest rates unchanged, the governor said in Tokyo.",
        "Quarterly earnings at the French carmaker rose 4% on strong demand in China.",
        "The film festival in Cannes opened with a premiere attended by Spanish actors.",
    ],
)
def test_items_with_nothing_advisory_are_kind_other_without_level_or_categories(
    text: str,
) -> None:
    advisory = read(text)
    assert advisory.kind is Kind.OTHER
    assert advisory.level is None
    assert advisory.categories == ()
    assert advisory.issuers == ()
    assert advisory.advice == ()
