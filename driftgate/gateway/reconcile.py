"""Apply the registry's desired state to this gateway: load, warm up, route, drain, release.

The hot-swap order, serialised per model by an asyncio.Lock: load the new session off the event
loop, warm it up, mark it READY, publish a new route table (one reference assignment), and only
then drain a version that left the config and release its session. A request that already holds
a version finishes on it; nothing routes to a version that is not READY here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from driftgate.errors import DriftgateError, ModelLoadError
from driftgate.gateway.artifacts import ArtifactCache
from driftgate.gateway.batcher import BatchConfig, Batcher
from driftgate.gateway.dataplane import DataPlane, ServedModel
from driftgate.gateway.metrics import GatewayMetrics
from driftgate.gateway.routing import RouteTable
from driftgate.gateway.stats import VersionCounters
from driftgate.gateway.versions import LoadedVersion, ScoreSpec, load_version
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.settings import DriftSettings, GatewaySettings
from driftgate.signature import Signature, TensorSpec

__all__ = ["Reconciler", "VersionState", "profile_from_proto", "signature_from_proto"]

log = logging.getLogger("driftgate.gateway.reconcile")

Fetch = Callable[[str], Awaitable[bytes]]


@dataclass(slots=True)
class VersionState:
    state: str  # LOADING, READY, FAILED, DRAINING
    reason: str = ""
    load_seconds: float = 0.0
    sha256: str = ""


def signature_from_proto(sig: pb.Signature) -> Signature:
    return Signature(
        tuple(TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in sig.inputs),
        tuple(TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in sig.outputs),
    )


def _column(c: pb.ColumnProfile) -> dict[str, object]:
    return {"name": c.name, "edges": list(c.edges), "proportions": list(c.proportions), "mean": c.mean, "std": c.std}


def profile_from_proto(profile: pb.ReferenceProfile):  # -> driftgate.native.ReferenceProfile | None
    if not profile.features or not profile.score.edges:
        return None
    from driftgate.native import ReferenceProfile

    return ReferenceProfile.from_dict(
        {"features": [_column(c) for c in profile.features], "score": _column(profile.score), "rows": profile.rows}
    )


def _score_spec(lv: LoadedVersion, profile: pb.ReferenceProfile) -> ScoreSpec | None:
    """Where the score lives: the profile's score output/column, else the first floating output
    (column 1 of a two-column output, the only column of a one-column one)."""
    names = lv.output_names
    specs = lv.output_specs

    def narrow(index: int) -> bool:  # at most two values a row: scores may be views (ScoreSpec)
        shape = specs[index].shape
        return len(shape) == 1 or (len(shape) == 2 and 0 < shape[1] <= 2)

    if profile.score_output and profile.score_output in names:
        index = names.index(profile.score_output)
        return ScoreSpec(index, profile.score_column, narrow(index))
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
    def __init__(
        self,
        plane: DataPlane,
        metrics: GatewayMetrics,
        artifacts: ArtifactCache,
        settings: GatewaySettings,
        drift: DriftSettings,
        state_file: Path,
    ) -> None:
        self._plane = plane
        self._metrics = metrics
        self._artifacts = artifacts
        self._settings = settings
        self._drift = drift
        self._state_file = state_file
        self._desired: dict[str, pb.DeployedModel] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._counters: dict[tuple[str, int], VersionCounters] = {}
        self.states: dict[tuple[str, int], VersionState] = {}
        self.generation = -1
        self.applied = asyncio.Event()
        self.fetch: Fetch | None = None

    # -- persistence of the last applied config --------------------------------------------------

    def load_saved(self) -> pb.GatewayConfig | None:
        try:
            data = self._state_file.read_bytes()
        except FileNotFoundError:
            return None
        config = pb.GatewayConfig()
        try:
            config.ParseFromString(data)
        except Exception:
            log.warning("ignoring unreadable saved config %s", self._state_file)
            return None
        return config

    def _save(self, config: pb.GatewayConfig) -> None:
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._state_file.parent, prefix=".config-")
        with os.fdopen(fd, "wb") as f:
            f.write(config.SerializeToString())
        os.replace(tmp, self._state_file)

    # -- applying ------------------------------------------------------------------------------

    async def apply(self, config: pb.GatewayConfig, *, save: bool = True) -> None:
        """Reconcile to ``config``; returns once every model has been reconciled to it (or to a
        newer config that arrived meanwhile)."""
        self._desired = {m.name: m for m in config.models}
        self.generation = config.generation
        if save:
            await asyncio.to_thread(self._save, config)
        names = set(self._desired) | set(self._plane.models)
        await asyncio.gather(*(self._reconcile_model(name) for name in sorted(names)))
        self._metrics.config_generation.set(config.generation)
        self.applied.set()

    def _publish(self, model: ServedModel | None, name: str) -> None:
        models = dict(self._plane.models)
        if model is None:
            models.pop(name, None)
        else:
            models[name] = model
        self._plane.models = models  # one assignment: requests see the old or the new table
        if model is not None:
            self._metrics.versions_ready.labels(name).set(len(model.ready))

    def _routes(self, dm: pb.DeployedModel, ready: dict[int, LoadedVersion]) -> RouteTable | None:
        if not ready:
            return None
        shadows = {s.version: s.rate for s in dm.shadows if s.version in ready and s.rate > 0}
        if dm.mode == "weights":
            weights = {w.version: w.weight for w in dm.weights if w.version in ready and w.weight > 0}
            if weights:
                return RouteTable.build(weights, shadows)
            log.warning("model %s: no weighted version is READY here; serving the newest READY one", dm.name)
        return RouteTable.build({max(ready): 1}, shadows)

    def _batching(self, dm: pb.DeployedModel, ready: dict[int, LoadedVersion]) -> None:
        """Start, retune or stop each READY version's batcher to match the model's settings.

        Runs on the event loop, like every submit, so a request sees a version's batcher or
        None, never one half set up. A batcher that is turned off keeps answering what it holds
        (stop() queues behind them); requests after this call score directly again."""
        b = dm.settings.batching
        max_batch = dm.settings.max_batch_size or self._settings.max_batch_size
        config = BatchConfig(min(b.max_batch_rows, max_batch), b.max_queue_delay_us) if b.enabled else None
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
                lv.batcher = Batcher(f"{lv.model}-v{lv.version}", lv.run, config, loop, lv.counters)
                log.info("model %s version %s: batching on (max %d rows, %d us)",
                         lv.model, lv.version, config.max_rows, config.max_delay_us)
            elif current.config != config:
                current.configure(config)
                log.info("model %s version %s: batching now max %d rows, %d us",
                         lv.model, lv.version, config.max_rows, config.max_delay_us)

    def _served(self, dm: pb.DeployedModel, ready: dict[int, LoadedVersion]) -> ServedModel:
        if ready:
            signature = ready[max(ready)].signature
        else:
            signature = signature_from_proto(dm.versions[-1].signature) if dm.versions else Signature((), ())
        states = {v: s.state for (m, v), s in self.states.items() if m == dm.name}
        return ServedModel(
            name=dm.name,
            signature=signature,
            max_batch_size=dm.settings.max_batch_size or self._settings.max_batch_size,
            ready=dict(ready),
            routes=self._routes(dm, ready),
            states=states,
            reject_nonfinite=dm.settings.nonfinite_inputs == "reject",
        )

    async def _reconcile_model(self, name: str) -> None:
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            dm = self._desired.get(name)  # the newest desired state, read under the lock
            current = self._plane.models.get(name)
            ready: dict[int, LoadedVersion] = dict(current.ready) if current else {}
            if dm is None:
                gone = list(ready.values())
                for lv in gone:
                    self.states[(name, lv.version)] = VersionState("DRAINING", sha256=lv.sha256)
                self._publish(None, name)
                await self._drain(gone)
                return
            wanted = {v.version: v for v in dm.versions}
            for number, dv in sorted(wanted.items()):
                if number in ready:
                    continue
                known = self.states.get((name, number))
                if known is not None and known.state == "FAILED" and known.sha256 == dv.artifact_sha256:
                    continue  # failed with these bytes before; a new config with new bytes retries
                self.states[(name, number)] = VersionState("LOADING", sha256=dv.artifact_sha256)
                self._publish(self._served(dm, ready), name)
                try:
                    lv = await self._load(name, dv, dm)
                except DriftgateError as exc:
                    log.error("model %s version %s failed to load: %s", name, number, exc)
                    self.states[(name, number)] = VersionState("FAILED", str(exc), sha256=dv.artifact_sha256)
                    self._metrics.loads.labels(name, str(number), "failed").inc()
                    continue
                ready[number] = lv
                self._batching(dm, {number: lv})  # before any route table can name it
                self.states[(name, number)] = VersionState("READY", load_seconds=lv.load_seconds, sha256=lv.sha256)
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

    async def _load(self, name: str, dv: pb.DeployedVersion, dm: pb.DeployedModel) -> LoadedVersion:
        data = await self._artifacts.get(dv.artifact_sha256, self.fetch)
        counters = self._counters.setdefault((name, dv.version), VersionCounters())
        settings = self._settings
        lv = await asyncio.to_thread(
            load_version,
            name,
            dv.version,
            dv.artifact_sha256,
            data,
            device=settings.device,
            intra_op_threads=settings.intra_op_threads,
            counters=counters,
        )
        expected = signature_from_proto(dv.signature)
        if expected.inputs:
            try:
                expected.check_compatible(lv.signature)
            except DriftgateError as exc:
                raise ModelLoadError(f"artifact does not match its registered signature: {exc}") from exc
        lv.score = _score_spec(lv, dv.profile)
        if self._drift.enabled:
            profile = profile_from_proto(dv.profile)
            if profile is not None and lv.score is not None:
                lv.drift_input = _drift_input(lv, profile.n_features)
                if lv.drift_input is not None:
                    from driftgate.native import DriftSketch

                    lv.sketch = DriftSketch(profile, self._drift.windows, self._drift.window_seconds)
        return lv

    def counters(self) -> dict[tuple[str, int], VersionCounters]:
        return self._counters
