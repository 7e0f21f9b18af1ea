"""The pub/sub mirror: each event PUBLISHed for fire-and-forget subscribers.

The stream is the interface that never loses an event (``docs/events.md``); pub/sub is for
subscribers that only want what happens while they listen (a dashboard, a chat bot). Each
event goes, as the JSON text ``monitor tail`` prints, to

- ``{prefix}events``: every event this notifier's filter lets through;
- ``{prefix}events:{country}``: once per country the advisory is about (its ``countries`` and
  its areas' countries), so ``SUBSCRIBE monitor:events:UA`` hears only Ukraine and
  ``PSUBSCRIBE monitor:events:*`` hears every country-tagged event.

The channel names are the stream's key (``Keys.events``) and that key plus ``:`` and the ISO
code. Channels are not keys, so the same name as the stream does not collide with it.
All of one event's PUBLISHes go in one round trip. A subscriber that is not listening misses
the message, by design: there is no retry for someone absent, only for Redis not answering.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from monitor.config import NotifierConfig
from monitor.filters import event_countries, matches
from monitor.keys import Keys
from monitor.notifiers.base import DeliveryError, Event, event_json


def channels(keys: Keys, event: Event) -> list[str]:
    """The channels ``event`` is published to: all events, then one per country."""
    everything = keys.events
    return [everything, *(f"{everything}:{country}" for country in event_countries(event))]


class PubSubNotifier:
    """PUBLISHes each wanted event on a ``redis.asyncio`` client owned by the caller."""

    kind = "pubsub"

    def __init__(self, config: NotifierConfig, *, redis: aioredis.Redis, keys: Keys) -> None:
        self.config = config
        self.name = config.name
        self.keys = keys
        self._redis = redis

    def __repr__(self) -> str:
        return f"PubSubNotifier(name={self.name!r}, channel={self.keys.events!r})"

    def wants(self, event: Event) -> bool:
        return matches(self.config.filter, event)

    async def send(self, event: Event) -> str:
        message = event_json(event)
        names = channels(self.keys, event)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.publish(name, message)
                replies: list[Any] = await pipe.execute()
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            raise DeliveryError(f"Redis did not answer: {error}", retryable=True) from None
        except RedisError as error:
            raise DeliveryError(f"Redis refused PUBLISH: {error}", retryable=False) from None
        listeners = sum(int(reply) for reply in replies)
        return f"published to {len(names)} channels, {listeners} subscribers"

    async def aclose(self) -> None:
        """Nothing to close: the client belongs to the caller, who closes it."""


__all__ = ["PubSubNotifier", "channels"]
