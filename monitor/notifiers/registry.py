"""Notifiers built from the configuration: the one place that knows every kind.

:func:`build_notifiers` builds every configured notifier, or raises one
:class:`~monitor.notifiers.base.NotifierSetupError` that lists every notifier that cannot be
built (a secret missing from the environment, an Apprise URL Apprise does not know), so an
operator fixes them all in one pass. Kinds with a heavy or optional dependency (Apprise, the
e-mail notifier's SMTP client) are imported only when configured.
"""

from __future__ import annotations

from collections.abc import Mapping

import redis.asyncio as aioredis

from monitor.config import Config, NotifierConfig
from monitor.keys import Keys
from monitor.notifiers.base import Notifier, NotifierSetupError


def build_notifier(
    notifier: NotifierConfig,
    *,
    prefix: str,
    redis: aioredis.Redis | None,
    env: Mapping[str, str] | None = None,
) -> Notifier:
    """One notifier. ``prefix`` names the pub/sub channels; ``redis`` is needed by ``pubsub``
    only; ``env`` (default ``os.environ``) holds the secrets named by the configuration."""
    kind = notifier.kind
    if kind == "console":
        from monitor.notifiers.console import ConsoleNotifier

        return ConsoleNotifier(notifier)
    if kind == "webhook":
        from monitor.notifiers.webhook import WebhookNotifier

        return WebhookNotifier(notifier, env=env)
    if kind == "pubsub":
        if redis is None:
            raise NotifierSetupError(f"notifier {notifier.name!r}: kind pubsub needs Redis")
        from monitor.notifiers.pubsub import PubSubNotifier

        return PubSubNotifier(notifier, redis=redis, keys=Keys(prefix))
    if kind == "apprise":
        from monitor.notifiers.chat import AppriseNotifier

        return AppriseNotifier(notifier, env=env)
    if kind == "email":
        return _email(notifier, env)
    raise NotifierSetupError(f"notifier {notifier.name!r}: unknown kind {kind!r}")


def build_notifiers(
    config: Config, *, redis: aioredis.Redis | None, env: Mapping[str, str] | None = None
) -> list[Notifier]:
    """Every configured notifier, in the configuration's order."""
    built: list[Notifier] = []
    problems: list[str] = []
    for notifier in config.notifiers:
        try:
            built.append(build_notifier(notifier, prefix=config.redis.prefix, redis=redis, env=env))
        except NotifierSetupError as error:
            problems.append(str(error))
    if problems:
        raise NotifierSetupError("\n".join(problems))
    return built


def _email(notifier: NotifierConfig, env: Mapping[str, str] | None) -> Notifier:
    try:
        from monitor.notifiers.email import EmailNotifier  # type: ignore[import-not-found,unused-ignore]
    except ImportError as error:
        raise NotifierSetupError(
            f"notifier {notifier.name!r}: kind 'email' is not available in this build ({error})"
        ) from None
    email_notifier: Notifier = EmailNotifier(notifier, env=env)
    return email_notifier


__all__ = ["build_notifier", "build_notifiers"]
