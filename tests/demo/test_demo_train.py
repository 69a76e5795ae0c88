from __future__ import annotations

import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from threadpoolctl import threadpool_limits

from driftgate.demo import FEATURES, TrainedModel, evaluate_onnx, generate, train_demo_model
from driftgate.demo.train import _DEFAULT_PARAMS, _estimator, _export
from driftgate.signature import Signature, TensorSpec, signature_from_onnx

TRAIN_ROWS = 16_000
METRIC_KEYS = {"auc", "average_precision", "precision", "recall", "log_loss", "train_rows", "holdout_rows"}


@pytest.fixture(scope="module")
def data():
    return generate(TRAIN_ROWS, seed=10)


@pytest.fixture(scope="module")
def fresh():
    """Rows the models never saw, from the same population."""
    return generate(20_000, seed=11)


@pytest.fixture(scope="module")
def gbt(data) -> TrainedModel:
    return train_demo_model(data.X, data.y, seed=0, kind="gbt")


@pytest.fixture(scope="module")
def logreg(data) -> TrainedModel:
    return train_demo_model(data.X, data.y, seed=0, kind="logreg")


@pytest.fixture(scope="module")
def bad(data) -> TrainedModel:
    return train_demo_model(data.X, data.y, seed=0, kind="bad")


def _value_info(v: onnx.ValueInfoProto) -> tuple[str, int, list[int | None]]:
    t = v.type.tensor_type
    assert v.type.WhichOneof("value") == "tensor_type", v.name
    dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return v.name, t.elem_type, dims


@pytest.mark.parametrize("kind", ["gbt", "logreg", "bad"])
def test_onnx_signature_is_exact(kind, request):
    trained: TrainedModel = request.getfixturevalue(kind)
    model = onnx.load_from_string(trained.onnx)
    onnx.checker.check_model(model)
    assert [_value_info(v) for v in model.graph.input] == [("transaction", onnx.TensorProto.FLOAT, [None, 30])]
    assert [_value_info(v) for v in model.graph.output] == [
        ("label", onnx.TensorProto.INT64, [None]),
        ("probabilities", onnx.TensorProto.FLOAT, [None, 2]),
    ]
    assert "ZipMap" not in {node.op_type for node in model.graph.node}
    opsets = {o.domain: o.version for o in model.opset_import}
    assert opsets[""] <= 21
    props = {p.key: p.value for p in model.metadata_props}
    assert props["driftgate.kind"] == kind
    assert props["driftgate.feature_names"].split(",") == list(FEATURES)
    # what the gateway will see
    session = ort.InferenceSession(trained.onnx, providers=["CPUExecutionProvider"])
    assert signature_from_onnx(session) == Signature(
        (TensorSpec("transaction", "FP32", (-1, 30)),),
        (TensorSpec("label", "INT64", (-1,)), TensorSpec("probabilities", "FP32", (-1, 2))),
    )


