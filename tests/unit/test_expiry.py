"""Expiry's pure parts: the index score of a version, the expired event and how it reads.

The event here is built the way the expire script appends it (``events.advisory_event`` for
``msg_type="expire"``, the stored snapshot last) and decoded as every consumer decodes it, so
filters and notifiers see exactly what the stream will hold.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from monitor import events
from monitor.config import Filter
from monitor.filters import matches
from monitor.keys import Keys
from monitor.models import Advisory, Issuer, Kind, MsgType
from monitor.notifiers.console import format_line
from monitor.notifiers.email import build_message, subject
from monitor.notifiers.templates import intro
from monitor.store import Prepared, expiry_score, unix_ms

NOW = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
EXPIRES = datetime(2024, 3, 9, 16, 59, tzinfo=UTC)
ADVISORY_ID = "cap-meteo:https://alerts.example.org/cap/storm.xml"


def advisory(**overrides: Any) -> Advisory:
    fields: dict[str, Any] = {
        "id": ADVISORY_ID,
        "source": "cap-meteo",
        "kind": Kind.HAZARD_ALERT,
        "title": "Storm warning for the Alps",
        "issuers": (Issuer(country="FR", name="Météo-France", level=3),),
        "countries": ("FR",),
        "level": 3,
        "expires": EXPIRES,
        "fingerprint": "f" * 64,
    }
    fields.update(overrides)
    return Advisory(**fields)


def expired_event(version: int = 3, **overrides: Any) -> dict[str, Any]:
    """The decoded ``advisory.expired`` entry announcing ``version``."""
    fields = events.advisory_event(
        advisory_id=ADVISORY_ID,
        source="cap-meteo",
        version=version,
        msg_type="expire",
        advisory_json=advisory(**overrides).to_json(),
        changes=[],
        emitted_at=EXPIRES + timedelta(seconds=2),
    )
    return events.decode_entry(fields)


# --- the index score ----------------------------------------------------------------------------


def test_unix_ms_is_exact_and_reads_naive_times_as_utc() -> None:
    assert unix_ms(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert unix_ms(NOW) == 1_709_899_200_000
    assert unix_ms(NOW.replace(microsecond=999_999)) == 1_709_899_200_999  # floor, no float
    assert unix_ms(NOW.replace(tzinfo=None)) == unix_ms(NOW)
    paris = NOW.astimezone(timezone(timedelta(hours=1)))
    assert unix_ms(paris) == unix_ms(NOW)


def test_a_version_with_expires_is_indexed_at_its_expires() -> None:
    assert expiry_score(advisory()) == str(unix_ms(EXPIRES))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"expires": None}, "nothing to expire"),
        ({"msg_type": MsgType.CANCEL}, "a cancel already ended it"),
    ],
)
def test_a_version_with_nothing_left_to_expire_is_not_indexed(
    overrides: dict[str, Any], reason: str
) -> None:
    assert expiry_score(advisory(**overrides)) == "", reason


def test_an_update_is_indexed_like_an_alert() -> None:
    assert expiry_score(advisory(msg_type=MsgType.UPDATE)) == str(unix_ms(EXPIRES))


def test_prepared_carries_the_same_score_as_its_advisory() -> None:
    for item in (advisory(), advisory(expires=None), advisory(msg_type=MsgType.CANCEL)):
        prepared = Prepared.of(item)
        assert expiry_score(prepared) == expiry_score(item)
    assert Prepared.of(advisory()).expires_ms == unix_ms(EXPIRES)


def test_the_expiry_index_key_carries_the_prefix() -> None:
    assert Keys().expiries == "monitor:expiries"
    keys = Keys("{prod}:")
    assert keys.expiries == "{prod}:expiries"
    assert keys.expiries not in {keys.events, keys.dead, keys.sources}


# --- the event ----------------------------------------------------------------------------------


def test_an_expired_event_is_a_version_with_the_documented_id() -> None:
    event = expired_event(version=3)
    assert event["type"] == events.ADVISORY_EXPIRED == "advisory.expired"
    assert event["event_id"] == f"{ADVISORY_ID}:3"
    assert event["version"] == 3
    assert event["changes"] == []
    assert event["advisory"]["expires"] == "2024-03-09T16:59:00Z"
    assert list(event)[-1] == "advisory"  # the snapshot last, as the scripts append it


def test_expire_is_expired_whatever_the_version() -> None:
    assert events.advisory_event_type("expire", 1) == events.ADVISORY_EXPIRED
    assert events.advisory_event_type("expire", 7) == events.ADVISORY_EXPIRED


# --- filters: an expired event matches on its advisory -----------------------------------------


@pytest.mark.parametrize(
    ("flt", "wanted"),
    [
        (Filter(), True),
        (Filter(countries=("FR",)), True),
        (Filter(countries=("DE",)), False),
        (Filter(min_level=3), True),
        (Filter(min_level=4), False),
        (Filter(kinds=("hazard_alert",)), True),
        (Filter(events=("advisory.expired",)), True),
        (Filter(events=("advisory.new", "advisory.changed")), False),
        (Filter(events=("source.failing",)), False),
    ],
)
def test_an_expired_event_passes_the_filters_its_advisory_passes(flt: Filter, wanted: bool) -> None:
    assert matches(flt, expired_event()) is wanted


# --- what notifiers say -------------------------------------------------------------------------


def test_the_console_line_names_the_expiry() -> None:
    line = format_line(expired_event())
    assert line == "2024-03-09 16:59Z advisory.expired  L3 FR Storm warning for the Alps"


def test_the_email_says_expired_and_threads_under_the_first_alert() -> None:
    event = expired_event()
    assert subject(event) == "Expired: [Level 3] France: Storm warning for the Alps"
    assert intro(event) == "Expired hazard alert for France."
    message = build_message(event, sender="alerts@example.org", to=["ops@example.org"], now=NOW)
    parsed = email.message_from_bytes(bytes(message), policy=email.policy.default)
    assert parsed["Subject"] == "Expired: [Level 3] France: Storm warning for the Alps"
    assert parsed["In-Reply-To"] is not None  # version 3 replies to version 1
    text = parsed.get_body(preferencelist=("plain",))
    assert text is not None
    body = text.get_content()
    assert "Expired hazard alert" in body
    assert "2024-03-09 16:59 UTC" in body  # when it ran out
