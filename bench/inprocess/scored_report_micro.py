"""What one scored request costs each stage of the store, per row: recording it on the gateway's
request path, building the report (take, columns into the message, serialising), and in the
registry parsing, converting and keeping it (SQLite under a temporary home). Not a test: prints
microseconds per row.

    PYTHONPATH=. .venv/bin/python bench/inprocess/scored_report_micro.py [--rows-per-report 8500] [--reports 20]

Runs against whichever driftgate is imported: with PYTHONPATH pointing at an older checkout it
measures that one (before the packed report columns it fills the repeated fields instead).

As in the gateway, each request's score is a view of an output array of its own, and between
recording the rows and taking them the caches are evicted (``--evict-mb`` of memory touched: in
the gateway seconds of other work pass in between); without that, the report stages of a
buffer of one object per request look several times cheaper than they are in the gateway.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from driftgate.gateway.requestlog import RequestLog
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.registry.api.feedback_api import ScoredReports
from driftgate.registry.observation.labels import LabelStore
from driftgate.registry.store.db import Database
from driftgate.settings import AccuracySettings

PACKED = "scores_f32" in pb.ScoredRecords.DESCRIPTOR.fields_by_name


class Version:
    model = "fraud"
    version = 1
    key = ("fraud", 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-per-report", type=int, default=8500,
                        help="rows a report carries (5 s of traffic at 1,700 requests/s)")
    parser.add_argument("--reports", type=int, default=20)
    parser.add_argument("--evict-mb", type=int, default=64, help="memory touched between record and take")
    args = parser.parse_args()
    n, reports = args.rows_per_report, args.reports
    log = RequestLog(100_000, "gw-abc123-lq3k2x9-")
    outputs = np.random.default_rng(0).random((n, 1, 2), dtype=np.float32)
    evict = np.ones(args.evict_mb * 2**20 // 8)
    spent = dict.fromkeys(("record + next_id", "take", "columns into message", "serialise", "commit", "parse",
                           "convert", "ingest"), 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.for_home(Path(tmp))
        store = LabelStore(db, AccuracySettings())
        scored = ScoredReports(store)
        lv = Version()
        for _ in range(reports):
            views = [out.copy()[:, 1] for out in outputs]  # one output array per request, as onnxruntime returns
            t0 = time.perf_counter()
            for view in views:
                log.record(lv, log.next_id(), view, t0)
            del views  # the request path lets go of its output (the log may still hold it)
            record_s = time.perf_counter() - t0
            evict += 1.0  # seconds of other work pass before the report
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
            t5 = time.perf_counter()
            received = pb.GatewayReport.FromString(data)
            t6 = time.perf_counter()
            batches = scored.convert(received)
            t7 = time.perf_counter()
            store.ingest("g", batches, 0)
            t8 = time.perf_counter()
            stages = (record_s, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6, t8 - t7)
            for key, dt in zip(spent, stages, strict=True):
                spent[key] += dt
        db.dispose()
    rows = n * reports
    print(f"{reports} reports of {n:,} rows; packed report columns: {PACKED}; report {len(data):,} bytes")
    for key, total in spent.items():
        print(f"{key:22s} {total / rows * 1e6:6.2f} us/row")


if __name__ == "__main__":
    main()
