"""Every issuer's wording in the scale table maps onto the common 1-4 scale."""

from __future__ import annotations

import pytest

from monitor.normalise.levels import canada_level, find_levels


@pytest.mark.parametrize(
    ("phrase", "level"),
    [
        # United States
        ("Level 1: Exercise Normal Precautions", 1),
        ("Level 2: Exercise Increased Caution", 2),
        ("Level 3: Reconsider Travel", 3),
        ("Level 4: Do Not Travel", 4),
        # United Kingdom (prose)
        ("FCDO advises against all but essential travel to the whole country", 3),
        ("The FCDO advises against all travel to Haiti", 4),
        # Canada
        ("Take normal security precautions", 1),
        ("Exercise a high degree of caution", 2),
        ("Avoid non-essential travel", 3),
        ("AVOID ALL TRAVEL", 4),
        ("asking to avoid any travel to Russia", 4),
        # Australia
        ("Exercise normal safety precautions", 1),
        ("exercise a high degree of caution", 2),
        ("Reconsider your need to travel", 3),
        ("Do not travel", 4),
        # New Zealand
        ("Exercise normal safety and security precautions", 1),
        ("Exercise increased caution", 2),
        ("Avoid non\u2011essential travel".replace("\u2011", "-"), 3),
        # Ireland
        ("Normal precautions", 1),
        ("High degree of caution", 2),
        # Reported wording
        ("retained the highest level warning", 4),
        ("raised the advisory to level 3", 3),
    ],
)
def test_scale_phrase_maps_to_common_level(phrase: str, level: int) -> None:
    matches = find_levels(phrase)
    assert matches, phrase
    assert max(m.level for m in matches) == level


def test_longest_phrase_wins_all_but_essential_over_all_travel() -> None:
    (match,) = find_levels("We advise against all but essential travel to Mali.")
    assert match.level == 3


@pytest.mark.parametrize(
    "text", ["leave immediately", "depart now", "Category 4 hurricane", "be vigilant"]
)
def test_text_without_scale_wording_has_no_level(text: str) -> None:
    assert find_levels(text) == []


@pytest.mark.parametrize(("state", "level"), [(0, 1), (1, 2), (2, 3), (3, 4), ("3", 4)])
def test_canada_advisory_state_maps_zero_to_three_onto_one_to_four(
    state: object, level: int
) -> None:
    assert canada_level(state) == level


def test_canada_unknown_state_has_no_level() -> None:
    assert canada_level("x") is None
    assert canada_level(7) is None
