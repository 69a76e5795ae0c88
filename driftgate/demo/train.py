"""The demo trainer: a scikit-learn fraud classifier exported to ONNX, and ONNX scoring of a holdout.

``train_demo_model(X, y)`` splits the rows (stratified, seeded), fits one of three kinds, exports it with skl2onnx
and checks that onnxruntime scores the holdout as scikit-learn does. The ONNX graph always has the signature the
gateway serves for the demo model::

    input   transaction    FP32  [-1, 30]
    output  label          INT64 [-1]       (1 = fraud at a 0.5 threshold)
    output  probabilities  FP32  [-1, 2]    (column 1 = P(fraud))

Kinds:

- ``"gbt"``: ``HistGradientBoostingClassifier`` (150 trees of at most 15 leaves, no early stopping, so the tree
  count and the artifact are fixed and deterministic). About 1-2 s for 50k rows on 2 cores.
- ``"logreg"``: ``StandardScaler`` + ``LogisticRegression``; the weaker, fast baseline.
- ``"bad"``: the ``gbt`` recipe fitted on shuffled labels, as a label-join bug would do: the same signature,
  size and latency as a good model, scores that carry no information (ROC AUC about 0.5). Used to show a canary
  being rolled back.

scikit-learn, skl2onnx and onnxruntime are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftgate.demo.data import FEATURES

__all__ = [
    "INPUT_NAME",
    "KINDS",
    "LABEL_OUTPUT",
    "METRIC_KEYS",
    "PROBABILITIES_OUTPUT",
    "TARGET_OPSET",
    "TrainedModel",
    "evaluate_onnx",
    "score_onnx",
    "train_demo_model",
]

INPUT_NAME = "transaction"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
# opset 17 / ai.onnx.ml 3: loads in every onnxruntime since 1.14 (the project pins >= 1.19; 1.32 is installed).
TARGET_OPSET: dict[str, int] = {"": 17, "ai.onnx.ml": 3}
KINDS = ("gbt", "logreg", "bad")
METRIC_KEYS = (
    "auc",
    "average_precision",
    "precision",
    "recall",
    "log_loss",
    "fraud_rate",
    "rows",
)
REFERENCE_ROWS = 20_000
DEFAULT_HOLDOUT_FRACTION = 0.25
# OpenMP threads for fitting. One by default: on a small host that also serves traffic, HistGradientBoosting's
# OpenMP barriers collapse when a core is busy (50k rows: ~2 s on one thread, 13 s on two with a busy neighbour).
DEFAULT_THREADS = 1

_DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "gbt": {
        "max_iter": 150,
        "learning_rate": 0.08,
        "max_leaf_nodes": 15,
        "min_samples_leaf": 40,
        "l2_regularization": 1.0,
        "early_stopping": False,
    },
    "logreg": {"C": 1.0, "max_iter": 1000},
}
_DEFAULT_PARAMS["bad"] = dict(_DEFAULT_PARAMS["gbt"])


@dataclass(slots=True)
class TrainedModel:
    """What the demo Trainer hands the registry.

    onnx: the serialised ONNX model. metrics: holdout metrics of the ONNX model (``evaluate_onnx`` keys) plus
    train_rows, holdout_rows, train_seconds. reference: float32 [<=20000, 30] seeded sample of the training rows,
    for the reference drift profile. params: the estimator's effective hyperparameters (defaults included) plus
    holdout_fraction, n_threads and seed.
    """

    onnx: bytes
    metrics: dict[str, float]
    reference: np.ndarray
    feature_names: tuple[str, ...] = FEATURES
    params: dict[str, Any] = field(default_factory=dict)
    kind: str = "gbt"


def _as_xy(X: Any, y: Any | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != len(FEATURES):
        raise ValueError(f"X must have shape [rows, {len(FEATURES)}], got {list(X.shape)}")
    if y is None:
        return X, None
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape [{X.shape[0]}], got {list(y.shape)}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y must hold 0 (legitimate) and 1 (fraud) only")
    return X, y.astype(np.int64)


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The metric dict for labels y and fraud probabilities p (nan where a metric needs both classes)."""
    from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    n = len(y)
    positives = int(y.sum())
    both = 0 < positives < n
    predicted = p >= 0.5
    tp = int((predicted & (y == 1)).sum())
    return {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "average_precision": float(average_precision_score(y, p)) if both else float("nan"),
        "precision": tp / int(predicted.sum()) if predicted.any() else 0.0,
        "recall": tp / positives if positives else float("nan"),
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])) if n else float("nan"),
        "fraud_rate": positives / n if n else float("nan"),
        "rows": float(n),
    }


def _session(onnx_bytes: bytes) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"])


def score_onnx(onnx_bytes: bytes, X: Any) -> np.ndarray:
    """P(fraud) float32 [rows] from the ONNX model (onnxruntime, CPU, one thread)."""
    X, _ = _as_xy(X)
    session = _session(onnx_bytes)
    (probabilities,) = session.run([PROBABILITIES_OUTPUT], {INPUT_NAME: X})
    return np.asarray(probabilities[:, 1])


def evaluate_onnx(onnx_bytes: bytes, X: Any, y: Any) -> dict[str, float]:
    """Holdout metrics of an ONNX fraud model: auc, average_precision, precision and recall at 0.5, log_loss,
    fraud_rate, rows. AUC and average precision are nan when y holds one class only.
    Score the challenger and the champion on the same rows to compare them."""
    X, y = _as_xy(X, y)
    return _metrics(y, score_onnx(onnx_bytes, X))


