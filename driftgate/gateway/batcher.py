"""Adaptive (dynamic) batching of one loaded version: concurrent requests share one session run.

Triton's dynamic batcher, per version. Requests queue from the event loop (``submit``); one
dedicated thread takes the first queued request and keeps collecting until the batch holds
``max_rows`` rows or ``max_delay_us`` have passed since that first request was queued, then
concatenates each input along the batch dimension, runs the session once (onnxruntime releases
the GIL while it runs, so the event loop keeps decoding and answering meanwhile), splits every
output by the requests' row offsets, and resolves the requests' asyncio futures with one
``loop.call_soon_threadsafe`` per batch.

Why a thread and not a loop timer: uvloop's timers tick in whole milliseconds, and the delays
that pay off here are tens to hundreds of microseconds; ``threading.Event.wait(timeout)`` waits
with sub-millisecond precision. The thread is woken twice per batch at most (its first request,
and the request that fills it), not per request: a wake-up is a context switch and a GIL
hand-over. The delay counts from when the first request was queued, not from when the thread saw
it: requests that queued while the previous batch ran are already late and go at once, so under
saturation batches form without any wait.

Rules:

- A request that does not fit into the batch being formed starts the next one; a request larger
  than ``max_rows`` runs alone.
- If a batched run fails (one request's values make the session fail, or outputs cannot be
  split), every request of the batch is run again alone, so only the bad one gets the error.
- ``stop()`` lets the thread finish every request queued before it, then the thread exits.
- Deadlines: a request whose caller's deadline passed while it waited, or whose call grpc
  cancelled meanwhile (the client went away, or its deadline passed and grpc ended the call), is
  taken out when the thread forms a batch and never scored. On the loop, one whose future still
  waits gets DeadlineExpired (DEADLINE_EXCEEDED); one whose call grpc ended at its deadline is
  counted through ``expired`` (it can no longer be answered). The check is a ``done()`` and a
  comparison per request, on the batching thread.
- Counters (driftgate.gateway.stats.VersionCounters) are only touched on the event loop thread,
  in the per-batch callback, like every other request counter.

The pure parts, :func:`concat_feeds` and :func:`split_outputs`, are separate so they can be
tested on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftgate.errors import DeadlineExpired
from driftgate.gateway.stats import VersionCounters

__all__ = ["BatchConfig", "Batcher", "concat_feeds", "split_outputs"]

log = logging.getLogger("driftgate.gateway.batcher")

Feeds = dict[str, np.ndarray]
Run = Callable[[Feeds], list[np.ndarray]]


@dataclass(frozen=True, slots=True)
class BatchConfig:
    max_rows: int
    max_delay_us: int


def concat_feeds(feeds: Sequence[Feeds]) -> tuple[Feeds, list[int]]:
    """One feed dict holding every request's rows in order, and the row offsets: request i has
    rows ``offsets[i]:offsets[i + 1]``. Raises ValueError when the inputs do not line up."""
    if not feeds:
        raise ValueError("no requests to concatenate")
    names = feeds[0].keys()
    offsets = [0]
    for f in feeds:
        if f.keys() != names:
            raise ValueError("requests name different inputs")
        sizes = {a.shape[0] if a.ndim else -1 for a in f.values()}
        if len(sizes) != 1 or -1 in sizes:
            raise ValueError("a request's inputs differ in batch size")
        offsets.append(offsets[-1] + sizes.pop())
    return {name: np.concatenate([f[name] for f in feeds], axis=0) for name in names}, offsets


def split_outputs(outputs: Sequence[Any], offsets: Sequence[int]) -> list[list[np.ndarray]]:
    """Each request's slice of every output (views, no copies). Raises ValueError when an output
    has no batch dimension of the batch's size (it cannot be split by rows)."""
    total = offsets[-1]
    for out in outputs:
        if not isinstance(out, np.ndarray) or out.ndim == 0 or out.shape[0] != total:
            raise ValueError(f"an output of shape {getattr(out, 'shape', type(out))} cannot be split into {total} rows")
    return [[out[a:b] for out in outputs] for a, b in itertools.pairwise(offsets)]


_NO_DEADLINE = 1 << 62  # perf_counter_ns of a request whose caller set no deadline


class _Pending:
    __slots__ = ("deadline_ns", "feeds", "future", "queued_ns", "rows")

    def __init__(
        self, feeds: Feeds, rows: int, future: asyncio.Future[list[np.ndarray]], queued_ns: int, deadline_ns: int
    ) -> None:
        self.feeds = feeds
        self.rows = rows
        self.future = future
        self.queued_ns = queued_ns
        self.deadline_ns = deadline_ns


