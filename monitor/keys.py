"""Every Redis key and stream name the monitor uses, built from one prefix.

No other module spells a key: they ask a :class:`Keys`. One place makes the layout easy to
read, lets several deployments (or tests) share one Redis under different prefixes, and makes
a Redis Cluster layout a one-line decision.

Identifiers go into keys as they are. Advisory ids contain ``:``, ``/`` and whole URLs
(``us-state:https://travel.state.gov/...``); Redis keys are binary safe, so
``monitor:advisory:us-state:https://...`` is one key, and nothing ever splits a key back into
parts (the id is also stored inside the value). Escaping would only make keys harder to find
with ``redis-cli``.

Redis Cluster: the emit and expire scripts touch an advisory hash, the expiry index *and* the
events stream in one call, and the source-health scripts touch a source hash, the events stream
and the set of sources.
A script's keys must live in one hash slot. A prefix with a hash tag, such as
``"{monitor}:"``, puts every key of the deployment in one slot (:attr:`Keys.single_slot`
tells whether it does); with a plain prefix on a single server nothing changes. The scripts
receive every key they touch through ``KEYS`` and never build a key name in Lua, so they
stay correct whatever the prefix: a cross-slot layout fails loudly (``CROSSSLOT``) instead of
writing half an emission.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "monitor:"


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix (``"monitor:"`` unless configured)."""

    prefix: str = DEFAULT_PREFIX

    @property
    def events(self) -> str:
        """Stream: one entry per emitted event (advisory and source-health events)."""
        return f"{self.prefix}events"

    @property
    def dead(self) -> str:
        """Stream: dead-lettered deliveries, with their group, attempts and last error."""
        return f"{self.prefix}dead"

    def retries(self, group: str) -> str:
        """Sorted set per consumer group: stream id -> when its next attempt is due (unix ms).

        Also the lease of a retry being attempted: the engine that takes a due entry moves its
        score a claim period ahead, so a crash hands it back to the group when that passes."""
        return f"{self.prefix}retry:{group}"

    def attempts(self, group: str) -> str:
        """Hash per consumer group: stream id -> failed attempts so far (survives restarts)."""
        return f"{self.prefix}attempts:{group}"

    def replays(self, group: str) -> str:
        """Hash per consumer group: stream id -> the entry's fields (JSON) of a replayed dead
        letter, so a replay still delivers after the stream was trimmed past the entry."""
        return f"{self.prefix}replay:{group}"

    @property
    def sources(self) -> str:
        """Set: the id of every source that has state in Redis."""
        return f"{self.prefix}sources"

    def advisory(self, advisory_id: str) -> str:
        """Hash: version, fingerprint, content_hash, snapshot (JSON), first_seen, last_seen;
        once its expiry was announced, expired_at (ISO) and expired_for (that expires, unix ms)."""
        return f"{self.prefix}advisory:{advisory_id}"

    @property
    def expiries(self) -> str:
        """Sorted set: advisory id -> its ``expires`` (unix ms), for each advisory whose expiry
        is still to be announced (``advisory.expired``). Kept by the emit script with the
        advisory it describes; the expiry sweep reads what is due and the expire script
        removes what it announced."""
        return f"{self.prefix}expiries"

    def source(self, source_id: str) -> str:
        """Hash: validators, last outcome and error, failure count, due times, health flags."""
        return f"{self.prefix}source:{source_id}"

    def lease(self, source_id: str) -> str:
        """String with a PX expiry: who polls this source now."""
        return f"{self.prefix}lease:{source_id}"

    def items(self, source_id: str) -> str:
        """Hash: item key -> item hash, so an unchanged item is not normalised again."""
        return f"{self.prefix}items:{source_id}"

    def discovered(self, source_id: str) -> str:
        """Hash: discovered key -> change token, for discovery sources (index -> details)."""
        return f"{self.prefix}discovered:{source_id}"

    @property
    def single_slot(self) -> bool:
        """Whether the prefix carries a Redis Cluster hash tag, so every key shares one slot.

        Cluster hashes only the text between the first ``{`` of a key and the next ``}`` when
        that text is not empty. When both braces are inside the prefix, the prefix alone
        decides the slot of every key, whatever the ids after it.
        """
        start = self.prefix.find("{")
        if start < 0:
            return False
        end = self.prefix.find("}", start + 1)
        return end > start + 1
