"""How long the registry takes to join a million labels to a million scored rows (SQLite under a
temporary home), and to take the scored rows in from reports. Not a test: prints numbers.

    .venv/bin/python bench/inprocess/labels_join.py [--rows 1000000] [--report-rows 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from driftgate.registry.observation.labels import LabelStore, ScoredBatch
from driftgate.registry.store.db import Database
from driftgate.settings import AccuracySettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--report-rows", type=int, default=10_000, help="scored rows per gateway report")
    args = parser.parse_args()
    n = args.rows
    rng = np.random.default_rng(0)
    ids = [f"host-1:4242-lq3k2x9-{i}" for i in range(n)]
    scores = rng.random(n)
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.for_home(Path(tmp))
        store = LabelStore(db, AccuracySettings(trim_interval_s=1e9))
        t0 = time.perf_counter()
        for start in range(0, n, args.report_rows):
            end = min(n, start + args.report_rows)
            batch = ScoredBatch.checked("fraud", 1, ids[start:end], scores[start:end], [now] * (end - start))
            store.ingest("g", [batch])
        ingest_s = time.perf_counter() - t0

        labels = (rng.random(n) < 0.02).astype(int).tolist()
        order = rng.permutation(n)  # labels arrive in another order than the scores
        label_ids = [ids[i] for i in order]
        t0 = time.perf_counter()
        result = store.submit("fraud", label_ids, [labels[i] for i in order], [now + 86400.0] * n)
        join_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        again = store.submit("fraud", label_ids[:100_000], [0] * min(n, 100_000))
        dup_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        rows = store.labelled("fraud", now - 3600)
        read_s = time.perf_counter() - t0
        db.dispose()
    print(f"rows: {n:,}; reports of {args.report_rows:,} rows")
    print(f"ingest scored rows: {ingest_s:6.2f} s ({n / ingest_s:,.0f} rows/s)")
    print(f"join {n:,} labels:   {join_s:6.2f} s (joined {result.joined:,}, unknown {result.unknown}, "
          f"duplicates {result.duplicates})")
    print(f"resubmit 100,000:   {dup_s:6.2f} s (duplicates {again.duplicates:,})")
    print(f"read labelled rows: {read_s:6.2f} s ({rows.label.size:,} rows)")


if __name__ == "__main__":
    main()
