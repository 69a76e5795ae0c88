"""Inline drift: reference profiles, numba-compiled streaming sketches, metrics.

- :func:`build_profile` -> :class:`ReferenceProfile` (registry, at registration).
- :class:`DriftSketch` (gateway, per loaded version): ``observe`` on every scored request,
  ``windows_since`` for the periodic report; :class:`WindowSnapshot` and :func:`merge_snapshots`.
- :func:`column_drift` with an :class:`AlertRule` -> :class:`ColumnDrift` per column.
- :func:`warm_up`: compile or load every kernel before a gateway reports ready.

Importing this package does not import numba; the first sketch (or ``warm_up``) compiles.

Measured (bench/drift_kernels.md; ``python bench/inprocess/drift_kernels.py --breakdown --runs 7``), 30
features + score, 16 bins, read-only float32 rows, ns per row including the Python call:
idle Intel Xeon host, batch 1: 631-643, batch 64: 171-184 (plain numpy: 18,000 and 1,900); the
2-vCPU dev box under other jobs' load, batch 1: 1,020-1,210, batch 64: 206-295. One version's
sketch with 60 windows: 318,392 bytes.
"""

from driftgate.native.kernels import warm_up
from driftgate.native.metrics import AlertRule, ColumnDrift, column_drift
from driftgate.native.profile import ReferenceProfile, build_profile
from driftgate.native.sketch import DriftSketch, WindowSnapshot, merge_snapshots

__all__ = [
    "AlertRule",
    "ColumnDrift",
    "DriftSketch",
    "ReferenceProfile",
    "WindowSnapshot",
    "build_profile",
    "column_drift",
    "merge_snapshots",
    "warm_up",
]
