"""``monitor demo`` end to end, as a newcomer runs it: one command, offline, exit 0, and the
level change it makes shown arriving at the webhook with a verified signature; and it runs
on a Redis of its own, which it stops and removes, whatever the environment points at."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from monitor.demo import EDIT

ROOT = Path(__file__).parents[2]


@pytest.fixture
def short_tmpdir() -> Iterator[Path]:
    """A short TMPDIR for the demo, so where its Redis lived can be looked at afterwards."""
    path = Path(tempfile.mkdtemp(prefix="md-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _processes_under(directory: Path) -> list[str]:
    """Command lines of running processes that mention ``directory`` (a leftover Redis)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(directory) in text:
            found.append(text)
    return found


def test_demo_shows_a_level_change_arrive_signed_and_leaves_nothing_behind(
    redis_url: str, tmp_path: Path, short_tmpdir: Path
) -> None:
    prefix = f"demo-test-{uuid.uuid4().hex[:12]}:"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TMPDIR": str(short_tmpdir),
        # Were the demo to read the environment, it would write here; it must not.
        "MONITOR_REDIS_URL": redis_url,
        "MONITOR_REDIS_PREFIX": prefix,
    }

    result = subprocess.run(
        [sys.executable, "-m", "monitor", "demo", "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("monitor demo: done in"), out  # --quiet: the summary only
    assert "advisory.changed  level 2 → 3" in out
    assert f"event id          {EDIT.advisory_id}:2" in out
    assert f"webhook-id        {EDIT.advisory_id}:2" in out
    assert "signature verified" in out
    assert "detected  25 advisories" in out
    assert "advisory.new 25" in out
    assert "Italy - Level 3: Reconsider Travel" in out

    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match=f"{prefix}*", count=1000)) == []
    finally:
        client.close()
    assert list(tmp_path.iterdir()) == []  # no var/ in the directory it ran from
    assert list(short_tmpdir.iterdir()) == []  # its Redis directory removed
    assert _processes_under(short_tmpdir) == []  # and its redis-server stopped
