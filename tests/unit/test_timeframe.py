"""Relative and absolute dates resolve against the item's published date, never the clock."""

from __future__ import annotations

from datetime import date

import pytest

from monitor.normalise.timeframe import Kind, find_dates

WEDNESDAY = date(2024, 8, 7)


@pytest.mark.parametrize(
    ("sentence", "anchor", "kind", "day"),
    [
        ("The warning was issued yesterday.", date(2024, 3, 8), Kind.POINT, date(2024, 3, 7)),
        ("The embassy relaunched it today.", date(2024, 3, 8), Kind.POINT, date(2024, 3, 8)),
        ("A march is planned for tomorrow.", date(2024, 3, 8), Kind.POINT, date(2024, 3, 9)),
        ("Malaysia issued a notice on Sunday.", WEDNESDAY, Kind.POINT, date(2024, 8, 4)),
        ("On Monday, Nigeria joined them.", WEDNESDAY, Kind.POINT, date(2024, 8, 5)),
        ("The embassy said Thursday.", date(2019, 4, 25), Kind.POINT, date(2019, 4, 25)),
        ("A protest is planned on Saturday.", WEDNESDAY, Kind.POINT, date(2024, 8, 10)),
        ("Officials spoke last Wednesday.", WEDNESDAY, Kind.POINT, date(2024, 7, 31)),
        ("Avoid the area on Friday, November 9.", date(2018, 11, 6), Kind.POINT,
         date(2018, 11, 9)),
        ("It was posted on 9 November 2018.", date(2018, 11, 12), Kind.POINT,
         date(2018, 11, 9)),
        ("Today, June 18, 2024, a protest is planned.", date(2024, 6, 18), Kind.POINT,
         date(2024, 6, 18)),
        ("Published 2024-03-07 by the embassy.", date(2024, 3, 8), Kind.POINT,
         date(2024, 3, 7)),
        ("The curfew lasts until March 9.", date(2024, 3, 7), Kind.UNTIL, date(2024, 3, 9)),
        ("Stay away over the coming weekend.", date(2019, 4, 25), Kind.WEEKEND,
         date(2019, 4, 28)),
        ("A report of December 30 said so.", date(2025, 1, 2), Kind.POINT, date(2024, 12, 30)),
    ],
)  # fmt: skip
def test_date_expression_resolves_against_the_anchor(
    sentence: str, anchor: date, kind: Kind, day: date
) -> None:
    mentions = [m for m in find_dates(sentence, anchor) if m.kind is kind]
    assert mentions, f"no {kind} in {sentence!r}"
    assert mentions[0].day == day


@pytest.mark.parametrize(
    ("sentence", "hours"),
    [
        ("Avoid large gatherings over the next 48 hours.", 48),
        ("Attacks in Russia in the next 48 hours.", 48),
        ("Stay indoors for the next three days.", 72),
        ("Avoid the area during the coming two weeks.", 336),
        ("Expect disruption within the next 24 hours.", 24),
    ],
)
def test_duration_expressions_give_hours(sentence: str, hours: float) -> None:
    (duration,) = [m for m in find_dates(sentence, date(2024, 1, 1)) if m.kind is Kind.DURATION]
    assert duration.hours == hours


def test_open_ended_wording_is_recognised() -> None:
    kinds = {m.kind for m in find_dates("The curfew was extended indefinitely.", WEDNESDAY)}
    assert kinds == {Kind.OPEN}


@pytest.mark.parametrize(
    "sentence",
    [
        "A devastating attack on Easter Sunday killed many.",
        "Put off having children for at least two months.",
        "The embassy suspended operations in 2012.",
        "Since mid-June, cases have been reported.",
    ],
)
def test_non_dates_of_the_advice_are_not_read_as_dates(sentence: str) -> None:
    assert not find_dates(sentence, WEDNESDAY)


def test_same_input_gives_same_dates_whatever_the_anchor_year() -> None:
    first = find_dates("issued on Sunday", date(2024, 8, 7))[0].day
    again = find_dates("issued on Sunday", date(2024, 8, 7))[0].day
    assert first == again == date(2024, 8, 4)


@pytest.mark.parametrize(
    "sentence",
    ["Avoid the area on Monday and \u017funday.", "Until 9 \u017feptember or 10 September."],
)
def test_letters_that_fold_to_ascii_resolve_instead_of_raising(sentence: str) -> None:
    assert find_dates(sentence, WEDNESDAY)
