"""``monitor run`` (or any ``monitor`` command) in a process of its own, as an operator runs it.

The end-to-end tests of the daemon start real processes, so what they exercise is what ships:
argument parsing, configuration from a file, signal handling, exit codes, the JSON log lines
on stderr and the health endpoint on a port the kernel picked. This module starts them, reads
their log lines as they come, finds their health port, asks ``/healthz`` and ``/metrics``, and
stops or kills them::

    with Daemons() as fleet:                      # or the ``daemons`` fixture of test_daemon
        one = fleet.run(config_path, env={"HOOK_SECRET": secret})
        two = fleet.run(config_path, name="two")  # started at once: start-ups overlap
        one.started()                             # the monitor.started line (waits for it)
        one.healthz()                             # (200, {"status": "ok", "ready": True, ...})
        one.metrics().value("monitor_polls_total", source="state", outcome="ok")
        one.wait_for_log("poll.done", where=lambda line: line["source"] == "state")
        one.terminate()                           # SIGTERM; the exit code (within 10 s)
        two.kill()                                # SIGKILL
        fleet.terminate([three, four])            # SIGTERM to both, then both exit codes
        print(fleet.report())                     # every process's stderr tail

Leaving the ``with`` block (or calling :meth:`Daemons.close`) kills whatever still runs, so a
failed test never leaves a daemon behind. Waits fail with an :class:`AssertionError` that
carries the process's last log lines, so a failure reads as what the daemon was doing.

Configuration files are written from TOML blocks: :func:`config_text` with :func:`source`,
:func:`webhook` and :func:`email` blocks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).parents[2]
TAIL = 40  # log lines shown when a wait fails or a test reports its daemons
STARTUP_TIMEOUT = 60.0  # a cold interpreter on a loaded machine imports slowly
STOP_TIMEOUT = 10.0  # SIGTERM to exit: the daemon's promise (grace 5 s, well within 10 s)

LogLine = dict[str, Any]


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without ``MONITOR_*`` overrides (a developer's shell must not
    point the daemon elsewhere than the configuration file), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


# --- configuration files ---------------------------------------------------------------------


def config_text(
    *,
    redis_url: str,
    prefix: str,
    sources: Sequence[str],
    notifiers: Sequence[str],
    grace: str = "5s",
    max_backoff: str = "1h",
    failing_after: int = 3,
) -> str:
    """A whole configuration: Redis under ``prefix``, in-process parsing (``workers = 0``:
    quick to start), short HTTP timeouts, the health endpoint on any free port, and the given
    ``[[sources]]`` and ``[[notifiers]]`` blocks."""
    head = (
        f'[redis]\nurl = "{redis_url}"\nprefix = "{prefix}"\n\n'
        '[http]\nconnect_timeout = "2s"\nread_timeout = "3s"\ntotal_timeout = "5s"\n\n'
        f'[poll]\nworkers = 0\njitter = 0.1\nmax_backoff = "{max_backoff}"\n'
        f"failing_after = {failing_after}\n\n"
        f'[service]\ngrace = "{grace}"\nexpiry_every = "1s"\n'
        'health_host = "127.0.0.1"\nhealth_port = 0\n\n'
    )
    return head + "".join(sources) + "".join(notifiers)


def source(
    source_id: str, url: str, *, interval: str = "2s", fmt: str = "rss", issuer: str | None = None
) -> str:
    """A ``[[sources]]`` block."""
    block = f'[[sources]]\nid = "{source_id}"\nurl = "{url}"\nformat = "{fmt}"\n'
    block += f'interval = "{interval}"\n'
    if issuer:
        block += f'issuer = "{issuer}"\n'
    return block + "\n"


def webhook(
    name: str,
    url: str,
    *,
    secret_env: str = "HOOK_SECRET",
    timeout: str = "5s",
    retry: str = '["200ms", "500ms", "1s"]',
    concurrency: int = 5,
) -> str:
    """A signed webhook notifier's ``[[notifiers]]`` block; the secret is in ``secret_env``."""
    return (
        f'[[notifiers]]\nname = "{name}"\nkind = "webhook"\nurl = "{url}"\n'
        f'secret_env = "{secret_env}"\ntimeout = "{timeout}"\nretry = {retry}\n'
        f"concurrency = {concurrency}\n\n"
    )


