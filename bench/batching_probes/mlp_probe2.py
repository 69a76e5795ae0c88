"""Session-run floors of candidate models for bench/batching.md (run as written, 2026-11-26)."""

import time
import warnings

from driftgate.bench.floors import time_session
from driftgate.bench.scenarios import heavy_model

warnings.simplefilter("ignore")
for hidden in [(1024, 1024), (512, 512, 512)]:
    t0 = time.perf_counter()
    onx, _ = heavy_model(rows=5000, hidden=hidden)
    t1 = time.perf_counter()
    r = [time_session(onx, b, n, 3)["us_per_call_median"] for b, n in ((1, 500), (8, 300), (16, 200), (64, 100))]
    print(hidden, f"train {t1 - t0:.1f}s", r, flush=True)
