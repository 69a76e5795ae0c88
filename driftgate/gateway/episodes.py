"""Failure episodes of the gateway's loops: logged at ERROR once when one starts, not per retry.

A loop that retries with backoff (a fetch, applying a config) would otherwise write the same line
every few seconds for as long as a disk stays full, and an operator learns to ignore it. An
episode opens at the first failure of a key (ERROR, with the traceback when the cause is not one
of driftgate's own errors), stays quiet while it lasts (DEBUG), and closes at the first success
(INFO, with how many attempts it took). What is open now is what the gateway reports to the
registry as the reason it lags.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from dataclasses import dataclass

from driftgate.errors import DriftgateError

__all__ = ["Episodes"]


@dataclass(slots=True)
class _Episode:
    message: str
    attempts: int = 1


class Episodes:
    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._open: dict[Hashable, _Episode] = {}

    def fail(self, key: Hashable, message: str, exc: BaseException | None = None) -> int:
        """Record a failure of ``key``; returns its attempts so far in this episode."""
        episode = self._open.get(key)
        if episode is None:
            self._open[key] = _Episode(message)
            trace = exc if exc is not None and not isinstance(exc, DriftgateError | OSError) else None
            self._log.error("%s", message, exc_info=trace)
            return 1
        episode.attempts += 1
        episode.message = message
        self._log.debug("%s (attempt %d)", message, episode.attempts)
        return episode.attempts

    def ok(self, key: Hashable, what: str = "") -> None:
        """``key`` succeeded: close its episode (INFO when there was one)."""
        episode = self._open.pop(key, None)
        if episode is not None:
            self._log.info("%s after %d failed attempts", what or "recovered", episode.attempts)

    def drop(self, key: Hashable) -> None:
        """Forget ``key``'s episode without a success (what failed is no longer wanted)."""
        self._open.pop(key, None)

    def is_open(self, key: Hashable) -> bool:
        return key in self._open

    def messages(self) -> list[str]:
        """What is failing now, oldest episode first."""
        return [e.message for e in self._open.values()]
