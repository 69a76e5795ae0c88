"""Session-run floors of candidate models for bench/batching.md (run as written, 2026-11-26)."""

import time

from driftgate.bench.floors import time_session
from driftgate.demo import generate, train_demo_model

data = generate(20000, seed=0)
for name, params in [
    ("gbt default", {}),
    ("gbt 400x63", {"max_iter": 400, "max_leaf_nodes": 63, "min_samples_leaf": 20}),
]:
    t0 = time.perf_counter()
    tr = train_demo_model(data.X, data.y, seed=0, kind="gbt", params=params)
    t1 = time.perf_counter()
    r1 = time_session(tr.onnx, 1, 2000, 3)
    r16 = time_session(tr.onnx, 16, 500, 3)
    r64 = time_session(tr.onnx, 64, 300, 3)
    print(
        name,
        f"train {t1 - t0:.1f}s",
        r1["us_per_call_median"],
        r16["us_per_call_median"],
        r64["us_per_call_median"],
        flush=True,
    )
