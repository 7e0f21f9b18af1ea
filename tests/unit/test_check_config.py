"""``monitor check-config``: what would run, and every problem named by its key, exit 1."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.cli_service import describe
from monitor.config import load_config

Run = Callable[..., tuple[int, str, str]]

CONFIG = """
[redis]
url = "redis://127.0.0.1:6379/3"
prefix = "demo:"

[service]
grace = "2s"
health_port = 9999

[[sources]]
id = "us-state"
url = "https://travel.state.gov/_res/rss/TAsTWs.xml"
interval = "5m"

[[sources]]
id = "gdacs"
url = "https://www.gdacs.org/xml/rss.xml"
enabled = false

[[notifiers]]
name = "ops-hook"
kind = "webhook"
url = "https://hooks.example.org/advisories"
secret_env = "DEMO_HOOK_SECRET"
[notifiers.filter]
countries = ["RU", "UA"]
min_level = 3

[[notifiers]]
name = "ops-mail"
kind = "email"
smtp_url = "smtp+starttls://alerts@mail.example.org:587"
password_env = "DEMO_SMTP_PASSWORD"
from = "alerts@example.org"
to = ["ops@example.org"]
"""


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def _run(*argv: str | Path) -> tuple[int, str, str]:
        status = main([str(arg) for arg in argv])
        out, err = capsys.readouterr()
        return status, out, err

    return _run


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    return path


def test_describe_lists_redis_sources_notifiers_and_filters(config_path: Path) -> None:
    env = {"DEMO_HOOK_SECRET": "whsec_c2VjcmV0", "DEMO_SMTP_PASSWORD": ""}
    found = describe(load_config(config_path, env={}), env)
    assert found["redis"] == {
        "target": "redis://127.0.0.1:6379/3",
        "prefix": "demo:",
        "stream_maxlen": 100000,
    }
    assert found["service"] == {
        "grace": "2s",
        "expiry_every": "5s",
        "health": "http://127.0.0.1:9999/healthz",
    }
    assert [(s["id"], s["interval"], s["enabled"]) for s in found["sources"]] == [
        ("us-state", "5m", True),
        ("gdacs", "5m", False),
    ]
    hook, mail = found["notifiers"]
    assert hook["filter"] == {"countries": ["RU", "UA"], "min_level": 3}
    assert hook["secrets"] == {"$DEMO_HOOK_SECRET": True}
    assert mail["target"] == "smtp+starttls://***@mail.example.org:587 -> ops@example.org"
    assert mail["secrets"] == {"$DEMO_SMTP_PASSWORD": False}
    assert mail["filter"] == {}


def test_describe_never_holds_a_secret_value(config_path: Path) -> None:
    env = {"DEMO_HOOK_SECRET": "whsec_c2VjcmV0", "DEMO_SMTP_PASSWORD": "hunter2"}
    text = json.dumps(describe(load_config(config_path, env={}), env))
    assert "hunter2" not in text and "c2VjcmV0" not in text


def test_embedded_redis_is_named_with_its_data_directory(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("", encoding="utf-8")
    found = describe(load_config(path, env={}), {})
    assert found["redis"]["target"] == "embedded server, data in var/"
    assert [n["kind"] for n in found["notifiers"]] == ["console"]


def test_a_good_configuration_prints_what_would_run_and_exits_0(
    run: Run, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_HOOK_SECRET", "whsec_c2VjcmV0")
    monkeypatch.setenv("DEMO_SMTP_PASSWORD", "hunter2")
    status, out, err = run("check-config", "--config", config_path)
    assert (status, err) == (0, "")
    assert "sources: 1 enabled of 2" in out
    assert "  us-state  every 5m  auto  https://travel.state.gov/_res/rss/TAsTWs.xml" in out
    assert "    filter: countries=['RU', 'UA'], min_level=3" in out
    assert "secret $DEMO_SMTP_PASSWORD: set" in out
    assert "hunter2" not in out


def test_a_missing_secret_is_exit_1_naming_the_notifier(
    run: Run, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_HOOK_SECRET", "whsec_c2VjcmV0")
    monkeypatch.delenv("DEMO_SMTP_PASSWORD", raising=False)
    status, out, err = run("check-config", "--config", config_path)
    assert status == 1
    assert "secret $DEMO_SMTP_PASSWORD: NOT SET" in out
    assert f"{config_path}: notifiers[1]: notifier 'ops-mail':" in err
    assert "$DEMO_SMTP_PASSWORD is not set" in err


def test_json_output_carries_the_problems(
    run: Run, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_HOOK_SECRET", "whsec_c2VjcmV0")
    monkeypatch.delenv("DEMO_SMTP_PASSWORD", raising=False)
    status, out, _ = run("check-config", "--config", config_path, "--json")
    found = json.loads(out)
    assert status == 1
    assert [s["id"] for s in found["sources"]] == ["us-state", "gdacs"]
    assert len(found["problems"]) == 1 and "ops-mail" in found["problems"][0]


def test_an_invalid_configuration_is_exit_1_naming_each_key(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[service]\ngrace = "later"\n[[sources]]\nid = "x"\nurl = "ftp://x"\n', encoding="utf-8"
    )
    status, out, err = run("check-config", "--config", path)
    assert (status, out) == (1, "")
    assert "service.grace" in err and "sources[0].url" in err


def test_run_refuses_an_invalid_configuration_before_starting(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[service]\nhealth_port = 99999\n", encoding="utf-8")
    status, _, err = run("run", "--config", path)
    assert status == 2
    assert "service.health_port" in err


def test_the_cli_offers_exactly_the_daemons_roles() -> None:
    from monitor import app, cli_service  # the CLI keeps its own copy to start fast

    assert cli_service.ROLES == app.ROLES


def test_run_accepts_only_the_three_roles(run: Run) -> None:
    status, _, err = run("run", "--role", "everything")
    assert status == 2
    assert "invalid choice: 'everything'" in err
