"""The built-in demo: synthetic card transactions with drift knobs, and a trainer that exports an ONNX fraud model.

``generate`` is cheap numpy; ``train_demo_model`` and ``evaluate_onnx`` import scikit-learn, skl2onnx and
onnxruntime only when called.
"""

from driftgate.demo.data import DRIFT_PRESETS, FEATURES, DriftSetting, Transactions, generate
from driftgate.demo.train import TrainedModel, evaluate_onnx, train_demo_model

__all__ = [
    "DRIFT_PRESETS",
    "FEATURES",
    "DriftSetting",
    "TrainedModel",
    "Transactions",
    "evaluate_onnx",
    "generate",
    "train_demo_model",
]
