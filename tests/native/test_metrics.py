"""PSI, JS, KS, mean shift and rates against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftgate.native import AlertRule, ReferenceProfile, WindowSnapshot, column_drift
from driftgate.native.metrics import EPS

# one feature and the score, B = 2 inner bins: bins NaN, under, in0, in1, over
P = np.array([[0.0, 0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.5, 0.5, 0.0]])
PROFILE = ReferenceProfile(
    names=("x", "score"),
    edges=np.array([[0.0, 1.0, 2.0], [0.0, 0.5, 1.0]]),
    proportions=P,
    mean=np.array([1.0, 0.5]),
    std=np.array([2.0, 0.0]),
    rows=1000,
)


def snap(counts: list[list[int]], sums: list[float] | None = None) -> WindowSnapshot:
    c = np.array(counts, dtype=np.int64)
    rows = int(c[0].sum())
    return WindowSnapshot(7, 10.0, rows, c, np.array(sums or [0.0, 0.0]), np.zeros(2))


def test_identical_distributions_are_zero() -> None:
    (x, s) = column_drift(PROFILE, snap([[0, 0, 200, 200, 0]] * 2, [400.0, 200.0]), AlertRule())
    assert (x.psi, x.js, x.ks, x.mean_shift, x.nan_rate, x.out_of_range_rate) == (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert x.rows == 400 and x.status == "ok" and s.name == "score"


def test_hand_computed_shift() -> None:
    (x, _) = column_drift(PROFILE, snap([[0, 0, 100, 300, 0]] * 2, [500.0, 0.0]), AlertRule())
    psi = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert x.psi == pytest.approx(psi) and x.psi == pytest.approx(0.2746530722)
    kl_p = 0.5 * math.log2(0.5 / 0.375) + 0.5 * math.log2(0.5 / 0.625)
    kl_q = 0.25 * math.log2(0.25 / 0.375) + 0.75 * math.log2(0.75 / 0.625)
    assert x.js == pytest.approx(math.sqrt(0.5 * (kl_p + kl_q)))
    assert x.ks == pytest.approx(0.25)  # CDFs (0, .5, 1, 1) vs (0, .25, 1, 1)
    assert x.mean_shift == pytest.approx((500.0 / 400 - 1.0) / 2.0)
    assert x.status == "major"


def test_empty_bins_use_epsilon_and_rates() -> None:
    # 40 NaN, 40 overflow, 160 + 160 inner (rows 400)
    (x, s) = column_drift(PROFILE, snap([[40, 0, 160, 160, 40]] * 2, [480.0, 300.0]), AlertRule())
    psi = 2 * (0.4 - 0.5) * math.log(0.4 / 0.5) + 2 * (0.1 - 0.0) * math.log(0.1 / EPS)
    assert x.psi == pytest.approx(psi)
    assert x.nan_rate == pytest.approx(0.1) and x.out_of_range_rate == pytest.approx(0.1)
    # KS over the non-NaN values: (0, .5, 1, 1) vs (0, 160/360, 320/360, 1)
    assert x.ks == pytest.approx(max(abs(0.5 - 160 / 360), abs(1 - 320 / 360)))
    assert x.mean_shift == pytest.approx((480.0 / 360 - 1.0) / 2.0)  # mean over the 360 non-NaN rows
    assert s.mean_shift == 0.0  # the reference std is 0


def test_disjoint_is_js_one() -> None:
    (x, _) = column_drift(PROFILE, snap([[0, 400, 0, 0, 0]] * 2), AlertRule())
    assert x.js == pytest.approx(1.0) and x.ks == pytest.approx(1.0) and x.out_of_range_rate == 1.0


@pytest.mark.parametrize(
    ("counts", "rule", "status"),
    [
        ([0, 0, 100, 300, 0], AlertRule(min_window_rows=401), "insufficient"),
        ([0, 0, 100, 300, 0], AlertRule(), "major"),  # psi 0.275
        ([0, 0, 132, 268, 0], AlertRule(), "moderate"),  # psi 0.120
        ([0, 0, 190, 210, 0], AlertRule(), "ok"),  # psi 0.005
    ],
)
def test_status_thresholds(counts: list[int], rule: AlertRule, status: str) -> None:
    (x, _) = column_drift(PROFILE, snap([counts, counts]), rule)
    q = np.array(counts[2:4]) / 400
    assert x.psi == pytest.approx(float(np.sum((q - 0.5) * np.log(q / 0.5))))
    assert x.status == status


def test_no_rows_and_shape_mismatch() -> None:
    (x, _) = column_drift(PROFILE, snap([[0, 0, 0, 0, 0]] * 2), AlertRule(min_window_rows=0))
    assert x.rows == 0 and x.status == "insufficient" and x.psi == 0.0 and x.js == 0.0
    with pytest.raises(ValueError):
        column_drift(PROFILE, snap([[0, 0, 0, 0]] * 2), AlertRule())
