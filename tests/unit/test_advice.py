"""Advice phrases come out in the text's words, one per action, without their clauses."""

from __future__ import annotations

import pytest

from monitor.normalise.advice import extract_advice


def phrases(sentence: str, imperative: bool = False) -> list[str]:
    return [p.text for p in extract_advice(sentence, imperative=imperative)]


@pytest.mark.parametrize(
    ("sentence", "imperative", "expected"),
    [
        ("Avoid crowds.", True, ["avoid crowds"]),
        ("Stay vigilant, avoid large gatherings and expect traffic disruption.", True,
         ["stay vigilant", "avoid large gatherings", "expect traffic disruption"]),
        ("Because protests are unpredictable, practice vigilance and consider returning home.",
         True, ["practice vigilance", "consider returning home"]),
        ("Carry proper identification, including a U.S. passport.", True,
         ["carry proper identification"]),
        ('The embassy asked citizens to "avoid crowds", "monitor local media for updates" and '
         'be "aware of your surroundings".', False,
         ["avoid crowds", "monitor local media for updates", "be aware of your surroundings"]),
        ("Citizens should avoid large gatherings over the next 48 hours.", False,
         ["avoid large gatherings"]),
        ("It urged its citizens to steer clear of protest zones and to remain vigilant in light "
         "of the disturbances.", False, ["steer clear of protest zones", "remain vigilant"]),
        ("The embassy recommended avoiding areas where protests might occur.", False,
         ["avoid areas where protests might occur"]),
        ("The advisory urged American citizens to depart from Syria while flights run.", False,
         ["depart from syria"]),
        ("Expectant mothers should get tested for the virus if they visited.", False,
         ["get tested for the virus"]),
        ("It had already urged Americans against traveling to the country.", False,
         ["do not travel to the country"]),
    ],
)  # fmt: skip
def test_advice_phrases_are_extracted_and_split(
    sentence: str, imperative: bool, expected: list[str]
) -> None:
    assert phrases(sentence, imperative) == expected


@pytest.mark.parametrize(
    "sentence",
    [
        "The Embassy is monitoring reports of unrest.",
        "Shelter-in-place for Mission personnel ends at the same time.",
        "If they have information, it must be passed on to the secret services.",
        "He called on the chief to step down after he promised to take stern action.",
        "The president visited the troops on Monday.",
    ],
)
def test_sentences_without_advice_give_none(sentence: str) -> None:
    assert phrases(sentence, imperative=True) == []


def test_imperatives_open_only_bullets_and_first_party_text() -> None:
    assert phrases("Avoid the city centre.", imperative=False) == []
    assert phrases("Avoid the city centre.", imperative=True) == ["avoid the city centre"]
