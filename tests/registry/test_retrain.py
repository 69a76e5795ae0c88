"""Retrain, evaluate, register: plugins, the trainer's child process (raises, hangs, invalid model), the
evaluation margin, and the pin to the champion before a challenger is registered."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from registry_helpers import make_settings

from driftgate.errors import Conflict, InvalidRequest
from driftgate.registry.catalogue.artifacts import ArtifactStore
from driftgate.registry.catalogue.catalogue import Catalogue
from driftgate.registry.catalogue.gateways import GatewayTracker
from driftgate.registry.catalogue.records import GatewayStatus, LoadedVersion, RegisterRequest
from driftgate.registry.loop.plugins import DATA_SOURCES, files_source, load_plugin
from driftgate.registry.loop.retrain import Retrainer, RetrainSpec
from driftgate.registry.loop.rollout_db import RolloutStore
from driftgate.registry.store.db import Database
from driftgate.settings import RolloutSettings

HERE = Path(__file__).resolve().parent
ROWS = 4000
PLUGINS = ["rollout_plugins:raising_trainer", "rollout_plugins:hanging_trainer", "rollout_plugins:invalid_trainer",
           "rollout_plugins:not_data_source"]


@pytest.fixture(scope="module")
def champion_model() -> tuple[bytes, np.ndarray]:
    from driftgate.demo import generate, train_demo_model

    data = generate(ROWS, seed=100)
    trained = train_demo_model(data.X, data.y, seed=0, kind="logreg")
    return trained.onnx, trained.reference


@pytest.fixture
def loop(tmp_path, champion_model, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    settings = make_settings(tmp_path, plugins=PLUGINS)
    settings.rollout = RolloutSettings(rows=ROWS, trainer_timeout_s=20, eval_margin=0.1)
    db = Database.for_home(settings.home)
    gateways = GatewayTracker(1.0, clock=lambda: 0.0)  # the report never goes stale
    catalogue = Catalogue(db, ArtifactStore(settings.home / "artifacts"), settings, gateways)
    catalogue.register_version(RegisterRequest(model="fraud", onnx=champion_model[0], reference=champion_model[1],
                                               actor="t"))
    gateways.record(GatewayStatus("g", "", "", 1, "", 0, (LoadedVersion("fraud", 1, "READY"),), (), 0.0, ""))
    store = RolloutStore(db)
    registered: list[tuple[str, int, int]] = []
    retrainer = Retrainer(catalogue, store, settings, lambda m, c, v, run, actor: registered.append((m, c, v)))
    return catalogue, store, retrainer, registered


def _retrain(retrainer: Retrainer, spec: RetrainSpec):  # type: ignore[no-untyped-def]
    run = retrainer.begin("fraud", spec, trigger="manual", actor="t", reason="test")
    return retrainer.run(run, spec)


def test_plugin_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name, needle in (("nomodule", "module:function"), ("no_such_mod:f", "cannot import"),
                         ("driftgate.demo:nothing", "no callable")):
        with pytest.raises(InvalidRequest, match=needle):
            load_plugin(name, DATA_SOURCES, [name])
    (tmp_path / "a.csv").write_text("x1,x2,label\n1,2,0\n3,4,1\n")
    data = files_source({"path": str(tmp_path)}, 0)
    assert data.X.shape == (2, 2) and data.y.tolist() == [0, 1] and data.feature_names == ("x1", "x2")
    (tmp_path / "b.parquet").write_bytes(b"PAR1")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(InvalidRequest, match="pyarrow"):
            files_source({"path": str(tmp_path)}, 0)
    with pytest.raises(InvalidRequest, match="label column"):
        files_source({"path": str(tmp_path), "label": "nope"}, 0)


@pytest.mark.slow
def test_accept_registers_pinned_then_reject_worse(loop) -> None:  # type: ignore[no-untyped-def]
    catalogue, _, retrainer, registered = loop
    run = _retrain(retrainer, RetrainSpec(data_options={"drift": "amount_shift"}, trainer_options={"kind": "logreg"}))
    assert run.state == "registered", run.reason
    v2 = catalogue.get_version("fraud", run.version)
    assert v2.state == "active" and v2.parent == 1 and "auc" in v2.metrics
    assert dict(catalogue.get_traffic("fraud").weights) == {1: 100}  # pinned: "latest" would route to v2
    lineage = run.details["lineage"]
    assert len(lineage["data_fingerprint"]) == 64 and lineage["trainer"] == "demo" and lineage["code_version"]
    assert registered == [("fraud", 1, 2)]

    bad = _retrain(retrainer, RetrainSpec(trainer_options={"kind": "bad"}))
    assert bad.state == "rejected" and "worse" in bad.reason
    assert catalogue.get_version("fraud", bad.version).state == "rejected"
    assert len(registered) == 1
    kinds = [e.kind for e in catalogue.list_events("fraud", 50)]
    assert {"retrain_started", "retrain_registered", "retrain_rejected"} <= set(kinds)


@pytest.mark.parametrize(
    ("trainer", "why"),
    [
        ("rollout_plugins:raising_trainer", "feature store is down"),
        ("rollout_plugins:hanging_trainer", "killed"),
        ("rollout_plugins:invalid_trainer", "invalid model"),
    ],
)
def test_trainer_faults_end_recorded(loop, trainer: str, why: str) -> None:  # type: ignore[no-untyped-def]
    catalogue, _, retrainer, _ = loop
    if "hanging" in trainer:
        retrainer._settings.rollout = RolloutSettings(rows=ROWS, trainer_timeout_s=3)
    run = _retrain(retrainer, RetrainSpec(trainer=trainer))
    assert run.state == "failed" and why in run.reason
    assert [v.version for v in catalogue.get_model("fraud").versions] == [1]  # nothing registered
    assert not retrainer.running("fraud")
    events = catalogue.list_events("fraud", 5)
    assert events[0].kind == "retrain_failed" and why in events[0].message


def test_one_retrain_per_model(loop) -> None:  # type: ignore[no-untyped-def]
    _, _, retrainer, _ = loop
    spec = RetrainSpec(data_source="rollout_plugins:not_data_source")
    run = retrainer.begin("fraud", spec, trigger="manual", actor="t", reason="")
    with pytest.raises(Conflict, match="already running"):
        retrainer.begin("fraud", spec, trigger="manual", actor="t", reason="")
    assert retrainer.run(run, spec).state == "failed"
    retrainer.begin("fraud", spec, trigger="manual", actor="t", reason="")  # free again
