"""Fixtures shared by the gateway tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def challenger(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A second demo-compatible model (logistic regression, another seed) and its reference rows,
    to register as a new version while load runs."""
    from driftgate.demo import generate, train_demo_model

    data = generate(5000, seed=3)
    trained = train_demo_model(data.X, data.y, seed=3, kind="logreg")
    folder = tmp_path_factory.mktemp("challenger")
    (folder / "model.onnx").write_bytes(trained.onnx)
    np.save(folder / "reference.npy", trained.reference)
    return folder / "model.onnx", folder / "reference.npy"
