"""The one configuration object: read once at start from TOML, validated whole, then passed down.

Every option is declared once, in a table beside its section (``_REDIS``, ``_HTTP``, ``_POLL``,
``_SOURCE``, ``_DISCOVER``) with the function that converts and checks it; the defaults live on
the dataclasses. Nothing below the composition root reads the file or the environment again, so a
bad value stops the service at start instead of at three in the morning on the first poll.

Every problem names the file, the key path and what was expected
(``config/monitor.toml: sources[3].interval: 'fast' is not a duration (use e.g. 90s, 5m, 1h)``),
and all problems are collected before one ``ConfigError`` is raised, so an operator fixes the
whole file in one pass. ``sources[N]`` counts the ``[[sources]]`` blocks from 0.

Where the file comes from, first match wins: an explicit path (``--config``), ``MONITOR_CONFIG``,
``config/monitor.toml`` under the current directory, the copy shipped in the package (so an
installed ``monitor`` runs from any directory). ``MONITOR_REDIS_URL`` and ``MONITOR_REDIS_PREFIX``
override ``[redis]``; secrets such as a Redis password belong in the environment, never the file.

Notifiers (``[[notifiers]]``, each with an optional ``[notifiers.filter]``) say where events go.
A file with no ``notifiers`` key at all gets one console notifier, so a new user sees alerts in
the terminal; ``notifiers = []`` turns that off. A notifier's secrets (a webhook secret, an SMTP
password) are named by environment variable (``secret_env``, ``password_env``) and read by the
notifier when it is built, so a process that only polls never needs them.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import string
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from monitor.durations import HINT, format_duration, parse_duration
from monitor.events import EVENT_TYPES
from monitor.normalise.inputs import FORMAT_NAMES

FORMATS: tuple[str, ...] = ("auto", *FORMAT_NAMES)
"""Values of ``format`` and ``detail_format``; ``auto`` lets the normaliser sniff the body."""

DEFAULT_PATH = Path("config") / "monitor.toml"
PACKAGED_NAME = "default_config.toml"
ENV_CONFIG = "MONITOR_CONFIG"
ENV_REDIS_URL = "MONITOR_REDIS_URL"
ENV_REDIS_PREFIX = "MONITOR_REDIS_PREFIX"
ENV_HEALTH_HOST = "MONITOR_HEALTH_HOST"
ENV_HEALTH_PORT = "MONITOR_HEALTH_PORT"

PLACEHOLDERS: tuple[str, ...] = ("key", "key_lower", "path", "url")
"""What a discovery ``detail_url`` may use; see ``Discovery``."""

NOTIFIER_KINDS: tuple[str, ...] = ("webhook", "email", "pubsub", "console", "apprise")
"""Values of a notifier's ``kind``."""

SMTP_SCHEMES: tuple[str, ...] = ("smtp", "smtps", "smtp+starttls")
"""``smtp``: plain (or STARTTLS if the server offers it, as the email notifier decides);
``smtps``: TLS from the first byte; ``smtp+starttls``: STARTTLS required."""

# The advisory's ``kind`` and ``categories`` values (``monitor.models.Kind`` and ``Category``),
# spelt out so that loading the configuration does not import the models; a test keeps them equal.
ADVISORY_KINDS: tuple[str, ...] = (
    "travel_advisory",
    "security_alert",
    "hazard_alert",
    "health_notice",
    "news_report",
    "other",
)
CATEGORIES: tuple[str, ...] = (
    "terrorism",
    "civil_unrest",
    "armed_conflict",
    "crime",
    "kidnapping",
    "health",
    "natural_disaster",
    "political",
    "transport",
    "other",
)


def _package_version() -> str:
    """The installed version, so servers can tell which release is polling them."""
    try:
        return metadata.version("advisory-monitor")
    except metadata.PackageNotFoundError:
        return "0"


USER_AGENT = f"advisory-monitor/{_package_version()} (+https://github.com/advisory-monitor)"


# --- the configuration --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """Where shared state lives. ``url=None`` runs the embedded server with data in ``data_dir``.

    Every key and stream name starts with ``prefix``; a prefix with a hash tag such as
    ``"{monitor}:"`` keeps every key in one Redis Cluster slot, so multi-key scripts still run.
    """

    url: str | None = None
    prefix: str = "monitor:"
    stream_maxlen: int = 100_000
    data_dir: str = "var"


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Limits that keep one slow, huge or hostile server from holding or exhausting a poller."""

    user_agent: str = USER_AGENT
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0  # deadline per fetch, whole body included
    max_redirects: int = 5
    max_body_bytes: int = 20 * 1024 * 1024  # compressed bytes on the wire
    max_decoded_bytes: int = 50 * 1024 * 1024  # after decompression: the gzip bomb cap
    per_host_limit: int = 4  # concurrent requests per host


