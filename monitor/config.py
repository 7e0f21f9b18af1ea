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
from urllib.parse import quote, urlsplit, urlunsplit

from monitor.durations import HINT, format_duration, parse_duration
from monitor.normalise.inputs import FORMAT_NAMES

FORMATS: tuple[str, ...] = ("auto", *FORMAT_NAMES)
"""Values of ``format`` and ``detail_format``; ``auto`` lets the normaliser sniff the body."""

DEFAULT_PATH = Path("config") / "monitor.toml"
PACKAGED_NAME = "default_config.toml"
ENV_CONFIG = "MONITOR_CONFIG"
ENV_REDIS_URL = "MONITOR_REDIS_URL"
ENV_REDIS_PREFIX = "MONITOR_REDIS_PREFIX"

PLACEHOLDERS: tuple[str, ...] = ("key", "key_lower", "path", "url")
"""What a discovery ``detail_url`` may use; see ``Discovery``."""


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
class Config:
    """Everything the service needs to start; ``path`` is the file it came from."""

    path: str | None = None
    redis: RedisSettings = field(default_factory=RedisSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    poll: PollSettings = field(default_factory=PollSettings)
    sources: tuple[Source, ...] = ()

    def source(self, source_id: str) -> Source:
        """The source with this id; ``UnknownSource`` (a ``KeyError``) names the near misses."""
        for candidate in self.sources:
            if candidate.id == source_id:
                return candidate
        where = self.path or "the built-in defaults"
        hint = _did_you_mean(source_id, [s.id for s in self.sources])
        raise UnknownSource(f"no source {source_id!r} in {where}{hint}")


class UnknownSource(KeyError):
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
    config = replace(config, redis=_redis_from_env(config.redis, environ, problems))
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
        raise ValueError(f"{_redact(text)!r} {problem}")
    return text


def _redact(url: str) -> str:
    """The URL with its user and password hidden, so an error message never prints a secret."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


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
        if problem is None and from_file and parts.password is not None:
            problem = f"holds a password (set {ENV_REDIS_URL} in the environment instead)"
        if problem:
            raise ValueError(f"{_redact(text)!r} {problem}")
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


_ROOT: Spec = {
    "redis": _section(RedisSettings, _REDIS),
    "http": _section(HttpSettings, _HTTP, _check_http),
    "poll": _section(PollSettings, _POLL),
    "sources": _Table(_read_sources),
}


def _read_config(document: dict[str, Any], label: str, problems: _Problems) -> Config:
    """The document as a ``Config``; absent sections take their defaults."""
    values = _read_table(document, "", _ROOT, problems) or {}
    sections = {name: value for name, value in values.items() if value is not None}
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


__all__ = [
    "COUNTRY_CODES",
    "ENV_CONFIG",
    "ENV_REDIS_PREFIX",
    "ENV_REDIS_URL",
    "FORMATS",
    "PLACEHOLDERS",
    "USER_AGENT",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "Discovery",
    "HttpSettings",
    "PollSettings",
    "RedisSettings",
    "Source",
    "UnknownSource",
    "load_config",
    "packaged_config",
    "parse_duration",
]
