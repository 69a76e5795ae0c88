"""Drift metrics of one window (or a sum of windows) against a reference profile.

Per column, with p the reference proportions and q the observed ones over all B+3 bins:

- PSI = sum((q - p) * ln(q' / p')) where p' = max(p, EPS) and q' = max(q, EPS), EPS = 1e-4:
  an empty bin counts as 0.01 %, so a bin empty on one side adds a finite amount and a bin empty
  on both sides adds nothing.
- JS = the Jensen-Shannon distance, base 2 (sqrt of the divergence; 0 identical, 1 disjoint).
- KS = max |F_p - F_q| over the bin edges, where F are the CDFs of the non-NaN values (NaN share
  is reported as nan_rate instead); 0 when either side has no non-NaN value.
- mean_shift = (observed mean - reference mean) / reference std; 0 when the std is 0 or there is
  no non-NaN observed value. The observed mean is sums / non-NaN rows (±inf count as 0 there).
- nan_rate, out_of_range_rate (underflow + overflow share), rows.

status: "insufficient" when rows < rule.min_window_rows (or rows == 0), else "major" when
psi >= psi_major, "moderate" when psi >= psi_moderate, else "ok".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from driftgate.native.profile import ReferenceProfile
from driftgate.native.sketch import WindowSnapshot

__all__ = ["EPS", "AlertRule", "ColumnDrift", "column_drift"]

EPS = 1e-4
"""Floor for a bin's share in PSI."""


@dataclass(frozen=True)
class AlertRule:
    """Thresholds (credit-scoring convention) and persistence for drift statuses and alerts."""

    psi_moderate: float = 0.1
    psi_major: float = 0.25
    min_window_rows: int = 200
    alert_windows: int = 3

    def status(self, psi: float, rows: int) -> str:
        if rows <= 0 or rows < self.min_window_rows:
            return "insufficient"
        if psi >= self.psi_major:
            return "major"
        if psi >= self.psi_moderate:
            return "moderate"
        return "ok"


@dataclass(frozen=True)
class ColumnDrift:
    name: str
    psi: float
    js: float
    ks: float
    mean_shift: float
    nan_rate: float
    out_of_range_rate: float
    rows: int
    status: str


def _xlog2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * log2(a / b), 0 where a == 0 (b > 0 wherever a > 0)."""
    pos = a > 0
    ratio = np.divide(a, b, out=np.ones_like(a), where=pos)
    return np.where(pos, a * np.log2(ratio), 0.0)


def _cdf(shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CDFs of the non-NaN bins (1..B+2) per row, and which rows have any non-NaN share."""
    values = shares[:, 1:]
    total = values.sum(axis=1)
    ok = total > 0
    cum = np.cumsum(values, axis=1)
    cdf = np.divide(cum, total[:, None], out=np.zeros_like(cum), where=ok[:, None])
    return cdf, ok


def column_drift(profile: ReferenceProfile, snap: WindowSnapshot, rule: AlertRule) -> list[ColumnDrift]:
    """Drift of every column (features then score) of ``snap`` against ``profile``."""
    if snap.counts.shape != profile.proportions.shape:
        raise ValueError(f"window shape {snap.counts.shape} does not fit the profile {profile.proportions.shape}")
    rows = int(snap.rows)
    counts = snap.counts.astype(np.float64)
    p = profile.proportions
    q = counts / rows if rows > 0 else np.zeros_like(counts)

    psi = np.sum((q - p) * np.log(np.maximum(q, EPS) / np.maximum(p, EPS)), axis=1)
    m = 0.5 * (p + q)
    jsd = 0.5 * (_xlog2(p, m).sum(axis=1) + _xlog2(q, m).sum(axis=1))
    js = np.sqrt(np.clip(jsd, 0.0, 1.0))
    cdf_p, ok_p = _cdf(p)
    cdf_q, ok_q = _cdf(q)
    ks = np.where(ok_p & ok_q, np.max(np.abs(cdf_p - cdf_q), axis=1), 0.0)

    non_nan = counts.sum(axis=1) - counts[:, 0] if rows > 0 else np.zeros(len(counts))
    observed_mean = np.divide(snap.sums, non_nan, out=profile.mean.copy(), where=non_nan > 0)
    usable = (profile.std > 0) & np.isfinite(profile.std)
    mean_shift = np.divide(
        observed_mean - profile.mean, profile.std, out=np.zeros(len(counts)), where=usable & (non_nan > 0)
    )
    nan_rate = q[:, 0]
    out_of_range = q[:, 1] + q[:, -1]

    if rows == 0:
        psi = np.zeros(len(counts))
        js = np.zeros(len(counts))
    return [
        ColumnDrift(
            name=name,
            psi=float(psi[c]),
            js=float(js[c]),
            ks=float(ks[c]),
            mean_shift=float(mean_shift[c]),
            nan_rate=float(nan_rate[c]),
            out_of_range_rate=float(out_of_range[c]),
            rows=rows,
            status=rule.status(float(psi[c]), rows),
        )
        for c, name in enumerate(profile.names)
    ]