def _estimator(kind: str, params: dict[str, Any], seed: int) -> Any:
    if kind in ("gbt", "bad"):
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(random_state=seed, **params)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(random_state=seed, **params))


_EXPORT_LOCK = threading.Lock()


@contextmanager
def _int_missing_flags() -> Iterator[None]:
    """Work around skl2onnx 1.20 + onnx 1.23: the HistGradientBoosting converter passes Python bools (False for
    leaves) in the ``nodes_missing_value_tracks_true`` ints attribute, which onnx.helper now rejects ("Expected
    an int, got a boolean"). Coerce the flag to int while we convert; a no-op where skl2onnx is fixed."""
    from skl2onnx.common import tree_ensemble

    original = tree_ensemble.add_node

    def add_node(*args: Any, nodes_missing_value_tracks_true: Any = 0, **kwargs: Any) -> Any:
        return original(*args, nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true), **kwargs)

    with _EXPORT_LOCK:
        tree_ensemble.add_node = add_node
        try:
            yield
        finally:
            tree_ensemble.add_node = original


def _export(model: Any, kind: str) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    classifier = model.steps[-1][1] if hasattr(model, "steps") else model
    with _int_missing_flags():
        onx = convert_sklearn(
            model,
            name=f"driftgate_demo_{kind}",
            initial_types=[(INPUT_NAME, FloatTensorType([None, len(FEATURES)]))],
            target_opset=TARGET_OPSET,
            options={id(classifier): {"zipmap": False}},
        )
    onx.producer_name = "driftgate.demo"
    onx.doc_string = f"driftgate demo fraud model ({kind}); probabilities[:, 1] = P(fraud)"
    for key, value in (("driftgate.kind", kind), ("driftgate.feature_names", ",".join(FEATURES))):
        prop = onx.metadata_props.add()
        prop.key, prop.value = key, value
    return onx.SerializeToString()


def train_demo_model(
    X: Any, y: Any, seed: int = 0, kind: str = "gbt", params: dict[str, Any] | None = None
) -> TrainedModel:
    """Fit a ``kind`` fraud classifier on a stratified split of (X, y), export it to ONNX and measure it.

    params override the estimator's hyperparameters (``HistGradientBoostingClassifier`` for gbt and bad,
    ``LogisticRegression`` for logreg); two keys are the trainer's own: ``holdout_fraction`` (default 0.25) and
    ``n_threads`` (OpenMP/BLAS threads while fitting, default 1).
    Raises ValueError on a bad kind, shape, label or parameter, and RuntimeError if the exported model does not
    score the holdout as scikit-learn does.
    """
    import time

    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; kinds: {', '.join(KINDS)}")
    X, y = _as_xy(X, y)
    assert y is not None
    positives = int(y.sum())
    if positives < 2 or positives > len(y) - 2:
        raise ValueError(f"need at least 2 rows of each class to train, got {positives} fraud in {len(y)} rows")
    overrides = dict(params or {})
    holdout_fraction = float(overrides.pop("holdout_fraction", DEFAULT_HOLDOUT_FRACTION))
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    n_threads = overrides.pop("n_threads", DEFAULT_THREADS)
    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
        raise ValueError(f"n_threads must be an int >= 1, got {n_threads!r}")
    effective = {**_DEFAULT_PARAMS[kind], **overrides}

    X_train, X_hold, y_train, y_hold = train_test_split(X, y, test_size=holdout_fraction, stratify=y, random_state=seed)
    X_train = np.ascontiguousarray(X_train)
    X_hold = np.ascontiguousarray(X_hold)
    rng = np.random.default_rng(seed)
    fit_labels = rng.permutation(y_train) if kind == "bad" else y_train

    try:
        model = _estimator(kind, effective, seed)
    except TypeError as exc:  # an unknown hyperparameter
        raise ValueError(f"bad params for kind {kind!r}: {exc}") from None
    with threadpool_limits(limits=n_threads):
        started = time.perf_counter()
        model.fit(X_train, fit_labels)
        train_seconds = time.perf_counter() - started
        sklearn_p = model.predict_proba(X_hold)[:, 1]

    onnx_bytes = _export(model, kind)
    onnx_p = score_onnx(onnx_bytes, X_hold)
    worst = float(np.max(np.abs(onnx_p - sklearn_p))) if len(onnx_p) else 0.0
    if worst > 1e-4:
        raise RuntimeError(f"the ONNX export disagrees with scikit-learn by up to {worst:.2e} in P(fraud)")

    metrics = _metrics(y_hold, onnx_p)
    metrics.update(
        train_rows=float(len(y_train)),
        holdout_rows=float(len(y_hold)),
        train_seconds=train_seconds,
        onnx_bytes=float(len(onnx_bytes)),
    )
    take = min(REFERENCE_ROWS, len(X_train))
    index = np.sort(rng.choice(len(X_train), size=take, replace=False))
    reference = np.ascontiguousarray(X_train[index])
    return TrainedModel(
        onnx=onnx_bytes,
        metrics=metrics,
        reference=reference,
        feature_names=FEATURES,
        params={**effective, "holdout_fraction": holdout_fraction, "n_threads": n_threads, "seed": seed},
        kind=kind,
    )