class Batcher:
    """The batching thread of one loaded version (see the module docstring)."""

    def __init__(
        self,
        name: str,
        run: Run,
        config: BatchConfig,
        loop: asyncio.AbstractEventLoop,
        counters: VersionCounters | None = None,
        *,
        model: str = "",
        expired: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.model = model  # named in DeadlineExpired
        # called on the loop for each request whose call grpc ended at its deadline while it queued
        self._expired = expired
        self._run = run
        self._loop = loop
        self._counters = counters
        # Requests wait in a list under a lock; the thread is woken only when the first request
        # of a batch arrives and when the batch is full, not for every request: each wake-up is
        # a context switch and a GIL hand-over, which cost more than a small model's run.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pending: list[_Pending] = []
        self._pending_rows = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    # -- event loop side -----------------------------------------------------------------------

    def submit(self, feeds: Feeds, rows: int, deadline_ns: int | None = None) -> asyncio.Future[list[np.ndarray]]:
        """Queue one request; the future resolves to its outputs (or the session's exception, or
        DeadlineExpired once ``deadline_ns``, a time.perf_counter_ns(), passed before it was
        taken into a batch)."""
        future: asyncio.Future[list[np.ndarray]] = self._loop.create_future()
        deadline = _NO_DEADLINE if deadline_ns is None else deadline_ns
        item = _Pending(feeds, rows, future, time.perf_counter_ns(), deadline)
        with self._lock:
            pending = self._pending
            pending.append(item)
            self._pending_rows += rows
            wake = len(pending) == 1 or self._pending_rows >= self.config.max_rows
        if wake:
            self._wake.set()
        return future

    def configure(self, config: BatchConfig) -> None:
        """New limits; the next batch uses them (one reference assignment)."""
        self.config = config

    def stop(self) -> None:
        """Finish every request queued so far, then end the thread (does not wait for it)."""
        with self._lock:
            self._stopping = True
        self._wake.set()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the batching thread -------------------------------------------------------------------

    def _serve(self) -> None:
        wake, lock = self._wake, self._lock
        while True:
            # Clear, then look, then wait: a set() between the look and the wait is not lost.
            wake.clear()
            with lock:
                first = self._pending[0] if self._pending else None
                stopping = self._stopping
            if first is None:
                if stopping:
                    return
                wake.wait()
                continue
            config = self.config
            deadline = first.queued_ns + config.max_delay_us * 1000
            while True:
                wake.clear()
                with lock:
                    if self._pending_rows >= config.max_rows or self._stopping:
                        break
                wait_ns = deadline - time.perf_counter_ns()
                if wait_ns <= 0:
                    break
                wake.wait(wait_ns / 1e9)
            with lock:
                batch, rows, expired = self._take(config.max_rows)
            if expired:
                with contextlib.suppress(RuntimeError):  # a closed loop: the process is ending
                    self._loop.call_soon_threadsafe(self._expire, expired)
            if not batch:
                continue
            try:
                self._execute(batch, rows)
            except Exception:  # never let the thread die with requests waiting on it
                log.exception("batcher of %s failed", self._thread.name)
                self._deliver_all(batch, RuntimeError("the batcher failed"))

    def _take(self, max_rows: int) -> tuple[list[_Pending], int, list[_Pending]]:
        """The oldest live requests that fit in ``max_rows`` (at least one, when any is live), and
        the requests before them that must not be scored: their deadline passed, or their call
        ended (a cancelled future). Called under the lock."""
        pending = self._pending
        now = time.perf_counter_ns()
        batch: list[_Pending] = []
        expired: list[_Pending] = []
        rows = dropped = n = 0
        for item in pending:
            if item.deadline_ns <= now or item.future.done():
                expired.append(item)
                dropped += item.rows
            elif batch and rows + item.rows > max_rows:
                break
            else:
                batch.append(item)
                rows += item.rows
            n += 1
        del pending[:n]
        self._pending_rows -= rows + dropped
        return batch, rows, expired

    def _run_alone(self, item: _Pending) -> list[np.ndarray] | BaseException:
        try:
            return self._run(item.feeds)
        except Exception as exc:
            return exc

    def _execute(self, batch: list[_Pending], rows: int) -> None:
        started = time.perf_counter_ns()
        results: list[list[np.ndarray] | BaseException]
        runs = 1
        if len(batch) == 1:
            results = [self._run_alone(batch[0])]
        else:
            try:
                feeds, offsets = concat_feeds([p.feeds for p in batch])
                results = list(split_outputs(self._run(feeds), offsets))
            except Exception as exc:
                log.debug("a batch of %d requests failed (%s); running them one by one", len(batch), exc)
                results = [self._run_alone(p) for p in batch]
                runs += len(batch)
        finished = time.perf_counter_ns()
        with contextlib.suppress(RuntimeError):  # a closed loop: the process is ending
            self._loop.call_soon_threadsafe(self._resolve, batch, results, rows, runs, started, finished)

    def _deliver_all(self, batch: list[_Pending], exc: BaseException) -> None:
        results: list[list[np.ndarray] | BaseException] = [exc] * len(batch)
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._resolve, batch, results, 0, 0, 0, 0)

    # -- back on the event loop ----------------------------------------------------------------

    def _expire(self, items: list[_Pending]) -> None:
        """Requests taken out unscored: DeadlineExpired for those still waiting; the expiry of
        those grpc already ended at their deadline is counted (a call the client cancelled is
        counted by admission, not here)."""
        now = time.perf_counter_ns()
        for item in items:
            future = item.future
            if not future.done():
                future.set_exception(DeadlineExpired(
                    f"the request's deadline passed while it waited for a batch (model {self.model!r}); not scored",
                    self.model,
                ))
            elif item.deadline_ns <= now and self._expired is not None:
                self._expired()

    def _resolve(
        self,
        batch: list[_Pending],
        results: list[list[np.ndarray] | BaseException],
        rows: int,
        runs: int,
        started: int,
        finished: int,
    ) -> None:
        queue_ns = 0
        for item, result in zip(batch, results, strict=True):
            future = item.future
            if future.done():  # cancelled by its client meanwhile
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
                queue_ns += max(0, started - item.queued_ns)
        c = self._counters
        if c is not None and runs:
            c.batch(rows, runs, queue_ns, finished - started)
