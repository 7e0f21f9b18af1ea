"""The Dockerfile and docker-compose.yml run what the code provides.

No Docker engine runs here, so the files are read as data: every command line they run is parsed
by the CLI's own parser (``monitor.cli.build_parser``), the configuration each container would
read is loaded with ``load_config`` in that container's environment, and ports, addresses and
variable names are compared with what that configuration and the code say.

Each check is a function returning its problems. The tests run them on the real files, and once
more on copies broken on purpose (``BREAKS``, at the end): a check that cannot fail would let a
broken file through, so each break must be reported.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import fnmatch
import functools
import io
import json
import posixpath
import re
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from monitor import config as config_module
from monitor.cli import build_parser
from monitor.config import Config, ConfigError, ServiceSettings, load_config
from monitor.durations import parse_duration

ROOT = Path(__file__).resolve().parents[2]
FILES = (
    "Dockerfile",
    ".dockerignore",
    "docker-compose.yml",
    "config/compose.toml",
    "config/monitor.toml",
)
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
MIN_STOP_GRACE = 10.0  # seconds: `monitor run` promises to exit well within this
REDIS_PORT = 6379
MAILPIT_SMTP_PORT = 1025  # mailpit's defaults, unless MP_SMTP_BIND_ADDR / MP_UI_BIND_ADDR say
MAILPIT_UI_PORT = 8025
SMTP_DEFAULT_PORTS = {"smtp": 25, "smtps": 465, "smtp+starttls": 587}
_ENV_NAME = re.compile(r"MONITOR_[A-Z0-9_]+")


# --- reading a Dockerfile -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instruction:
    """One Dockerfile instruction: ``keyword`` in upper case, its ``--name=value`` options,
    and the rest of the (joined) line."""

    keyword: str
    flags: Mapping[str, str]
    rest: str
    line: int

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array of ``CMD ["monitor", "run"]``; None for the shell form."""
        if not self.rest.startswith("["):
            return None
        try:
            value = json.loads(self.rest)
        except json.JSONDecodeError:
            return None
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        return None


_FLAG = re.compile(r"--([a-z-]+)(?:=(\S*))?\s+")


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order: comments and blank lines dropped, ``\\`` continuations joined."""
    instructions: list[Instruction] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # Docker drops comment lines inside a continued instruction, too
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        instructions.append(_instruction(pending + stripped, start))
        pending = ""
    if pending:
        raise ValueError("the Dockerfile ends inside a continued line")
    return instructions


def _instruction(line: str, number: int) -> Instruction:
    keyword, _, rest = line.partition(" ")
    rest = rest.strip()
    flags: dict[str, str] = {}
    while match := _FLAG.match(rest):
        flags[match[1]] = match[2] or ""
        rest = rest[match.end() :]
    return Instruction(keyword.upper(), flags, rest.strip(), number)


def _env_pairs(rest: str) -> dict[str, str]:
    """``ENV A=1 B="two words"``, or the old ``ENV A value`` form."""
    words = shlex.split(rest)
    if words and "=" not in words[0]:
        return {words[0]: rest.split(None, 1)[1] if len(words) > 1 else ""}
    return dict(word.split("=", 1) for word in words)


@dataclass(slots=True)
class Image:
    """What the Dockerfile's last stage gives a container, and what every stage runs."""

    bases: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)  # every stage's RUN commands
    copied: list[str] = field(default_factory=list)  # build-context paths any COPY reads
    env: dict[str, str] = field(default_factory=dict)
    env_names: set[str] = field(default_factory=set)  # set by ENV in any stage
    files: dict[str, str] = field(default_factory=dict)  # path in the image -> context path
    exposed: set[int] = field(default_factory=set)
    user: str | None = None
    entrypoint: Instruction | None = None
    cmd: Instruction | None = None
    healthcheck: Instruction | None = None
    stopsignal: str | None = None
    final_runs: list[str] = field(default_factory=list)


