"""A/B in one run: LabelStore.ingest of a 1000-row report with the held-label check (issue 14), and with
it stubbed out, alternating rounds of 100 reports. Run: PYTHONPATH=. python bench/inprocess/held_labels_ingest.py"""

import tempfile
import time
from pathlib import Path

import numpy as np

from driftgate.registry.observation import held_labels
from driftgate.registry.observation.labels import LabelStore, ScoredBatch
from driftgate.registry.store.db import Database
from driftgate.settings import AccuracySettings

tmp = Path(tempfile.mkdtemp())
db = Database.for_home(tmp)
store = LabelStore(db, AccuracySettings(trim_interval_s=1e9))
rows = 1000
real = held_labels.join_into


def run(n: int, tag: str) -> float:
    t0 = time.perf_counter()
    for k in range(n):
        ids = [f"{tag}-{k}-{i}" for i in range(rows)]
        store.ingest("g", [ScoredBatch.checked("m", 1, ids, np.zeros(rows), np.full(rows, 1e9))])
    return (time.perf_counter() - t0) / n * 1e3


run(20, "warm")
res: dict[str, list[float]] = {"with": [], "without": []}
for r in range(10):
    held_labels.join_into = real
    res["with"].append(run(100, f"w{r}"))
    held_labels.join_into = lambda *a, **k: 0  # type: ignore[assignment]
    res["without"].append(run(100, f"o{r}"))
for k, v in res.items():
    print(k, " ".join(f"{x:.3f}" for x in v), "ms/report; mean %.3f" % (sum(v) / len(v)))
