"""In-process floors: what onnxruntime's session.run costs with no server around it.

The demo-sized models (30 FP32 features; logistic regression and the demo's gradient-boosted
trees) are trained on ``driftgate.demo`` data and exported by ``driftgate.demo.train_demo_model``;
each is timed at batch 1 and 64 with intra_op_num_threads=1, the gateway's setting. Reported:
the median and the fastest of several repeats, in microseconds per call.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["demo_model", "measure_floors", "render_floors", "time_session"]

FLOOR_BATCHES = (1, 64)


def demo_model(kind: str = "gbt", rows: int = 20_000, seed: int = 0) -> tuple[bytes, np.ndarray]:
    """An ONNX demo fraud model of ``kind`` and its reference rows (float32 [n, 30])."""
    from driftgate.demo import generate, train_demo_model

    data = generate(rows, seed=seed)
    trained = train_demo_model(data.X, data.y, seed=seed, kind=kind)
    return trained.onnx, trained.reference


def _session(model: bytes | str) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def time_session(model: bytes | str, batch: int, calls: int, repeats: int = 5) -> dict[str, float]:
    """Microseconds per session.run(None, {input: x[batch, 30]}), median and best of ``repeats``."""
    from driftgate.demo import generate

    session = _session(model)
    name = session.get_inputs()[0].name
    x = np.ascontiguousarray(generate(batch, seed=1).X, dtype=np.float32)
    feed = {name: x}
    run = session.run
    for _ in range(min(200, calls)):
        run(None, feed)
    per_call = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            run(None, feed)
        per_call.append((time.perf_counter_ns() - t0) / calls / 1000)
    return {
        "batch": batch,
        "calls": calls,
        "us_per_call_median": round(statistics.median(per_call), 2),
        "us_per_call_best": round(min(per_call), 2),
        "us_per_row_median": round(statistics.median(per_call) / batch, 3),
    }


def measure_floors(onnx: str | Path | None = None, calls: int = 20_000) -> dict[str, Any]:
    """Floors of the given ONNX file, or of the demo's logreg and gbt models."""
    from driftgate.bench.report import machine_info

    models: dict[str, bytes | str] = {}
    if onnx:
        models[Path(onnx).name] = str(onnx)
    else:
        for kind in ("logreg", "gbt"):
            models[f"demo {kind}"] = demo_model(kind)[0]
    results = []
    for name, model in models.items():
        for batch in FLOOR_BATCHES:
            n = calls if batch == 1 else max(100, calls // 8)
            results.append({"model": name, **time_session(model, batch, n)})
    return {"kind": "floors", "intra_op_num_threads": 1, "machine": machine_info(), "results": results}


def render_floors(result: dict[str, Any]) -> str:
    """The floors as a text table."""
    from driftgate.text_table import TextTable

    table = TextTable("onnxruntime session.run in-process (intra_op_num_threads=1)")
    for col in ("model", "batch", "us/call median", "us/call best", "us/row"):
        table.add_column(col, right=col != "model")
    for r in result["results"]:
        table.add_row(
            r["model"],
            str(r["batch"]),
            f"{r['us_per_call_median']:.2f}",
            f"{r['us_per_call_best']:.2f}",
            f"{r['us_per_row_median']:.3f}",
        )
    return table.render()
