"""Notifiers in the configuration: the issue's TOML shape, the console default, a message for
every mistake, and no secret ever read from (or echoed out of) the file."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from monitor.config import (
    ADVISORY_KINDS,
    CATEGORIES,
    CONSOLE_NOTIFIER,
    NOTIFIER_KINDS,
    ConfigError,
    Filter,
    NotifierConfig,
    load_config,
)
from monitor.events import EVENT_TYPES
from monitor.models import Category, Kind

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "monitor.toml"

ISSUE_EXAMPLE = """\
[[notifiers]]
name = "ops-hook"                 # required, unique: also the consumer group's name
kind = "webhook"                  # webhook | email | pubsub | console | apprise
url = "https://example.org/hook"  # webhook endpoint; apprise URL for kind = "apprise"
secret_env = "OPS_HOOK_SECRET"    # environment variable holding the secret ("whsec_" + base64)
[notifiers.filter]
countries = ["RU", "UA"]          # any of; empty or absent = all
min_level = 3
categories = ["terrorism"]
issuers = ["US", "GB"]
kinds = ["security_alert", "travel_advisory"]
events = ["advisory.new", "advisory.changed"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> tuple[NotifierConfig, ...]:
    return load_config(write(tmp_path, text), env={}).notifiers


def problems(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env={})
    return [(p.key, p.message) for p in caught.value.problems]


def test_the_issue_example_loads(tmp_path: Path) -> None:
    assert load(tmp_path, ISSUE_EXAMPLE) == (
        NotifierConfig(
            name="ops-hook",
            kind="webhook",
            url="https://example.org/hook",
            secret_env="OPS_HOOK_SECRET",
            filter=Filter(
                countries=("RU", "UA"),
                min_level=3,
                categories=("terrorism",),
                issuers=("US", "GB"),
                kinds=("security_alert", "travel_advisory"),
                events=("advisory.new", "advisory.changed"),
            ),
        ),
    )


def test_every_kind_with_every_key(tmp_path: Path) -> None:
    notifiers = load(
        tmp_path,
        """\
        [[notifiers]]
        name = "ops-mail"
        kind = "email"
        smtp_url = "smtp+starttls://alerts@mail.example.org:587"
        password_env = "OPS_SMTP_PASSWORD"
        from = "Advisory Monitor <alerts@example.org>"
        to = ["ops@example.org", "root@localhost"]
        digest = "1h"
        timeout = "30s"
        retry = ["1s", "1m", 600]
        concurrency = 2

        [[notifiers]]
        name = "chat.token-in-env"
        kind = "apprise"
        secret_env = "TEAM_CHAT_URL"

        [[notifiers]]
        name = "chat_plain"
        kind = "apprise"
        url = "json://127.0.0.1:8080/hook"

        [[notifiers]]
        name = "mirror"
        kind = "pubsub"
        retry = []

        [[notifiers]]
        name = "console"
        kind = "console"
        [notifiers.filter]
        events = ["advisory.new", "source.failing"]
        """,
    )
    assert notifiers == (
        NotifierConfig(
            name="ops-mail",
            kind="email",
            smtp_url="smtp+starttls://alerts@mail.example.org:587",
            password_env="OPS_SMTP_PASSWORD",
            sender="Advisory Monitor <alerts@example.org>",
            to=("ops@example.org", "root@localhost"),
            digest=3600.0,
            timeout=30.0,
            retries=(1.0, 60.0, 600.0),
            concurrency=2,
        ),
        NotifierConfig(name="chat.token-in-env", kind="apprise", secret_env="TEAM_CHAT_URL"),
        NotifierConfig(name="chat_plain", kind="apprise", url="json://127.0.0.1:8080/hook"),
        NotifierConfig(name="mirror", kind="pubsub", retries=()),
        NotifierConfig(
            name="console",
            kind="console",
            filter=Filter(events=("advisory.new", "source.failing")),
        ),
    )


def test_defaults() -> None:
    notifier = NotifierConfig(name="x", kind="console")
    assert (notifier.timeout, notifier.retries, notifier.concurrency, notifier.filter) == (
        10.0,
        (2.0, 10.0, 60.0, 300.0, 1800.0),
        10,
        Filter(),
    )
    assert Filter() == Filter((), None, (), (), (), ())


def test_no_notifiers_key_is_the_console_notifier(tmp_path: Path) -> None:
    assert load(tmp_path, "# nothing\n") == (CONSOLE_NOTIFIER,)
    assert NotifierConfig(name="console", kind="console") == CONSOLE_NOTIFIER


def test_an_empty_notifiers_array_turns_the_console_off(tmp_path: Path) -> None:
    assert load(tmp_path, "notifiers = []\n") == ()


def test_notifier_blocks_replace_the_console(tmp_path: Path) -> None:
    notifiers = load(tmp_path, '[[notifiers]]\nname = "m"\nkind = "pubsub"\n')
    assert [n.name for n in notifiers] == ["m"]


def test_lookup_by_name_names_the_near_miss(tmp_path: Path) -> None:
    path = write(tmp_path, ISSUE_EXAMPLE)
    config = load_config(path, env={})
    assert config.notifier("ops-hook").url == "https://example.org/hook"
    with pytest.raises(KeyError) as caught:
        config.notifier("ops-hok")
    assert str(caught.value) == f"no notifier 'ops-hok' in {path} (did you mean 'ops-hook'?)"


def test_the_shipped_file_has_only_the_console_and_documents_every_kind() -> None:
    config = load_config(SHIPPED, env={})
    assert config.notifiers == (CONSOLE_NOTIFIER,)
    text = SHIPPED.read_text(encoding="utf-8")
    for kind in NOTIFIER_KINDS:
        assert f'# kind = "{kind}"' in text


def test_the_shipped_commented_notifiers_load_when_uncommented(tmp_path: Path) -> None:
    """The examples in the shipped file are real configuration, not prose that can rot."""
    text = SHIPPED.read_text(encoding="utf-8")
    start = text.index("# [[notifiers]]")
    end = text.index("\n\n", start)
    block = re.sub(r"^# ?", "", text[start:end], flags=re.MULTILINE)
    notifiers = load(tmp_path, block)
    assert [n.kind for n in notifiers] == ["webhook", "email", "apprise", "pubsub", "console"]


def test_the_configuration_lists_are_the_models_and_the_streams() -> None:
    assert tuple(kind.value for kind in Kind) == ADVISORY_KINDS
    assert tuple(category.value for category in Category) == CATEGORIES
    assert set(EVENT_TYPES) >= {"advisory.new", "source.failing"}


BLOCK = '[[notifiers]]\nname = "n"\n'
HOOK = BLOCK + 'kind = "webhook"\nurl = "https://example.org/hook"\n'
MAIL = BLOCK + 'kind = "email"\nsmtp_url = "smtp://mail.example.org"\nto = ["a@example.org"]\n'


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        # the blocks themselves
        (
            "[notifiers]\n",
            "notifiers",
            "expected [[notifiers]] blocks (an array of tables), got table",
        ),
        ("notifiers = [1]\n", "notifiers[0]", "expected a table, got integer 1"),
        ('[[notifiers]]\nkind = "console"\n', "notifiers[0].name", "is required"),
        ('[[notifiers]]\nname = "n"\n', "notifiers[0].kind", "is required"),
        (
            BLOCK + 'kind = "console"\ncolour = "red"\n',
            "notifiers[0].colour",
            "unknown key",
        ),
        (
            BLOCK + 'kind = "console"\nretries = []\n',
            "notifiers[0].retries",
            "unknown key (did you mean 'retry'?)",
        ),
        # names
        (
            '[[notifiers]]\nname = "Ops Hook"\nkind = "console"\n',
            "notifiers[0].name",
            "'Ops Hook' is not a notifier name (1 to 64 of a-z 0-9 . _ -, starting with a-z or "
            "0-9; it also names the notifier's consumer group)",
        ),
        (
            BLOCK + 'kind = "console"\n' + BLOCK + 'kind = "pubsub"\n',
            "notifiers[1].name",
            "duplicate name 'n' (also notifiers[0])",
        ),
        # kinds
        (
            BLOCK + 'kind = "slack"\n',
            "notifiers[0].kind",
            "'slack' is not one of webhook, email, pubsub, console, apprise "
            "(did you mean 'apprise'?)",
        ),
        (
            BLOCK + 'kind = "webhooks"\n',
            "notifiers[0].kind",
            "'webhooks' is not one of webhook, email, pubsub, console, apprise "
            "(did you mean 'webhook'?)",
        ),
        # each kind's keys
        (BLOCK + 'kind = "webhook"\n', "notifiers[0].url", "is required for kind 'webhook'"),
        (
            HOOK + 'to = ["a@example.org"]\n',
            "notifiers[0].to",
            "does not apply to kind 'webhook' (it takes url, secret_env)",
        ),
        (
            BLOCK + 'kind = "console"\nurl = "https://example.org/"\n',
            "notifiers[0].url",
            "does not apply to kind 'console' (it takes none of its own)",
        ),
        (
            BLOCK + 'kind = "pubsub"\nsecret_env = "X"\n',
            "notifiers[0].secret_env",
            "does not apply to kind 'pubsub' (it takes none of its own)",
        ),
        (MAIL, "notifiers[0].from", "is required for kind 'email'"),
        (
            BLOCK + 'kind = "apprise"\n',
            "notifiers[0].url",
            "is required for kind 'apprise', or else secret_env naming a variable that holds "
            "the Apprise URL (its tokens are secrets), not both",
        ),
        (
            BLOCK + 'kind = "apprise"\nurl = "json://h/"\nsecret_env = "CHAT_URL"\n',
            "notifiers[0].url",
            "is required for kind 'apprise', or else secret_env naming a variable that holds "
            "the Apprise URL (its tokens are secrets), not both",
        ),
        # URLs
        (
            BLOCK + 'kind = "webhook"\nurl = "ftp://example.org/hook"\n',
            "notifiers[0].url",
            "'ftp://example.org/hook' has scheme 'ftp' (expected http or https)",
        ),
        (
            BLOCK + 'kind = "webhook"\nurl = "https://user:hunter2@example.org/hook"\n',
            "notifiers[0].url",
            "'https://***@example.org/hook' holds credentials (secrets do not belong in the "
            "configuration file)",
        ),
        (
            BLOCK + 'kind = "webhook"\nurl = "example.org/hook"\n',
            "notifiers[0].url",
            "'example.org/hook' is not an absolute URL (expected e.g. https://example.org/hook)",
        ),
        (
            BLOCK + 'kind = "apprise"\nurl = "slack token"\n',
            "notifiers[0].url",
            "is not an Apprise URL (expected e.g. 'slack://TokenA/TokenB/TokenC' or "
            "'json://host/path'; no spaces)",
        ),
        (
            MAIL.replace("smtp://", "smtps://bot:hunter2@") + 'from = "a@example.org"\n',
            "notifiers[0].smtp_url",
            "'smtps://***@mail.example.org' holds a password (set password_env to a "
            "variable that holds it instead)",
        ),
        (
            MAIL.replace("smtp://", "imap://") + 'from = "a@example.org"\n',
            "notifiers[0].smtp_url",
            "'imap://mail.example.org' has scheme 'imap' (expected smtp or smtps or smtp+starttls)",
        ),
        (
            MAIL.replace("mail.example.org", "mail.example.org/inbox") + 'from = "a@x.org"\n',
            "notifiers[0].smtp_url",
            "'smtp://mail.example.org/inbox' has path '/inbox' (expected none)",
        ),
        # addresses
        (
            MAIL + 'from = "alerts"\n',
            "notifiers[0].from",
            "'alerts' is not an e-mail address (expected e.g. 'ops@example.org' or "
            "'Ops <ops@example.org>')",
        ),
        (
            MAIL + 'from = "a@example.org\\r\\nBcc: victim@example.org"\n',
            "notifiers[0].from",
            "'a@example.org\\r\\nBcc: victim@example.org' contains a line break or control "
            "character",
        ),
        (
            MAIL.replace('["a@example.org"]', '["a@example.org", "b at example.org"]')
            + 'from = "a@example.org"\n',
            "notifiers[0].to[1]",
            "'b at example.org' is not an e-mail address (expected e.g. 'ops@example.org' or "
            "'Ops <ops@example.org>')",
        ),
        (
            MAIL.replace('["a@example.org"]', "[]") + 'from = "a@example.org"\n',
            "notifiers[0].to",
            "is empty (expected at least one recipient)",
        ),
        (
            MAIL.replace('["a@example.org"]', '"a@example.org"') + 'from = "a@example.org"\n',
            "notifiers[0].to",
            "expected an array of e-mail addresses, got string 'a@example.org'",
        ),
        # environment variable names: never echoed, they might be the secret itself
        (
            HOOK + 'secret_env = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"\n',
            "notifiers[0].secret_env",
            "is not an environment variable name (A-Z, 0-9 and _, not starting with a digit, "
            "e.g. 'OPS_HOOK_SECRET'): name the variable that holds the secret, never the secret",
        ),
        (
            MAIL + 'from = "a@example.org"\npassword_env = "smtp_password"\n',
            "notifiers[0].password_env",
            "is not an environment variable name (A-Z, 0-9 and _, not starting with a digit, "
            "e.g. 'OPS_HOOK_SECRET'): name the variable that holds the secret, never the secret",
        ),
        # durations and counts
        (
            HOOK + 'timeout = "0s"\n',
            "notifiers[0].timeout",
            "'0s' is too short (at least 1ms)",
        ),
        (
            HOOK + 'retry = ["2s", "soon"]\n',
            "notifiers[0].retry[1]",
            "'soon' is not a duration (use e.g. 90s, 5m, 1h)",
        ),
        (
            HOOK + 'retry = "2s"\n',
            "notifiers[0].retry",
            "expected an array of durations, got string '2s'",
        ),
        (HOOK + "concurrency = 0\n", "notifiers[0].concurrency", "0 is too small (at least 1)"),
        (
            MAIL + 'from = "a@example.org"\ndigest = "10ms"\n',
            "notifiers[0].digest",
            "'10ms' is too short (at least 1s)",
        ),
        # filters
        (
            HOOK + '[notifiers.filter]\ncountries = ["UK"]\n',
            "notifiers[0].filter.countries[0]",
            "'UK' is not an ISO 3166-1 alpha-2 country code, e.g. 'US' (did you mean 'GB'?)",
        ),
        (
            HOOK + '[notifiers.filter]\nissuers = ["us"]\n',
            "notifiers[0].filter.issuers[0]",
            "'us' is not an ISO 3166-1 alpha-2 country code, e.g. 'US' (did you mean 'US'?)",
        ),
        (
            HOOK + "[notifiers.filter]\nmin_level = 5\n",
            "notifiers[0].filter.min_level",
            "expected a level from 1 to 4, got integer 5",
        ),
        (
            HOOK + '[notifiers.filter]\nmin_level = "3"\n',
            "notifiers[0].filter.min_level",
            "expected a level from 1 to 4, got string '3'",
        ),
        (
            HOOK + '[notifiers.filter]\ncategories = ["terror"]\n',
            "notifiers[0].filter.categories[0]",
            "'terror' is not one of terrorism, civil_unrest, armed_conflict, crime, kidnapping, "
            "health, natural_disaster, political, transport, other (did you mean 'terrorism'?)",
        ),
        (
            HOOK + '[notifiers.filter]\nkinds = ["advisory"]\n',
            "notifiers[0].filter.kinds[0]",
            "'advisory' is not one of travel_advisory, security_alert, hazard_alert, "
            "health_notice, news_report, other (did you mean 'travel_advisory'?)",
        ),
        (
            HOOK + '[notifiers.filter]\nevents = ["advisory.updated"]\n',
            "notifiers[0].filter.events[0]",
            "'advisory.updated' is not one of advisory.new, advisory.changed, "
            "advisory.cancelled, advisory.expired, source.failing, source.recovered, "
            "source.silent (did you mean 'advisory.changed'?)",
        ),
        (
            HOOK + '[notifiers.filter]\ncountry = ["RU"]\n',
            "notifiers[0].filter.country",
            "unknown key (did you mean 'countries'?)",
        ),
    ],
)
def test_each_mistake_is_one_message_naming_the_key(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    assert problems(tmp_path, text) == [(key, message)]


def test_every_notifier_mistake_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        [[notifiers]]
        name = "a"
        kind = "webhook"

        [[notifiers]]
        name = "b"
        kind = "email"
        smtp_url = "smtp://mail.example.org"
        from = "nobody"
        to = ["x@example.org"]
        [notifiers.filter]
        min_level = 0
        """,
    )
    assert [key for key, _ in found] == [
        "notifiers[0].url",
        "notifiers[1].from",
        "notifiers[1].filter.min_level",
    ]


def test_secrets_in_the_file_are_never_echoed(tmp_path: Path) -> None:
    text = (
        BLOCK + 'kind = "webhook"\nurl = "https://u:hunter2@example.org/h"\n'
        'secret_env = "hunter2-secret"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env={})
    assert "hunter2" not in str(caught.value)


def test_kinds_are_the_documented_ones() -> None:
    assert NOTIFIER_KINDS == ("webhook", "email", "pubsub", "console", "apprise")
