"""The trainer's own process: ``python -m driftgate.registry.loop.train_child WORKDIR``.

Reads ``WORKDIR/input.npz`` (X, y) and ``WORKDIR/request.json`` (trainer, options, seed), calls the trainer
plugin, and writes ``model.onnx``, ``reference.npy`` and ``result.json`` (metrics, params); on an exception it
writes ``error.json`` and exits 1. Run apart from the registry so that a hanging or crashing trainer can be
killed without taking the control plane with it.
"""

from __future__ import annotations

import json
import math
import sys
import traceback
from pathlib import Path

import numpy as np


def main(workdir: str) -> int:
    from driftgate.registry.loop.plugins import TRAINERS, load_plugin

    root = Path(workdir)
    try:
        request = json.loads((root / "request.json").read_text())
        with np.load(root / "input.npz", allow_pickle=False) as data:
            X, y = data["X"], data["y"]
        fn = load_plugin(request["trainer"], TRAINERS, list(request.get("allowed") or ()))
        result = fn(X, y, dict(request["options"]), int(request["seed"]))
        onnx = getattr(result, "onnx", None)
        if not isinstance(onnx, bytes | bytearray) or not onnx:
            raise TypeError(f"the trainer returned {type(result).__name__} without ONNX bytes in .onnx")
        reference = np.ascontiguousarray(getattr(result, "reference", None), dtype=np.float32)
        metrics = {
            str(k): float(v)
            for k, v in dict(getattr(result, "metrics", {}) or {}).items()
            if isinstance(v, int | float) and math.isfinite(float(v))
        }
        params = {str(k): v for k, v in dict(getattr(result, "params", {}) or {}).items()}
        (root / "model.onnx").write_bytes(bytes(onnx))
        np.save(root / "reference.npy", reference, allow_pickle=False)
        (root / "result.json").write_text(json.dumps({"metrics": metrics, "params": params}, default=str))
        return 0
    except BaseException as exc:  # everything goes back to the registry as a reason
        (root / "error.json").write_text(
            json.dumps({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-4000:]})
        )
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
