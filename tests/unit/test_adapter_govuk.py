"""GOV.UK Content API adapter: fixtures checked by hand, regional advice, broken input."""

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
from monitor.normalise import govuk
from monitor.normalise.draft import Draft, SourceContext
from monitor.normalise.inputs import InputError, check_input

FEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
HAITI = "uk-fcdo-content-api-haiti.json"
ALBANIA = "uk-fcdo-content-api-albania-2017-example.json"
CTX = SourceContext(source="uk-fcdo")


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FEEDS / name).read_text(encoding="utf-8"))
    return payload


def parse_bytes(data: bytes) -> list[Draft]:
    return govuk.parse(check_input(data), CTX)


def parse_payload(payload: object) -> Draft:
    drafts = parse_bytes(json.dumps(payload).encode())
    assert len(drafts) == 1
    return drafts[0]


@pytest.fixture(scope="module")
def haiti() -> Draft:
    return parse_payload(load(HAITI))


@pytest.fixture(scope="module")
def albania() -> Draft:
    return parse_payload(load(ALBANIA))


HAITI_FACTS: list[tuple[str, object]] = [
    ("source", "uk-fcdo"),
    ("title", "Haiti travel advice"),
    ("own_id", "haiti"),
    ("url", "https://www.gov.uk/foreign-travel-advice/haiti"),
    ("language", "en"),
    # public_updated_at, not updated_at (2026-10-07, a republish)
    ("published", datetime(2025, 12, 10, 13, 57, 3, tzinfo=UTC)),
    ("updated", datetime(2025, 12, 10, 13, 57, 3, tzinfo=UTC)),
    ("kind", Kind.TRAVEL_ADVISORY),
    ("msg_type", MsgType.ALERT),
    ("first_party", True),
    ("countries", ("HT",)),
    ("areas", ()),
]
ALBANIA_FACTS: list[tuple[str, object]] = [
    ("title", "Albania travel advice"),
    ("own_id", "albania"),
    ("url", "https://www.gov.uk/foreign-travel-advice/albania"),
    ("published", datetime(2017, 2, 14, 15, 42, 21, tzinfo=UTC)),
    ("updated", datetime(2017, 2, 14, 15, 42, 21, tzinfo=UTC)),
    ("kind", Kind.TRAVEL_ADVISORY),
    ("msg_type", MsgType.ALERT),
    ("countries", ("AL",)),
    ("areas", ()),
]


@pytest.mark.parametrize(("field", "expected"), HAITI_FACTS)
def test_haiti_fields(haiti: Draft, field: str, expected: object) -> None:
    assert getattr(haiti, field) == expected


@pytest.mark.parametrize(("field", "expected"), ALBANIA_FACTS)
def test_albania_fields(albania: Draft, field: str, expected: object) -> None:
    assert getattr(albania, field) == expected


def test_haiti_is_level_4_for_the_whole_country(haiti: Draft) -> None:
    assert haiti.issuer is not None
    assert (haiti.issuer.country, haiti.issuer.name) == ("GB", "FCDO")
    assert haiti.issuer.level == 4
    assert haiti.issuer.level_label == "FCDO advises against all travel"
    assert haiti.evidence["level"] == (
        "FCDO advises against all travel to Haiti due to the volatile security situation."
    )
    assert haiti.issuer.evidence == haiti.evidence["level"]


def test_albania_without_alert_status_is_level_1(albania: Draft) -> None:
    assert albania.issuer is not None
    assert albania.issuer.level == 1
    assert albania.issuer.level_label is None
    assert "alert_status: []" in albania.evidence["level"]


def test_haiti_body_is_every_part_as_plain_text(haiti: Draft) -> None:
    for title in ("Warnings and insurance", "Entry requirements", "Safety and security"):
        assert f"\n\n{title}\n\n" in f"\n\n{haiti.body}"
    assert "<" not in haiti.body
    assert "&amp;" not in haiti.body
    assert "Foreign, Commonwealth & Development Office" in haiti.body


def test_albania_summary_part_comes_first_and_is_the_summary(albania: Draft) -> None:
    assert albania.body.startswith("Summary\n\nThe main opposition party has called")
    assert albania.summary_text is not None
    assert albania.summary_text.startswith("The main opposition party has called")