def read_image(text: str) -> Image:
    image = Image()
    workdir = "/"
    for instruction in parse_dockerfile(text):
        keyword, rest = instruction.keyword, instruction.rest
        if keyword == "FROM":
            image.bases.append(rest.split()[0])
            stage = Image(
                bases=image.bases, runs=image.runs, copied=image.copied, env_names=image.env_names
            )
            image, workdir = stage, "/"
        elif keyword == "RUN":
            image.runs.append(rest)
            image.final_runs.append(rest)
        elif keyword == "ENV":
            pairs = _env_pairs(rest)
            image.env.update(pairs)
            image.env_names.update(pairs)
        elif keyword == "WORKDIR":
            workdir = posixpath.join(workdir, rest)
        elif keyword in ("COPY", "ADD") and "from" not in instruction.flags:
            words = instruction.exec_form or shlex.split(rest)
            *sources, target = words
            image.copied.extend(sources)
            for source in sources:
                path = posixpath.join(workdir, target)
                if target.endswith("/"):
                    path = posixpath.join(path, posixpath.basename(source))
                image.files[posixpath.normpath(path)] = source
        elif keyword == "EXPOSE":
            image.exposed.update(int(port.split("/")[0]) for port in rest.split())
        elif keyword == "USER":
            image.user = rest.split(":")[0]
        elif keyword == "ENTRYPOINT":
            image.entrypoint = instruction
        elif keyword == "CMD":
            image.cmd = instruction
        elif keyword == "HEALTHCHECK":
            image.healthcheck = instruction
        elif keyword == "STOPSIGNAL":
            image.stopsignal = rest
    return image


def _argv(instruction: Instruction | None, what: str, problems: list[str]) -> list[str]:
    """The command line of an instruction; the shell form is a problem (and read as words)."""
    if instruction is None:
        return []
    argv = instruction.exec_form
    if argv is None:
        problems.append(
            f"Dockerfile:{instruction.line}: {what} is in shell form: the process would be "
            "/bin/sh, which does not pass SIGTERM on (write a JSON array)"
        )
        return shlex.split(instruction.rest)
    return argv


# --- what the code provides ---------------------------------------------------------------------


@functools.cache
def known_variables() -> frozenset[str]:
    """Every ``MONITOR_*`` name the package spells as a whole string: the ones it reads."""
    names: set[str] = set()
    for path in (ROOT / "monitor").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and _ENV_NAME.fullmatch(value):
                names.add(value)
    return frozenset(names)


def parse_command(argv: Sequence[str], expected: str, where: str) -> argparse.Namespace | str:
    """The parsed arguments of ``monitor ...``, or what is wrong with the command line."""
    if not argv:
        return f"{where}: runs nothing"
    if argv[0] != "monitor":
        return f"{where}: runs {argv[0]!r}, not the monitor command"
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(said):
            args = build_parser().parse_args(list(argv[1:]))
    except SystemExit:
        message = said.getvalue().strip().splitlines()
        reason = message[-1] if message else "refused"
        return f"{where}: `{shlex.join(argv)}` is not a monitor command line ({reason})"
    if args.command != expected:
        return f"{where}: `{shlex.join(argv)}` runs {args.command!r}, expected {expected!r}"
    return args


@dataclass(frozen=True, slots=True)
class Container:
    """What one container of the image would run with: environment, files and ports."""

    where: str
    env: Mapping[str, str]
    files: Mapping[str, Path]  # path in the container -> file on this machine
    ports: frozenset[int]  # exposed or published container ports


def container_config(
    args: argparse.Namespace, box: Container, problems: list[str]
) -> Config | None:
    """The configuration ``monitor <command>`` reads in ``box``; None after a problem."""
    path = getattr(args, "config", None) or box.env.get(config_module.ENV_CONFIG)
    if not path:
        problems.append(f"{box.where}: names no configuration (--config or MONITOR_CONFIG)")
        return None
    source = box.files.get(posixpath.normpath(path))
    if source is None or not source.is_file():
        problems.append(f"{box.where}: {path} is not in the container (no COPY or mount)")
        return None
    try:
        return load_config(source, env=box.env)
    except ConfigError as error:
        problems.append(f"{box.where}: the configuration does not load: {error}")
        return None


