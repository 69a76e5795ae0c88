"""Per-version counters the gateway keeps for ModelStatistics and for its reports to the registry.

Plain integers mutated on the event loop thread only (the request path and the reporter both run
there), so no lock is needed and none is shared with the control plane. Latency goes into the fixed
buckets of driftgate.latency_buckets, so that counts from many workers and hosts add in the registry.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field

from driftgate.latency_buckets import LATENCY_BUCKET_BOUNDS_US

__all__ = ["BATCH_ROWS_BOUNDS", "VersionCounters"]

_BOUNDS_NS = tuple(b * 1000 for b in LATENCY_BUCKET_BOUNDS_US)

# Upper bounds (rows) of the batch-size buckets of the adaptive batcher's session runs.
BATCH_ROWS_BOUNDS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@dataclass(slots=True)
class VersionCounters:
    requests: int = 0
    failures: int = 0
    rows: int = 0
    success_ns: int = 0
    fail_ns: int = 0
    compute_ns: int = 0
    last_inference_s: float = 0.0  # unix time of the last success (ModelStatistics wants ms: see below)
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKET_BOUNDS_US) + 1))
    shadow_requests: int = 0
    shadow_dropped: int = 0
    shadow_agree: int = 0
    shadow_abs_diff_sum: float = 0.0
    # adaptive batching (driftgate.gateway.batcher): session runs, the requests they answered
    # (counted by DataPlane.score), the time those requests queued, and the rows per run
    batch_runs: int = 0
    batched_requests: int = 0
    queue_ns: int = 0
    batch_compute_ns: int = 0
    batch_rows_sum: int = 0
    batch_buckets: list[int] = field(default_factory=lambda: [0] * (len(BATCH_ROWS_BOUNDS) + 1))

    @property
    def last_inference_ms(self) -> int:
        return int(self.last_inference_s * 1000)

    @property
    def executions(self) -> int:
        """Session runs that answered requests: one per unbatched success, one per batch."""
        return self.requests - self.failures - self.batched_requests + self.batch_runs

    def success(self, rows: int, total_ns: int, compute_ns: int, now: float | None = None) -> None:
        """One scored request; ``now`` is the unix time the caller read already, if any."""
        self.requests += 1
        self.rows += rows
        self.success_ns += total_ns
        self.compute_ns += compute_ns
        self.buckets[bisect.bisect_left(_BOUNDS_NS, total_ns)] += 1
        self.last_inference_s = time.time() if now is None else now

    def failure(self, total_ns: int) -> None:
        self.requests += 1
        self.failures += 1
        self.fail_ns += total_ns
        self.buckets[bisect.bisect_left(_BOUNDS_NS, total_ns)] += 1

    def batch(self, rows: int, runs: int, queue_ns: int, compute_ns: int) -> None:
        """One batch of the adaptive batcher: ``runs`` session runs (1, or more when a failed
        batch was rerun request by request). ``batched_requests`` is counted by each request as
        it succeeds (DataPlane.score), so ``executions`` never runs ahead of ``requests``."""
        self.batch_runs += runs
        self.queue_ns += queue_ns
        self.batch_compute_ns += compute_ns
        self.batch_rows_sum += rows
        self.batch_buckets[bisect.bisect_left(BATCH_ROWS_BOUNDS, rows)] += 1