def test_haiti_summary_is_the_description_without_a_summary_part(haiti: Draft) -> None:
    assert haiti.summary_text == (
        "FCDO travel advice for Haiti. Includes safety and security, insurance, "
        "entry requirements and legal differences."
    )


def test_extra_content_keeps_alert_status_and_change_note(haiti: Draft) -> None:
    assert "alert_status: avoid_all_travel_to_whole_country" in haiti.extra_content
    assert "New information about dual nationals" in haiti.extra_content


def test_volatile_updated_at_does_not_change_the_draft() -> None:
    payload = load(HAITI)
    moved = copy.deepcopy(payload)
    moved["updated_at"] = "2030-01-01T00:00:00Z"
    moved["details"]["updated_at"] = "2030-01-01T00:00:00Z"
    assert parse_payload(moved) == parse_payload(payload)


# -- regional advice ---------------------------------------------------------------------

KENYA_WARNINGS = """
<h2 id="areas">Areas where FCDO advises against travel</h2>
<p>Your travel insurance could be invalidated if you travel against FCDO advice.</p>
<h3>Kenya-Somalia border</h3>
<p><abbr title="Foreign, Commonwealth &amp; Development Office">FCDO</abbr>
advises against all travel to:</p>
<ul><li><p>Mandera county</p></li><li>within 15km of the Kenya-Somalia border</li></ul>
<p>FCDO advises against all but essential travel to Lamu county, due to terrorism.</p>
"""
REST_OF_KENYA = "<p>FCDO advises against all but essential travel to the rest of Kenya.</p>"
WHOLE_KENYA = "<h2>FCDO advises against all but essential travel to Kenya</h2>"
KENYA_AREAS = (
    ("Mandera county", 4),
    ("within 15km of the Kenya-Somalia border", 4),
    ("Lamu county", 3),
)

REGIONAL_CASES = [
    pytest.param(
        ["avoid_all_travel_to_parts", "avoid_all_but_essential_travel_to_parts"],
        KENYA_WARNINGS,
        1,
        KENYA_AREAS,
        id="parts-only-national-1",
    ),
    pytest.param(
        ["avoid_all_travel_to_parts"],
        KENYA_WARNINGS + REST_OF_KENYA,
        3,
        KENYA_AREAS,
        id="rest-of-country-3",
    ),
    pytest.param(
        ["avoid_all_but_essential_travel_to_whole_country", "avoid_all_travel_to_parts"],
        WHOLE_KENYA + KENYA_WARNINGS,
        3,
        KENYA_AREAS,
        id="whole-country-3-with-parts-4",
    ),
    pytest.param(
        ["avoid_all_travel_to_parts"],
        "<p>FCDO advises against all travel within 10km of the border with Somalia.</p>",
        1,
        (("within 10km of the border with Somalia", 4),),
        id="within-clause",
    ),
    pytest.param(
        [],
        "<p>There are no FCDO travel warnings for Kenya.</p>",
        1,
        (),
        id="no-warning",
    ),
]


def kenya(alert_status: list[str], warnings_html: str) -> dict[str, Any]:
    payload = load(HAITI)
    payload["title"] = "Kenya travel advice"
    payload["base_path"] = "/foreign-travel-advice/kenya"
    payload["details"]["country"] = {"name": "Kenya", "slug": "kenya", "synonyms": []}
    payload["details"]["alert_status"] = alert_status
    payload["details"]["parts"][0]["body"] = warnings_html
    return payload


@pytest.mark.parametrize(("status", "html", "level", "areas"), REGIONAL_CASES)
def test_regional_advice_goes_into_areas(
    status: list[str], html: str, level: int, areas: tuple[tuple[str, int], ...]
) -> None:
    draft = parse_payload(kenya(status, html))
    assert draft.issuer is not None
    assert draft.issuer.level == level
    assert tuple((a.name, a.level) for a in draft.areas) == areas
    assert all(a.country == "KE" for a in draft.areas)
    assert draft.countries == ("KE",)


def test_rest_of_country_sentence_is_the_level_evidence() -> None:
    draft = parse_payload(kenya(["avoid_all_travel_to_parts"], KENYA_WARNINGS + REST_OF_KENYA))
    assert draft.evidence["level"] == (
        "FCDO advises against all but essential travel to the rest of Kenya."
    )
    assert draft.issuer is not None
    assert draft.issuer.level_label == "FCDO advises against all but essential travel"


