"""The committed JSON Schema is the models' schema, and real advisories validate against it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main, schema_text
from monitor.models import Advisory, Area, Category, Issuer, Kind, json_schema
from monitor.normalise.api import normalise_bytes

ROOT = Path(__file__).parents[2]
COMMITTED = ROOT / "docs" / "advisory.schema.json"
ARTICLE = ROOT / "tests" / "fixtures" / "reference" / "sample-article.txt"

FULL = Advisory(
    id="test:1",
    source="test",
    kind=Kind.SECURITY_ALERT,
    title="Security Alert",
    url="https://example.org/alert",
    published=datetime(2024, 3, 7, 16, 59, tzinfo=UTC),
    issuers=(
        Issuer(country="US", name="U.S. Embassy in Moscow", level=4, advice=("avoid crowds",)),
    ),
    countries=("RU",),
    areas=(Area(name="Moscow", country="RU", lat=55.75, lon=37.62, level=4),),
    level=4,
    categories=(Category.TERRORISM,),
    expires=datetime(2024, 3, 9, 16, 59, tzinfo=UTC),
    evidence={"level": "Do not travel."},
)


@pytest.fixture(scope="module")
def validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(json_schema())
    return jsonschema.Draft202012Validator(json_schema())


def test_committed_schema_file_is_the_models_schema() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == schema_text(), (
        "docs/advisory.schema.json is stale: run `python -m monitor schema > "
        "docs/advisory.schema.json` and commit it with the model change"
    )


def test_monitor_schema_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = capsys.readouterr().out
    assert printed == schema_text()
    assert json.loads(printed) == json_schema()


def test_schema_fields_are_the_advisory_fields() -> None:
    assert list(json_schema()["properties"]) == list(Advisory.model_fields)


def test_a_normalised_advisory_validates_against_the_schema(validator: Any) -> None:
    advisories = normalise_bytes(ARTICLE.read_bytes(), source="sample-article")
    assert advisories
    for advisory in advisories:
        validator.validate(json.loads(advisory.to_json()))


def test_an_advisory_with_every_field_filled_validates(validator: Any) -> None:
    validator.validate(json.loads(FULL.to_json()))


@pytest.mark.parametrize(
    ("change", "value"),
    [("level", 5), ("kind", "rumour"), ("unexpected", "field"), ("countries", "RU")],
)
def test_the_schema_rejects_what_the_model_rejects(validator: Any, change: str, value: Any) -> None:
    record = json.loads(FULL.to_json())
    record[change] = value
    assert not validator.is_valid(record)
