"""The latency buckets: gateways count each request's time in them, the registry adds the counts up.

A gateway's report carries one count per bucket (``VersionStats.latency_buckets`` in control.proto),
so the bounds are a contract between the two planes: both import them from here, neither from the
other. Fixed bounds make counts from many workers and hosts add.
"""

from __future__ import annotations

__all__ = ["LATENCY_BUCKET_BOUNDS_US"]

# Upper bounds (microseconds) of the latency buckets; one more bucket counts everything above.
LATENCY_BUCKET_BOUNDS_US: tuple[int, ...] = (
    50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500, 10_000, 20_000, 50_000, 100_000,
    250_000, 1_000_000,
)