def test_generic_help_text_is_not_a_level_statement(albania: Draft) -> None:
    # The help part says "we advise against all or all but essential travel": no level.
    assert albania.issuer is not None
    assert albania.issuer.level == 1
    assert albania.areas == ()


# -- withdrawal, missing and broken fields -----------------------------------------------


def test_withdrawn_page_is_a_cancel() -> None:
    payload = load(HAITI)
    payload["withdrawn_notice"] = {
        "explanation": "<p>This advice has been <b>withdrawn</b>.</p>",
        "withdrawn_at": "2026-01-01T00:00:00Z",
    }
    draft = parse_payload(payload)
    assert draft.msg_type is MsgType.CANCEL
    assert draft.body.startswith("Withdrawn\n\nThis advice has been withdrawn.")


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    payload = load(HAITI)
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = None
    return payload


DEGRADED_CASES = [
    pytest.param(("details", "parts"), id="parts-null"),
    pytest.param(("details", "alert_status"), id="alert-status-null"),
    pytest.param(("details", "country"), id="country-null"),
    pytest.param(("public_updated_at",), id="date-null"),
    pytest.param(("base_path",), id="base-path-null"),
    pytest.param(("withdrawn_notice",), id="withdrawn-null"),
    pytest.param(("description",), id="description-null"),
]


@pytest.mark.parametrize("path", DEGRADED_CASES)
def test_missing_fields_still_give_one_draft(path: tuple[str, ...]) -> None:
    draft = parse_payload(_without(path))
    assert draft.title == "Haiti travel advice"
    assert draft.issuer is not None


def test_null_bodies_and_junk_parts_are_skipped() -> None:
    payload = load(HAITI)
    payload["details"]["parts"] = [
        None,
        "junk",
        {"slug": "warnings-and-insurance", "title": "Warnings", "body": None},
        {"slug": "health", "title": None, "body": "<p>Drink water.</p>"},
    ]
    draft = parse_payload(payload)
    assert draft.body == "Warnings\n\nDrink water."
    assert draft.issuer is not None and draft.issuer.level == 4  # from alert_status


def test_country_falls_back_to_the_slug() -> None:
    payload = load(HAITI)
    payload["details"]["country"] = {"slug": "haiti"}
    assert parse_payload(payload).countries == ("HT",)


def test_without_slug_own_id_falls_back_to_base_path() -> None:
    payload = load(HAITI)
    payload["details"]["country"] = {"name": "Haiti"}
    assert parse_payload(payload).own_id == "haiti"


BROKEN_INPUTS = [
    pytest.param(b"[1, 2, 3]", id="json-list"),
    pytest.param(b'"travel advice"', id="json-string"),
    pytest.param(b"{not json", id="invalid-json"),
    pytest.param(b'{"title": "Haiti travel advice"}', id="no-details"),
    pytest.param(b'{"title": "Haiti", "details": []}', id="details-not-object"),
    pytest.param(b'{"details": {"parts": []}}', id="no-title"),
    pytest.param(b'{"title": null, "details": {}}', id="title-null"),
    pytest.param(b"<rss><channel/></rss>", id="xml"),
]


@pytest.mark.parametrize("data", BROKEN_INPUTS)
def test_broken_input_raises_input_error(data: bytes) -> None:
    with pytest.raises(InputError):
        parse_bytes(data)


# -- fuzzing: any JSON shape gives drafts or InputError, never another exception -------------

_KEYS = ["title", "details", "parts", "body", "slug", "country", "name", "alert_status",
         "base_path", "public_updated_at", "withdrawn_notice", "description", "locale"]  # fmt: skip
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=30),
    st.sampled_from(
        ["<p>FCDO advises against all travel to:</p><ul><li>x</li></ul>", "2024-01-01"]
    ),
)
_JSON = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_KEYS), inner),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), _JSON) | _JSON)
def test_any_json_gives_drafts_or_input_error(payload: object) -> None:
    try:
        drafts = parse_bytes(json.dumps(payload).encode())
    except InputError:
        return
    assert all(isinstance(d, Draft) for d in drafts)
