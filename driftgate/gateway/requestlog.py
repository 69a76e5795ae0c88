"""What this gateway scored, kept until a report carries it to the registry (for the join with
labels that arrive days later: chargebacks).

One entry per scored request: (model, version, request id, scores, unix time). The request path
pays one tuple, one deque append and a few integer operations (bench/requestlog_micro.py measures
it); everything else (expanding a batch into "<id>#<i>" rows, grouping by version) happens when a
report is built, off the request path.

Bounded by rows: when the buffer holds more than ``capacity`` rows the oldest entries are dropped,
and ``dropped`` counts their rows (cumulative, reported as ``scored_dropped``). Shipping is two
steps so that nothing is lost on a failed report: ``take()`` copies what is pending and returns a
mark; ``commit(mark)`` forgets what that report carried, once the registry accepted it. Entries
recorded between the two stay. Until a mark is committed, ``take()`` returns entries up to that
same mark only (those of them still held): a report whose reply was lost may have been kept, and
the registry recognises it by (``prefix``, mark) only when it is sent again with the same mark.

Request ids: the client's ``id``; when it sent none, :meth:`RequestLog.next_id` makes one from a
prefix unique to this worker and this start (gateway id plus start time) and a counter, so ids are
unique across workers, hosts and restarts.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["PendingScored", "RequestLog", "ScoredGroup", "id_prefix"]


class _Scored(Protocol):
    model: str
    version: int


@dataclass(frozen=True, slots=True)
class ScoredGroup:
    """Rows of one model version, columnar (as in the report's ScoredRecords)."""

    model: str
    version: int
    ids: list[str]
    scores: np.ndarray  # float32
    at: np.ndarray  # float64 unix seconds


@dataclass(frozen=True, slots=True)
class PendingScored:
    groups: list[ScoredGroup]
    mark: int  # pass to RequestLog.commit once the registry has these rows
    rows: int


def id_prefix(gateway_id: str, started: float | None = None) -> str:
    """A prefix unique to one worker process: its gateway id and its start time (ms, base 36)."""
    ms = int((time.time() if started is None else started) * 1000)
    return f"{gateway_id}-{np.base_repr(ms, 36).lower()}-"


class RequestLog:
    def __init__(self, capacity: int, prefix: str, clock: Callable[[], float] = time.time) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1 row")
        self.capacity = capacity
        self.prefix = prefix
        self.dropped = 0  # rows dropped because the buffer was full, cumulative
        self._clock = clock
        self._counter = itertools.count(1)
        self._entries: deque[tuple[str, int, str, np.ndarray, float]] = deque()
        self._rows = 0
        self._appended = 0  # entries ever appended: entry k of the deque has number _appended - len + k
        self._unconfirmed: int | None = None  # the mark of a take() not committed yet

    def __len__(self) -> int:
        """Rows held now."""
        return self._rows

    @property
    def unconfirmed(self) -> bool:
        """Whether a take() waits for its commit (its report failed, or is in flight)."""
        return self._unconfirmed is not None

    def next_id(self) -> str:
        return f"{self.prefix}{next(self._counter)}"

    def record(self, lv: _Scored, request_id: str, scores: np.ndarray | None, now: float | None = None) -> None:
        """Keep one scored request (hot path: no copies, no expansion); ``now``: the unix time
        the caller read already, else the log's clock."""
        if scores is None:
            return
        self._entries.append((lv.model, lv.version, request_id, scores, self._clock() if now is None else now))
        self._appended += 1
        self._rows += len(scores)
        if self._rows > self.capacity:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        entries = self._entries
        while self._rows > self.capacity and len(entries) > 1:
            rows = len(entries.popleft()[3])
            self._rows -= rows
            self.dropped += rows
        if self._rows > self.capacity:  # one request larger than the whole buffer
            rows = len(entries.popleft()[3])
            self._rows -= rows
            self.dropped += rows

    def take(self) -> PendingScored:
        """Everything pending, grouped by model version; batch row i of request ``id`` is ``"<id>#<i>"``."""
        mark = self._appended if self._unconfirmed is None else self._unconfirmed
        self._unconfirmed = mark
        entries = self._entries
        first = self._appended - len(entries)  # number of the oldest entry still held
        snapshot = list(itertools.islice(entries, max(0, mark - first)))
        by_version: dict[tuple[str, int], tuple[list[str], list[np.ndarray], list[float]]] = {}
        for model, version, rid, scores, at in snapshot:
            ids, score_parts, times = by_version.setdefault((model, version), ([], [], []))
            n = len(scores)
            if n == 1:
                ids.append(rid)
                times.append(at)
            else:
                ids.extend(f"{rid}#{i}" for i in range(n))
                times.extend([at] * n)
            score_parts.append(scores)
        groups = [
            ScoredGroup(
                model,
                version,
                ids,
                np.concatenate(score_parts).astype(np.float32, copy=False),
                np.asarray(times, dtype=np.float64),
            )
            for (model, version), (ids, score_parts, times) in sorted(by_version.items())
        ]
        return PendingScored(groups, mark, sum(len(g.ids) for g in groups))

    def commit(self, mark: int) -> None:
        """Forget the entries a report carried (those appended before ``mark``) and no others."""
        entries = self._entries
        first = self._appended - len(entries)  # number of the oldest entry still held
        for _ in range(max(0, min(mark - first, len(entries)))):
            self._rows -= len(entries.popleft()[3])
        if self._unconfirmed is not None and mark >= self._unconfirmed:
            self._unconfirmed = None
