"""Global Affairs Canada adapter: index and per-country fixtures, regions, broken input."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.models import Kind, MsgType
from monitor.normalise import canada
from monitor.normalise.draft import Draft, SourceContext
from monitor.normalise.inputs import InputError, check_input

FEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
INDEX = "canada-index-alpha-eng-2014.json"
UKRAINE = "canada-cta-cap-ua.json"
CTX = SourceContext(source="ca-travel")


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FEEDS / name).read_text(encoding="utf-8"))
    return payload


def parse_payload(payload: object) -> list[Draft]:
    return canada.parse(check_input(json.dumps(payload).encode()), CTX)


def parse_one(payload: object) -> Draft:
    drafts = parse_payload(payload)
    assert len(drafts) == 1
    return drafts[0]


@pytest.fixture(scope="module")
def ukraine() -> Draft:
    return parse_one(load(UKRAINE))


@pytest.fixture(scope="module")
def index() -> dict[str, Draft]:
    drafts = parse_payload(load(INDEX))
    return {d.own_id or "": d for d in drafts}


# -- the per-country file ----------------------------------------------------------------

UKRAINE_FACTS: list[tuple[str, object]] = [
    ("source", "ca-travel"),
    ("title", "Travel advice and advisories for Ukraine"),
    ("own_id", "UA"),
    ("url", "https://travel.gc.ca/destinations/ukraine"),
    ("language", "en"),
    # no date-published in this file: friendly-date "September 24, 2026 08:53 EDT"
    ("published", datetime(2026, 9, 24, 12, 53, tzinfo=UTC)),
    ("kind", Kind.TRAVEL_ADVISORY),
    ("msg_type", MsgType.ALERT),
    ("first_party", True),
    ("countries", ("UA",)),
    ("areas", ()),  # has-regional-advisory is 0
]


@pytest.mark.parametrize(("field", "expected"), UKRAINE_FACTS)
def test_ukraine_fields(ukraine: Draft, field: str, expected: object) -> None:
    assert getattr(ukraine, field) == expected


def test_ukraine_is_level_4_avoid_all_travel(ukraine: Draft) -> None:
    assert ukraine.issuer is not None
    assert (ukraine.issuer.country, ukraine.issuer.name) == ("CA", "Global Affairs Canada")
    assert (ukraine.issuer.level, ukraine.issuer.level_label) == (4, "Avoid all travel")
    assert ukraine.evidence["level"] == (
        "Avoid all travel to Ukraine due to the Russian military invasion."
    )


def test_ukraine_body_is_advisories_security_and_updates_decoded_once(ukraine: Draft) -> None:
    body = ukraine.body
    assert body.startswith("UKRAINE - AVOID ALL TRAVEL\n\nAvoid all travel to Ukraine")
    assert "Territories illegally occupied by Russia" in body  # security section
    assert "Canada's response to the Russian invasion of Ukraine" in body  # &rsquo;
    assert "&rsquo;" not in body and "<" not in body
    assert body.endswith("Recent updates: Health - editorial change")


def test_generation_metadata_never_reaches_the_draft(ukraine: Draft) -> None:
    payload = load(UKRAINE)
    payload["metadata"] = {"generated": {"timestamp": 1900000000, "date": "2030-03-17 17:46:40"}}
    assert parse_one(payload) == ukraine


def test_french_block_is_ignored(ukraine: Draft) -> None:
    payload = load(UKRAINE)
    payload["data"]["fra"] = {"name": "Ukraine", "advisory-text": "&Eacute;vitez tout voyage"}
    assert parse_one(payload) == ukraine


def test_date_published_wins_over_friendly_date() -> None:
    payload = load(UKRAINE)
    payload["data"]["date-published"] = {
        "timestamp": 1790254380,
        "date": "2026-09-24 08:53:00",
        "asp": "2026-09-24T08:53:00",
    }
    payload["data"]["eng"]["friendly-date"] = "January 1, 2020 00:00 EST"
    assert parse_one(payload).published == datetime(2026, 9, 24, 12, 53, tzinfo=UTC)


FRIENDLY_DATES = [
    ("September 24, 2026 08:53 EDT", datetime(2026, 9, 24, 12, 53, tzinfo=UTC)),
    ("February 19, 2014 14:14 EST", datetime(2014, 2, 19, 19, 14, tzinfo=UTC)),
    ("February 19, 2014 14:14", datetime(2014, 2, 19, 19, 14, tzinfo=UTC)),  # Ottawa time
    ("Tuesday", None),  # never completed from today's date
    ("", None),
]


@pytest.mark.parametrize(("friendly", "expected"), FRIENDLY_DATES)
def test_friendly_date(friendly: str, expected: datetime | None) -> None:
    payload = load(UKRAINE)
    payload["data"]["eng"]["friendly-date"] = friendly
    assert parse_one(payload).published == expected


# -- the 2014 index ----------------------------------------------------------------------


def test_index_gives_one_draft_per_destination(index: dict[str, Draft]) -> None:
    assert len(index) == 229
    for draft in index.values():
        assert draft.issuer is not None and draft.issuer.level in (1, 2, 3, 4)
        assert len(draft.countries) == 1
        assert draft.url and draft.url.startswith("https://travel.gc.ca/destinations/")
        assert draft.published is not None


INDEX_CASES = [
    # key, level, label, countries, areas
    ("AF", 4, "AVOID ALL TRAVEL", ("AF",), ()),
    ("AL", 1, "Exercise normal security precautions", ("AL",), ()),
    ("CD", 3, "AVOID NON-ESSENTIAL TRAVEL", ("CD",), ()),
    ("UA", 2, "Exercise a high degree of caution", ("UA",), ()),
    ("XK", 2, "Exercise a high degree of caution", ("XK",), ()),
    ("PT-20", 1, "Exercise normal security precautions", ("PT",), ("Azores",)),
    ("IC", 1, "Exercise normal security precautions", ("ES",), ("Canary Islands",)),
]


@pytest.mark.parametrize(("key", "level", "label", "countries", "areas"), INDEX_CASES)
def test_index_levels_and_places(
    index: dict[str, Draft],
    key: str,
    level: int,
    label: str,
    countries: tuple[str, ...],
    areas: tuple[str, ...],
) -> None:
    draft = index[key]
    assert draft.issuer is not None
    assert (draft.issuer.level, draft.issuer.level_label) == (level, label)
    assert draft.countries == countries
    assert tuple(a.name for a in draft.areas) == areas
    assert all(a.level == level for a in draft.areas)


def test_index_af_details(index: dict[str, Draft]) -> None:
    af = index["AF"]
    assert af.title == "Travel advice and advisories for Afghanistan"
    assert af.url == "https://travel.gc.ca/destinations/afghanistan"
    # timestamp 1407346535; the "date" field is Ottawa local time (13:35:35 EDT)
    assert af.published == datetime(2014, 8, 6, 17, 35, 35, tzinfo=UTC)
    assert "The Laws & Culture tab was updated" in af.body  # &amp; decoded once
    assert af.evidence["level"] == 'advisory-state 3: "AVOID ALL TRAVEL"'


def test_index_keeps_the_regional_note_in_the_body(index: dict[str, Draft]) -> None:
    assert index["CD"].body.startswith("AVOID NON-ESSENTIAL TRAVEL; see also regional advisories.")


def test_local_date_without_timestamp_is_ottawa_time() -> None:
    payload = load(INDEX)
    entry = payload["data"]["AF"]
    del entry["date-published"]["timestamp"]
    payload["data"] = {"AF": entry}
    assert parse_one(payload).published == datetime(2014, 8, 6, 17, 35, 35, tzinfo=UTC)


def test_missing_state_falls_back_to_the_text() -> None:
    payload = load(INDEX)
    entry = payload["data"]["CD"]
    del entry["advisory-state"]
    payload["data"] = {"CD": entry}
    draft = parse_one(payload)
    assert draft.issuer is not None and draft.issuer.level == 3


# -- regional advisories -----------------------------------------------------------------

NATIONAL = (
    '<div class="AdvisoryContainer ExHigh"><h3>Ukraine - Exercise a high degree of caution</h3>'
    "<p>Exercise a high degree of caution in Ukraine.</p></div>"
)
REGIONAL_CASES = [
    pytest.param(
        '<div class="AdvisoryContainer AvoidAll"><h3>Regional advisory - Avoid all travel</h3>'
        "<p>Avoid all travel to the following areas, due to armed conflict:</p>"
        "<ul><li>Donetsk oblast</li><li>Luhansk oblast</li></ul></div>",
        (("Donetsk oblast", 4), ("Luhansk oblast", 4)),
        id="list-after-colon",
    ),
    pytest.param(
        "<h3>Regional advisory - Avoid non-essential travel</h3><ul><li>Kherson oblast</li></ul>",
        (("Kherson oblast", 3),),
        id="list-after-heading",
    ),
    pytest.param(
        "<h3>Crimea - Avoid all travel</h3><p>The security situation is volatile.</p>",
        (("Crimea", 4),),
        id="place-in-heading",
    ),
    pytest.param(
        "<p>Avoid non-essential travel to Odesa oblast due to attacks. "
        "Avoid all travel within 30 km of the border with Russia.</p>",
        (("Odesa oblast", 3), ("within 30 km of the border with Russia", 4)),
        id="sentences",
    ),
    pytest.param(
        "<p>Avoid all travel to Ukraine due to the invasion.</p>",
        (),
        id="whole-country-is-not-an-area",
    ),
]


def ukraine_with(advisories: str, *, regional: int = 1) -> dict[str, Any]:
    payload = load(UKRAINE)
    data = payload["data"]
    data["advisory-state"] = 1
    data["has-regional-advisory"] = regional
    data["eng"]["advisory-text"] = "Exercise a high degree of caution"
    data["eng"]["advisories"] = NATIONAL + advisories
    return payload


@pytest.mark.parametrize(("html", "areas"), REGIONAL_CASES)
def test_regional_advisories_become_areas(html: str, areas: tuple[tuple[str, int], ...]) -> None:
    draft = parse_one(ukraine_with(html))
    assert tuple((a.name, a.level) for a in draft.areas) == areas
    assert all(a.country == "UA" for a in draft.areas)
    assert draft.issuer is not None and draft.issuer.level == 2  # never raised by regions
    assert draft.evidence["level"] == "Exercise a high degree of caution in Ukraine."


def test_regions_are_read_only_when_the_record_has_them() -> None:
    html = str(REGIONAL_CASES[0].values[0])
    assert parse_one(ukraine_with(html, regional=0)).areas == ()


# -- broken input ------------------------------------------------------------------------

BROKEN_INPUTS = [
    pytest.param([], id="json-list"),
    pytest.param({"metadata": {}}, id="no-data"),
    pytest.param({"data": ["AF", "AL"]}, id="data-not-object"),
    pytest.param({"data": {"country-iso": "UA", "advisory-state": 3}}, id="per-country-no-eng"),
]


@pytest.mark.parametrize("payload", BROKEN_INPUTS)
def test_broken_input_raises_input_error(payload: object) -> None:
    with pytest.raises(InputError):
        parse_payload(payload)


def test_invalid_json_raises_input_error() -> None:
    with pytest.raises(InputError):
        canada.parse(check_input(b'{"data": {'), CTX)


def test_broken_index_entries_are_skipped() -> None:
    payload = load(INDEX)
    good = copy.deepcopy(payload["data"]["AF"])
    payload["data"] = {
        "AF": good,
        "TH": "garbage",
        "ZZ": {"eng": {"name": ""}},
        "XX": {"advisory-state": 7, "eng": {"name": "Nowhere"}},
        "NL": None,
    }
    drafts = {d.own_id: d for d in parse_payload(payload)}
    assert set(drafts) == {"AF", "XX"}
    nowhere = drafts["XX"]
    assert nowhere.issuer is not None and nowhere.issuer.level is None
    assert nowhere.countries == ()
    assert nowhere.url is None


def test_empty_index_gives_no_drafts() -> None:
    assert parse_payload({"metadata": {}, "data": {}}) == []


# -- fuzzing: any JSON shape gives drafts or InputError, never another exception -------------

_KEYS = ["data", "eng", "country-iso", "advisory-state", "has-regional-advisory", "name",
         "url-slug", "advisory-text", "advisories", "security", "date-published", "timestamp",
         "date", "friendly-date", "recent-updates", "AF", "PT-20"]  # fmt: skip
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["<h3>X - Avoid all travel</h3><ul><li>y</li></ul>", "May 1, 2020 10:00 EDT"]),
)
_JSON = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_KEYS), inner),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_any_json_gives_drafts_or_input_error(data: object) -> None:
    try:
        drafts = parse_payload({"data": data})
    except InputError:
        return
    assert all(isinstance(d, Draft) for d in drafts)


def test_per_country_file_without_iso_uses_the_name() -> None:
    payload = load(UKRAINE)
    del payload["data"]["country-iso"]
    draft = parse_one(payload)
    assert (draft.own_id, draft.countries, draft.areas) == (None, ("UA",), ())
    assert draft.url == "https://travel.gc.ca/destinations/ukraine"