@dataclass(frozen=True, slots=True)
class PollSettings:
    """Cadence, back-off and health thresholds shared by every source."""

    workers: int = 2  # parse/normalise process pool size; 0 parses in-process (tests)
    jitter: float = 0.1  # ± this fraction of the interval, so sources do not poll in lockstep
    max_backoff: float = 3600.0  # cap of the exponential back-off, seconds
    failing_after: int = 3  # consecutive failures before source.failing
    silent_factor: float = 4.0  # intervals without anything new before source.silent


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """The long-running daemon (``monitor run``): shutdown, expiry sweep, health endpoint.

    ``health_port = 0`` picks a free port (logged at start); ``-1`` turns the endpoint off.
    The endpoint listens on loopback unless told otherwise (``"0.0.0.0"`` in a container).
    """

    grace: float = 5.0  # after SIGTERM: in-flight work gets this long, then is handed back
    expiry_every: float = 5.0  # how often advisories past their ``expires`` are looked for
    health_host: str = "127.0.0.1"
    health_port: int = 9180


@dataclass(frozen=True, slots=True)
class Discovery:
    """A source whose items are pointers: each new or changed item leads to one detail fetch.

    ``detail_url`` is a template over the discovered item:

    * ``{key}``: the item's own key (the Canada index's country code ``"UA"``; for a feed item,
      the last segment of its link's path, e.g. ``"haiti"``);
    * ``{key_lower}``: the key in lower case (Canada's files are ``cta-cap-ua.json``);
    * ``{path}``: the path of the item's link (``"/foreign-travel-advice/haiti"``);
    * ``{url}``: the item's link, whole.
    """

    detail_url: str
    detail_format: str = "auto"

    def detail_url_for(self, key: str, url: str = "") -> str:
        """The detail URL of one discovered item; the key is percent-encoded, links are URLs."""
        return self.detail_url.format(
            key=_quote(key), key_lower=_quote(key.lower()), path=urlsplit(url).path, url=url
        )


@dataclass(frozen=True, slots=True)
class Source:
    """One polled URL and how to read it."""

    id: str
    url: str
    format: str = "auto"
    interval: float = 300.0
    issuer: str | None = None  # ISO 3166-1 alpha-2 of the government speaking, for bare feeds
    enabled: bool = True
    silent_after: float | None = None  # overrides silent_factor × interval
    discover: Discovery | None = None


@dataclass(frozen=True, slots=True)
class Filter:
    """Which events a notifier wants; a pure function of the event (``monitor.filters.matches``).

    Every non-empty criterion must hold (lists match any of their values); an empty one holds
    for every event.
    """

    countries: tuple[str, ...] = ()  # any of; empty = all (the advisory's and its areas')
    min_level: int | None = None  # 1..4; events whose advisory level is None pass only if None
    categories: tuple[str, ...] = ()
    issuers: tuple[str, ...] = ()  # countries of the issuing governments
    kinds: tuple[str, ...] = ()  # advisory kinds
    events: tuple[str, ...] = ()  # event types; empty = all advisory.* (source.* only if listed)


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    """One place events are delivered to, read through its own consumer group (``name``).

    Secrets never live here: ``secret_env`` and ``password_env`` name environment variables.
    """

    name: str  # required, unique, also the consumer group's name
    kind: str  # webhook | email | pubsub | console | apprise
    url: str | None = None  # webhook endpoint (http/https) or Apprise URL
    secret_env: str | None = None  # env var holding the webhook secret ("whsec_" + base64)
    smtp_url: str | None = None  # email: smtp://, smtps://, smtp+starttls://, user, no password
    password_env: str | None = None  # email: env var with the SMTP password
    sender: str | None = None  # email: TOML key is `from`
    to: tuple[str, ...] = ()  # email recipients
    digest: float | None = None  # email: a duration, None = one message per event
    timeout: float = 10.0
    # Delays before each retry; after the last, dead letter (TOML key `retry`, list of durations).
    retries: tuple[float, ...] = (2.0, 10.0, 60.0, 300.0, 1800.0)
    concurrency: int = 10  # deliveries in flight for this notifier
    filter: Filter = Filter()


CONSOLE_NOTIFIER = NotifierConfig(name="console", kind="console")
"""What ``Config.notifiers`` holds when the file has no ``notifiers`` key at all."""