def command_config(
    argv: Sequence[str], expected: str, box: Container, problems: list[str]
) -> Config | None:
    """The configuration that ``monitor <expected>`` on ``argv`` reads in ``box``."""
    args = parse_command(argv, expected, f"{box.where} {expected}")
    if isinstance(args, str):
        problems.append(args)
        return None
    if getattr(args, "url", None):  # `monitor check --url`: that endpoint, no file read
        url = urlsplit(args.url)
        return Config(service=ServiceSettings(str(url.hostname), health_port=url.port or 80))
    return container_config(args, box, problems)


def health_problems(config: Config, box: Container) -> list[str]:
    """The health endpoint of ``config`` in ``box`` is where the ports lead."""
    service = config.service
    problems = []
    if service.health_port not in box.ports:
        problems.append(
            f"{box.where}: the health endpoint listens on port {service.health_port}, but the "
            f"container's ports are {sorted(box.ports)}"
        )
    if service.health_host in LOOPBACK:
        problems.append(
            f"{box.where}: the health endpoint listens on {service.health_host} inside the "
            "container, where no published port reaches it (MONITOR_HEALTH_HOST=0.0.0.0)"
        )
    return problems


def variable_problems(names: set[str], where: str) -> list[str]:
    known = known_variables()
    return [
        f"{where}: sets {name}, which the monitor never reads"
        for name in sorted(names)
        if name.startswith("MONITOR_") and name not in known
    ]


# --- the Dockerfile -----------------------------------------------------------------------------


def load_image(root: Path) -> Image:
    return read_image((root / "Dockerfile").read_text(encoding="utf-8"))


def image_container(image: Image, root: Path) -> Container:
    files = {path: root / source for path, source in image.files.items()}
    return Container("Dockerfile", image.env, files, frozenset(image.exposed))


def dockerfile_problems(root: Path) -> list[str]:
    image = load_image(root)
    problems: list[str] = []
    for base in image.bases:
        if not base.startswith("python:3.11-slim"):
            problems.append(f"Dockerfile: FROM {base}, expected python:3.11-slim")
    if image.user in (None, "root", "0"):
        problems.append("Dockerfile: the container runs as root (USER)")
    if not any("pip install" in run for run in image.final_runs):
        problems.append("Dockerfile: the last stage installs nothing with pip")
    for run in image.runs:
        if "pip install" in run and re.search(r"(^|\s)(-e|--editable)(\s|=|$)", run):
            problems.append(f"Dockerfile: an editable install ({run!r}) needs the sources")
    for source in image.copied:
        if not (root / source).exists():
            problems.append(f"Dockerfile: COPY {source}: no such file in the build context")
    if image.stopsignal != "SIGTERM":
        problems.append(f"Dockerfile: STOPSIGNAL is {image.stopsignal}, expected SIGTERM")
    problems += variable_problems(image.env_names, "Dockerfile ENV")
    box = image_container(image, root)
    argv = _argv(image.entrypoint, "ENTRYPOINT", problems) + _argv(image.cmd, "CMD", problems)
    daemon = command_config(argv, "run", box, problems)
    if daemon is not None:
        problems += health_problems(daemon, box)
    check = image.healthcheck
    if check is None or not check.rest.upper().startswith("CMD "):
        problems.append("Dockerfile: no HEALTHCHECK CMD")
    else:
        command = Instruction("CMD", {}, check.rest[4:].strip(), check.line)
        checker = command_config(_argv(command, "HEALTHCHECK", problems), "check", box, problems)
        problems += asks_the_daemon(checker, daemon, box)
    return problems


def asks_the_daemon(checker: Config | None, daemon: Config | None, box: Container) -> list[str]:
    """``monitor check`` asks the port the daemon listens on."""
    if checker is None or daemon is None:
        return []
    asked, served = checker.service.health_port, daemon.service.health_port
    if asked != served:
        return [f"{box.where}: the health check asks port {asked}, the daemon listens on {served}"]
    return []


