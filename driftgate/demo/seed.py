"""The demo model a fresh install serves: "fraud", trained on synthetic card transactions.

``driftgate registry`` (and so ``driftgate serve``, whose registry child it is) registers it on an
empty registry while ``registry.demo`` is on (driftgate.cli.registry_cmd composes the two); the
registry itself knows nothing of the demo. Training imports scikit-learn and skl2onnx (train.py).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from driftgate.demo.data import generate
from driftgate.demo.train import train_demo_model

__all__ = ["DEMO_MODEL", "DEMO_ROWS", "DemoVersion", "train_demo_version"]

DEMO_MODEL = "fraud"
DEMO_ROWS = 50_000  # transactions it is trained on (seed 0: the same model on every install)


@dataclass(frozen=True, slots=True)
class DemoVersion:
    """What a registration of the demo model carries."""

    onnx: bytes
    reference: bytes  # the training rows' features, float32 .npy: the drift reference
    metrics: dict[str, float]
    description: str
    feature_names: tuple[str, ...]


def train_demo_version(rows: int = DEMO_ROWS, seed: int = 0) -> DemoVersion:
    """Train the demo model on ``rows`` synthetic transactions (deterministic for a seed)."""
    data = generate(rows, seed=seed)
    trained = train_demo_model(data.X, data.y, seed=seed)
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(trained.reference, dtype=np.float32), allow_pickle=False)
    return DemoVersion(
        onnx=trained.onnx,
        reference=buf.getvalue(),
        metrics={str(k): float(v) for k, v in trained.metrics.items() if isinstance(v, int | float)},
        description=f"demo {trained.kind} fraud model trained on {rows} synthetic transactions",
        feature_names=tuple(trained.feature_names),
    )
