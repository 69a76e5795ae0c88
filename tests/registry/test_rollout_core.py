"""The rollout state machine without transports: a real catalogue on SQLite, a fake clock, and gateway reports
injected into the tracker (counters the way gateways send them: cumulative per gateway)."""

from __future__ import annotations

import numpy as np
import pytest
from registry_helpers import Models, make_settings, npy

from driftgate.errors import Conflict
from driftgate.latency_buckets import LATENCY_BUCKET_BOUNDS_US
from driftgate.registry.catalogue.artifacts import ArtifactStore
from driftgate.registry.catalogue.catalogue import Catalogue
from driftgate.registry.catalogue.gateways import GatewayTracker
from driftgate.registry.catalogue.records import GatewayStatus, LoadedVersion, RegisterRequest, VersionStatsRecord
from driftgate.registry.loop.rollout import RolloutManager, p99_us, score_psi
from driftgate.registry.loop.rollout_db import RolloutStore
from driftgate.registry.store.db import Database
from driftgate.settings import RolloutSettings

NB = len(LATENCY_BUCKET_BOUNDS_US) + 1


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


class World:
    def __init__(self, tmp_path, models: Models, **rollout) -> None:  # type: ignore[no-untyped-def]
        self.clock = Clock()
        self.settings = make_settings(tmp_path)
        self.settings.rollout = RolloutSettings(
            steps=(10, 50, 100), step_hold_s=5, step_min_requests=50, ready_timeout_s=30, keep_old_s=20,
            step_timeout_s=60, **rollout,
        )
        self.db = Database.for_home(self.settings.home)
        self.gateways = GatewayTracker(1.0, clock=self.clock)
        self.catalogue = Catalogue(self.db, ArtifactStore(self.settings.home / "artifacts"), self.settings,
                                   self.gateways, clock=self.clock)
        self.store = RolloutStore(self.db, clock=self.clock)
        for onnx in (models.v1, models.v2):
            self.catalogue.register_version(
                RegisterRequest(model="m", onnx=onnx, reference=npy(models.X), actor="t")
            )
        self.counts: dict[int, list[int]] = {1: [0, 0], 2: [0, 0]}
        self.states = {1: "READY", 2: "LOADING"}
        self.report()
        self.catalogue.set_traffic("m", {1: 100}, actor="t")

    def manager(self) -> RolloutManager:
        return RolloutManager(self.catalogue, self.store, self.gateways, self.settings, clock=self.clock)

    def report(self, reason: str = "") -> None:
        stats = []
        for v, (req, fail) in self.counts.items():
            buckets = [0] * NB
            buckets[3] = req  # 300 us
            stats.append(VersionStatsRecord("m", v, requests=req, failures=fail, latency_buckets=tuple(buckets)))
        self.gateways.record(GatewayStatus(
            gateway_id="g1", address="", host="", pid=1, started_at="", applied_generation=0,
            versions=tuple(LoadedVersion("m", v, s, reason if s == "FAILED" else "") for v, s in self.states.items()),
            stats=tuple(stats), last_seen=0.0, reported_at="",
        ))

    def serve(self, champion: int, canary: int, canary_failures: int = 0, seconds: float = 1.0) -> None:
        self.counts[1][0] += champion
        self.counts[2][0] += canary
        self.counts[2][1] += canary_failures
        self.clock.t += seconds
        self.report()

    def weights(self) -> dict[int, int]:
        return dict(self.catalogue.get_traffic("m").weights)


@pytest.fixture
def world(tmp_path, models: Models) -> World:  # type: ignore[no-untyped-def]
    return World(tmp_path, models)


def test_canary_steps_promote_and_retire(world: World) -> None:
    m = world.manager()
    r = m.start("m", 1, 2, actor="t")
    assert m.tick()[0].state == "loading"  # v2 still LOADING
    assert world.weights() == {1: 100}
    world.states[2] = "READY"
    world.serve(0, 0)
    r = m.tick()[0]
    assert (r.state, r.step) == ("canary", 0) and world.weights() == {1: 90, 2: 10}
    world.serve(450, 50, seconds=2)
    assert m.tick()[0].step == 0  # enough requests, not held long enough
    world.serve(10, 1, seconds=4)
    r = m.tick()[0]
    assert r.step == 1 and world.weights() == {1: 50, 2: 50}
    world.serve(60, 60, seconds=6)
    r = m.tick()[0]
    assert r.step == 2 and world.weights() == {2: 100}
    world.serve(0, 60, seconds=6)
    r = m.tick()[0]
    assert r.state == "promoted" and world.store.champion("m") == 2
    assert world.catalogue.get_version("m", 1).state == "active"  # kept loaded for an instant rollback
    world.clock.t += 21
    world.report()
    r = m.tick()[0]
    assert r.state == "done"
    assert world.catalogue.get_version("m", 1).state == "retired"
    kinds = [e.kind for e in world.catalogue.list_events("m", 100)]
    for kind in ("rollout_started", "rollout_step", "rollout_step_passed", "rollout_promoted", "rollout_done"):
        assert kind in kinds


def test_error_gate_rolls_back_at_once(world: World) -> None:
    m = world.manager()
    m.start("m", 1, 2, actor="t")
    world.states[2] = "READY"
    world.serve(0, 0)
    m.tick()
    world.serve(500, 60, canary_failures=6)  # 10 % errors against 0 %: no need to wait for the hold time
    r = m.tick()[0]
    assert r.state == "rolled_back" and "error rate" in r.reason
    assert world.weights() == {1: 100}
    assert world.catalogue.get_version("m", 2).state == "rolled_back"
    assert world.store.champion("m") == 0  # never moved