def email(
    name: str,
    smtp_url: str,
    *,
    sender: str = "Advisory Monitor <alerts@example.org>",
    to: Sequence[str] = ("ops@example.org",),
    timeout: str = "5s",
    retry: str = '["200ms", "500ms", "1s"]',
) -> str:
    """An email notifier's ``[[notifiers]]`` block: one threaded message per event."""
    recipients = ", ".join(f'"{address}"' for address in to)
    return (
        f'[[notifiers]]\nname = "{name}"\nkind = "email"\nsmtp_url = "{smtp_url}"\n'
        f'from = "{sender}"\nto = [{recipients}]\ntimeout = "{timeout}"\nretry = {retry}\n\n'
    )


# --- /metrics ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class Samples:
    """One scrape of ``/metrics``, parsed by ``prometheus_client``'s own parser."""

    samples: tuple[Sample, ...]

    @classmethod
    def parse(cls, text: str) -> Samples:
        found = [
            Sample(sample.name, dict(sample.labels), float(sample.value))
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]
        return cls(tuple(found))

    def matching(self, name: str, **labels: str) -> list[Sample]:
        """The samples of ``name`` whose labels include ``labels``."""
        return [
            s
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def total(self, name: str, **labels: str) -> float:
        """The sum of the matching samples (0 when there is none): a counter over the labels
        left out, e.g. every outcome of one source's polls."""
        return sum(s.value for s in self.matching(name, **labels))

    def value(self, name: str, **labels: str) -> float | None:
        """The one sample with exactly these labels, or ``None`` when it is absent."""
        for s in self.matching(name, **labels):
            if dict(s.labels) == labels:
                return s.value
        return None

    def by(self, name: str, label: str, **labels: str) -> dict[str, float]:
        """``{value of label: sample}`` over the matching samples, e.g. polls by outcome."""
        return {s.labels.get(label, ""): s.value for s in self.matching(name, **labels)}


# --- one process ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Output:
    """What a process wrote, as it came; ``changed`` wakes whoever waits on it."""

    lines: list[LogLine] = field(default_factory=list)  # stderr's JSON lines
    text: list[str] = field(default_factory=list)  # every stderr line, as written
    stdout: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)


