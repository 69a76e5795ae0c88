"""Inline drift: reference profiles, numba-compiled streaming sketches, metrics, aggregation.

- :func:`build_profile` -> :class:`ReferenceProfile` (registry, at registration).
- :class:`DriftSketch` (gateway, per loaded version): ``observe`` on every scored request,
  ``windows_since`` for the periodic report; :class:`WindowSnapshot` and :func:`merge_snapshots`.
- :func:`column_drift` with an :class:`AlertRule` -> :class:`ColumnDrift` per column.
- :class:`DriftAggregator` (registry): windows from every gateway, reports and alerts
  (:class:`AlertChange`).
- :func:`warm_up`: compile or load every kernel before a gateway reports ready.

Importing this package does not import numba; the first sketch (or ``warm_up``) compiles.
Measured numbers: bench/drift_kernels.md.
"""

from driftgate.native.aggregate import AlertChange, DriftAggregator
from driftgate.native.kernels import warm_up
from driftgate.native.metrics import AlertRule, ColumnDrift, column_drift
from driftgate.native.profile import ReferenceProfile, build_profile
from driftgate.native.sketch import DriftSketch, WindowSnapshot, merge_snapshots

__all__ = [
    "AlertChange",
    "AlertRule",
    "ColumnDrift",
    "DriftAggregator",
    "DriftSketch",
    "ReferenceProfile",
    "WindowSnapshot",
    "build_profile",
    "column_drift",
    "merge_snapshots",
    "warm_up",
]
