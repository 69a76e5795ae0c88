"""What one scored request costs each stage of the store, per row: recording it on the gateway's
request path, building the report (take, columns into the message, serialising), and in the
registry parsing, converting and keeping it (SQLite under a temporary home). Not a test: prints
microseconds per row.

    PYTHONPATH=. .venv/bin/python bench/scored_report_micro.py [--rows-per-report 1700] [--reports 60]

Runs against whichever driftgate is imported: with PYTHONPATH pointing at an older checkout it
measures that one (before the packed report columns it fills the repeated fields instead).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from driftgate.gateway.requestlog import RequestLog
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.registry.db import Database
from driftgate.registry.feedback_api import ScoredReports
from driftgate.registry.labels import LabelStore
from driftgate.settings import AccuracySettings

PACKED = "scores_f32" in pb.ScoredRecords.DESCRIPTOR.fields_by_name


class Version:
    model = "fraud"
    version = 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-per-report", type=int, default=1700, help="rows a report carries (1 s of traffic)")
    parser.add_argument("--reports", type=int, default=60)
    args = parser.parse_args()
    n, reports = args.rows_per_report, args.reports
    log = RequestLog(100_000, "gw-abc123-lq3k2x9-")
    scores = np.array([0.1], dtype=np.float32)
    spent = dict.fromkeys(("record + next_id", "take", "columns into message", "serialise", "parse", "convert",
                           "ingest"), 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.for_home(Path(tmp))
        store = LabelStore(db, AccuracySettings())
        scored = ScoredReports(store)
        lv = Version()
        for _ in range(reports):
            t0 = time.perf_counter()
            for _ in range(n):
                log.record(lv, log.next_id(), scores)
            t1 = time.perf_counter()
            pending = log.take()
            t2 = time.perf_counter()
            report = pb.GatewayReport(gateway_id="g")
            for g in pending.groups:
                if PACKED:
                    report.scored.add(model=g.model, version=g.version, ids=g.ids,
                                      scores_f32=g.scores.astype("<f4").tobytes(), at_f64=g.at.astype("<f8").tobytes())
                else:
                    report.scored.add(model=g.model, version=g.version, ids=g.ids, scores=g.scores, at=g.at)
            t3 = time.perf_counter()
            data = report.SerializeToString()
            t4 = time.perf_counter()
            log.commit(pending.mark)
            received = pb.GatewayReport.FromString(data)
            t5 = time.perf_counter()
            batches = scored.convert(received)
            t6 = time.perf_counter()
            store.ingest("g", batches, 0)
            t7 = time.perf_counter()
            for key, dt in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6), strict=True):
                spent[key] += dt
        db.dispose()
    rows = n * reports
    print(f"{reports} reports of {n:,} rows; packed report columns: {PACKED}; report {len(data):,} bytes")
    for key, total in spent.items():
        print(f"{key:22s} {total / rows * 1e6:6.2f} us/row")


if __name__ == "__main__":
    main()
