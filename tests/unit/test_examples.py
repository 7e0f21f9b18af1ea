"""Every fact of the reference case and of each worked example holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.models import Advisory
from monitor.normalise.api import normalise_bytes
from tests.facts import check_facts

FIXTURES = Path(__file__).parents[1] / "fixtures"
EXAMPLES = sorted((FIXTURES / "examples").glob("*.expected.json"))


def _input_for(expected: Path) -> Path:
    stem = expected.name.removesuffix(".expected.json")
    (found,) = [p for p in expected.parent.glob(f"{stem}.*") if not p.name.endswith(".json")]
    return found


def _single(path: Path) -> Advisory:
    advisories = normalise_bytes(path.read_bytes(), source=path.stem)
    assert len(advisories) == 1, f"{path.name} gave {len(advisories)} advisories"
    return advisories[0]


def test_reference_article_normalises_to_every_expected_fact() -> None:
    facts = json.loads((FIXTURES / "reference" / "sample-article.expected.json").read_text())
    advisory = _single(FIXTURES / "reference" / "sample-article.txt")
    assert check_facts(advisory, facts, day_slack=0) == []


@pytest.mark.parametrize("expected", EXAMPLES, ids=lambda p: p.name.split(".")[0])
def test_worked_example_yields_every_expected_fact(expected: Path) -> None:
    facts = json.loads(expected.read_text())
    advisory = _single(_input_for(expected))
    assert check_facts(advisory, facts, day_slack=1) == []


def test_the_examples_are_all_collected() -> None:
    assert len(EXAMPLES) == 8


def test_checker_reports_a_wrong_fact() -> None:
    advisory = _single(FIXTURES / "reference" / "sample-article.txt")
    wrong = {"countries_exactly": ["US"], "level": 2, "issuer_advice_contains": {"GB": ["x"]}}
    problems = check_facts(advisory, wrong)
    assert len(problems) == 3
