"""Trainer and data-source plugins for the retrain tests (imported by name in the trainer's child process)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def raising_trainer(X: Any, y: Any, options: dict[str, str], seed: int) -> Any:
    raise RuntimeError("the feature store is down")


def hanging_trainer(X: Any, y: Any, options: dict[str, str], seed: int) -> Any:
    time.sleep(600)


def invalid_trainer(X: Any, y: Any, options: dict[str, str], seed: int) -> Any:
    from driftgate.registry.loop.plugins import TrainResult

    return TrainResult(onnx=b"this is not an onnx model", reference=np.asarray(X[:100]))


def not_data_source(options: dict[str, str], seed: int) -> Any:
    return 42


def recording_source(options: dict[str, str], seed: int) -> Any:
    """Writes the options it was given to the file in option ``record`` and returns 400 demo-like rows."""
    import json
    from pathlib import Path

    from driftgate.registry.loop.plugins import LabelledData

    Path(options["record"]).write_text(json.dumps({"data_options": options}))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    return LabelledData(X, (X[:, 0] > 0).astype(np.int64))


def recording_trainer(X: Any, y: Any, options: dict[str, str], seed: int) -> Any:
    """Writes the options it was given (in the trainer's child process) to option ``record``, then fails."""
    import json
    from pathlib import Path

    Path(options["record"]).write_text(json.dumps({"trainer_options": options}))
    raise RuntimeError("recorded")