@dataclass(frozen=True, slots=True)
class Config:
    """Everything the service needs to start; ``path`` is the file it came from.

    ``notifiers`` defaults to none here; ``load_config`` gives a file without a ``notifiers``
    key the one :data:`CONSOLE_NOTIFIER`.
    """

    path: str | None = None
    redis: RedisSettings = field(default_factory=RedisSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    poll: PollSettings = field(default_factory=PollSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    sources: tuple[Source, ...] = ()
    notifiers: tuple[NotifierConfig, ...] = ()

    def source(self, source_id: str) -> Source:
        """The source with this id; ``UnknownSource`` (a ``KeyError``) names the near misses."""
        for candidate in self.sources:
            if candidate.id == source_id:
                return candidate
        where = self.path or "the built-in defaults"
        hint = _did_you_mean(source_id, [s.id for s in self.sources])
        raise UnknownSource(f"no source {source_id!r} in {where}{hint}")

    def notifier(self, name: str) -> NotifierConfig:
        """The notifier with this name; ``UnknownNotifier`` (a ``KeyError``) names near misses."""
        for candidate in self.notifiers:
            if candidate.name == name:
                return candidate
        where = self.path or "the built-in defaults"
        hint = _did_you_mean(name, [n.name for n in self.notifiers])
        raise UnknownNotifier(f"no notifier {name!r} in {where}{hint}")


class UnknownSource(KeyError):
    """A ``KeyError`` whose ``str`` is the message itself, fit to print after ``monitor:``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownNotifier(KeyError):
    """A ``KeyError`` whose ``str`` is the message itself, fit to print after ``monitor:``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# --- errors -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong: the key path (``""`` for the file as a whole) and what was expected."""

    key: str
    message: str


class ConfigError(Exception):
    """The configuration cannot be used; ``str`` lists every problem, one per line.

    One problem reads ``<file>: <key>: <problem>``; several start with a line that counts them.
    """

    def __init__(self, file: str, problems: Sequence[ConfigProblem]) -> None:
        self.file = file
        self.problems = tuple(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [self._line(problem) for problem in self.problems]
        if len(lines) == 1:
            return lines[0]
        return "\n".join([f"{self.file}: {len(lines)} problems", *lines])

    def _line(self, problem: ConfigProblem) -> str:
        if not problem.key:
            return f"{self.file}: {problem.message}"
        return f"{self.file}: {problem.key}: {problem.message}"

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, tuple[ConfigProblem, ...]]]:
        """Pickle by the fields, so the error survives a trip out of a worker process."""
        return (ConfigError, (self.file, self.problems))


class _Problems:
    """Collects problems while the whole file is read, instead of stopping at the first."""

    def __init__(self) -> None:
        self.found: list[ConfigProblem] = []

    def add(self, key: str, message: str) -> None:
        self.found.append(ConfigProblem(key, message))

    def __len__(self) -> int:
        return len(self.found)


# --- loading ------------------------------------------------------------------------------


def load_config(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Read, validate and return the configuration, or raise one ``ConfigError`` listing all.

    ``env`` defaults to ``os.environ``; tests pass a dict so they never depend on the shell.
    """
    environ = os.environ if env is None else env
    label, data = _locate(path, environ)
    problems = _Problems()
    document = _parse(label, data)
    config = _read_config(document, label, problems)
    config = replace(
        config,
        redis=_redis_from_env(config.redis, environ, problems),
        service=_service_from_env(config.service, environ, problems),
    )
    if problems:
        raise ConfigError(label, problems.found)
    return config


def packaged_config() -> Traversable:
    """The default configuration shipped inside the package, kept equal to config/monitor.toml."""
    return resources.files("monitor").joinpath(PACKAGED_NAME)


def _locate(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> tuple[str, bytes]:
    """The file's display name and bytes, in the documented order of precedence."""
    if path is not None:
        return _read_bytes(os.fspath(path), "")
    if env.get(ENV_CONFIG):
        return _read_bytes(env[ENV_CONFIG], f" (named by {ENV_CONFIG})")
    if DEFAULT_PATH.is_file():
        return _read_bytes(str(DEFAULT_PATH), "")
    packaged = packaged_config()
    return str(packaged), packaged.read_bytes()


def _read_bytes(name: str, origin: str) -> tuple[str, bytes]:
    try:
        return name, Path(name).read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        problem = ConfigProblem("", f"cannot read the file{origin}: {reason}")
        raise ConfigError(name, [problem]) from None


_TOML_POSITION = re.compile(r"\s*\(at (line \d+, column \d+|end of document)\)$")


def _parse(label: str, data: bytes) -> dict[str, Any]:
    """The TOML document; text that is not UTF-8 TOML is one problem naming the line."""
    try:
        text = data.decode("utf-8-sig")  # editors on Windows add a byte-order mark
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(label, [ConfigProblem(f"line {line}", "is not UTF-8 text")]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = _TOML_POSITION.search(message)
        where = found.group(1) if found else ""
        reason = message[: found.start()] if found else message
        problem = ConfigProblem(where, f"not valid TOML: {reason}")
        raise ConfigError(label, [problem]) from None


# --- converters: each checks one value and says what was expected ----------------------------

Convert = Callable[[object], Any]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Table:
    """A key holding a nested table (or array of tables), read with its own key paths."""

    read: Callable[[object, str, _Problems], Any]


Spec = Mapping[str, Convert | _Table]


def _kind(value: object) -> str:
    """The TOML name of a value's type, as operators know them from the file."""
    kinds: tuple[tuple[type, str], ...] = (
        (bool, "boolean"),
        (int, "integer"),
        (float, "float"),
        (str, "string"),
        (list, "array"),
        (dict, "table"),
        (datetime, "date-time"),
        (date, "date"),
        (time, "time"),
    )
    name = next((label for cls, label in kinds if isinstance(value, cls)), type(value).__name__)
    if isinstance(value, list | dict):
        return name
    shown = repr(value)
    return f"{name} {shown[:60]}…" if len(shown) > 60 else f"{name} {shown}"


def _expected(what: str, value: object) -> ValueError:
    return ValueError(f"expected {what}, got {_kind(value)}")


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _expected("a string", value)
    return value


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _expected("true or false", value)
    return value


def _integer(least: int) -> Convert:
    def convert(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _expected(f"an integer of at least {least}", value)
        if value < least:
            raise ValueError(f"{value} is too small (at least {least})")
        return value

    return convert


def _number(least: float, below: float = math.inf) -> Convert:
    def convert(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _expected("a number", value)
        number = float(value)
        if not least <= number < below:
            upper = "" if below == math.inf else f" and below {below:g}"
            raise ValueError(f"{value!r} is out of range (at least {least:g}{upper})")
        return number

    return convert


def _duration(least: float) -> Convert:
    def convert(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _expected(f"a duration ({HINT})", value)
        seconds = parse_duration(value)
        if seconds < least:
            raise ValueError(f"{value!r} is too short (at least {format_duration(least)})")
        return seconds

    return convert


def _choice(names: Sequence[str], mistakes: Mapping[str, str] | None = None) -> Convert:
    """One of ``names``; ``mistakes`` maps likely wrong words to the right one for the hint."""

    def convert(value: object) -> str:
        text = _text(value)
        if text not in names:
            known = (mistakes or {}).get(text.lower())
            hint = f" (did you mean {known!r}?)" if known else _did_you_mean(text, names)
            raise ValueError(f"{text!r} is not one of {', '.join(names)}{hint}")
        return text

    return convert


_SOURCE_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def _source_id(value: object) -> str:
    text = _text(value)
    if not _SOURCE_ID.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a source id (1 to 64 of a-z 0-9 . _ -, starting with a-z or 0-9)"
        )
    return text


_UNPRINTABLE = re.compile(r"[\s\x00-\x1f\x7f]")


def _url_problem(text: str, schemes: Sequence[str], example: str) -> str | None:
    """What is wrong with an absolute URL, as a phrase to follow the URL, or ``None``."""
    if _UNPRINTABLE.search(text):
        return "contains spaces or control characters (percent-encode them)"
    parts = urlsplit(text)
    if not parts.scheme or not parts.netloc:
        return f"is not an absolute URL (expected e.g. {example})"
    if parts.scheme not in schemes:
        return f"has scheme {parts.scheme!r} (expected {' or '.join(schemes)})"
    if not parts.hostname:
        return "has no host"
    try:
        parts.port  # noqa: B018 - urllib checks the port only when asked
    except ValueError:
        return "has an invalid port"
    return None


def _http_url(value: object) -> str:
    text = _text(value)
    problem = _url_problem(text, ("http", "https"), "https://example.org/feed")
    if problem is None and "@" in urlsplit(text).netloc:
        problem = "holds credentials (secrets do not belong in the configuration file)"
    if problem:
        raise ValueError(f"{redact_url(text)!r} {problem}")
    return text


_SECRET_QUERY_KEYS = frozenset({"password", "username", "user", "token", "key", "secret"})


def _secret_query(query: str) -> bool:
    return any(name.lower() in _SECRET_QUERY_KEYS for name, _ in parse_qsl(query))


def redact_url(url: str) -> str:
    """The URL with its user, password and secret query values hidden (redis-py also reads
    ``?password=``), so an error message or a log line never prints a secret."""
    parts = urlsplit(url)
    if "@" not in parts.netloc and not (parts.query and _secret_query(parts.query)):
        return url  # as written: unsplitting would turn unix:///path into unix:/path
    if "@" in parts.netloc:
        parts = parts._replace(netloc=f"***@{parts.netloc.rpartition('@')[2]}")
    if parts.query and _secret_query(parts.query):
        pairs = [(name, "***" if name.lower() in _SECRET_QUERY_KEYS else value)
                 for name, value in parse_qsl(parts.query, keep_blank_values=True)]  # fmt: skip
        parts = parts._replace(query=urlencode(pairs, safe="*"))
    redacted = urlunsplit(parts)
    if not parts.netloc and url.startswith(f"{parts.scheme}://"):  # unix:///path?...
        redacted = f"{parts.scheme}://{redacted[len(parts.scheme) + 1 :]}"
    return redacted


def _redis_url(*, from_file: bool) -> Convert:
    """``redis://``, ``rediss://`` or ``unix://``, as redis-py's ``from_url`` reads them."""

    def convert(value: object) -> str:
        text = _text(value)
        parts = urlsplit(text)
        if parts.scheme == "unix" and parts.path and not _UNPRINTABLE.search(text):
            problem = None
        else:
            problem = _url_problem(text, ("redis", "rediss", "unix"), "redis://host:6379/0")
        if problem is None and parts.scheme != "unix" and not re.fullmatch(r"/?\d*", parts.path):
            problem = f"has path {parts.path!r} (expected a database number, e.g. /0)"
        secret = parts.password is not None or _secret_query(parts.query)
        if problem is None and from_file and secret:
            problem = f"holds a password (set {ENV_REDIS_URL} in the environment instead)"
        if problem:
            raise ValueError(f"{redact_url(text)!r} {problem}")
        return text

    return convert


_HASH_TAG = re.compile(r"[^{}]*\{[^{}]+\}[^{}]*")


def _prefix(value: object) -> str:
    text = _text(value)
    if not text or _UNPRINTABLE.search(text):
        raise ValueError(f"{text!r} is not a key prefix (non-empty, no spaces, e.g. 'monitor:')")
    if ("{" in text or "}" in text) and not _HASH_TAG.fullmatch(text):
        raise ValueError(
            f"{text!r} has a broken hash tag (use one non-empty {{tag}}, e.g. '{{monitor}}:')"
        )
    return text


def _user_agent(value: object) -> str:
    text = _text(value)
    if not text.strip() or not text.isascii() or not text.isprintable():
        raise ValueError(f"{text!r} is not a User-Agent (printable ASCII on one line)")
    return text


def _non_empty(value: object) -> str:
    text = _text(value)
    if not text.strip():
        raise ValueError("is empty (expected a directory, e.g. 'var')")
    return text


# ISO 3166-1 alpha-2 as assigned, plus XK (Kosovo) as the advisory schema uses it. A closed list
# rather than a regex alone, so that "UK" is caught; loaded without the normaliser's gazetteer.
COUNTRY_CODES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT
    ZA ZM ZW""".split()
)
_COUNTRY_MISTAKES = {"UK": "GB", "EN": "GB", "EL": "GR"}


def _issuer(value: object) -> str:
    text = _text(value)
    if text in COUNTRY_CODES:
        return text
    guess = _COUNTRY_MISTAKES.get(text.upper(), text.upper())
    hint = f" (did you mean {guess!r}?)" if guess in COUNTRY_CODES else ""
    raise ValueError(f"{text!r} is not an ISO 3166-1 alpha-2 country code, e.g. 'US'{hint}")


_SAMPLE_ITEM = {
    "key": "UA",
    "key_lower": "ua",
    "path": "/foreign-travel-advice/ukraine",
    "url": "https://example.org/foreign-travel-advice/ukraine",
}


def _template(value: object) -> str:
    """A detail URL template: known placeholders only, and an http(s) URL once filled in."""
    text = _text(value)
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(text)
            if name is not None
        ]
    except ValueError as error:
        raise ValueError(f"{text!r} is not a template ({error}; write {{{{ for a brace)") from None
    known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
    for name, spec, conversion in fields:
        if name not in PLACEHOLDERS or spec or conversion:
            raise ValueError(f"{text!r} has placeholder {{{name}}} (expected one of {known})")
    if not fields:
        raise ValueError(
            f"{text!r} has no placeholder, so every item would fetch one URL ({known})"
        )
    problem = _url_problem(text.format(**_SAMPLE_ITEM), ("http", "https"), "https://host{path}")
    if problem:
        raise ValueError(f"{text!r} {problem} once filled in")
    return text


def _quote(text: str) -> str:
    return quote(text, safe="")


# --- reading tables -------------------------------------------------------------------------


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _join(parent: str, name: str) -> str:
    shown = name if _BARE_KEY.fullmatch(name) else f'"{name}"'
    return f"{parent}.{shown}" if parent else shown


def _read_table(
    value: object, key: str, spec: Spec, problems: _Problems, required: Sequence[str] = ()
) -> dict[str, Any] | None:
    """The converted values of a table's known keys; every unknown or bad key is a problem."""
    if not isinstance(value, dict):
        problems.add(key, f"expected a table, got {_kind(value)}")
        return None
    values: dict[str, Any] = {}
    for name, raw in value.items():
        path = _join(key, name)
        rule = spec.get(name)
        if rule is None:
            problems.add(path, f"unknown key{_did_you_mean(name, spec)}")
        elif isinstance(rule, _Table):
            values[name] = rule.read(raw, path, problems)
        else:
            try:
                values[name] = rule(raw)
            except ValueError as error:
                problems.add(path, str(error))
    for name in required:
        if name not in value:
            problems.add(_join(key, name), "is required")
    return values


def _section(
    cls: Callable[..., _T], spec: Spec, check: Callable[[_T, str, _Problems], None] | None = None
) -> _Table:
    """A reader of one ``[section]`` into ``cls``; cross-field checks run only on clean input."""

    def read(value: object, key: str, problems: _Problems) -> _T | None:
        before = len(problems)
        values = _read_table(value, key, spec, problems)
        if values is None:
            return None
        settings = cls(**values)
        if check is not None and len(problems) == before:
            check(settings, key, problems)
        return settings

    return _Table(read)


def _check_http(http: HttpSettings, key: str, problems: _Problems) -> None:
    if http.max_decoded_bytes < http.max_body_bytes:
        problems.add(
            _join(key, "max_decoded_bytes"),
            f"{http.max_decoded_bytes} is below max_body_bytes ({http.max_body_bytes}); "
            "an uncompressed body counts against both, so the smaller cap would silently win",
        )


def _check_service(service: ServiceSettings, key: str, problems: _Problems) -> None:
    if service.health_port > 65535:
        problems.add(_join(key, "health_port"), f"{service.health_port} is not a TCP port")


_REDIS: Spec = {
    "url": _redis_url(from_file=True),
    "prefix": _prefix,
    "stream_maxlen": _integer(1),
    "data_dir": _non_empty,
}
_HTTP: Spec = {
    "user_agent": _user_agent,
    "connect_timeout": _duration(0.001),
    "read_timeout": _duration(0.001),
    "total_timeout": _duration(0.001),
    "max_redirects": _integer(0),
    "max_body_bytes": _integer(1),
    "max_decoded_bytes": _integer(1),
    "per_host_limit": _integer(1),
}
_POLL: Spec = {
    "workers": _integer(0),
    "jitter": _number(0.0, below=1.0),
    "max_backoff": _duration(1.0),
    "failing_after": _integer(1),
    "silent_factor": _number(1.0),
}
_SERVICE: Spec = {
    "grace": _duration(0.0),
    "expiry_every": _duration(0.1),
    "health_host": _non_empty,
    "health_port": _integer(-1),
}
# Atom and RDF feeds are read by the rss adapter (feedparser reads all three).
_FORMAT = _choice(FORMATS, {"atom": "rss", "rdf": "rss", "feed": "rss"})
_DISCOVER: Spec = {"detail_url": _template, "detail_format": _FORMAT}


def _read_discovery(value: object, key: str, problems: _Problems) -> Discovery | None:
    values = _read_table(value, key, _DISCOVER, problems, required=("detail_url",))
    if values is None or "detail_url" not in values:
        return None
    return Discovery(**values)


_SOURCE: Spec = {
    "id": _source_id,
    "url": _http_url,
    "format": _FORMAT,
    "interval": _duration(1.0),
    "issuer": _issuer,
    "enabled": _boolean,
    "silent_after": _duration(1.0),
    "discover": _Table(_read_discovery),
}


def _build_source(values: dict[str, Any], key: str, problems: _Problems) -> Source | None:
    """One ``[[sources]]`` block from its converted values; ``None`` without an id or URL."""
    if "id" not in values or "url" not in values:
        return None
    if values.get("discover", Discovery) is None:
        del values["discover"]  # its problems are recorded already
    source = Source(**values)
    if source.silent_after is not None and source.silent_after < source.interval:
        problems.add(
            _join(key, "silent_after"),
            f"{format_duration(source.silent_after)} is shorter than the interval "
            f"({format_duration(source.interval)}), so the source would always look silent",
        )
    return source


def _read_sources(value: object, key: str, problems: _Problems) -> tuple[Source, ...]:
    """Every ``[[sources]]`` block, ids unique; none at all is a monitor that polls nothing.

    Duplicates are checked on every readable id, even in a block with other problems, so
    that one pass reports them all.
    """
    if not isinstance(value, list):
        problems.add(key, f"expected [[sources]] blocks (an array of tables), got {_kind(value)}")
        return ()
    sources: list[Source] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(value):
        block = f"{key}[{index}]"
        values = _read_table(item, block, _SOURCE, problems, required=("id", "url"))
        if values is None:
            continue
        source_id = values.get("id")
        if source_id in first_index:
            earlier = f"{key}[{first_index[source_id]}]"
            problems.add(f"{block}.id", f"duplicate id {source_id!r} (also {earlier})")
            continue
        if source_id is not None:
            first_index[source_id] = index
        source = _build_source(values, block, problems)
        if source is not None:
            sources.append(source)
    return tuple(sources)


# --- notifiers ------------------------------------------------------------------------------


def _list_of(convert: Convert, what: str, *, empty: str | None = None) -> _Table:
    """An array whose items are each converted, a problem naming ``key[i]`` for each bad one.

    ``empty``: what to say when the array may not be empty (``None``: it may).
    """

    def read(value: object, key: str, problems: _Problems) -> tuple[Any, ...]:
        if not isinstance(value, list):
            problems.add(key, f"expected an array of {what}, got {_kind(value)}")
            return ()
        if not value and empty is not None:
            problems.add(key, f"is empty ({empty})")
        items: list[Any] = []
        for index, item in enumerate(value):
            try:
                items.append(convert(item))
            except ValueError as error:
                problems.add(f"{key}[{index}]", str(error))
        return tuple(items)

    return _Table(read)


def _notifier_name(value: object) -> str:
    text = _text(value)
    if not _SOURCE_ID.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a notifier name (1 to 64 of a-z 0-9 . _ -, starting with a-z or "
            "0-9; it also names the notifier's consumer group)"
        )
    return text


_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def _env_name(value: object) -> str:
    """The name of an environment variable. The value is never echoed: it may be the secret."""
    text = _text(value)
    if not _ENV_NAME.fullmatch(text):
        raise ValueError(
            "is not an environment variable name (A-Z, 0-9 and _, not starting with a digit, "
            "e.g. 'OPS_HOOK_SECRET'): name the variable that holds the secret, never the secret"
        )
    return text


_ADDR_SPEC = r"[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\.]+(?:\.[^\s@<>()\[\],;:\"\\.]+)*"
_ADDRESS = re.compile(_ADDR_SPEC)
_NAMED_ADDRESS = re.compile(rf"[^<>\"\x00-\x1f\x7f]*?\s*<{_ADDR_SPEC}>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _address(value: object) -> str:
    """An e-mail address, bare or with a display name; never a line break (header injection)."""
    text = _text(value)
    if _CONTROL.search(text):
        raise ValueError(f"{text!r} contains a line break or control character")
    if not (_ADDRESS.fullmatch(text) or _NAMED_ADDRESS.fullmatch(text)):
        raise ValueError(
            f"{text!r} is not an e-mail address (expected e.g. 'ops@example.org' or "
            "'Ops <ops@example.org>')"
        )
    return text


def _webhook_url(text: str) -> str:
    problem = _url_problem(text, ("http", "https"), "https://example.org/hook")
    if problem is None and "@" in urlsplit(text).netloc:
        problem = "holds credentials (secrets do not belong in the configuration file)"
    if problem:
        raise ValueError(f"{redact_url(text)!r} {problem}")
    return text


_APPRISE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def _apprise_url(text: str) -> str:
    """Only the shape: whether Apprise knows the scheme is checked when the notifier is built.

    The URL is not echoed, since Apprise URLs carry tokens; at most its scheme is.
    """
    if not _APPRISE_URL.fullmatch(text):
        raise ValueError(
            "is not an Apprise URL (expected e.g. 'slack://TokenA/TokenB/TokenC' or "
            "'json://host/path'; no spaces)"
        )
    return text


def _smtp_url(value: object) -> str:
    text = _text(value)
    parts = urlsplit(text)
    problem = _url_problem(text, SMTP_SCHEMES, "smtp+starttls://user@mail.example.org:587")
    if problem is None and parts.password is not None:
        problem = "holds a password (set password_env to a variable that holds it instead)"
    if problem is None and parts.path not in ("", "/"):
        problem = f"has path {parts.path!r} (expected none)"
    if problem is None and (parts.query or parts.fragment):
        problem = "has a query or fragment (expected none)"
    if problem:
        raise ValueError(f"{redact_url(text)!r} {problem}")
    return text


def _level(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
        raise _expected("a level from 1 to 4", value)
    return value


_KIND_MISTAKES = dict.fromkeys(("slack", "chat", "teams", "telegram", "discord"), "apprise") | {
    "smtp": "email",
    "mail": "email",
    "http": "webhook",
    "redis": "pubsub",
    "stdout": "console",
    "terminal": "console",
}
_EVENT_MISTAKES = dict.fromkeys(
    ("advisory.update", "advisory.updated", "advisory.change"), "advisory.changed"
) | {"advisory.cancel": "advisory.cancelled", "advisory.created": "advisory.new"}
_FILTER: Spec = {
    "countries": _list_of(_issuer, "country codes"),
    "min_level": _level,
    "categories": _list_of(_choice(CATEGORIES), "categories"),
    "issuers": _list_of(_issuer, "country codes"),
    "kinds": _list_of(_choice(ADVISORY_KINDS), "advisory kinds"),
    "events": _list_of(_choice(EVENT_TYPES, _EVENT_MISTAKES), "event types"),
}
_NOTIFIER: Spec = {
    "name": _notifier_name,
    "kind": _choice(NOTIFIER_KINDS, _KIND_MISTAKES),
    "url": _text,
    "secret_env": _env_name,
    "smtp_url": _smtp_url,
    "password_env": _env_name,
    "from": _address,
    "to": _list_of(_address, "e-mail addresses", empty="expected at least one recipient"),
    "digest": _duration(1.0),
    "timeout": _duration(0.001),
    "retry": _list_of(_duration(0.0), "durations"),
    "concurrency": _integer(1),
    "filter": _section(Filter, _FILTER),
}
_FIELD_OF = {"from": "sender", "retry": "retries"}
"""TOML keys whose ``NotifierConfig`` field has another name."""

_COMMON_KEYS = ("name", "kind", "timeout", "retry", "concurrency", "filter")
_KIND_KEYS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required keys, optional keys) besides the common ones
    "webhook": (("url",), ("secret_env",)),
    "email": (("smtp_url", "from", "to"), ("password_env", "digest")),
    "pubsub": ((), ()),
    "console": ((), ()),
    "apprise": ((), ("url", "secret_env")),  # exactly one of the two, checked below
}


def _build_notifier(
    values: dict[str, Any], given: Iterable[str], key: str, problems: _Problems
) -> NotifierConfig | None:
    """One ``[[notifiers]]`` block from its converted ``values`` and the keys ``given`` in the
    file (a key whose value was refused is given, not missing): the keys its kind takes, and
    each of its kind's required keys."""
    kind = values.get("kind")
    if kind is None:
        return None
    required, optional = _KIND_KEYS[kind]
    takes = ", ".join((*required, *optional)) or "none of its own"
    present = set(given)
    ok = len(present) == len(values)  # every given key, the name too, converted cleanly
    for name in values:
        if name not in _COMMON_KEYS and name not in required and name not in optional:
            problems.add(_join(key, name), f"does not apply to kind {kind!r} (it takes {takes})")
            ok = False
    for name in required:
        if name not in present:
            problems.add(_join(key, name), f"is required for kind {kind!r}")
            ok = False
    if kind == "apprise" and ("url" in present) == ("secret_env" in present):
        problems.add(
            _join(key, "url"),
            "is required for kind 'apprise', or else secret_env naming a variable that holds "
            "the Apprise URL (its tokens are secrets), not both",
        )
        ok = False
    url = values.get("url")
    if url is not None and kind in ("webhook", "apprise"):
        try:
            values["url"] = _webhook_url(url) if kind == "webhook" else _apprise_url(url)
        except ValueError as error:
            problems.add(_join(key, "url"), str(error))
            ok = False
    if values.get("filter", Filter) is None:
        del values["filter"]  # its problems are recorded already
    if not ok or "name" not in values:
        return None
    return NotifierConfig(**{_FIELD_OF.get(name, name): value for name, value in values.items()})


def _read_notifiers(value: object, key: str, problems: _Problems) -> tuple[NotifierConfig, ...]:
    """Every ``[[notifiers]]`` block, names unique; ``notifiers = []`` is none at all."""
    if not isinstance(value, list):
        problems.add(key, f"expected [[notifiers]] blocks (an array of tables), got {_kind(value)}")
        return ()
    notifiers: list[NotifierConfig] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(value):
        block = f"{key}[{index}]"
        values = _read_table(item, block, _NOTIFIER, problems, required=("name", "kind"))
        if values is None:
            continue
        name = values.get("name")
        if name in first_index:
            earlier = f"{key}[{first_index[name]}]"
            problems.add(f"{block}.name", f"duplicate name {name!r} (also {earlier})")
            continue
        if name is not None:
            first_index[name] = index
        notifier = _build_notifier(values, item, block, problems)
        if notifier is not None:
            notifiers.append(notifier)
    return tuple(notifiers)


_ROOT: Spec = {
    "redis": _section(RedisSettings, _REDIS),
    "http": _section(HttpSettings, _HTTP, _check_http),
    "poll": _section(PollSettings, _POLL),
    "service": _section(ServiceSettings, _SERVICE, _check_service),
    "sources": _Table(_read_sources),
    "notifiers": _Table(_read_notifiers),
}


def _read_config(document: dict[str, Any], label: str, problems: _Problems) -> Config:
    """The document as a ``Config``; absent sections take their defaults, and a file without
    a ``notifiers`` key gets the console notifier."""
    values = _read_table(document, "", _ROOT, problems) or {}
    sections = {name: value for name, value in values.items() if value is not None}
    sections.setdefault("notifiers", (CONSOLE_NOTIFIER,))
    return Config(path=label, **sections)


def _redis_from_env(
    redis: RedisSettings, env: Mapping[str, str], problems: _Problems
) -> RedisSettings:
    """Apply ``MONITOR_REDIS_URL``/``MONITOR_REDIS_PREFIX``; empty values count as unset."""
    overrides: dict[str, Any] = {}
    readers: tuple[tuple[str, str, Convert], ...] = (
        (ENV_REDIS_URL, "url", _redis_url(from_file=False)),
        (ENV_REDIS_PREFIX, "prefix", _prefix),
    )
    for variable, name, convert in readers:
        if env.get(variable):
            try:
                overrides[name] = convert(env[variable])
            except ValueError as error:
                problems.add(f"${variable}", str(error))
    return replace(redis, **overrides)


def _service_from_env(
    service: ServiceSettings, env: Mapping[str, str], problems: _Problems
) -> ServiceSettings:
    """Apply ``MONITOR_HEALTH_HOST``/``MONITOR_HEALTH_PORT`` (a container listens on all
    interfaces; several daemons on one machine need a port each)."""
    overrides: dict[str, Any] = {}
    if env.get(ENV_HEALTH_HOST):
        overrides["health_host"] = env[ENV_HEALTH_HOST].strip()
    if env.get(ENV_HEALTH_PORT):
        text = env[ENV_HEALTH_PORT].strip()
        if re.fullmatch(r"-?\d+", text) and -1 <= int(text) <= 65535:
            overrides["health_port"] = int(text)
        else:
            expected = f"expected a TCP port (0: any, -1: off), got {text!r}"
            problems.add(f"${ENV_HEALTH_PORT}", expected)
    return replace(service, **overrides)


__all__ = [
    "ADVISORY_KINDS",
    "CATEGORIES",
    "CONSOLE_NOTIFIER",
    "COUNTRY_CODES",
    "ENV_CONFIG",
    "ENV_HEALTH_HOST",
    "ENV_HEALTH_PORT",
    "ENV_REDIS_PREFIX",
    "ENV_REDIS_URL",
    "FORMATS",
    "NOTIFIER_KINDS",
    "PLACEHOLDERS",
    "SMTP_SCHEMES",
    "USER_AGENT",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "Discovery",
    "Filter",
    "HttpSettings",
    "NotifierConfig",
    "PollSettings",
    "RedisSettings",
    "ServiceSettings",
    "Source",
    "UnknownNotifier",
    "UnknownSource",
    "load_config",
    "packaged_config",
    "parse_duration",
    "redact_url",
]
