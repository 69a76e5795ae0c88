"""Fan-out of the desired gateway config: one snapshot per generation, any number of watchers.

The catalogue calls ``publish(generation)`` (through the loop, from its worker threads) after each
commit; watchers wake on an asyncio.Event that is swapped on every publish, so a change that lands
while a watcher is sending is never missed. The snapshot for a generation is built once (one read
transaction, off the loop) and the same message goes to every watcher.

With several registry replicas on one database, a change committed by another replica (an operator
calling it, the leader's rollout moving traffic) never calls this replica's ``publish``: ``follow``
reads the database's generation every ``interval_s`` and publishes what it finds newer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from driftgate.proto.v1 import control_pb2 as pb
from driftgate.registry.api import convert
from driftgate.registry.catalogue.catalogue import Catalogue

__all__ = ["ConfigHub"]

log = logging.getLogger("driftgate.registry.watch")


class ConfigHub:
    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue
        self._changed = asyncio.Event()
        self._lock = asyncio.Lock()
        self._cached: pb.GatewayConfig | None = None
        self._generation = -1
        self._closed = False

    @property
    def generation(self) -> int:
        """The newest generation this hub has heard of."""
        return self._generation

    def publish(self, generation: int) -> None:
        """Call on the event loop: the desired state is now at ``generation``."""
        self._generation = max(self._generation, generation)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def close(self) -> None:
        """End every watch stream (the server is stopping)."""
        self._closed = True
        self.publish(self._generation)

    async def follow(self, read_generation: Callable[[], int], interval_s: float) -> None:
        """Publish changes other replicas commit: poll ``read_generation`` (off the loop) for ever."""
        while not self._closed:
            await asyncio.sleep(interval_s)
            try:
                generation = await asyncio.to_thread(read_generation)
            except Exception as exc:  # the database is away: watchers keep the config they have
                log.debug("config generation not read: %s", exc.__class__.__name__)
                continue
            if generation > self._generation:
                self.publish(generation)

    async def current(self) -> pb.GatewayConfig:
        async with self._lock:
            if self._cached is None or self._cached.generation < self._generation:
                config = await asyncio.to_thread(self._catalogue.desired_config)
                self._cached = convert.config_pb(config)
                self._generation = max(self._generation, config.generation)
            return self._cached

    async def watch(self) -> AsyncIterator[pb.GatewayConfig]:
        """The current config at once, then each newer one, until ``close()``."""
        sent = -1
        while not self._closed:
            changed = self._changed  # taken before reading, so a publish in between is seen
            config = await self.current()
            if config.generation != sent:
                sent = config.generation
                yield config
            if self._closed:
                break
            await changed.wait()