def dockerignore_problems(root: Path) -> list[str]:
    lines = (root / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    problems = [
        f".dockerignore: {name} is sent to the Docker daemon (add it)"
        for name in (".venv", "var", ".git", ".mypy_cache", ".pytest_cache", "*.egg-info")
        if name not in patterns
    ]
    for source in load_image(root).copied:
        parts = Path(source).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        for pattern in patterns:
            if pattern.startswith("!"):
                continue
            bare = pattern.removeprefix("**/")
            if any(
                fnmatch.fnmatchcase(p, pattern) or fnmatch.fnmatchcase(p, bare) for p in prefixes
            ):
                problems.append(f".dockerignore: {pattern!r} hides {source}, which COPY needs")
    return problems


# --- docker-compose.yml ---------------------------------------------------------------------------


def load_compose(root: Path) -> dict[str, Any]:
    document = yaml.safe_load((root / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _environment(service: Mapping[str, Any]) -> dict[str, str]:
    value = service.get("environment") or {}
    if isinstance(value, list):
        value = dict(item.split("=", 1) if "=" in item else (item, "") for item in value)
    return {str(name): "" if v is None else str(v) for name, v in value.items()}


def _words(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(item) for item in value]


def _healthcheck_argv(service: Mapping[str, Any]) -> list[str]:
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, str):
        return shlex.split(test)
    words = _words(test)
    if words[:1] == ["CMD"]:
        return words[1:]
    if words[:1] == ["CMD-SHELL"]:
        return shlex.split(" ".join(words[1:]))
    return words


@dataclass(frozen=True, slots=True)
class Port:
    host_ip: str | None
    published: int | None
    target: int


def _ports(service: Mapping[str, Any]) -> list[Port]:
    ports = []
    for spec in service.get("ports") or []:
        if isinstance(spec, dict):
            published = spec.get("published")
            ports.append(
                Port(
                    spec.get("host_ip"), int(published) if published else None, int(spec["target"])
                )
            )
            continue
        parts = str(spec).split("/")[0].rsplit(":", 2)
        host_ip = parts[0] if len(parts) == 3 else None
        published = int(parts[-2]) if len(parts) >= 2 else None
        ports.append(Port(host_ip, published, int(parts[-1])))
    return ports


def _mounts(service: Mapping[str, Any], root: Path) -> dict[str, tuple[Path, bool]]:
    """Bind mounts of files: path in the container -> (file here, read-only)."""
    mounts = {}
    for spec in service.get("volumes") or []:
        if isinstance(spec, dict):
            source, target = str(spec.get("source", "")), str(spec["target"])
            read_only = bool(spec.get("read_only"))
        else:
            source, target, *mode = str(spec).split(":")
            read_only = "ro" in ",".join(mode).split(",")
        if source.startswith((".", "/")):
            mounts[posixpath.normpath(target)] = (root / source, read_only)
    return mounts


def _bound_port(env: Mapping[str, str], name: str, default: int) -> int:
    address = env.get(name, "")
    return int(address.rsplit(":", 1)[1]) if ":" in address else default


def compose_problems(root: Path) -> list[str]:
    compose = load_compose(root)
    services: dict[str, Any] = compose.get("services") or {}
    built = [name for name, s in services.items() if s.get("build")]
    if len(built) != 1:
        return [f"docker-compose.yml: {len(built)} services build the image, expected one"]
    name = built[0]
    service = services[name]
    where = f"docker-compose.yml {name}"
    problems: list[str] = []
    build = service["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    if Path(context) != Path():
        problems.append(f"{where}: builds {context!r}, not this directory's Dockerfile")
    image = load_image(root)
    env = {**image.env, **_environment(service)}
    problems += variable_problems(set(_environment(service)), f"{where} environment")
    mounts = _mounts(service, root)
    files = {path: root / source for path, source in image.files.items()}
    files |= {path: source for path, (source, _) in mounts.items()}
    ports = _ports(service)
    for port in ports:
        if port.host_ip not in LOOPBACK:
            problems.append(f"{where}: port {port.target} is published beyond this machine")
    box = Container(where, env, files, frozenset(p.target for p in ports))

    config = command_config(_service_argv(service, image, problems), "run", box, problems)
    checker = command_config(_healthcheck_argv(service), "check", box, problems)
    problems += asks_the_daemon(checker, config, box)
    for path, (_, read_only) in mounts.items():
        if path.endswith(".toml") and not read_only:
            problems.append(f"{where}: {path} is mounted writable (add :ro)")
    if config is not None:
        problems += health_problems(config, box)
        problems += _service_problems(service, config, where)
        problems += _redis_problems(services, env, service, where)
        problems += _mail_problems(services, config, where)
        problems += _secret_problems(config, env, where)
        problems += _source_problems(config, root, where)
    return problems


def _service_argv(service: Mapping[str, Any], image: Image, problems: list[str]) -> list[str]:
    """What the container runs: Compose's ``entrypoint`` replaces the image's ENTRYPOINT and
    drops its CMD; ``command`` replaces CMD."""
    if "entrypoint" in service:
        return _words(service["entrypoint"]) + _words(service.get("command"))
    argv = _argv(image.entrypoint, "ENTRYPOINT", problems)
    if "command" in service:
        return argv + _words(service["command"])
    return argv + _argv(image.cmd, "CMD", problems)


def _service_problems(service: Mapping[str, Any], config: Config, where: str) -> list[str]:
    problems = []
    grace = parse_duration(str(service.get("stop_grace_period", "10s")))
    needed = max(MIN_STOP_GRACE, config.service.grace + 5.0)
    if grace < needed:
        problems.append(
            f"{where}: stop_grace_period {grace:g}s is too short: SIGKILL would come before "
            f"[service] grace ({config.service.grace:g}s) and the stop (at least {needed:g}s)"
        )
    if service.get("stop_signal", "SIGTERM") != "SIGTERM":
        problems.append(f"{where}: stop_signal {service['stop_signal']}, expected SIGTERM")
    if service.get("restart") != "unless-stopped":
        problems.append(f"{where}: restart is {service.get('restart')!r}, not unless-stopped")
    return problems


def _redis_problems(
    services: Mapping[str, Any], env: Mapping[str, str], monitor: Mapping[str, Any], where: str
) -> list[str]:
    url = urlsplit(env.get(config_module.ENV_REDIS_URL, ""))
    if url.scheme not in ("redis", "rediss") or url.hostname not in services:
        return [f"{where}: MONITOR_REDIS_URL does not name a service of the file ({url.geturl()})"]
    redis = services[url.hostname]
    name = f"docker-compose.yml {url.hostname}"
    problems = []
    if not str(redis.get("image", "")).startswith("redis:7"):
        problems.append(f"{name}: image {redis.get('image')!r}, expected redis:7")
    words = _words(redis.get("command"))
    options = dict(zip(words[1::2], words[2::2], strict=False)) if words else {}
    if options.get("--appendonly") != "yes":
        problems.append(f"{name}: runs without --appendonly yes: a restart loses every event")
    if options.get("--appendfsync", "everysec") not in ("everysec", "always"):
        problems.append(f"{name}: --appendfsync {options['--appendfsync']} may lose minutes")
    if options.get("--maxmemory-policy", "noeviction") != "noeviction":
        problems.append(f"{name}: an eviction policy drops keys the delivery guarantees need")
    port = int(options.get("--port", REDIS_PORT))
    if (url.port or REDIS_PORT) != port:
        problems.append(f"{where}: MONITOR_REDIS_URL has port {url.port}, redis listens on {port}")
    if not any(str(v).split(":")[1:2] == ["/data"] for v in redis.get("volumes") or []):
        problems.append(f"{name}: no volume on /data: the append-only file dies with it")
    health = " ".join(_healthcheck_argv(redis))
    if "redis-cli" not in health or "ping" not in health:
        problems.append(f"{name}: the health check does not ping Redis ({health!r})")
    condition = ((monitor.get("depends_on") or {}).get(url.hostname) or {}).get("condition")
    if condition != "service_healthy":
        problems.append(f"{where}: starts before {url.hostname} is healthy ({condition})")
    return problems


def _mail_problems(services: Mapping[str, Any], config: Config, where: str) -> list[str]:
    problems = []
    emails = [n for n in config.notifiers if n.kind == "email" and n.smtp_url]
    if not emails:
        problems.append(f"{where}: its configuration has no email notifier for the mail catcher")
    for notifier in emails:
        url = urlsplit(notifier.smtp_url or "")
        host = url.hostname or ""
        catcher = services.get(host)
        if catcher is None or not str(catcher.get("image", "")).startswith("axllent/mailpit"):
            problems.append(f"{where}: notifier {notifier.name} mails {host}, not mailpit")
            continue
        env = _environment(catcher)
        smtp = _bound_port(env, "MP_SMTP_BIND_ADDR", MAILPIT_SMTP_PORT)
        port = url.port or SMTP_DEFAULT_PORTS[url.scheme]
        if port != smtp:
            problems.append(
                f"{where}: notifier {notifier.name} mails port {port}, {host} listens on {smtp}"
            )
        ui = _bound_port(env, "MP_UI_BIND_ADDR", MAILPIT_UI_PORT)
        published = [p for p in _ports(catcher) if p.target == ui and p.host_ip in LOOPBACK]
        if not published:
            problems.append(f"docker-compose.yml {host}: web UI port {ui} not on 127.0.0.1")
    return problems


def _secret_problems(config: Config, env: Mapping[str, str], where: str) -> list[str]:
    named = [(n.name, v) for n in config.notifiers for v in (n.secret_env, n.password_env) if v]
    return [
        f"{where}: notifier {name} reads {variable}, which the environment does not set"
        for name, variable in named
        if variable not in env
    ]


def _source_problems(config: Config, root: Path, where: str) -> list[str]:
    shipped = load_config(root / "config" / "monitor.toml", env={}).sources
    if config.sources != shipped:
        ours = {s.id for s in config.sources}
        theirs = {s.id for s in shipped}
        differ = sorted(ours ^ theirs) or "same ids, other settings"
        return [f"{where}: its sources are not config/monitor.toml's ({differ})"]
    return []


def deployment_problems(root: Path) -> list[str]:
    found = dockerfile_problems(root) + dockerignore_problems(root) + compose_problems(root)
    return list(dict.fromkeys(found))  # a shared cause (the image's CMD) is said once


# --- the real files -------------------------------------------------------------------------------


def test_dockerfile_reader_joins_continued_lines_and_reads_options() -> None:
    text = (
        "# syntax=docker/dockerfile:1\n"
        "FROM python:3.11-slim AS build\n"
        "RUN --mount=type=cache,target=/root/.cache \\\n"
        "    # a comment inside the command\n"
        "    pip install x\n"
        'HEALTHCHECK --interval=30s --timeout=5s CMD ["monitor", "check"]\n'
        "CMD monitor run\n"
    )
    run, health, cmd = parse_dockerfile(text)[1:]
    assert (run.keyword, run.flags, run.rest) == (
        "RUN",
        {"mount": "type=cache,target=/root/.cache"},
        "pip install x",
    )
    assert health.flags == {"interval": "30s", "timeout": "5s"}
    assert health.rest == 'CMD ["monitor", "check"]'
    assert cmd.exec_form is None  # shell form
    assert Instruction("CMD", {}, '["monitor", "run"]', 1).exec_form == ["monitor", "run"]


def test_known_variables_include_every_name_the_configuration_reads() -> None:
    declared = {v for k, v in vars(config_module).items() if k.startswith("ENV_")}
    assert declared <= known_variables()
    assert {"MONITOR_CONFIG", "MONITOR_REDIS_URL", "MONITOR_HEALTH_HOST"} <= declared


def test_image_runs_monitor_run_and_checks_health_with_monitor_check() -> None:
    image = load_image(ROOT)
    assert image.entrypoint is not None and image.cmd is not None
    assert [*(image.entrypoint.exec_form or []), *(image.cmd.exec_form or [])] == ["monitor", "run"]
    assert image.healthcheck is not None
    assert image.healthcheck.rest == 'CMD ["monitor", "check"]'
    assert dockerfile_problems(ROOT) == []


def test_image_exposes_the_health_port_of_its_baked_configuration() -> None:
    image = load_image(ROOT)
    box = image_container(image, ROOT)
    assert box.files[image.env["MONITOR_CONFIG"]] == ROOT / "config" / "monitor.toml"
    config = load_config(box.files[image.env["MONITOR_CONFIG"]], env=image.env)
    assert config.service.health_port in image.exposed
    assert config.service.health_host == "0.0.0.0"


def test_dockerignore_keeps_local_state_out_and_the_sources_in() -> None:
    assert dockerignore_problems(ROOT) == []


def test_compose_runs_the_image_against_its_redis_with_mailpit_for_email() -> None:
    assert compose_problems(ROOT) == []


def test_compose_configuration_loads_and_mails_the_catcher() -> None:
    compose = load_compose(ROOT)
    env = _environment(compose["services"]["monitor"])
    config = load_config(ROOT / "config" / "compose.toml", env=env)
    (email,) = [n for n in config.notifiers if n.kind == "email"]
    assert urlsplit(email.smtp_url or "").netloc == "mailpit:1025"
    assert config.redis.url == "redis://redis:6379/0"
    assert [n.kind for n in config.notifiers] == ["console", "email"]


# --- the same checks on broken copies -------------------------------------------------------------

BREAKS = [
    # (file, text, replacement, part of the problem reported)
    ("Dockerfile", 'CMD ["run"]', 'CMD ["runn"]', "not a monitor command line"),
    ("Dockerfile", 'CMD ["run"]', 'CMD ["run", "--role", "everything"]', "invalid choice"),
    ("Dockerfile", 'CMD ["run"]', 'CMD ["poll"]', "expected 'run'"),
    ("Dockerfile", 'ENTRYPOINT ["monitor"]', "ENTRYPOINT monitor", "shell form"),
    ("Dockerfile", 'CMD ["monitor", "check"]', 'CMD ["monitor", "chek"]', "`monitor chek`"),
    (
        "Dockerfile",
        'CMD ["monitor", "check"]',
        'CMD ["monitor", "check", "--fast"]',
        "unrecognized arguments",
    ),
    ("Dockerfile", "EXPOSE 9180", "EXPOSE 9181", "listens on port 9180"),
    ("Dockerfile", "MONITOR_HEALTH_HOST=0.0.0.0", "MONITOR_HEALTH_ADDR=0.0.0.0", "never reads"),
    ("Dockerfile", "MONITOR_HEALTH_HOST=0.0.0.0", "MONITOR_HEALTH_HOST=127.0.0.1", "127.0.0.1"),
    (
        "Dockerfile",
        "MONITOR_CONFIG=/etc/advisory-monitor/monitor.toml",
        "MONITOR_CONFIG=/etc/monitor.toml",
        "not in the container",
    ),
    ("Dockerfile", "USER monitor", "USER root", "as root"),
    ("Dockerfile", "STOPSIGNAL SIGTERM", "STOPSIGNAL SIGKILL", "STOPSIGNAL"),
    ("Dockerfile", "pip install --no-index", "pip install -e . --no-index", "editable"),
    ("Dockerfile", "FROM python:3.11-slim\n", "FROM python:3.12\n", "FROM python:3.12"),
    (".dockerignore", "\nvar\n", "\n", "var is sent"),
    (".dockerignore", "\n.venv\n", "\n.venv\nmonitor\n", "hides monitor"),
    ("docker-compose.yml", '"127.0.0.1:9180:9180"', '"127.0.0.1:9180:9181"', "port 9180"),
    ("docker-compose.yml", '"127.0.0.1:9180:9180"', '"9180:9180"', "beyond this machine"),
    (
        "docker-compose.yml",
        '["run", "--role", "all"]',
        '["run", "--roles", "all"]',
        "not a monitor command line",
    ),
    (
        "docker-compose.yml",
        '["CMD", "monitor", "check"]',
        '["CMD", "monitor", "tail"]',
        "expected 'check'",
    ),
    (
        "docker-compose.yml",
        '["CMD", "monitor", "check"]',
        '["CMD", "monitor", "check", "--url", "http://127.0.0.1:9181/healthz"]',
        "asks port 9181",
    ),
    (
        "Dockerfile",
        'CMD ["monitor", "check"]',
        'CMD ["monitor", "check", "--config", "/etc/advisory-monitor/none.toml"]',
        "none.toml is not in the container",
    ),
    (
        "docker-compose.yml",
        "MONITOR_HEALTH_HOST: 0.0.0.0",
        "MONITOR_HEALTH_HOST: 127.0.0.1",
        "no published port",
    ),
    (
        "docker-compose.yml",
        "MONITOR_REDIS_URL: redis://redis:6379/0",
        "MONITOR_REDIS_URL: redis://redis:6380/0",
        "port 6380",
    ),
    (
        "docker-compose.yml",
        "MONITOR_REDIS_URL: redis://redis:6379/0",
        "MONITOR_REDIS_URI: redis://redis:6379/0",
        "never reads",
    ),
    (
        "docker-compose.yml",
        "MONITOR_CONFIG: /etc/advisory-monitor/compose.toml",
        "MONITOR_CONFIG: /etc/advisory-monitor/other.toml",
        "not in the container",
    ),
    ("docker-compose.yml", "compose.toml:ro", "compose.toml", "writable"),
    (
        "docker-compose.yml",
        '      - --appendonly\n      - "yes"',
        '      - --appendonly\n      - "no"',
        "appendonly",
    ),
    ("docker-compose.yml", "      - everysec", '      - "no"', "appendfsync"),
    ("docker-compose.yml", "      - noeviction", "      - allkeys-lru", "eviction policy"),
    ("docker-compose.yml", "redis-data:/data", "redis-data:/var/data", "no volume on /data"),
    (
        "docker-compose.yml",
        "condition: service_healthy",
        "condition: service_started",
        "before redis is healthy",
    ),
    ("docker-compose.yml", "stop_grace_period: 15s", "stop_grace_period: 5s", "SIGKILL"),
    (
        "docker-compose.yml",
        "MP_SMTP_BIND_ADDR: 0.0.0.0:1025",
        "MP_SMTP_BIND_ADDR: 0.0.0.0:2525",
        "listens on 2525",
    ),
    ("docker-compose.yml", '"127.0.0.1:8025:8025"', '"127.0.0.1:8025:8026"', "web UI"),
    (
        "docker-compose.yml",
        "restart: unless-stopped\n\n  mailpit",
        'restart: "no"\n\n  mailpit',
        "not unless-stopped",
    ),
    (
        "config/compose.toml",
        'smtp_url = "smtp://mailpit:1025"',
        'smtp_url = "smtp://mailhog:1025"',
        "not mailpit",
    ),
    (
        "config/compose.toml",
        'smtp_url = "smtp://mailpit:1025"',
        'smtp_url = "smtp://mailpit"',
        "mails port 25",
    ),
    ("config/compose.toml", "health_port = 9180", "health_port = 9190", "port 9190"),
    (
        "config/compose.toml",
        'to = ["ops@example.org"]',
        'to = ["ops@example.org"]\npassword_env = "MAIL_PASSWORD"',
        "reads MAIL_PASSWORD",
    ),
    ("config/compose.toml", 'id = "gdacs"', 'id = "gdacs-alerts"', "not config/monitor.toml"),
    ("config/compose.toml", 'grace = "5s"', 'grace = "30s"', "SIGKILL would come"),
    ("config/compose.toml", 'kind = "email"', 'kind = "e-mail"', "does not load"),
]


@pytest.mark.parametrize(
    ("name", "text", "replacement", "reported"),
    BREAKS,
    ids=[f"{b[0]}:{b[3]}" for b in BREAKS],
)
def test_a_broken_deployment_file_is_reported(
    tmp_path: Path, name: str, text: str, replacement: str, reported: str
) -> None:
    for each in FILES:
        (tmp_path / each).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / each, tmp_path / each)
    for source in load_image(ROOT).copied:  # what COPY reads must exist in the copy, too
        if not (tmp_path / source).exists():
            (tmp_path / source).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / source).touch()
    original = (tmp_path / name).read_text(encoding="utf-8")
    assert original.count(text) == 1, f"{name} no longer holds {text!r} once: update BREAKS"
    (tmp_path / name).write_text(original.replace(text, replacement), encoding="utf-8")
    problems = deployment_problems(tmp_path)
    assert any(reported in problem for problem in problems), problems
