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
    from driftgate.registry.plugins import TrainResult

    return TrainResult(onnx=b"this is not an onnx model", reference=np.asarray(X[:100]))


def not_data_source(options: dict[str, str], seed: int) -> Any:
    return 42
