"""Dead-letter fields, read back; the packaged sample advisory of ``notify-test``. Pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from monitor.dead_letters import ERROR_CHARS, letter_fields, parse
from monitor.models import json_schema
from monitor.sample import normalised_sample, sample_advisory, sample_event

ARTICLE = Path(__file__).parents[1] / "fixtures" / "reference" / "sample-article.txt"
ENTRY = {"type": "advisory.changed", "event_id": "us:ru:2", "advisory": '{"id": "us:ru"}'}


def test_a_dead_letter_carries_what_an_operator_needs_and_the_entry_itself() -> None:
    fields = letter_fields(
        notifier="ops-hook",
        stream_id="1709900000000-0",
        entry=ENTRY,
        attempts=6,
        error="HTTP 503:\r\nService\tUnavailable",
        status=503,
        failed_at="2024-03-08T12:00:00.000Z",
    )
    assert fields["error"] == "HTTP 503: Service Unavailable"  # one line
    letter = parse("1709900000001-0", fields)
    assert (letter.id, letter.notifier, letter.event_id, letter.type) == (
        "1709900000001-0",
        "ops-hook",
        "us:ru:2",
        "advisory.changed",
    )
    assert (letter.stream_id, letter.attempts, letter.status) == ("1709900000000-0", 6, 503)
    assert letter.entry == ENTRY
    assert "entry" not in letter.row() and letter.row()["attempts"] == 6


def test_a_long_error_is_cut_and_a_missing_status_is_none() -> None:
    fields = letter_fields(notifier="n", stream_id="1-0", entry={}, attempts=1,
                           error="x" * 5000, status=None, failed_at="")  # fmt: skip
    letter = parse("2-0", fields)
    assert len(letter.error) == ERROR_CHARS and letter.status is None and letter.event_id == ""


def test_a_damaged_dead_letter_still_reads() -> None:
    letter = parse("3-0", {"notifier": "n", "attempts": "many", "entry": "{not json"})
    assert (letter.attempts, letter.entry, letter.status) == (0, {}, None)


def test_the_packaged_sample_is_the_reference_case_as_normalised_today() -> None:
    """Regenerate with ``python -m monitor.sample tests/fixtures/reference/sample-article.txt``
    when the normaliser's output changes on purpose."""
    assert sample_advisory() == normalised_sample(ARTICLE)


def test_the_sample_event_is_an_advisory_event_with_an_id_of_its_own() -> None:
    now = datetime(2024, 3, 8, 12, 0, 0, 123456, tzinfo=UTC)
    event = sample_event(now)
    advisory = event["advisory"]
    assert event["type"] == "advisory.new" and event["advisory_id"] == advisory["id"]
    assert event["event_id"] == f"{advisory['id']}:test-20240308T120000.123456Z"
    assert event["emitted_at"] == "2024-03-08T12:00:00.123Z"
    assert advisory["countries"] == ["RU"] and advisory["level"] == 4
    assert set(json_schema()["required"]) <= set(advisory)
    json.dumps(event)  # serialisable as sent
