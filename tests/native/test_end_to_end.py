"""Profile reference data, observe a drifted copy where two columns shift: they, and only they,
come out major."""

from __future__ import annotations

import numpy as np

from driftgate.native import AlertRule, DriftSketch, build_profile, column_drift, merge_snapshots


def test_two_shifted_columns_are_major_and_the_rest_ok(rng: np.random.Generator) -> None:
    n, f = 20_000, 30
    names = [f"f{i}" for i in range(f)]
    reference = rng.normal(size=(n, f))
    reference[:, 5] = rng.exponential(size=n)
    reference[:, 9] = rng.integers(0, 5, size=n)  # lumpy: repeated edges
    profile = build_profile(reference, rng.random(n), names, bins=16)

    live = rng.normal(size=(n, f)).astype(np.float32)
    live[:, 5] = rng.exponential(size=n)
    live[:, 9] = rng.integers(0, 5, size=n)
    live[:, 3] += 1.0  # shifted by one standard deviation
    live[:, 17] *= 2.5  # spread out
    scores = rng.random(n).astype(np.float32)

    sketch = DriftSketch(profile, windows=60, window_seconds=10.0)
    for start in range(0, n, 64):
        sketch.observe(live[start : start + 64], scores[start : start + 64], 1_000.0 + start / 1000)
    snap = merge_snapshots(sketch.windows_since(0))
    assert snap is not None and snap.rows == n
    drift = {c.name: c for c in column_drift(profile, snap, AlertRule())}
    assert drift["f3"].status == "major" and drift["f17"].status == "major"
    assert drift["f3"].mean_shift > 0.8 and abs(drift["f17"].mean_shift) < 0.1
    assert drift["f17"].out_of_range_rate > 0.05
    others = {k: c.status for k, c in drift.items() if k not in ("f3", "f17")}
    assert set(others.values()) == {"ok"}, others
    assert max(c.psi for k, c in drift.items() if k not in ("f3", "f17")) < 0.02
