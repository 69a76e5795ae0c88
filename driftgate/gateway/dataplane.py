"""The data plane's core, transport-free: route, score, observe for one decoded request.

Decoding and encoding happen at the edge (driftgate.gateway.tensors); this module never sees a
protobuf message. The control side (driftgate.gateway.reconcile) publishes a new ``ServedModel``
mapping by one reference assignment; a request reads it once, so a route change can never tear a
request in half.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from driftgate.errors import (
    DeadlineExpired,
    InvalidRequest,
    ModelNotFound,
    ModelNotReady,
    ScoringError,
    VersionNotFound,
    shown,
)
from driftgate.gateway.metrics import GatewayMetrics
from driftgate.gateway.requestlog import RequestLog
from driftgate.gateway.routing import RouteTable
from driftgate.gateway.versions import SHRINK_AFTER_ROWS, LoadedVersion
from driftgate.signature import Signature

if TYPE_CHECKING:  # the edge's; the core never calls it
    from driftgate.gateway.codec import ModelCodec

__all__ = ["DataPlane", "ServedModel", "ShadowItem"]

log = logging.getLogger("driftgate.gateway.dataplane")


@dataclass(frozen=True, slots=True)
class ServedModel:
    """One model as this gateway serves it now. Immutable: replaced, never edited."""

    name: str
    signature: Signature
    max_batch_size: int
    ready: Mapping[int, LoadedVersion]  # READY versions, by number
    routes: RouteTable | None  # None until a version is READY
    states: Mapping[int, str] = field(default_factory=dict)  # every version in the config: LOADING/READY/FAILED
    reject_nonfinite: bool = False  # the model's input policy: refuse NaN/inf in float inputs
    # how the edge reads its requests and writes its responses (driftgate.gateway.codec): built
    # with this record, dropped with it
    codec: ModelCodec = field(kw_only=True)


@dataclass(frozen=True, slots=True)
class ShadowItem:
    primary: LoadedVersion
    target: LoadedVersion
    feeds: dict[str, np.ndarray]
    primary_scores: np.ndarray | None
    rows: int


class DataPlane:
    """Route, score and observe. Runs on the event loop thread; holds no lock."""

    def __init__(
        self,
        metrics: GatewayMetrics,
        *,
        inline_max_rows: int,
        shadow_queue: int,
        drift_enabled: bool,
        rng: random.Random | None = None,
        requestlog: RequestLog | None = None,
    ) -> None:
        self.metrics = metrics
        self.requestlog = requestlog  # scored ids for the join with delayed labels; None: off
        self.models: Mapping[str, ServedModel] = {}
        # requests refused before a version scored them, by (model, gRPC code name), cumulative;
        # model "" for a model not served here (the name is the caller's, so it is not kept)
        self.refused: dict[tuple[str, str], int] = {}
        self._inline_max_rows = inline_max_rows
        self._drift = drift_enabled
        self._random = (rng or random.Random()).random
        self.shadow_queue: asyncio.Queue[ShadowItem] = asyncio.Queue(maxsize=shadow_queue)
        # Shadow copies score on their own thread: onnxruntime releases the GIL while it runs, so
        # a shadow's session.run overlaps the event loop's work instead of taking turns with it.
        self._shadow_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")

    # -- lookups -------------------------------------------------------------------------------

    def model(self, name: str) -> ServedModel:
        model = self.models.get(name)
        if model is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise ModelNotFound(f"unknown model {shown(name)}; this gateway serves: {known}")
        return model

    def select(self, model: ServedModel, version: str, key: str | None) -> LoadedVersion:
        """The version that scores: the pinned one if named, else the route table's choice."""
        if version:
            try:
                number = int(version)
            except ValueError:
                raise InvalidRequest(f"model_version must be a version number, got {shown(version)}") from None
            lv = model.ready.get(number)
            if lv is not None:
                return lv
            state = model.states.get(number)
            if state == "LOADING":
                raise ModelNotReady(f"model {model.name!r} version {number} is loading; retry shortly")
            if state == "FAILED":
                raise ModelNotReady(f"model {model.name!r} version {number} failed to load on this gateway")
            raise VersionNotFound(f"model {model.name!r} has no version {number} loaded here")
        routes = model.routes
        if routes is None:
            raise ModelNotReady(f"model {model.name!r} has no version ready yet; retry shortly")
        return model.ready[routes.choose(key, self._random())]

    def count_refused(self, model: str, code: str) -> None:
        """One request refused before a version scored it (touched only on the error path)."""
        key = (model if model in self.models else "", code)
        self.refused[key] = self.refused.get(key, 0) + 1

    # -- scoring -------------------------------------------------------------------------------

    def score_inline(self, lv: LoadedVersion, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run the session on the event loop's thread: for small batches of a version that does not
        batch (a thread hop costs more than the run). No await, so no drain can see it in flight:
        enter/leave are not needed."""
        try:
            return lv.run(feeds)
        except Exception as exc:
            raise ScoringError(f"{lv.model} version {lv.version} failed to score: {exc}") from exc

    async def score(
        self, lv: LoadedVersion, feeds: dict[str, np.ndarray], rows: int, deadline_ns: int | None = None
    ) -> list[np.ndarray]:
        """Run the session off the event loop's thread: through the version's adaptive batcher when
        the model's batching is on (which drops the request unscored, DeadlineExpired, if
        ``deadline_ns``, a time.perf_counter_ns(), passes while it queues), else in the default
        executor (onnxruntime releases the GIL). infer takes score_inline instead for small batches
        of a version that does not batch."""
        lv.enter()
        try:
            batcher = lv.batcher
            if batcher is not None:
                outputs = await batcher.submit(feeds, rows, deadline_ns)
                lv.counters.batched_requests += 1  # with the success infer counts next, no await between
                return outputs
            run = lv.run_large if rows >= SHRINK_AFTER_ROWS else lv.run
            return await asyncio.get_running_loop().run_in_executor(None, run, feeds)
        except DeadlineExpired:
            raise
        except Exception as exc:
            raise ScoringError(f"{lv.model} version {lv.version} failed to score: {exc}") from exc
        finally:
            lv.leave()

    def observe(
        self, lv: LoadedVersion, feeds: dict[str, np.ndarray], outputs: list[np.ndarray], now: float
    ) -> np.ndarray | None:
        """The version's scores of these outputs (None: it has no score), added with the rows to its
        drift sketch when drift is on. Inline: for small batches (under 1 us a row)."""
        score = lv.score
        if score is None:
            return None
        scores = score.scores(outputs)
        sketch = lv.sketch
        if sketch is not None and self._drift:
            sketch.observe(feeds[lv.drift_input], scores, now)  # type: ignore[index]
        return scores

    async def observe_apart(
        self, lv: LoadedVersion, feeds: dict[str, np.ndarray], outputs: list[np.ndarray], now: float
    ) -> np.ndarray | None:
        """observe for a large batch: the rows are binned on a thread (~150 ns a row) and added to
        the sketch here in one step."""
        sketch = lv.sketch
        if sketch is None or not self._drift:
            return self.observe(lv, feeds, outputs, now)  # scores alone
        scores = lv.score.scores(outputs)  # type: ignore[union-attr]  # a sketch implies a score
        state = await asyncio.get_running_loop().run_in_executor(
            None, sketch.observe_apart, feeds[lv.drift_input], scores, now  # type: ignore[index]
        )
        sketch.merge_apart(state)
        return scores

    async def infer(
        self,
        model: ServedModel,
        version: str,
        key: str | None,
        feeds: dict[str, np.ndarray],
        rows: int,
        request_id: str = "",
        deadline_ns: int | None = None,
    ) -> tuple[LoadedVersion, list[np.ndarray]]:
        """Route, score, observe, log and count one request."""
        started = time.perf_counter_ns()
        lv = self.select(model, version, key)
        try:
            if lv.batcher is None and rows <= self._inline_max_rows:
                outputs = self.score_inline(lv, feeds)
            else:
                outputs = await self.score(lv, feeds, rows, deadline_ns)
        except ScoringError:
            lv.counters.failure(time.perf_counter_ns() - started)
            raise
        computed = time.perf_counter_ns()
        now = time.time()
        if rows <= self._inline_max_rows:
            scores = self.observe(lv, feeds, outputs, now)
        else:
            scores = await self.observe_apart(lv, feeds, outputs, now)
        if self.requestlog is not None:
            self.requestlog.record(lv, request_id, scores, now)
        routes = model.routes
        if routes is not None and routes.shadows and not version:
            self._mirror(model, lv, routes, feeds, scores, rows)
        lv.counters.success(rows, time.perf_counter_ns() - started, computed - started, now)
        return lv, outputs

    # -- shadow traffic ------------------------------------------------------------------------

    def _mirror(
        self,
        model: ServedModel,
        primary: LoadedVersion,
        routes: RouteTable,
        feeds: dict[str, np.ndarray],
        scores: np.ndarray | None,
        rows: int,
    ) -> None:
        for version in routes.shadow_targets(self._random()):
            target = model.ready.get(version)
            if target is None or target is primary:
                continue
            try:
                self.shadow_queue.put_nowait(ShadowItem(primary, target, feeds, scores, rows))
            except asyncio.QueueFull:
                target.counters.shadow_dropped += 1
                self.metrics.shadow.labels(model.name, str(version), "dropped").inc()

    async def run_shadows(self) -> None:
        """Score queued shadow copies, off the response path; compare with the primary."""
        while True:
            item = await self.shadow_queue.get()
            target = item.target
            if target.session is None:
                continue
            target.enter()
            try:
                outputs = await asyncio.get_running_loop().run_in_executor(
                    self._shadow_executor, target.run, item.feeds
                )
            except Exception:
                self.metrics.shadow.labels(target.model, str(target.version), "failed").inc()
                log.warning("shadow scoring of %s version %s failed", target.model, target.version, exc_info=True)
                continue
            finally:
                target.leave()
            shadow_scores = self.observe(target, item.feeds, outputs, time.time())
            counters = target.counters
            counters.shadow_requests += item.rows  # rows compared: the agreement rate's denominator
            if shadow_scores is not None and item.primary_scores is not None:
                primary = item.primary_scores
                counters.shadow_agree += int(np.count_nonzero((shadow_scores >= 0.5) == (primary >= 0.5)))
                counters.shadow_abs_diff_sum += float(np.abs(shadow_scores - primary).sum())
            self.metrics.shadow.labels(target.model, str(target.version), "scored").inc()
