"""Key names: one prefix, ids kept verbatim, and the Cluster hash-tag rule."""

from __future__ import annotations

import pytest

from monitor.keys import DEFAULT_PREFIX, Keys

ADVISORY_ID = "us-state:https://travel.state.gov/content/travel/en/advisories/ru.html?x=1"


def test_default_layout() -> None:
    keys = Keys()
    assert keys.prefix == DEFAULT_PREFIX == "monitor:"
    assert keys.events == "monitor:events"
    assert keys.dead == "monitor:dead"
    assert keys.sources == "monitor:sources"
    assert keys.source("gdacs") == "monitor:source:gdacs"
    assert keys.lease("gdacs") == "monitor:lease:gdacs"
    assert keys.items("gdacs") == "monitor:items:gdacs"
    assert keys.discovered("govuk") == "monitor:discovered:govuk"


def test_ids_go_into_keys_verbatim() -> None:
    """Colons, slashes and query strings are kept: Redis keys are binary safe."""
    assert Keys().advisory(ADVISORY_ID) == f"monitor:advisory:{ADVISORY_ID}"


def test_every_name_carries_the_prefix() -> None:
    keys = Keys("{prod}:")
    names = [
        keys.events,
        keys.dead,
        keys.sources,
        keys.advisory("a"),
        keys.source("s"),
        keys.lease("s"),
        keys.items("s"),
        keys.discovered("s"),
    ]
    assert all(name.startswith("{prod}:") for name in names)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    ("prefix", "single_slot"),
    [
        ("monitor:", False),
        ("{monitor}:", True),
        ("app:{monitor}:", True),
        ("{}:", False),  # an empty tag is no tag: Cluster hashes the whole key
        ("{monitor:", False),  # the closing brace would come from an id
        ("monitor}{x}:", True),
    ],
)
def test_single_slot_needs_a_hash_tag_inside_the_prefix(prefix: str, single_slot: bool) -> None:
    assert Keys(prefix).single_slot is single_slot
