"""The chat notifier: Slack, Teams, Telegram, Discord, ntfy… through the Apprise library.

:func:`build_message` is pure: a title and a plain-text body from the event (the headline, the
level and how it changed, countries, issuers, the advice, the validity window, the link and the
event id). :class:`AppriseNotifier` sends them with Apprise's ``async_notify``; Apprise runs its
blocking plugins in its own worker threads, so the event loop is never held.

The Apprise URL comes from ``url`` in the file, or, since it carries the service's tokens, from
the environment variable named by ``secret_env``. It is never logged: Apprise's own reports
name a service by its privacy-masked URL, and errors here name only the notifier.

Apprise answers success or failure per service, not an HTTP status, so failures are retryable
unless a plugin reported a 4xx status other than 408 and 429 (a revoked token will not start
working by itself); a call that ran out of time is retryable.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from monitor.config import NotifierConfig
from monitor.filters import event_countries, matches
from monitor.notifiers.base import DeliveryError, Event, NotifierSetupError
from monitor.notifiers.console import clean

if TYPE_CHECKING:
    import apprise

TITLE_CHARS = 200
BODY_CHARS = 1800
ADVICE_ITEMS = 3
_STATUS = re.compile(r"\berror=(\d{3})\b")

HEADLINES = {
    "advisory.new": "New",
    "advisory.changed": "Changed",
    "advisory.cancelled": "Cancelled",
    "advisory.expired": "Expired",
    "source.failing": "Source failing",
    "source.recovered": "Source recovered",
    "source.silent": "Source silent",
}


# --- the pure part -------------------------------------------------------------------------


def build_message(event: Mapping[str, Any]) -> tuple[str, str]:
    """The title and the plain-text body announcing ``event``."""
    event_type = str(event.get("type", ""))
    headline = HEADLINES.get(event_type, clean(event_type) or "Event")
    advisory = event.get("advisory")
    if not isinstance(advisory, Mapping):
        source = clean(event.get("source", "?"))
        return clean(f"{headline}: {source}", TITLE_CHARS), _cut("\n".join(_source_lines(event)))
    title = clean(advisory.get("title") or advisory.get("id") or "(untitled)")
    lines = list(_advisory_lines(event, advisory))
    return clean(f"{headline}: {title}", TITLE_CHARS), _cut("\n".join(lines))


def _advisory_lines(event: Mapping[str, Any], advisory: Mapping[str, Any]) -> Iterator[str]:
    raw = event.get("changes")
    changes: list[Any] = raw if isinstance(raw, list) else []
    level = _level_line(advisory.get("level"), changes)
    if level:
        yield level
    countries = event_countries(event)
    if countries:
        yield "Countries: " + ", ".join(countries)
    issuers = [_issuer(issuer) for issuer in advisory.get("issuers") or [] if _is_map(issuer)]
    if issuers:
        yield "Issued by: " + "; ".join(issuers)
    advice = [clean(a, 120) for a in advisory.get("advice") or [] if isinstance(a, str)]
    if advice:
        yield "Advice: " + "; ".join(advice[:ADVICE_ITEMS])
    summary = _changes_line(changes)
    if summary:
        yield "Changes: " + summary
    window = _window(advisory.get("effective"), advisory.get("expires"))
    if window:
        yield window
    if isinstance(advisory.get("url"), str) and advisory["url"]:
        yield clean(advisory["url"])
    yield f"Event {clean(event.get('event_id', '?'))}"


def _source_lines(event: Mapping[str, Any]) -> Iterator[str]:
    for name, label in (("outcome", "Outcome"), ("error", "Error"), ("last_new", "Last new")):
        if event.get(name):
            yield f"{label}: {clean(event[name], 300)}"
    failures = event.get("consecutive_failures")
    if isinstance(failures, int) and event.get("type") == "source.failing":
        yield f"Failures in a row: {failures}"
    yield f"Event {clean(event.get('event_id', '?'))}"


def _level_line(level: Any, changes: list[Any]) -> str:
    now = level if _is_level(level) else None
    for change in changes:
        if _is_map(change) and change.get("field") == "level":
            old = change.get("old")
            was = f"level {old}" if _is_level(old) else "no level"
            return f"Level {now if now is not None else 'none'} (was {was})"
    return f"Level {now}" if now is not None else ""


def _issuer(issuer: Mapping[str, Any]) -> str:
    name = clean(issuer.get("name") or issuer.get("country") or "?", 80)
    level = issuer.get("level")
    return f"{name} (level {level})" if _is_level(level) else name


def _changes_line(changes: list[Any]) -> str:
    """``level 3→4; countries +LB −SY`` from the typed changes."""
    parts: list[str] = []
    for change in changes:
        if not _is_map(change) or not isinstance(change.get("field"), str):
            continue
        name = clean(change["field"], 60)
        if "added" in change or "removed" in change:
            added = [f"+{clean(v, 40)}" for v in change.get("added") or []]
            removed = [f"−{clean(v, 40)}" for v in change.get("removed") or []]
            parts.append(f"{name} {' '.join(added + removed)}".strip())
        else:
            parts.append(f"{name} {_value(change.get('old'))}→{_value(change.get('new'))}")
    return "; ".join(parts)


def _window(effective: Any, expires: Any) -> str:
    start = f"from {clean(effective)}" if isinstance(effective, str) and effective else ""
    end = f"until {clean(expires)}" if isinstance(expires, str) and expires else ""
    both = " ".join(part for part in (start, end) if part)
    return f"Valid {both}" if both else ""


def _value(value: Any) -> str:
    return "none" if value is None else clean(value, 40)


def _cut(text: str) -> str:
    return text if len(text) <= BODY_CHARS else text[: BODY_CHARS - 1] + "…"


def _is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_level(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def classify(ok: bool, timed_out: bool, logs: list[str]) -> None:
    """Nothing on success, else raises the ``DeliveryError`` the captured logs point to."""
    if ok:
        return
    if timed_out:
        raise DeliveryError("apprise: the service did not answer in time", retryable=True)
    statuses = [int(found) for line in logs for found in _STATUS.findall(line)]
    status = statuses[-1] if statuses else None
    if status is not None:
        retryable = status >= 500 or status in (408, 429)
        raise DeliveryError(f"apprise: HTTP {status}", retryable=retryable, status=status)
    reason = clean(logs[-1], 200) if logs else "the service reported a failure"
    raise DeliveryError(f"apprise: {reason}", retryable=True)


# --- the sender ----------------------------------------------------------------------------


def load_apprise() -> Any:
    """The ``apprise`` module, or a setup error saying how to install it."""
    try:
        import apprise
    except ImportError:
        raise NotifierSetupError(
            "kind 'apprise' needs the apprise package (pip install apprise)"
        ) from None
    return apprise


class AppriseNotifier:
    """Sends each wanted event through one Apprise URL."""

    kind = "apprise"

    def __init__(self, config: NotifierConfig, *, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.name = config.name
        url = _apprise_url(config, os.environ if env is None else env)
        module = load_apprise()
        self._apprise: apprise.Apprise = module.Apprise()
        with warnings.catch_warnings():
            # Apprise's e-mail plugin imports imghdr, deprecated since Python 3.11: not ours
            # to fix, and it must not turn into an error where warnings are errors (tests).
            warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
            added = self._apprise.add(url)
        if not added:
            scheme = url.split("://", 1)[0]
            raise NotifierSetupError(
                f"notifier {self.name!r}: Apprise cannot use this URL (scheme {scheme!r}: "
                "unknown to Apprise or missing its tokens)"
            )
        self._format = module.NotifyFormat.TEXT
        self._timed_out = module.AppriseResultStatus.TIMEOUT

    def __repr__(self) -> str:
        return f"AppriseNotifier(name={self.name!r})"

    def wants(self, event: Event) -> bool:
        return matches(self.config.filter, event)

    async def send(self, event: Event) -> str:
        title, body = build_message(event)
        result = await self._apprise.async_notify(
            body=body, title=title, body_format=self._format, timeout=self.config.timeout
        )
        try:
            logs = [entry.message for entry in result.logs()]
            classify(bool(result), result.status == self._timed_out, logs)
            return f"apprise: delivered to {result.success_count} service(s)"
        finally:
            for service in result.results:
                service.close()

    async def aclose(self) -> None:
        self._apprise.clear()


def _apprise_url(config: NotifierConfig, env: Mapping[str, str]) -> str:
    if config.url is not None:
        return config.url
    if config.secret_env is None:
        raise NotifierSetupError(f"notifier {config.name!r}: kind apprise needs url or secret_env")
    url = env.get(config.secret_env, "").strip()
    if not url:
        raise NotifierSetupError(
            f"notifier {config.name!r}: ${config.secret_env} is not set (it must hold the "
            "Apprise URL, e.g. slack://TokenA/TokenB/TokenC)"
        )
    return url


__all__ = ["HEADLINES", "AppriseNotifier", "build_message", "classify", "load_apprise"]
