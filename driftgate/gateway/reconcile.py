"""Apply the registry's desired state to this gateway: load, warm up, route, drain, release.

The hot-swap order, serialised per model by an asyncio.Lock: load the new session off the event
loop, warm it up, mark it READY, publish a new route table (one reference assignment), and only
then drain a version that left the config and release its session. A request that already holds
a version finishes on it; nothing routes to a version that is not READY here.

Failures heal or shout (issue 14). A version is FAILED only for a definitive cause: onnxruntime
refuses the bytes (ModelLoadError) or they do not match their sha256 after a complete fetch
(ArtifactError); the same bytes would fail again, so they are not retried until the config brings
other bytes or an operator asks for a reload (DeployedVersion.reload). Anything else (the
registry unreachable, a broken transfer, a full artifact cache, an unexpected error) leaves the
version LOADING with the reason, and it is tried again with backoff (0.5 s doubling up to
``fetch_retry_max_s``, at once when a new config arrives) until it loads or leaves the config;
the first failure of such an episode is logged at ERROR, the retries are not. The generation
counts as applied (``applied_generation``) only once no version of it waits for a retry.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from driftgate.errors import ArtifactError, DriftgateError, ModelLoadError
from driftgate.gateway.artifacts import ArtifactCache
from driftgate.gateway.batcher import BatchConfig, Batcher
from driftgate.gateway.codec import ModelCodec
from driftgate.gateway.dataplane import DataPlane, ServedModel
from driftgate.gateway.desired import DesiredConfig, DesiredModel, DesiredVersion
from driftgate.gateway.episodes import Episodes
from driftgate.gateway.metrics import GatewayMetrics
from driftgate.gateway.routing import RouteTable
from driftgate.gateway.stats import VersionCounters
from driftgate.gateway.versions import LoadedVersion, ScoreSpec, load_version
from driftgate.settings import DriftSettings, GatewaySettings
from driftgate.signature import Signature

__all__ = ["Fetch", "Reconciler", "VersionState"]

log = logging.getLogger("driftgate.gateway.reconcile")

# The artifact's bytes by sha256, from wherever they come (the registry link's fetch_artifact; a
# test's function); raises to say why not. Called only for an artifact the cache does not hold.
Fetch = Callable[[str], Awaitable[bytes]]


@dataclass(slots=True)
class VersionState:
    state: str  # LOADING, READY, FAILED, DRAINING
    reason: str = ""
    load_seconds: float = 0.0
    sha256: str = ""
    reload: int = 0  # DeployedVersion.reload it was loaded (or failed) with


@dataclass(slots=True)
class _Retry:
    """A version whose load failed for a passing cause, waiting for its next attempt."""

    sha256: str
    reload: int
    attempts: int
    due: float  # the loop's clock
    reason: str


def _score_spec(lv: LoadedVersion, dv: DesiredVersion) -> ScoreSpec | None:
    """Where the score lives: the profile's score output/column, else the first floating output
    (column 1 of a two-column output, the only column of a one-column one)."""
    names = lv.output_names
    specs = lv.output_specs

    def narrow(index: int) -> bool:  # at most two values a row: scores may be views (ScoreSpec)
        shape = specs[index].shape
        return len(shape) == 1 or (len(shape) == 2 and 0 < shape[1] <= 2)

    if dv.score_output and dv.score_output in names:
        index = names.index(dv.score_output)
        return ScoreSpec(index, dv.score_column, narrow(index))
    for index, spec in enumerate(specs):
        if spec.datatype in ("FP32", "FP64", "FP16"):
            if len(spec.shape) == 2 and spec.shape[1] == 2:
                return ScoreSpec(index, 1, True)
            if len(spec.shape) == 1 or (len(spec.shape) == 2 and spec.shape[1] == 1):
                return ScoreSpec(index, 0 if len(spec.shape) == 2 else -1, True)
            return None
    return None


def _drift_input(lv: LoadedVersion, n_features: int) -> str | None:
    """The input whose rows the sketch bins: a 2-D floating input with the profile's width."""
    for spec in lv.signature.inputs:
        if spec.datatype in ("FP32", "FP64") and len(spec.shape) == 2 and spec.shape[1] == n_features:
            return spec.name
    return None


