"""The one log setup: JSON lines off a terminal, library records through the same renderer."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from monitor.logging import configure, get_logger


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_json_lines_carry_event_level_time_and_logger_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = get_logger("monitor.poller")  # made before configure, as module loggers are
    configure(json=True)
    log.info("poll.done", source="us-state", new=2, duration=0.25)
    (line,) = lines(capsys.readouterr().err)
    assert line["event"] == "poll.done" and line["logger"] == "monitor.poller"
    assert (line["level"], line["source"], line["new"]) == ("info", "us-state", 2)
    assert str(line["timestamp"]).endswith("Z")


def test_library_warnings_are_json_too_and_their_info_lines_are_dropped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure(json=True)
    logging.getLogger("httpx").info("HTTP Request: GET https://example.org/?token=abc")
    logging.getLogger("apscheduler.scheduler").warning("job %s missed by %s", "x", 3)
    (line,) = lines(capsys.readouterr().err)
    assert line == {
        "event": "job x missed by 3",
        "logger": "apscheduler.scheduler",
        "level": "warning",
        "timestamp": line["timestamp"],
    }


def test_a_library_exception_keeps_its_traceback_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure(json=True)
    try:
        raise ValueError("bad frame")
    except ValueError:
        logging.getLogger("asyncio").exception("task failed")
    (line,) = lines(capsys.readouterr().err)
    assert "ValueError: bad frame" in str(line["exception"])


def test_configuring_twice_does_not_print_library_lines_twice(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure(json=True)
    configure(json=True)
    logging.getLogger("asyncio").error("once")
    assert len(lines(capsys.readouterr().err)) == 1


def test_console_output_is_readable_text_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure(json=False)
    get_logger("monitor.delivery").info("delivery.batch", notifier="ops-hook", delivered=3)
    err = capsys.readouterr().err
    assert "delivery.batch" in err and "notifier=ops-hook" in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err)