def test_failed_load_and_ready_timeout_roll_back(world: World, tmp_path, models: Models) -> None:  # type: ignore[no-untyped-def]
    m = world.manager()
    m.start("m", 1, 2, actor="t")
    world.states[2] = "FAILED"
    world.report(reason="warm-up failed")
    r = m.tick()[0]
    assert r.state == "rolled_back" and r.reason.startswith("not loaded") and "warm-up failed" in r.reason
    assert world.weights() == {1: 100}

    other = World(tmp_path / "b", models)
    m2 = other.manager()
    m2.start("m", 1, 2, actor="t")
    other.clock.t += 31
    other.report()
    r = m2.tick()[0]
    assert r.state == "rolled_back" and "not READY" in r.reason


def test_resume_after_restart(world: World) -> None:
    m = world.manager()
    m.start("m", 1, 2, actor="t")
    world.states[2] = "READY"
    world.serve(0, 0)
    m.tick()
    world.serve(450, 50, seconds=6)
    assert m.tick()[0].step == 1
    # a new manager over the same database (a restarted registry) continues at step 2 of 3
    world.db.dispose()
    fresh = world.manager()
    world.serve(60, 60, seconds=6)
    r = fresh.tick()[0]
    assert r.step == 2 and world.weights() == {2: 100}


def test_operator_actions(world: World) -> None:
    m = world.manager()
    with pytest.raises(Conflict):
        m.pause("m", "t")
    m.start("m", 1, 2, actor="t")
    with pytest.raises(Conflict):
        m.start("m", 1, 2, actor="t")
    world.states[2] = "READY"
    world.serve(0, 0)
    m.tick()
    m.pause("m", "t", "looking")
    world.serve(450, 50, seconds=10)
    assert m.tick()[0].step == 0  # paused: holds
    m.resume("m", "t")
    r = m.promote("m", "t", "urgent")
    assert r.state == "promoted" and world.weights() == {2: 100}
    r = m.rollback("m", "t", "changed my mind")  # the old champion is still loaded
    assert r.state == "rolled_back" and world.weights() == {1: 100} and world.store.champion("m") == 1


def test_abort(world: World) -> None:
    m = world.manager()
    m.start("m", 1, 2, actor="t")
    r = m.abort("m", "t")
    assert r.state == "aborted" and world.catalogue.get_version("m", 2).state == "retired"


def test_p99_and_score_psi() -> None:
    buckets = [0] * NB
    buckets[2] = 99
    buckets[10] = 1
    assert p99_us(buckets) == LATENCY_BUCKET_BOUNDS_US[2]
    assert p99_us([0] * NB, 1000) == 1000
    rng = np.random.default_rng(0)
    a_edges = np.quantile(rng.random(5000), np.linspace(0, 1, 9))
    b_edges = np.quantile(rng.random(5000) ** 2, np.linspace(0, 1, 9))

    def hist(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
        from driftgate.native.profile import bin_index

        return np.bincount(bin_index(values, edges), minlength=len(edges) + 2)

    same = rng.random(20000)
    assert score_psi(hist(same, a_edges), a_edges, hist(same, b_edges), b_edges) < 0.05
    shifted = rng.random(20000) ** 4
    assert score_psi(hist(shifted, a_edges), a_edges, hist(same, b_edges), b_edges) > 0.25


def test_labelled_accuracy_gate_rolls_back(tmp_path, models: Models) -> None:  # type: ignore[no-untyped-def]
    world = World(tmp_path, models)
    auc = {1: 0.90, 2: None}  # the canary has no labels yet: the gate waits on the others
    manager = RolloutManager(world.catalogue, world.store, world.gateways, world.settings, clock=world.clock,
                             accuracy=lambda model, version, since: auc[version])
    r = manager.start("m", 1, 2, actor="t")
    world.states[2] = "READY"
    world.report()
    manager.tick()
    world.serve(champion=900, canary=100, seconds=6)
    manager.tick()
    assert world.store.rollout(r.id).state == "canary"  # no labelled accuracy: not a failure
    auc[2] = 0.70  # labels arrive: 0.20 worse than the champion
    world.serve(champion=500, canary=500, seconds=6)
    manager.tick()
    rollout = world.store.rollout(r.id)
    assert rollout.state == "rolled_back" and "labelled AUC" in rollout.reason
    assert world.weights() == {1: 100}


async def test_accuracy_alert_triggers_a_retrain(tmp_path, models: Models) -> None:  # type: ignore[no-untyped-def]
    from driftgate.registry.loop.controller import LoopController
    from driftgate.registry.loop.retrain import Retrainer
    from driftgate.registry.loop.rollout_db import RetrainPolicy

    world = World(tmp_path, models)
    alerts: dict[str, list[str]] = {"m": []}
    controller = LoopController(world.catalogue, world.store, Retrainer(world.catalogue, world.store, world.settings),
                                world.manager(), world.settings, clock=world.clock,
                                accuracy_alerts=lambda model: alerts[model])
    policy = RetrainPolicy(model="m", triggers=("accuracy",))
    assert controller._why_retrain(policy, world.clock()) is None
    alerts["m"] = ["version 1: AUC 0.61 under 0.75"]
    trigger, reason = controller._why_retrain(policy, world.clock())  # type: ignore[misc]
    assert trigger == "accuracy" and "AUC 0.61" in reason
