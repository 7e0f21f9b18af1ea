"""The ``monitor`` command line: one JSON line per advisory, one stderr line per bad input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor import cli
from monitor.cli import main
from monitor.models import Advisory
from monitor.normalise import api  # imported up front: tests below patch it, or measure memory
from monitor.normalise.inputs import FORMAT_NAMES

FIXTURES = Path(__file__).parents[1] / "fixtures"
ARTICLE = FIXTURES / "reference" / "sample-article.txt"
RSS_FIXTURE = FIXTURES / "feeds" / "us-state-travel-advisories.rss.xml"
FIFTY_MB = 50 * 1024 * 1024

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """Call ``main`` in-process; answer its exit status, stdout and stderr."""

    def _run(*argv: str | Path) -> tuple[int, str, str]:
        status = main([str(arg) for arg in argv])
        out, err = capsys.readouterr()
        return status, out, err

    return _run


def _write(data: bytes) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        path = tmp_path / "input"
        path.write_bytes(data)
        return path

    return make


def _sparse_50_mb(tmp_path: Path) -> Path:
    path = tmp_path / "huge.xml"
    with path.open("wb") as stream:
        stream.truncate(FIFTY_MB)  # sparse: no 50 MB written to disk or memory
    return path


def _inside_a_file(tmp_path: Path) -> Path:
    (tmp_path / "file").write_text("x")
    return tmp_path / "file" / "child.xml"


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    b"<rss>&b;</rss>"
)
XXE = b'<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss>&x;</rss>'

BAD_INPUTS: list[tuple[str, Callable[[Path], Path], str]] = [
    ("missing file", lambda tmp: tmp / "missing.xml", "No such file or directory"),
    ("directory", lambda tmp: tmp, "Is a directory"),
    ("path through a file", _inside_a_file, "Not a directory"),
    ("empty", _write(b""), "input is empty"),
    ("NUL bytes", _write(b"\x00" * 64), "input contains NUL bytes: it looks like binary data"),
    ("PNG image", _write(b"\x89PNG\r\n\x1a\n\x00\x00"), "input looks like a PNG image"),
    ("truncated feed", _write(RSS_FIXTURE.read_bytes()[:5000]), "truncated: root element <rss>"),
    ("billion laughs", _write(BILLION_LAUGHS), "XML declares entities (<!ENTITY>): refused"),
    ("XXE", _write(XXE), "XML declares entities (<!ENTITY>): refused"),
    ("empty JSON", _write(b"{}"), "JSON is neither a GOV.UK travel_advice item nor Global"),
    ("unknown XML", _write(b"<note/>"), "XML root element <note> is not RSS, Atom, RDF or CAP"),
    ("50 MB file", _sparse_50_mb, "input is too large: 52,428,800 bytes, over the limit"),
]


@pytest.mark.parametrize(
    ("name", "make", "problem"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS]
)
def test_a_bad_input_is_one_stderr_line_and_exit_status_2(
    run: Run, tmp_path: Path, name: str, make: Callable[[Path], Path], problem: str
) -> None:
    path = make(tmp_path)
    status, out, err = run("normalise", path)
    assert (status, out) == (2, "")
    assert err.startswith(f"monitor: {path}: {problem}")
    assert err.count("\n") == 1 and err.endswith("\n")


def test_an_unreadable_file_is_reported(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "secret.xml"
    path.write_bytes(RSS_FIXTURE.read_bytes())
    path.chmod(0)
    if os.access(path, os.R_OK):
        pytest.skip("running as root: permissions do not stop reading")
    assert run("normalise", path) == (2, "", f"monitor: {path}: Permission denied\n")


def test_a_permission_error_from_open_is_reported(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Also shown where the test runs as root, for whom chmod 0 does not stop reading.
    def refuse(self: Path, *args: object, **kwargs: object) -> io.BufferedReader:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    path = tmp_path / "secret.xml"
    assert run("normalise", path) == (2, "", f"monitor: {path}: Permission denied\n")


def test_a_50_mb_file_is_refused_without_being_read(run: Run, tmp_path: Path) -> None:
    path = _sparse_50_mb(tmp_path)
    tracemalloc.start()
    try:
        status, _, err = run("normalise", path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 2 and "too large" in err
    assert peak < 4 * 1024 * 1024


class EndlessStream(io.RawIOBase):
    """A pipe that never ends: reading it all would never return."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        buffer[:] = b"a" * len(buffer)
        return len(buffer)


def _stdin(monkeypatch: pytest.MonkeyPatch, raw: io.RawIOBase | bytes) -> None:
    stream = io.BufferedReader(raw) if isinstance(raw, io.RawIOBase) else io.BytesIO(raw)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stream))