@pytest.mark.parametrize("kind", ["gbt", "logreg"])
def test_onnxruntime_agrees_with_sklearn(kind, data, fresh):
    with threadpool_limits(limits=1):  # OpenMP on a busy 2-core host is slower than one thread
        model = _estimator(kind, _DEFAULT_PARAMS[kind], 0).fit(data.X[:8000], data.y[:8000])
        expected = model.predict_proba(fresh.X)
        expected_label = model.predict(fresh.X)
    session = ort.InferenceSession(_export(model, kind), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(None, {"transaction": fresh.X})
    np.testing.assert_allclose(probabilities, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(label, expected_label)
    assert label.dtype == np.int64 and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_trained_model_contents(gbt, data):
    assert gbt.kind == "gbt"
    assert gbt.feature_names == FEATURES
    assert set(gbt.metrics) >= METRIC_KEYS
    assert all(isinstance(v, float) for v in gbt.metrics.values())
    assert gbt.metrics["train_rows"] + gbt.metrics["holdout_rows"] == TRAIN_ROWS
    assert gbt.metrics["holdout_rows"] == TRAIN_ROWS // 4
    assert gbt.reference.dtype == np.float32
    assert gbt.reference.flags.c_contiguous
    assert gbt.reference.shape == (min(20_000, int(gbt.metrics["train_rows"])), 30)
    # the reference rows are training rows
    rows = {r.tobytes() for r in data.X}
    assert all(r.tobytes() in rows for r in gbt.reference[:200])
    assert gbt.params["max_iter"] == 150 and gbt.params["seed"] == 0 and gbt.params["holdout_fraction"] == 0.25


def test_reference_is_capped():
    many = generate(30_000, seed=12)
    trained = train_demo_model(many.X, many.y, kind="logreg", params={"holdout_fraction": 0.2})
    assert trained.reference.shape == (20_000, 30)
    assert trained.metrics["holdout_rows"] == 6000


def test_training_is_deterministic(data):
    small = data[:4000]
    a = train_demo_model(small.X, small.y, seed=3, kind="gbt", params={"max_iter": 20})
    b = train_demo_model(small.X, small.y, seed=3, kind="gbt", params={"max_iter": 20})
    assert a.onnx == b.onnx
    np.testing.assert_array_equal(a.reference, b.reference)
    assert a.params["max_iter"] == 20


def test_holdout_auc_is_sane(gbt, logreg, fresh):
    assert 0.85 < gbt.metrics["auc"] < 0.985
    scored = evaluate_onnx(gbt.onnx, fresh.X, fresh.y)
    assert METRIC_KEYS - {"train_rows", "holdout_rows"} <= set(scored)
    assert 0.86 < scored["auc"] < 0.98  # good, but not perfect: the labels are noisy
    assert 0.0 < scored["average_precision"] < 0.9
    assert 0.0 <= scored["recall"] <= 1.0 and 0.0 <= scored["precision"] <= 1.0
    assert scored["rows"] == len(fresh)
    assert evaluate_onnx(logreg.onnx, fresh.X, fresh.y)["auc"] > 0.82


def test_bad_kind_is_clearly_worse(gbt, bad, fresh):
    good = evaluate_onnx(gbt.onnx, fresh.X, fresh.y)
    worse = evaluate_onnx(bad.onnx, fresh.X, fresh.y)
    assert worse["auc"] < 0.65
    assert good["auc"] - worse["auc"] > 0.2
    assert worse["average_precision"] < good["average_precision"] / 3
    assert worse["log_loss"] > good["log_loss"]
    assert len(bad.onnx) > len(gbt.onnx) / 4  # a real model of the same shape, not a stub


def test_concept_drift_hurts_and_retraining_recovers(gbt, fresh):
    before = evaluate_onnx(gbt.onnx, fresh.X, fresh.y)["auc"]
    shifted = generate(20_000, seed=13, drift="concept")
    after = evaluate_onnx(gbt.onnx, shifted.X, shifted.y)["auc"]
    assert after < before - 0.2, (before, after)
    new_data = generate(TRAIN_ROWS, seed=14, drift="concept")
    retrained = train_demo_model(new_data.X, new_data.y, seed=0)
    assert evaluate_onnx(retrained.onnx, shifted.X, shifted.y)["auc"] > after + 0.2


def test_evaluate_one_class_is_nan_without_warnings(gbt, fresh):
    legit = fresh[fresh.y == 0][:500]
    scored = evaluate_onnx(gbt.onnx, legit.X, legit.y)
    assert math.isnan(scored["auc"]) and math.isnan(scored["average_precision"])
    assert math.isnan(scored["recall"])
    assert scored["log_loss"] >= 0 and scored["rows"] == 500
    assert evaluate_onnx(gbt.onnx, fresh.X[:0], fresh.y[:0])["rows"] == 0


def test_bad_arguments(data):
    X, y = data.X[:2000], data.y[:2000]
    with pytest.raises(ValueError, match="unknown model kind"):
        train_demo_model(X, y, kind="forest")
    with pytest.raises(ValueError, match=r"shape \[rows, 30\]"):
        train_demo_model(X[:, :10], y)
    with pytest.raises(ValueError, match="y must have shape"):
        train_demo_model(X, y[:10])
    with pytest.raises(ValueError, match=r"0 .* and 1"):
        train_demo_model(X, np.full(len(y), 2))
    with pytest.raises(ValueError, match="each class"):
        train_demo_model(X, np.zeros(len(y), dtype=np.int8))
    with pytest.raises(ValueError, match="bad params"):
        train_demo_model(X, y, kind="logreg", params={"n_trees": 3})
    with pytest.raises(ValueError, match="holdout_fraction"):
        train_demo_model(X, y, kind="logreg", params={"holdout_fraction": 1.5})
    with pytest.raises(ValueError, match="n_threads"):
        train_demo_model(X, y, kind="logreg", params={"n_threads": 0})
    with pytest.raises(ValueError, match=r"shape \[rows, 30\]"):
        evaluate_onnx(b"", X[:, :3], y)
