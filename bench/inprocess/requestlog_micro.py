"""What keeping a scored request costs the request path (RequestLog.record, next_id), and what
building a report from the buffer costs off it (take). Not a test: prints numbers.

    .venv/bin/python bench/inprocess/requestlog_micro.py
"""

from __future__ import annotations

import time

import numpy as np

from driftgate.gateway.requestlog import RequestLog, id_prefix


class V:
    model = "fraud"
    version = 1
    key = ("fraud", 1)


def per_call_ns(fn, n: int, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return best


def main() -> None:
    n = 200_000
    lv = V()
    one = np.array([0.1], np.float32)
    batch = np.zeros(64, np.float32)
    empty = per_call_ns(lambda: None, n)
    log = RequestLog(100_000, id_prefix("host:1"))
    rec1 = per_call_ns(lambda: log.record(lv, "req-1", one), n) - empty
    log_full = RequestLog(1_000, "p-")  # full: every record also drops the oldest
    for _ in range(1_000):
        log_full.record(lv, "x", one)
    rec_full = per_call_ns(lambda: log_full.record(lv, "req-1", one), n) - empty
    log64 = RequestLog(100_000, "p-")
    rec64 = per_call_ns(lambda: log64.record(lv, "req-1", batch), n) - empty
    nid = per_call_ns(log.next_id, n) - empty
    big = RequestLog(100_000, "p-")
    for i in range(100_000):
        big.record(lv, f"r{i}", one)
    t0 = time.perf_counter()
    pending = big.take()
    take_s = time.perf_counter() - t0
    print(f"record, 1 row:                      {rec1:7.0f} ns")
    print(f"record, 1 row, full buffer (drops):   {rec_full:7.0f} ns")
    print(f"record, 64-row batch:               {rec64:7.0f} ns")
    print(f"next_id (gateway-assigned id):      {nid:7.0f} ns")
    print(f"take() of 100,000 single-row entries: {take_s * 1e3:5.1f} ms ({take_s / pending.rows * 1e9:.0f} ns a row)")


if __name__ == "__main__":
    main()