def test_stdin_is_read_with_a_bound(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    _stdin(monkeypatch, EndlessStream())
    status, out, err = run("normalise", "-")
    assert (status, out) == (2, "")
    assert err == "monitor: -: input is too large: over the limit of 20,971,520 bytes (20 MiB)\n"


def test_an_empty_stdin_is_reported_as_dash(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    _stdin(monkeypatch, b"  \n")
    assert run("normalise", "-") == (2, "", "monitor: -: input is empty\n")


def test_every_bad_input_is_reported_in_order_and_the_rest_still_run(
    run: Run, tmp_path: Path
) -> None:
    empty = _write(b"")(tmp_path)
    missing = tmp_path / "missing.json"
    status, out, err = run("normalise", missing, empty)
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        f"monitor: {missing}: No such file or directory",
        f"monitor: {empty}: input is empty",
    ]


def test_an_unexpected_normaliser_error_is_one_line_naming_the_file(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(data: bytes, **kwargs: object) -> list[Advisory]:
        raise RuntimeError("adapter bug\non two lines")

    monkeypatch.setattr(api, "normalise_bytes", explode)
    status, out, err = run("normalise", ARTICLE, ARTICLE)
    assert (status, out) == (2, "")
    line = f"monitor: {ARTICLE}: internal error: RuntimeError: adapter bug on two lines"
    assert err.splitlines() == [line, line]


def test_normalise_prints_one_schema_shaped_json_object_per_advisory(run: Run) -> None:
    status, out, err = run("normalise", ARTICLE)
    assert (status, err) == (0, "")
    records = [json.loads(line) for line in out.splitlines()]
    assert records
    for record in records:
        assert list(record) == list(Advisory.model_fields)
        assert record["source"] == "sample-article"
        assert record["id"].startswith("sample-article:")


def test_a_bad_input_does_not_stop_a_good_one(run: Run, tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"
    status, out, err = run("normalise", missing, ARTICLE)
    assert status == 2
    assert err == f"monitor: {missing}: No such file or directory\n"
    assert out and all(json.loads(line)["source"] == "sample-article" for line in out.splitlines())


def test_source_format_and_issuer_options_reach_the_normaliser(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, object]] = []

    def record(data: bytes, **kwargs: object) -> list[Advisory]:
        calls.append(kwargs)
        return []

    monkeypatch.setattr(api, "normalise_bytes", record)
    _stdin(monkeypatch, b"date 2024-03-08 x")
    argv = ["normalise", "-", str(ARTICLE), "--format", "text", "--issuer", "ca"]
    assert run(*argv) == (0, "", "")
    assert run("normalise", ARTICLE, "--source", "reuters") == (0, "", "")
    assert calls == [
        {"source": "stdin", "fmt": "text", "issuer": "CA"},
        {"source": "sample-article", "fmt": "text", "issuer": "CA"},
        {"source": "reuters", "fmt": "auto", "issuer": None},
    ]


def test_format_choices_are_the_normalisers_formats() -> None:
    assert {fmt.value for fmt in api.Format} == {"auto", *FORMAT_NAMES}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["normalise"], "the following arguments are required: PATH"),
        (["normalise", "x", "--issuer", "usa"], "'usa' is not an ISO 3166-1 alpha-2 country code"),
        (["normalise", "x", "--format", "atom"], "invalid choice: 'atom'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["poll", "--once", "--config", "/nonexistent/monitor.toml"], "/nonexistent/monitor.toml"),
        (["tail", "--count", "-1", "--config", "/nonexistent/monitor.toml"], "monitor.toml"),
    ],
)
def test_usage_errors_exit_2_with_a_message(run: Run, argv: list[str], message: str) -> None:
    status, out, err = run(*argv)
    assert (status, out) == (2, "")
    assert message in err and "Traceback" not in err


def test_help_exits_0(run: Run) -> None:
    status, out, _ = run("normalise", "--help")
    assert status == 0 and "--source" in out


def test_python_dash_m_monitor_reports_a_bad_input_in_one_line(tmp_path: Path) -> None:
    empty = _write(b"")(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "normalise", str(empty)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"monitor: {empty}: input is empty"]
    assert "Traceback" not in result.stderr


def test_read_input_is_bounded_even_for_a_file_that_grows(tmp_path: Path) -> None:
    # A FIFO reports no size: the bounded read is what protects the memory.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(
        [sys.executable, "-c", f"open({str(fifo)!r}, 'wb').write(b'x' * {FIFTY_MB})"],
        stderr=subprocess.DEVNULL,
    )
    try:
        with pytest.raises(cli.InputError, match="over the limit"):
            cli.read_input(str(fifo))
    finally:
        writer.kill()
        writer.wait(timeout=30)