class Daemon:
    """One ``monitor`` process; see the module docstring."""

    def __init__(self, args: Sequence[str], *, env: Mapping[str, str], name: str) -> None:
        self.args = [str(a) for a in args]
        self.name = name
        self._output = _Output()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", *self.args],
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self._readers = [
            self._reader(self.proc.stderr, self._on_stderr, "stderr"),
            self._reader(self.proc.stdout, self._on_stdout, "stdout"),
        ]

    # -- output --------------------------------------------------------------------------------

    def _reader(
        self, stream: IO[str] | None, on_line: Callable[[str], None], what: str
    ) -> threading.Thread:
        def read() -> None:
            assert stream is not None
            for raw in stream:
                line = raw.rstrip("\n")
                with self._output.changed:
                    on_line(line)
                    self._output.changed.notify_all()
            with self._output.changed:
                self._output.changed.notify_all()

        thread = threading.Thread(target=read, name=f"{self.name}-{what}", daemon=True)
        thread.start()
        return thread

    def _on_stderr(self, line: str) -> None:
        self._output.text.append(line)
        try:
            parsed = json.loads(line)
        except ValueError:
            return
        if isinstance(parsed, dict):
            self._output.lines.append(parsed)

    def _on_stdout(self, line: str) -> None:
        self._output.stdout.append(line)

    def logs(self, event: str | None = None, **fields: Any) -> list[LogLine]:
        """The JSON log lines so far, those of ``event`` with these field values if given."""
        with self._output.changed:
            lines = list(self._output.lines)
        return [
            line
            for line in lines
            if (event is None or line.get("event") == event)
            and all(line.get(k) == v for k, v in fields.items())
        ]

    def tail(self, count: int = TAIL) -> str:
        """The last ``count`` stderr lines, for a failure's message."""
        with self._output.changed:
            lines = self._output.text[-count:]
        code = self.proc.poll()
        state = "running" if code is None else f"exited {code}"
        header = f"--- {self.name} (pid {self.proc.pid}, {state}): last {len(lines)} stderr lines"
        return "\n".join([header, *lines])

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Block until ``ready()`` (checked whenever the process writes, and every 0.1 s);
        fails with the stderr tail when ``timeout`` passes or the process exits first."""
        deadline = time.monotonic() + timeout
        with self._output.changed:
            while not ready():
                if self.proc.poll() is not None and not self._reading():
                    if ready():
                        return
                    raise AssertionError(f"{self.name} exited before {what}\n{self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{self.name}: waited {timeout:g}s for {what}\n{self.tail()}"
                    )
                self._output.changed.wait(min(left, 0.1))

    def _reading(self) -> bool:
        return any(reader.is_alive() for reader in self._readers)

    def wait_for_log(
        self,
        event: str,
        *,
        timeout: float = 30.0,
        count: int = 1,
        where: Callable[[LogLine], bool] = lambda line: True,
    ) -> list[LogLine]:
        """The first ``count`` lines of ``event`` that satisfy ``where``, once written."""

        def found() -> list[LogLine]:
            return [
                line for line in self._output.lines if line.get("event") == event and where(line)
            ]

        self.wait_until(lambda: len(found()) >= count, timeout, f"{count} {event!r} line(s)")
        with self._output.changed:
            return found()[:count]

    def started(self, timeout: float = STARTUP_TIMEOUT) -> LogLine:
        """The ``monitor.started`` line (waiting for it): role, sources, health port..."""
        return self.wait_for_log("monitor.started", timeout=timeout)[0]

    @property
    def health_port(self) -> int:
        port = self.started().get("health_port")
        if not isinstance(port, int):
            raise AssertionError(f"{self.name} has no health endpoint\n{self.tail()}")
        return port

    # -- the health endpoint -------------------------------------------------------------------

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        """``GET http://127.0.0.1:{health_port}{path}``: status and body, errors included."""
        url = f"http://127.0.0.1:{self.health_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return int(error.code), bytes(error.read())

    def healthz(self) -> tuple[int, dict[str, Any]]:
        status, body = self.get("/healthz")
        return status, json.loads(body)

    def metrics(self) -> Samples:
        status, body = self.get("/metrics")
        if status != 200:
            raise AssertionError(f"/metrics of {self.name} answered {status}\n{self.tail()}")
        return Samples.parse(body.decode())

    # -- stopping ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then the exit code; fails (with the tail) if it runs past ``timeout``."""
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def send(self, signum: signal.Signals) -> None:
        """Send ``signum`` without waiting (see :meth:`Daemons.terminate` for several)."""
        self.proc.send_signal(signum)

    def kill(self) -> int:
        """SIGKILL: no grace, no clean-up, as when a machine dies."""
        if self.running:
            self.proc.send_signal(signal.SIGKILL)
        return self.wait(STOP_TIMEOUT)

    def wait(self, timeout: float) -> int:
        """The exit code once the process ended (and its output was read to the end)."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} still runs {timeout:g}s later\n{self.tail()}"
            ) from None
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def close(self) -> None:
        """Kill if still running, reap, close the pipes; harmless twice."""
        if self.running:
            self.proc.send_signal(signal.SIGKILL)
        try:
            self.proc.wait(STOP_TIMEOUT)
        finally:
            for reader in self._readers:
                reader.join(timeout=5)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()


class Daemons:
    """The processes of one test: started together, reported together, always killed."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = dict(env or {})
        self.all: list[Daemon] = []

    def start(
        self, *args: str | Path, name: str | None = None, env: Mapping[str, str] | None = None
    ) -> Daemon:
        """``python -m monitor *args`` with a clean environment plus this fleet's and ``env``."""
        label = name or f"monitor-{len(self.all) + 1}"
        daemon = Daemon(
            [str(a) for a in args],
            env=clean_environment({**self.env, **(env or {})}),
            name=label,
        )
        self.all.append(daemon)
        return daemon

    def run(
        self,
        config: Path,
        *,
        role: str = "all",
        name: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Daemon:
        """``monitor run --config CONFIG --role ROLE``; returns at once (see :meth:`started`)."""
        return self.start("run", "--config", config, "--role", role, name=name, env=env)

    def started(self, daemons: Iterable[Daemon] | None = None) -> list[LogLine]:
        """Wait for each daemon's ``monitor.started`` line (they start side by side)."""
        return [d.started() for d in (self.all if daemons is None else daemons)]

    def terminate(self, daemons: Iterable[Daemon], timeout: float = STOP_TIMEOUT) -> list[int]:
        """SIGTERM to each at once, then their exit codes: they wind down side by side."""
        chosen = list(daemons)
        for daemon in chosen:
            daemon.send(signal.SIGTERM)
        return [daemon.wait(timeout) for daemon in chosen]

    def report(self) -> str:
        return "\n\n".join(d.tail() for d in self.all)

    def close(self) -> None:
        for daemon in self.all:
            daemon.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = [
    "Daemon",
    "Daemons",
    "Samples",
    "clean_environment",
    "config_text",
    "email",
    "source",
    "webhook",
]
