"""Retrain, evaluate, register: the first half of the closed loop (transport-free, synchronous; callers on an
event loop run :meth:`Retrainer.run` in a worker thread).

    fetch labelled data (DataSource plugin, in this process)
    -> hold out HOLDOUT_FRACTION of it (seeded)
    -> train on the rest in a child process (Trainer plugin; killed after settings.rollout.trainer_timeout_s)
    -> score challenger and champion on the same holdout (AUC)
    -> accepted (not worse than the champion by more than settings.rollout.eval_margin):
         pin traffic to the champion (weights, champion=100: "latest" must not route to the newcomer), then
         register the challenger with metrics and lineage; the rollout controller canaries it
       rejected: register it as state "rejected" with why (kept for the record, never served)
       failed (data source, trainer raised, hung, returned an invalid model): nothing registered

Every outcome is an audit event with who, what and why; the champion keeps serving throughout. One retrain per
model at a time (Conflict for a second one).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

import driftgate
from driftgate.errors import Conflict, DriftgateError, InvalidRequest
from driftgate.redact import redact, redact_text
from driftgate.registry.catalogue.catalogue import Catalogue
from driftgate.registry.catalogue.records import ACTIVE, REJECTED, RegisterRequest, VersionRecord
from driftgate.registry.loop.plugins import (
    DATA_SOURCES,
    TRAINERS,
    LabelledData,
    check_data,
    fingerprint,
    load_plugin,
)
from driftgate.registry.loop.rollout_db import RetrainRun, RolloutStore
from driftgate.settings import Settings

__all__ = ["HOLDOUT_FRACTION", "RetrainSpec", "Retrainer", "TrainerFailed", "code_version", "resolve_champion"]

log = logging.getLogger("driftgate.registry.retrain")

HOLDOUT_FRACTION = 0.2
ACTOR = "driftgate"


class TrainerFailed(DriftgateError):
    """The trainer raised, hung past its timeout, or returned something that is not a model."""


@dataclass(frozen=True, slots=True)
class RetrainSpec:
    data_source: str = "demo"
    data_options: Mapping[str, str] = field(default_factory=dict)
    trainer: str = "demo"
    trainer_options: Mapping[str, str] = field(default_factory=dict)
    force: bool = False  # register and canary even when the evaluation says worse (recorded as such)
    auto_rollout: bool = True


@dataclass(frozen=True, slots=True)
class Trained:
    onnx: bytes
    reference: np.ndarray
    metrics: dict[str, float]
    params: dict[str, Any]
    seconds: float


@cache
def code_version() -> str:
    """driftgate's version, plus ``git describe`` of the source tree when it is a git checkout."""
    root = Path(driftgate.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"], cwd=root, capture_output=True, text=True, timeout=5
        )
        described = out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        described = ""
    return driftgate.__version__ + (f"+{described}" if described else "")


def resolve_champion(catalogue: Catalogue, store: RolloutStore, model: str) -> int:
    """The ``champion`` alias when it names an active version; else the version serving the model now (the
    heaviest weight, or the newest active version in "latest" mode); 0 when nothing is active."""
    record = catalogue.get_model(model)
    active = {v.version for v in record.versions if v.state == ACTIVE}
    alias = store.champion(model)
    if alias in active:
        return alias
    if record.traffic.mode == "weights":
        weighted = [(w, v) for v, w in record.traffic.weights if v in active and w > 0]
        if weighted:
            return max(weighted)[1]
    return max(active, default=0)


