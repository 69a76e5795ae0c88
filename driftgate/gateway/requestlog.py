"""What this gateway scored, kept until a report carries it to the registry (for the join with
labels that arrive days later: chargebacks).

One row per scored row: (model version, request id, score, unix time), held as columns (a list of
ids, a list of version keys, float32 and float64 arrays), not as an object per request. The request
path appends four items (a batched request: four extends and one range, its rows' ids are made
when a report takes them); a report slices the columns and a commit moves a head index, so neither
walks nor frees an object per request. An object per request (a tuple holding the request's score
array) cost the event loop 1.5-2.5 us a row at report time, cache-cold: a pause of ~45 ms every
5 s at 2,400 requests/s (bench/README.md, "The scored-request report's pause").

Bounded by rows: when the buffer holds more than ``capacity`` rows the oldest rows are dropped,
and ``dropped`` counts them (cumulative, reported as ``scored_dropped``). Shipping is two steps so
that nothing is lost on a failed report: ``take()`` copies what is pending and returns a mark (a
row count); ``commit(mark)`` forgets what that report carried, once the registry accepted it. Rows
recorded between the two stay. Until a mark is committed, ``take()`` returns rows up to that same
mark only (those of them still held): a report whose reply was lost may have been kept, and the
registry recognises it by (``prefix``, mark) only when it is sent again with the same mark.

Request ids: the client's ``id``; when it sent none, :meth:`RequestLog.next_id` makes one from a
prefix unique to this worker and this start (gateway id plus start time) and a counter, so ids are
unique across workers, hosts and restarts. Row i of a batched request is ``"<id>#<i>"``.
"""

from __future__ import annotations

import itertools
import time
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["PendingScored", "RequestLog", "ScoredGroup", "id_prefix"]

_COMPACT_AT = 4096  # spent rows at the head before the columns are cut (when they are also the larger part)


class _Scored(Protocol):
    key: tuple[str, int]  # (model, version), one tuple shared by every request to the version


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
        # the columns; index i < _head is spent (committed or dropped), cut off now and then
        self._ids: list[str] = []
        self._keys: list[tuple[str, int]] = []
        self._scores = array("f")
        self._at = array("d")
        self._now = array("d", (0.0,))  # a batch's time, repeated into _at
        self._head = 0
        self._appended = 0  # rows ever appended: index i holds row number _appended - len(_ids) + i
        # batched requests as (row number of their row 0, rows), oldest first: their rows hold the
        # request's id, made "<id>#<i>" by take()
        self._batches: deque[tuple[int, int]] = deque()
        self._unconfirmed: int | None = None  # the mark of a take() not committed yet

    def __len__(self) -> int:
        """Rows held now."""
        return len(self._ids) - self._head

    @property
    def unconfirmed(self) -> bool:
        """Whether a take() waits for its commit (its report failed, or is in flight)."""
        return self._unconfirmed is not None

    def next_id(self) -> str:
        return f"{self.prefix}{next(self._counter)}"

    def record(self, lv: _Scored, request_id: str, scores: np.ndarray | None, now: float | None = None) -> None:
        """Keep one scored request's rows (hot path: four appends for a one-row request); ``now``:
        the unix time the caller read already, else the log's clock."""
        if scores is None:
            return
        if now is None:
            now = self._clock()
        n = len(scores)
        if n == 1:
            self._ids.append(request_id)
            self._keys.append(lv.key)
            self._scores.append(scores.item())
            self._at.append(now)
        elif n:
            self._batches.append((self._appended, n))
            self._ids += [request_id] * n
            self._keys += [lv.key] * n
            self._scores.frombytes(np.ascontiguousarray(scores, dtype=np.float32).tobytes())
            self._now[0] = now
            self._at += self._now * n  # array to array: one copy, not n appends
        self._appended += n
        excess = len(self._ids) - self._head - self.capacity
        if excess > 0:  # full: the oldest rows go
            self._head += excess
            self.dropped += excess
            if self._head >= _COMPACT_AT:
                self._compact()

    def take(self) -> PendingScored:
        """Everything pending, grouped by model version (in (model, version) order)."""
        mark = self._appended if self._unconfirmed is None else self._unconfirmed
        self._unconfirmed = mark
        held = len(self._ids) - self._head
        count = max(0, min(mark - (self._appended - held), held))
        if not count:
            return PendingScored([], mark, 0)
        start, end = self._head, self._head + count
        ids = self._ids[start:end]
        if self._batches:
            self._name_batch_rows(ids, self._appended - held)
        keys = self._keys[start:end]
        scores = np.frombuffer(self._scores[start:end], dtype=np.float32)  # copies of the slices
        at = np.frombuffer(self._at[start:end], dtype=np.float64)
        if keys.count(keys[0]) == count:  # one version (identity first: no hashing)
            model, version = keys[0]
            return PendingScored([ScoredGroup(model, version, ids, scores, at)], mark, count)
        order = {key: code for code, key in enumerate(sorted(set(keys)))}
        codes = np.fromiter(map(order.__getitem__, keys), dtype=np.intp, count=count)
        id_column = np.array(ids, dtype=object)
        groups = []
        for (model, version), code in order.items():
            rows = np.flatnonzero(codes == code)
            groups.append(ScoredGroup(model, version, id_column[rows].tolist(), scores[rows], at[rows]))
        return PendingScored(groups, mark, count)

    def _name_batch_rows(self, ids: list[str], first: int) -> None:
        """Make the batched requests' rows among ``ids`` (row numbers ``first`` on) "<id>#<i>"."""
        last = first + len(ids)
        for start, n in self._batches:
            if start >= last:
                break
            for row in range(max(start, first), min(start + n, last)):
                ids[row - first] = f"{ids[row - first]}#{row - start}"

    def commit(self, mark: int) -> None:
        """Forget the rows a report carried (those appended before ``mark``) and no others."""
        held = len(self._ids) - self._head
        self._head += max(0, min(mark - (self._appended - held), held))
        self._compact()
        if self._unconfirmed is not None and mark >= self._unconfirmed:
            self._unconfirmed = None

    def _compact(self) -> None:
        """Cut the spent rows off the columns: all of them when none is held, else once they are
        many and the larger part (each row is moved a bounded number of times)."""
        head = self._head
        batches = self._batches
        if batches:
            first = self._appended - (len(self._ids) - head)
            while batches and batches[0][0] + batches[0][1] <= first:
                batches.popleft()
        if head == len(self._ids):
            self._ids.clear()
            self._keys.clear()
            del self._scores[:]
            del self._at[:]
            self._head = 0
        elif head >= _COMPACT_AT and 2 * head >= len(self._ids):
            del self._ids[:head]
            del self._keys[:head]
            del self._scores[:head]
            del self._at[:head]
            self._head = 0
