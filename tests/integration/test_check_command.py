"""``monitor check``, the container health check, against a real health endpoint."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog

from monitor.cli import main
from monitor.cli_check import health_url
from monitor.config import ServiceSettings
from monitor.health import Health, HealthServer
from monitor.metrics import Metrics

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(autouse=True)
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """The endpoint's log lines, kept out of the output (structlog unconfigured prints them)."""
    with structlog.testing.capture_logs() as captured:
        yield captured


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _no_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell's ``MONITOR_HEALTH_*`` would override the files these tests write."""
    for name in ("MONITOR_HEALTH_HOST", "MONITOR_HEALTH_PORT", "MONITOR_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*argv: str | Path) -> tuple[int, str, str]:
        status = main([str(arg) for arg in argv])
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def health(clock: Clock) -> Health:
    state = Health(role="all", stale_after=10.0, clock=clock)
    state.redis(True)
    return state


@pytest.fixture
def port(health: Health) -> Iterator[int]:
    server = HealthServer("127.0.0.1", 0, health, Metrics())
    bound = server.start()
    try:
        yield bound
    finally:
        server.stop()


def config(tmp_path: Path, port: int, host: str = "127.0.0.1") -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(f'[service]\nhealth_host = "{host}"\nhealth_port = {port}\n', encoding="utf-8")
    return path


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_healthy_daemon_exits_0_and_prints_ok(cli: Run, tmp_path: Path, port: int) -> None:
    assert cli("check", "--config", config(tmp_path, port)) == (0, "ok\n", "")


def test_a_wildcard_listen_address_is_asked_on_loopback(
    cli: Run, tmp_path: Path, port: int
) -> None:
    assert cli("check", "--config", config(tmp_path, port, host="0.0.0.0"))[0] == 0


def test_a_stale_daemon_exits_1_with_the_reason(
    cli: Run, tmp_path: Path, port: int, clock: Clock
) -> None:
    clock.now += 30

    status, out, _ = cli("check", "--config", config(tmp_path, port))

    assert status == 1
    assert out == "unhealthy: event loop stalled: no heartbeat for 30.0s\n"


def test_every_reason_is_on_one_line(
    cli: Run, tmp_path: Path, port: int, health: Health, clock: Clock
) -> None:
    clock.now += 30
    health.redis(False, "refused")
    health.stopping()

    status, out, _ = cli("check", "--config", config(tmp_path, port))

    assert status == 1
    assert out.count("\n") == 1
    assert "no heartbeat" in out
    assert "redis unreachable: refused" in out
    assert "shutting down" in out


def test_nothing_listening_exits_1(cli: Run, tmp_path: Path) -> None:
    status, out, _ = cli("check", "--config", config(tmp_path, closed_port()))

    assert status == 1
    assert out.startswith("unreachable: http://127.0.0.1:")
    assert out.endswith(": connection refused\n")


def test_a_silent_endpoint_exits_1_after_the_timeout(cli: Run, tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts (the kernel's backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        path = config(tmp_path, silent.getsockname()[1])
        status, out, _ = cli("check", "--config", path, "--timeout", "0.2")

    assert status == 1
    assert out.endswith(": no answer in time\n")


def test_something_that_does_not_speak_http_exits_1_without_a_traceback(
    cli: Run, tmp_path: Path
) -> None:
    with socket.socket() as other:  # another service on the health port
        other.bind(("127.0.0.1", 0))
        other.listen(1)

        def answer() -> None:
            conn, _ = other.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"220 mail.example.org ESMTP ready\r\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        status, out, err = cli("check", "--config", config(tmp_path, other.getsockname()[1]))
        thread.join(5)

    assert (status, err) == (1, "")
    assert "did not answer in HTTP (BadStatusLine" in out


def test_an_endpoint_that_is_turned_off_exits_2(cli: Run, tmp_path: Path) -> None:
    status, out, err = cli("check", "--config", config(tmp_path, -1))

    assert (status, out) == (2, "")
    assert "turned off" in err


def test_a_port_picked_at_start_needs_url(cli: Run, tmp_path: Path, port: int) -> None:
    status, _, err = cli("check", "--config", config(tmp_path, 0))
    assert status == 2
    assert "--url" in err

    url = f"http://127.0.0.1:{port}/healthz"
    assert cli("check", "--config", config(tmp_path, 0), "--url", url) == (0, "ok\n", "")


def test_url_needs_no_configuration(cli: Run, tmp_path: Path, port: int) -> None:
    missing = tmp_path / "nowhere.toml"
    url = f"http://127.0.0.1:{port}/healthz"
    assert cli("check", "--config", missing, "--url", url) == (0, "ok\n", "")


def test_a_configuration_error_exits_2(cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text("[service]\nhealth_port = 70000\n", encoding="utf-8")

    status, out, err = cli("check", "--config", path)

    assert (status, out) == (2, "")
    assert "service.health_port" in err


def test_a_missing_configuration_file_exits_2(cli: Run, tmp_path: Path) -> None:
    assert cli("check", "--config", tmp_path / "nowhere.toml")[0] == 2


def test_a_url_that_is_not_http_exits_2(cli: Run) -> None:
    status, _, err = cli("check", "--url", "file:///etc/passwd")
    assert status == 2
    assert "not an http(s) URL" in err


def test_an_answer_that_is_not_a_health_report_exits_1(cli: Run, port: int) -> None:
    status, out, _ = cli("check", "--url", f"http://127.0.0.1:{port}/metrics")
    assert (status, out) == (1, "unhealthy: HTTP 200, not a health report\n")


@pytest.mark.parametrize("timeout", ["0", "-1", "soon", "301"])
def test_a_bad_timeout_is_a_usage_error(cli: Run, timeout: str) -> None:
    assert cli("check", "--url", "http://127.0.0.1:1/healthz", "--timeout", timeout)[0] == 2


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:9180/healthz"),
        ("0.0.0.0", "http://127.0.0.1:9180/healthz"),
        ("::", "http://127.0.0.1:9180/healthz"),
        ("::1", "http://[::1]:9180/healthz"),
        ("monitor.internal", "http://monitor.internal:9180/healthz"),
    ],
)
def test_health_url_of_the_configured_listener(host: str, url: str) -> None:
    assert health_url(ServiceSettings(health_host=host, health_port=9180)) == url
