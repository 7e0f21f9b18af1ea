"""The operations commands end to end: ``deliver``, ``dlq list|replay|purge``, ``notify-test``.

A loopback webhook receiver stands in for the operator's endpoint and Redis is real. The
commands run in-process through ``cli.main`` (their output captured), except ``deliver``,
which runs as the process an operator starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from monitor.cli import main
from monitor.keys import Keys
from tests.integration import redis_fixtures
from tests.integration.test_delivery import ROOT, emit, webhook_block, wipe, write_config
from tests.integration.webhook_receiver import WebhookReceiver

redis_url = redis_fixtures.redis_url
keys = redis_fixtures.keys

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def client(redis_url: str, keys: Keys) -> Iterator[redis.Redis]:
    sync = redis.Redis.from_url(redis_url)
    yield sync
    wipe(sync, keys)
    sync.close()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hook:
        monkeypatch.setenv("HOOK_SECRET", hook.secret)
        yield hook


@pytest.fixture
def config(tmp_path: Path, redis_url: str, keys: Keys, receiver: WebhookReceiver) -> Path:
    blocks = webhook_block("hook", receiver) + '[[notifiers]]\nname = "screen"\nkind = "console"\n'
    return write_config(tmp_path / "monitor.toml", redis_url, keys, blocks)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    """``monitor ARGS`` in-process: exit status, stdout, stderr."""

    def run(*argv: str | Path) -> tuple[int, str, str]:
        status = main([str(arg) for arg in argv])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def deliver(
    config: Path, receiver: WebhookReceiver, *notifiers: str, secret: bool = True
) -> subprocess.CompletedProcess[str]:
    """``monitor deliver --until-idle`` as a process; it must exit by itself. (A process, not
    ``main``: it configures logging for the whole process.)"""
    chosen = [arg for name in notifiers for arg in ("--notifier", name)]
    command = ["deliver", "--until-idle", "--config", str(config), *chosen]
    env = {k: v for k, v in os.environ.items() if k != "HOOK_SECRET"}
    if secret:
        env["HOOK_SECRET"] = receiver.secret
    return subprocess.run(
        [sys.executable, "-m", "monitor", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def dead_letter_ids(cli: Run, config: Path) -> list[str]:
    status, out, _ = cli("dlq", "list", "--json", "--config", config)
    assert status == 0
    return [json.loads(line)["id"] for line in out.splitlines()]


# --- deliver --------------------------------------------------------------------------------


def test_deliver_until_idle_delivers_everything_and_exits_0(
    config: Path, receiver: WebhookReceiver, client: redis.Redis, keys: Keys, cli: Run
) -> None:
    cli("dlq", "list", "--config", config)  # any command that loads the configuration...
    emit(client, keys, range(5))  # ...but only a poll creates the groups; deliver does too
    first = deliver(config, receiver)
    assert first.returncode == 0, first.stderr
    emit(client, keys, range(5, 8))
    second = deliver(config, receiver)
    assert second.returncode == 0, second.stderr
    assert sorted(receiver.delivered_ids()) == [f"adv-{n}:1" for n in range(5, 8)]
    assert "delivery.batch" in second.stderr and "delivered" in second.stderr
    assert second.stdout.count("advisory.new") == 3  # the console notifier's lines


def test_deliver_only_the_named_notifier(
    config: Path, receiver: WebhookReceiver, client: redis.Redis, keys: Keys
) -> None:
    deliver(config, receiver)  # creates both groups
    emit(client, keys, [1])
    done = deliver(config, receiver, "screen")
    assert done.returncode == 0 and "advisory.new" in done.stdout
    assert receiver.requests == []
    assert client.xinfo_groups(keys.events)[0].get("lag") in (1, None)  # the hook's: owed


def test_deliver_refuses_an_unknown_notifier(config: Path, cli: Run) -> None:
    status, _, err = cli("deliver", "--notifier", "hok", "--config", config)
    assert status == 2 and "no notifier 'hok'" in err and "did you mean 'hook'" in err


def test_deliver_names_a_missing_secret(config: Path, receiver: WebhookReceiver) -> None:
    done = deliver(config, receiver, secret=False)
    assert done.returncode == 2 and "$HOOK_SECRET is not set" in done.stderr


# --- dlq ------------------------------------------------------------------------------------


def test_dead_letter_list_replay_and_delivery_with_the_same_id(
    config: Path, receiver: WebhookReceiver, client: redis.Redis, keys: Keys, cli: Run
) -> None:
    """A permanent failure (410) goes to the dead letters; after the operator fixed the
    endpoint, ``dlq replay`` and a delivery run send it again with the same webhook-id."""
    deliver(config, receiver)
    emit(client, keys, [1, 2])
    receiver.gone()
    assert deliver(config, receiver, "hook").returncode == 0
    assert len(receiver.requests) == 2 and receiver.deliveries == []

    status, table, _ = cli("dlq", "list", "--config", config)
    assert status == 0
    header, *rows = table.splitlines()
    assert header.split() == ["id", "notifier", "event", "id", "attempts", "failed", "at", "error"]
    assert len(rows) == 2 and all("hook" in row and "410" in row for row in rows)
    status, out, _ = cli("dlq", "list", "--json", "--config", config)
    letters = sorted((json.loads(line) for line in out.splitlines()), key=lambda d: d["event_id"])
    assert [d["event_id"] for d in letters] == ["adv-1:1", "adv-2:1"]
    assert letters[0]["attempts"] == 1 and letters[0]["status"] == 410
    assert "endpoint is gone" in letters[0]["error"]

    receiver.recover()
    first_id = letters[0]["id"]
    status, out, _ = cli("dlq", "replay", first_id, "--config", config)
    assert (status, out.strip()) == (0, "replayed 1 dead letter")
    assert dead_letter_ids(cli, config) == [letters[1]["id"]]
    assert deliver(config, receiver, "hook").returncode == 0
    assert receiver.delivered_ids() == ["adv-1:1"]

    status, out, _ = cli("dlq", "replay", "--all", "--config", config)
    assert (status, out.strip()) == (0, "replayed 1 dead letter")
    assert deliver(config, receiver, "hook").returncode == 0
    assert receiver.delivered_ids() == ["adv-1:1", "adv-2:1"]
    requests = [r.webhook_id for r in receiver.requests]  # the two 410s, then the two replays
    assert sorted(requests[:2]) == ["adv-1:1", "adv-2:1"] and requests[2:] == ["adv-1:1", "adv-2:1"]
    assert dead_letter_ids(cli, config) == []
    status, out, _ = cli("dlq", "list", "--config", config)
    assert out.strip() == "no dead letters"


def test_replay_reports_unknown_ids_and_unconfigured_notifiers(
    config: Path, client: redis.Redis, keys: Keys, cli: Run
) -> None:
    orphan = {"notifier": "removed-hook", "event_id": "x:1", "stream_id": "1-1", "entry": "{}"}
    orphan_id = client.xadd(keys.dead, orphan).decode()  # type: ignore[arg-type]
    status, out, err = cli("dlq", "replay", orphan_id, "1-999", "--config", config)
    assert status == 1
    assert "no dead letter '1-999'" in err and "'removed-hook' is not in the configuration" in err
    assert out.strip() == "replayed 0 dead letters"
    assert client.xlen(keys.dead) == 1  # kept for the operator


def test_replay_wants_ids_or_all(config: Path, cli: Run) -> None:
    assert cli("dlq", "replay", "--config", config)[0] == 2
    assert cli("dlq", "replay", "1-1", "--all", "--config", config)[0] == 2
    assert cli("dlq", "replay", "1-1", "--notifier", "hook", "--config", config)[0] == 2


def test_purge_asks_for_yes_off_a_terminal(
    config: Path, client: redis.Redis, keys: Keys, cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        client.xadd(keys.dead, {"notifier": "hook" if n else "screen", "event_id": f"e:{n}"})
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    status, _, err = cli("dlq", "purge", "--config", config)
    assert status == 2 and "3 dead letters; add --yes" in err
    status, out, _ = cli("dlq", "purge", "--notifier", "hook", "--yes", "--config", config)
    assert (status, out.strip()) == (0, "deleted 2 dead letters")
    status, out, _ = cli("dlq", "purge", "--yes", "--config", config)
    assert (status, out.strip()) == (0, "deleted 1 dead letter")
    assert cli("dlq", "purge", "--yes", "--config", config)[1].strip() == "no dead letters"


# --- notify-test ----------------------------------------------------------------------------


def test_notify_test_sends_the_reference_case_and_prints_the_answer(
    config: Path, receiver: WebhookReceiver, cli: Run
) -> None:
    status, out, err = cli("notify-test", "hook", "--config", config)
    assert status == 0, err
    (request,) = receiver.deliveries
    assert request.verified
    data = request.payload["data"]
    assert data["type"] == "advisory.new" and data["advisory"]["countries"] == ["RU"]
    assert data["advisory"]["level"] == 4 and ":test-" in data["event_id"]
    assert out.strip() == f"hook (webhook): sent {data['event_id']}: HTTP 204"
    cli("notify-test", "hook", "--config", config)
    first, second = receiver.delivered_ids()
    assert first != second  # each test has an id of its own: a receiver does not drop it


def test_notify_test_exits_1_with_the_receivers_error(
    config: Path, receiver: WebhookReceiver, cli: Run
) -> None:
    receiver.gone()
    status, out, err = cli("notify-test", "hook", "--config", config)
    assert (status, out) == (1, "")
    assert "permanent failure (status 410)" in err and "HTTP 410: gone" in err


def test_notify_test_of_an_unknown_notifier_is_a_usage_error(config: Path, cli: Run) -> None:
    status, _, err = cli("notify-test", "nobody", "--config", config)
    assert status == 2 and "no notifier 'nobody'" in err


def test_notify_test_through_the_console(config: Path, cli: Run) -> None:
    status, out, _ = cli("notify-test", "screen", "--config", config)
    lines = out.splitlines()
    assert status == 0 and len(lines) == 2
    assert "advisory.new" in lines[0] and "RU" in lines[0]
    assert lines[1].startswith("screen (console): sent reference:") and lines[1].endswith("printed")
