"""``events.decode_entry``: a stream entry, as Redis answers it, read back into values.

The JSON fields are read by a fast decoder with the standard library as the reference: every
test here holds with the fast decoder and without it (``standard_only``), and the property
tests say that the values are ``json.loads``'s for any JSON and any text at all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor import events


@pytest.fixture(params=["fast decoder", "standard library only"])
def decoders(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "standard library only":
        monkeypatch.setattr(events, "_FAST_JSON", None)
    yield request.param


def reference(text: str) -> Any:
    """What the JSON fields must read as: ``json.loads``, or the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def test_bytes_keys_and_values_read_as_text_and_values(decoders: str) -> None:
    entry = {
        b"type": b"advisory.changed",
        b"event_id": b"us-state:ru:2",
        b"version": b"2",
        b"emitted_at": b"2024-03-08T12:00:00.000Z",
        b"changes": b'[{"field":"level","old":3,"new":4}]',
        b"advisory": '{"id":"us-state:ru","title":"Russia – Level 4","level":4}'.encode(),
    }
    assert events.decode_entry(entry) == {
        "type": "advisory.changed",
        "event_id": "us-state:ru:2",
        "version": 2,
        "emitted_at": "2024-03-08T12:00:00.000Z",
        "changes": [{"field": "level", "old": 3, "new": 4}],
        "advisory": {"id": "us-state:ru", "title": "Russia – Level 4", "level": 4},
    }


def test_str_keys_and_values_read_alike(decoders: str) -> None:
    entry = {"type": "advisory.new", "version": "1", "changes": "[]", "advisory": '{"a": [1]}'}
    assert events.decode_entry(entry) == {
        "type": "advisory.new",
        "version": 1,
        "changes": [],
        "advisory": {"a": [1]},
    }


def test_bytes_and_str_keys_mix_in_one_entry(decoders: str) -> None:
    entry: dict[Any, Any] = {b"type": b"source.failing", "consecutive_failures": "3"}
    assert events.decode_entry(entry) == {"type": "source.failing", "consecutive_failures": 3}


@pytest.mark.parametrize("text", ["{not json", "", "[1,]", "null null", "{'a': 1}"])
@pytest.mark.parametrize("as_bytes", [True, False])
def test_json_fields_that_do_not_parse_stay_strings(
    decoders: str, text: str, as_bytes: bool
) -> None:
    raw = text.encode() if as_bytes else text
    decoded = events.decode_entry({b"advisory": raw, b"changes": raw})
    assert decoded == {"advisory": text, "changes": text}


def test_json_only_the_standard_library_reads_reads_as_it_does(decoders: str) -> None:
    decoded = events.decode_entry(
        {b"advisory": b'{"x": Infinity, "y": -Infinity, "z": 1e400}', b"changes": b"[NaN]"}
    )
    assert decoded["advisory"] == {"x": math.inf, "y": -math.inf, "z": math.inf}
    assert math.isnan(decoded["changes"][0])


def test_lone_surrogates_and_big_integers_read_as_the_standard_library_reads_them(
    decoders: str,
) -> None:
    big = 2**80
    decoded = events.decode_entry({"advisory": f'{{"s": "\\ud800", "n": {big}, "m": -{big}}}'})
    assert decoded["advisory"] == {"s": "\ud800", "n": big, "m": -big}
    assert isinstance(decoded["advisory"]["n"], int)


def test_invalid_utf8_in_a_json_field_is_an_error_as_before(decoders: str) -> None:
    with pytest.raises(UnicodeDecodeError):
        events.decode_entry({b"advisory": b'{"a": "\xff"}'})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(b"7", 7), (b"-2", -2), (b"0", 0), (b"v2", "v2"), (b"", ""), (b"1.5", "1.5")],
)
def test_counts_read_as_ints_when_they_are_ints(decoders: str, raw: bytes, expected: Any) -> None:
    decoded = events.decode_entry({b"version": raw, b"consecutive_failures": raw})
    assert decoded == {"version": expected, "consecutive_failures": expected}


def test_unknown_fields_pass_through_as_strings(decoders: str) -> None:
    entry: dict[Any, Any] = {
        b"type": b"source.silent",
        b"silent_for": b"3600",
        "detail": "feed answered 503",
        b"extra": b'{"looks": "like json"}',
    }
    assert events.decode_entry(entry) == {
        "type": "source.silent",
        "silent_for": "3600",
        "detail": "feed answered 503",
        "extra": '{"looks": "like json"}',
    }


def test_what_advisory_event_writes_reads_back() -> None:
    changes = [{"field": "countries", "added": ["UA"], "removed": []}]
    fields = events.advisory_event(
        advisory_id="a:1",
        source="s",
        version=3,
        msg_type="update",
        advisory_json='{"id": "a:1", "countries": ["RU", "UA"]}',
        changes=changes,
        emitted_at=datetime(2024, 3, 8, 12, tzinfo=UTC),
    )
    decoded = events.decode_entry({k.encode(): v.encode() for k, v in fields.items()})
    assert decoded["version"] == 3
    assert decoded["changes"] == changes
    assert decoded["advisory"] == {"id": "a:1", "countries": ["RU", "UA"]}
    assert decoded["type"] == events.ADVISORY_CHANGED


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values, st.booleans())
def test_any_json_reads_as_json_loads_reads_it(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    decoded = events.decode_entry({b"advisory": text.encode()})
    assert decoded["advisory"] == json.loads(text)
    assert json.dumps(decoded["advisory"]) == json.dumps(json.loads(text))


@given(st.text())
def test_any_text_reads_as_the_reference(text: str) -> None:
    assert events.decode_entry({"changes": text}) == {"changes": reference(text)}
