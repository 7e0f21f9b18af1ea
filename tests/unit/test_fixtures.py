"""Every fixture file, through the one entry point, gives valid, stable advisories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from monitor.models import Kind, json_schema
from monitor.normalise.api import normalise_bytes

FIXTURES = Path(__file__).parents[1] / "fixtures"
INPUTS = sorted(
    p
    for p in (*(FIXTURES / "feeds").iterdir(), *(FIXTURES / "examples").iterdir())
    if p.suffix in {".xml", ".json", ".txt"} and not p.name.endswith(".expected.json")
)
EXPECTED_COUNTS = {
    "canada-index-alpha-eng-2014.json": 229,
    "gdacs-rss.xml": 16,
    "us-state-travel-advisories.rss.xml": 7,
    "cap-index-us-nws.atom.xml": 2,
}
VALIDATOR = Draft202012Validator(json_schema())


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_fixture_normalises_to_schema_valid_advisories_with_unique_ids(path: Path) -> None:
    advisories = normalise_bytes(path.read_bytes(), source="fixture")
    assert len(advisories) == EXPECTED_COUNTS.get(path.name, 1)
    ids = [a.id for a in advisories]
    assert len(set(ids)) == len(ids)
    for advisory in advisories:
        VALIDATOR.validate(json.loads(advisory.to_json()))
        assert advisory.kind is not Kind.OTHER
        assert advisory.countries, f"{advisory.id} has no subject country"
        assert len(advisory.fingerprint) == len(advisory.content_hash) == 64


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_fixture_ids_do_not_depend_on_the_run(path: Path) -> None:
    first = [a.id for a in normalise_bytes(path.read_bytes(), source="fixture")]
    second = [a.id for a in normalise_bytes(path.read_bytes(), source="fixture")]
    assert first == second