class Reconciler:
    """Brings the plane's served models to the desired state (see the module docstring): fed
    records (driftgate.gateway.desired), artifacts from the cache or through ``fetch``."""

    def __init__(
        self,
        plane: DataPlane,
        metrics: GatewayMetrics,
        artifacts: ArtifactCache,
        settings: GatewaySettings,
        drift: DriftSettings,
        fetch: Fetch,
    ) -> None:
        self._plane = plane
        self._metrics = metrics
        self._artifacts = artifacts
        self._settings = settings
        self._drift = drift
        self._fetch = fetch
        self._desired: dict[str, DesiredModel] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._counters: dict[tuple[str, int], VersionCounters] = {}
        self.states: dict[tuple[str, int], VersionState] = {}
        self.generation = -1  # the newest config received
        self.applied_generation = -1  # the newest config fully applied: no version of it waits for a retry
        self.applied = asyncio.Event()
        # counts a request of a model that waited in a batcher until grpc ended it at its deadline
        self.expired: Callable[[str], None] | None = None
        self._retry: dict[tuple[str, int], _Retry] = {}
        self._episodes = Episodes(log)
        self._kicks: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._closed = False
        self._changed = asyncio.Event()  # swapped whenever a version's state or the applied generation changes

    # -- applying ------------------------------------------------------------------------------

    async def apply(self, config: DesiredConfig) -> None:
        """Reconcile to ``config``; returns once every model has been reconciled to it (or to a
        newer config that arrived meanwhile): each version READY, FAILED, or waiting for a retry."""
        self._desired = {m.name: m for m in config.models}
        self.generation = config.generation
        self._metrics.config_received_generation.set(config.generation)
        for retry in self._retry.values():
            retry.due = 0.0  # a new config (the registry is back, say): try again at once
        names = set(self._desired) | set(self._plane.models)
        await asyncio.gather(*(self._reconcile_model(name) for name in sorted(names)))
        self._settle()
        self.applied.set()

    # -- what the rest of the gateway reads ----------------------------------------------------

    @property
    def errors(self) -> list[str]:
        """Why versions of the config are not loaded yet (one line each, oldest first)."""
        return self._episodes.messages()

    def unserved(self) -> list[str]:
        """Models of the config with no READY version here because a load waits for a retry: every
        request for them gets UNAVAILABLE, and another gateway may well have them. (A model whose
        versions all FAILED for a definitive cause is not counted: those bytes fail everywhere.)"""
        waiting = {name for name, _ in self._retry}
        return sorted(
            name for name in self._desired
            if name in waiting and not (name in self._plane.models and self._plane.models[name].ready)
        )

    async def wait_changed(self) -> None:
        """Until a version's state or the applied generation changes."""
        await self._changed.wait()

    def _signal(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _settle(self) -> None:
        """The received generation counts as applied once no version of it waits for a retry."""
        if not self._retry and self.applied_generation != self.generation:
            self.applied_generation = self.generation
            self._metrics.config_generation.set(self.generation)
        self._signal()

    def _schedule(self, name: str, delay: float) -> None:
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def kick() -> None:
            self._timers.discard(handle)  # type: ignore[arg-type]
            task = loop.create_task(self._retry_model(name))
            self._kicks.add(task)
            task.add_done_callback(self._kicks.discard)

        handle = loop.call_later(delay, kick)
        self._timers.add(handle)

    async def _retry_model(self, name: str) -> None:
        try:
            await self._reconcile_model(name)
        except Exception as exc:  # never lost in a task nobody awaits
            self._episodes.fail(("model", name), f"model {name}: reconciling failed: {exc}", exc)
        else:
            self._episodes.ok(("model", name), f"model {name}: reconciled")
        self._settle()

    def close(self) -> None:
        """Stop pending retries (the gateway is stopping)."""
        self._closed = True
        for timer in list(self._timers):
            timer.cancel()
        self._timers.clear()
        for task in list(self._kicks):
            task.cancel()

    def _publish(self, model: ServedModel | None, name: str) -> None:
        models = dict(self._plane.models)
        if model is None:
            models.pop(name, None)
        else:
            models[name] = model
        self._plane.models = models  # one assignment: requests see the old or the new table
        self._signal()
        if model is not None:
            self._metrics.versions_ready.labels(name).set(len(model.ready))

    def _routes(self, dm: DesiredModel, ready: dict[int, LoadedVersion]) -> RouteTable | None:
        if not ready:
            return None
        shadows = {v: rate for v, rate in dm.shadows.items() if v in ready and rate > 0}
        if dm.mode == "weights":
            weights = {v: weight for v, weight in dm.weights.items() if v in ready and weight > 0}
            if weights:
                return RouteTable.build(weights, shadows)
            log.warning("model %s: no weighted version is READY here; serving the newest READY one", dm.name)
        return RouteTable.build({max(ready): 1}, shadows)

    def _batching(self, dm: DesiredModel, ready: dict[int, LoadedVersion]) -> None:
        """Start, retune or stop each READY version's batcher to match the model's settings.

        Runs on the event loop, like every submit, so a request sees a version's batcher or
        None, never one half set up. A batcher that is turned off keeps answering what it holds
        (stop() queues behind them); requests after this call score directly again."""
        b = dm.batching
        max_batch = dm.max_batch_size or self._settings.max_batch_size
        config = BatchConfig(min(b.max_rows, max_batch), b.max_delay_us) if b is not None else None
        if config is not None and config.max_rows < 2:
            log.warning("model %s: batching asks for %d rows a batch; serving unbatched", dm.name, config.max_rows)
            config = None
        loop = asyncio.get_running_loop()
        for lv in ready.values():
            current = lv.batcher
            if config is None:
                if current is not None:
                    lv.batcher = None
                    current.stop()
                    log.info("model %s version %s: batching off", lv.model, lv.version)
            elif current is None:
                expired = self.expired
                lv.batcher = Batcher(f"{lv.model}-v{lv.version}", lv.run, config, loop, lv.counters, model=lv.model,
                                     expired=None if expired is None else functools.partial(expired, lv.model))
                log.info("model %s version %s: batching on (max %d rows, %d us)",
                         lv.model, lv.version, config.max_rows, config.max_delay_us)
            elif current.config != config:
                current.configure(config)
                log.info("model %s version %s: batching now max %d rows, %d us",
                         lv.model, lv.version, config.max_rows, config.max_delay_us)

    def _served(self, dm: DesiredModel, ready: dict[int, LoadedVersion]) -> ServedModel:
        if ready:
            signature = ready[max(ready)].signature
        else:
            signature = dm.versions[-1].signature if dm.versions else Signature((), ())
        states = {v: s.state for (m, v), s in self.states.items() if m == dm.name}
        return ServedModel(
            name=dm.name,
            signature=signature,
            max_batch_size=dm.max_batch_size or self._settings.max_batch_size,
            ready=dict(ready),
            routes=self._routes(dm, ready),
            states=states,
            reject_nonfinite=dm.reject_nonfinite,
            codec=ModelCodec(signature),
        )

    async def _reconcile_model(self, name: str) -> None:
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            dm = self._desired.get(name)  # the newest desired state, read under the lock
            current = self._plane.models.get(name)
            ready: dict[int, LoadedVersion] = dict(current.ready) if current else {}
            if dm is None:
                for key in [k for k in self._retry if k[0] == name]:
                    del self._retry[key]
                    self._episodes.drop(key)
                gone = list(ready.values())
                for lv in gone:
                    self.states[(name, lv.version)] = VersionState("DRAINING", sha256=lv.sha256)
                self._publish(None, name)
                await self._drain(gone)
                return
            wanted = {v.version: v for v in dm.versions}
            for key in [k for k in self._retry if k[0] == name and k[1] not in wanted]:
                del self._retry[key]  # left the config: no more attempts
                self._episodes.drop(key)
            loop = asyncio.get_running_loop()
            for number, dv in sorted(wanted.items()):
                if number in ready:
                    continue
                key = (name, number)
                known = self.states.get(key)
                if (known is not None and known.state == "FAILED" and known.sha256 == dv.sha256
                        and known.reload == dv.reload):
                    continue  # failed for good with these bytes; new bytes or an operator's reload retry
                retry = self._retry.get(key)
                if retry is not None and (retry.sha256 != dv.sha256 or retry.reload != dv.reload):
                    retry.due = 0.0  # other bytes, or an operator's reload: at once
                if retry is not None and loop.time() < retry.due:
                    continue  # its attempt is scheduled
                self.states[key] = VersionState("LOADING", retry.reason if retry else "", sha256=dv.sha256,
                                                reload=dv.reload)
                self._publish(self._served(dm, ready), name)
                try:
                    lv = await self._load(name, dv)
                except (ModelLoadError, ArtifactError) as exc:  # definitive: these bytes do not load
                    self._retry.pop(key, None)
                    self._episodes.drop(key)
                    log.error("model %s version %s FAILED: %s", name, number, exc)
                    self.states[key] = VersionState("FAILED", str(exc), sha256=dv.sha256, reload=dv.reload)
                    self._metrics.loads.labels(name, str(number), "failed").inc()
                    continue
                except Exception as exc:  # passing (a fetch, a full cache) or unforeseen: retried with backoff
                    attempts = retry.attempts + 1 if retry is not None else 1
                    delay = min(0.5 * 2 ** (attempts - 1), self._settings.fetch_retry_max_s)
                    why = str(exc) if isinstance(exc, DriftgateError | OSError) else f"{type(exc).__name__}: {exc}"
                    reason = f"model {name} version {number}: {why}"
                    self._episodes.fail(key, f"{reason}; retrying with backoff", exc)
                    self._retry[key] = _Retry(dv.sha256, dv.reload, attempts, loop.time() + delay, reason)
                    self.states[key] = VersionState(
                        "LOADING", f"{why} (attempt {attempts}; retrying in {delay:g} s)", sha256=dv.sha256,
                        reload=dv.reload,
                    )
                    self._metrics.loads.labels(name, str(number), "retry").inc()
                    self._schedule(name, delay)
                    continue
                if self._retry.pop(key, None) is not None:
                    self._episodes.ok(key, f"model {name} version {number} loaded")
                ready[number] = lv
                self._batching(dm, {number: lv})  # before any route table can name it
                self.states[key] = VersionState("READY", load_seconds=lv.load_seconds, sha256=lv.sha256,
                                                reload=dv.reload)
                self._metrics.loads.labels(name, str(number), "ok").inc()
                self._metrics.load_seconds.labels(name).observe(lv.load_seconds)
                log.info("model %s version %s READY (%.3f s)", name, number, lv.load_seconds)
            gone = [ready.pop(v) for v in list(ready) if v not in wanted]
            for lv in gone:
                self.states[(name, lv.version)] = VersionState("DRAINING", sha256=lv.sha256)
            for key in [k for k in self.states if k[0] == name and k[1] not in wanted and k[1] not in ready]:
                if self.states[key].state != "DRAINING":
                    del self.states[key]
            self._batching(dm, ready)
            self._publish(self._served(dm, ready), name)
        await self._drain(gone)

    async def _drain(self, gone: list[LoadedVersion]) -> None:
        for lv in gone:
            finished = await lv.drain(self._settings.drain_timeout_s)
            if not finished:
                log.warning("model %s version %s: %d requests still in flight after %.0f s; releasing",
                            lv.model, lv.version, lv.in_flight, self._settings.drain_timeout_s)
            lv.release()
            self.states.pop((lv.model, lv.version), None)
            log.info("model %s version %s drained and released", lv.model, lv.version)

    async def _load(self, name: str, dv: DesiredVersion) -> LoadedVersion:
        data = await self._artifacts.get(dv.sha256, self._fetch)
        counters = self._counters.setdefault((name, dv.version), VersionCounters())
        settings = self._settings
        lv = await asyncio.to_thread(
            load_version,
            name,
            dv.version,
            dv.sha256,
            data,
            device=settings.device,
            intra_op_threads=settings.intra_op_threads,
            counters=counters,
        )
        expected = dv.signature
        if expected.inputs:
            try:
                expected.check_compatible(lv.signature)
            except DriftgateError as exc:
                raise ModelLoadError(f"artifact does not match its registered signature: {exc}") from exc
        lv.score = _score_spec(lv, dv)
        if self._drift.enabled and dv.profile is not None:
            from driftgate.native import DriftSketch, ReferenceProfile

            profile = ReferenceProfile.from_dict(dv.profile)
            if lv.score is not None:
                lv.drift_input = _drift_input(lv, profile.n_features)
                if lv.drift_input is not None:
                    lv.sketch = DriftSketch(profile, self._drift.windows, self._drift.window_seconds)
        return lv

    def counters(self) -> dict[tuple[str, int], VersionCounters]:
        return self._counters