def run_trainer(
    trainer: str, X: np.ndarray, y: np.ndarray, options: Mapping[str, str], seed: int, timeout_s: float,
    allowed: Collection[str] = (),
) -> Trained:
    """Train in a child process (python -m driftgate.registry.loop.train_child); TrainerFailed on an exception,
    a crash, or a run longer than ``timeout_s`` (the child is killed)."""
    load_plugin(trainer, TRAINERS, allowed)  # fail fast on a bad name
    with tempfile.TemporaryDirectory(prefix="driftgate-train-") as tmp:
        root = Path(tmp)
        np.savez(root / "input.npz", X=np.ascontiguousarray(X, dtype=np.float32), y=np.asarray(y, dtype=np.int64))
        (root / "request.json").write_text(json.dumps({"trainer": trainer, "options": dict(options), "seed": seed,
                                                           "allowed": list(allowed)}))
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        # -P: the child does not put the working directory on sys.path (python -m would); driftgate is found
        # where this process found it
        here = str(Path(driftgate.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH", "")])])
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "driftgate.registry.loop.train_child", str(root)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
        )
        try:
            _, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise TrainerFailed(f"trainer {trainer!r} ran longer than {timeout_s:g} s and was killed") from None
        seconds = time.perf_counter() - started
        error = root / "error.json"
        if error.exists():
            raise TrainerFailed(f"trainer {trainer!r} failed: {json.loads(error.read_text())['error']}")
        if process.returncode != 0 or not (root / "result.json").exists():
            tail = stderr.decode(errors="replace").strip().splitlines()[-1:] if stderr else []
            raise TrainerFailed(
                f"trainer {trainer!r} exited with code {process.returncode}" + (f": {tail[0]}" if tail else "")
            )
        result = json.loads((root / "result.json").read_text())
        return Trained(
            onnx=(root / "model.onnx").read_bytes(),
            reference=np.load(root / "reference.npy", allow_pickle=False),
            metrics=dict(result["metrics"]),
            params=dict(result["params"]),
            seconds=seconds,
        )


def score(onnx: bytes, X: np.ndarray, version: VersionRecord) -> np.ndarray:
    """The model's score column (as the gateway reads it: ``version``'s score output and column) for X."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(onnx, sess_options=options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    (out,) = session.run([version.score_output], {name: np.ascontiguousarray(X, dtype=np.float32)})
    out = np.asarray(out, dtype=np.float64)
    return out[:, version.score_column] if out.ndim == 2 else out.reshape(-1)


def auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if not np.isfinite(p).all():
        raise ValueError("scores hold NaN or infinity")
    return float(roc_auc_score(y, p)) if 0 < int(y.sum()) < len(y) else float("nan")


class Retrainer:
    def __init__(
        self,
        catalogue: Catalogue,
        store: RolloutStore,
        settings: Settings,
        on_registered: Callable[[str, int, int, int, str], None] | None = None,
    ) -> None:
        self._catalogue = catalogue
        self._store = store
        self._settings = settings
        self._on_registered = on_registered or (lambda *_: None)
        self._lock = threading.Lock()
        self._running: set[str] = set()

    def set_on_registered(self, fn: Callable[[str, int, int, int, str], None]) -> None:
        self._on_registered = fn

    def running(self, model: str) -> bool:
        with self._lock:
            return model in self._running

    def recover(self) -> None:
        """Runs left "running" by a registry that stopped mid-retrain end as failed (their child died with it)."""
        for run in self._store.running_runs():
            self._store.finish_run(run.id, "failed", "the registry restarted during the retrain")
            self._catalogue.record_event(
                "retrain_failed", run.model, 0, ACTOR, f"retrain #{run.id} of {run.model} failed: the registry "
                "restarted during it", {"run": run.id, "reason": "registry restarted"},
            )

    def begin(self, model: str, spec: RetrainSpec, *, trigger: str, actor: str, reason: str) -> RetrainRun:
        """Record a retrain as running (Conflict if one is running for ``model``); :meth:`run` does the work."""
        self._catalogue.get_model(model)  # ModelNotFound
        with self._lock:
            if model in self._running:
                raise Conflict(f"a retrain of {model} is already running")
            self._running.add(model)
        try:
            details = {
                "data_source": spec.data_source, "data_options": redact(spec.data_options),
                "trainer": spec.trainer, "trainer_options": redact(spec.trainer_options), "force": spec.force,
            }
            run = self._store.start_run(model, trigger, actor, reason, details)
            self._catalogue.record_event(
                "retrain_started", model, 0, actor,
                f"retrain #{run.id} of {model} started ({trigger})" + (f": {reason}" if reason else ""),
                {"run": run.id, "trigger": trigger, **details},
            )
        except BaseException:
            with self._lock:
                self._running.discard(model)
            raise
        return run

    def run(self, run: RetrainRun, spec: RetrainSpec) -> RetrainRun:
        """Fetch, train, evaluate, register; always ends the run in a recorded state."""
        try:
            return self._run(run, spec)
        except Exception as exc:  # anything unexpected still ends in a recorded state
            log.exception("retrain #%d of %s failed", run.id, run.model)
            return self._fail(run, f"{type(exc).__name__}: {exc}" if isinstance(exc, DriftgateError) else
                              f"unexpected error: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._running.discard(run.model)

    def _fail(self, run: RetrainRun, why: str, **details: Any) -> RetrainRun:
        why = redact_text(why)  # a plugin's error may quote a URL it was given
        self._catalogue.record_event(
            "retrain_failed", run.model, 0, ACTOR, f"retrain #{run.id} of {run.model} failed: {why}",
            {"run": run.id, "reason": why, **details},
        )
        return self._store.finish_run(run.id, "failed", why, details=details)

    def _run(self, run: RetrainRun, spec: RetrainSpec) -> RetrainRun:
        model = run.model
        rs = self._settings.rollout
        champion = resolve_champion(self._catalogue, self._store, model)
        if not champion:
            return self._fail(run, f"{model} has no active version to compare with")
        champion_record = self._catalogue.get_version(model, champion)
        seed = run.id

        # 1. data
        try:
            options = {"rows": str(rs.rows), **dict(spec.data_options)}
            source = load_plugin(spec.data_source, DATA_SOURCES, self._settings.registry.plugins)
            data: LabelledData = check_data(source(options, seed), spec.data_source)
        except InvalidRequest as exc:
            return self._fail(run, str(exc))
        except Exception as exc:
            return self._fail(run, f"data source {spec.data_source!r} raised {type(exc).__name__}: {exc}")
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(data.y))
        n_hold = max(1, int(len(order) * HOLDOUT_FRACTION))
        hold, train = np.sort(order[:n_hold]), np.sort(order[n_hold:])
        X_train, y_train = data.X[train], data.y[train]
        X_hold, y_hold = data.X[hold], data.y[hold]
        data_sha = fingerprint(X_train, y_train)

        # 2. train (child process)
        try:
            trained = run_trainer(spec.trainer, X_train, y_train, spec.trainer_options, seed, rs.trainer_timeout_s,
                                  self._settings.registry.plugins)
        except (TrainerFailed, InvalidRequest) as exc:
            return self._fail(run, str(exc))

        # 3. evaluate on the same holdout
        try:
            champion_auc = auc(y_hold, score(self._catalogue.artifacts.get(champion_record.artifact_sha256),
                                             X_hold, champion_record))
        except Exception as exc:
            return self._fail(run, f"the champion (version {champion}) could not be scored on the holdout: {exc}")
        try:
            challenger_auc = auc(y_hold, score(trained.onnx, X_hold, champion_record))
        except Exception as exc:
            return self._fail(run, f"the trainer returned an invalid model: {type(exc).__name__}: {exc}"[:500])
        lineage = {
            "parent": champion,
            "data_fingerprint": data_sha,
            "data_source": spec.data_source,
            "data_options": redact(spec.data_options),
            "data": redact_text(data.description),
            "trainer": spec.trainer,
            "trainer_options": redact(spec.trainer_options),
            "params": trained.params,
            "code_version": code_version(),
            "train_rows": len(y_train),
            "holdout_rows": len(y_hold),
            "train_seconds": round(trained.seconds, 3),
        }
        evaluation = {
            "challenger_auc": challenger_auc, "champion_auc": champion_auc, "margin": rs.eval_margin,
            "champion": champion,
        }
        worse = not (challenger_auc >= champion_auc - rs.eval_margin)  # NaN counts as worse
        metrics = {
            "auc": challenger_auc,
            "champion_auc": champion_auc,
            **{f"train_{k}": v for k, v in trained.metrics.items()},
        }
        metrics = {k: float(v) for k, v in metrics.items() if np.isfinite(v)}
        request = RegisterRequest(
            model=model,
            onnx=trained.onnx,
            reference=np.ascontiguousarray(trained.reference, dtype=np.float32),
            source=f"retrain:{spec.trainer}",
            metrics=metrics,
            description=f"retrain #{run.id}: {spec.trainer} on {redact_text(data.description)} "
            f"(data sha256 {data_sha[:12]}, code {code_version()})",
            parent=champion,
            actor=ACTOR,
            feature_names=data.feature_names or self._catalogue.model_settings(model).feature_names,
        )
        verdict = (
            f"holdout AUC {challenger_auc:.4f} vs champion v{champion} {champion_auc:.4f} (margin {rs.eval_margin:g})"
        )

        if worse and not spec.force:
            try:
                record = self._catalogue.register_version(request, state=REJECTED, reason=f"worse: {verdict}")
            except DriftgateError as exc:
                return self._fail(run, f"the trainer returned an invalid model: {exc}", evaluation=evaluation)
            self._catalogue.record_event(
                "retrain_rejected", model, record.version, ACTOR,
                f"{model} version {record.version} rejected: {verdict}", {"run": run.id, **evaluation, **lineage},
            )
            return self._store.finish_run(
                run.id, "rejected", f"worse than the champion: {verdict}", version=record.version, champion=champion,
                details={"evaluation": evaluation, "lineage": lineage},
            )

        # 4. register without moving traffic: pin to the champion first
        try:
            traffic = self._catalogue.get_traffic(model)
            if traffic.mode != "weights" or [(v, w) for v, w in traffic.weights if w > 0] != [(champion, 100)]:
                self._catalogue.set_traffic(
                    model, {champion: 100}, actor=ACTOR,
                    reason=f"pin to champion v{champion} before registering retrain #{run.id}",
                )
            record = self._catalogue.register_version(request)
        except DriftgateError as exc:
            return self._fail(run, f"could not register the challenger: {exc}", evaluation=evaluation)
        self._catalogue.record_event(
            "retrain_registered", model, record.version, ACTOR,
            f"{model} version {record.version} registered from retrain #{run.id}: {verdict}"
            + (" (forced past a worse evaluation)" if worse else ""),
            {"run": run.id, **evaluation, "forced": bool(worse and spec.force), "lineage": lineage},
        )
        done = self._store.finish_run(
            run.id, "registered", verdict + (" (forced)" if worse else ""), version=record.version,
            champion=champion, details={"evaluation": evaluation, "lineage": lineage},
        )
        if spec.auto_rollout:
            self._on_registered(model, champion, record.version, run.id, run.actor)
        return done
