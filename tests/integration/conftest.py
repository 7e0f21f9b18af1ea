"""Fixtures shared by the integration tests. Each fixture is self-contained."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.http_server import FeedServer
from tests.integration.redis_fixtures import (  # noqa: F401 - fixtures for every module
    each_redis_url,
    embedded_redis_url,
    keys,
    redis_client,
    redis_url,
)


@pytest.fixture
def http_server() -> Iterator[FeedServer]:
    """A loopback feed server on 127.0.0.1 with a free port, stopped after the test."""
    with FeedServer() as server:
        yield server
