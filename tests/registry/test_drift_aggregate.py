"""DriftAggregator: replace-per-gateway vs add-across-gateways, retention, reports, alerts."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from driftgate.errors import InvalidRequest
from driftgate.native import AlertRule, WindowSnapshot
from driftgate.registry.observation.aggregate import DriftAggregator
from tests.native.reference import make_profile

# 2 features + score, B = 4: uniform reference over the 4 inner bins
PROFILE = make_profile(np.tile(np.linspace(0.0, 1.0, 5), (3, 1)))
RULE = AlertRule(psi_moderate=0.1, psi_major=0.25, min_window_rows=100, alert_windows=3)
UNIFORM = [0, 0, 0.25, 0.25, 0.25, 0.25, 0]
MODERATE = [0, 0, 0.45, 0.25, 0.15, 0.15, 0]  # psi 0.22
MAJOR = [0, 0, 0.7, 0.1, 0.1, 0.1, 0]


def window(wid: int, rows: int, f0: list[float] = UNIFORM, seconds: float = 10.0) -> WindowSnapshot:
    shares = np.array([f0, UNIFORM, UNIFORM])
    counts = np.rint(shares * rows).astype(np.int64)
    return WindowSnapshot(wid, seconds, rows, counts, np.zeros(3), np.zeros(3))


def test_resent_window_replaces_and_gateways_add() -> None:
    agg = DriftAggregator(window_seconds=10.0, retention_windows=10)
    agg.ingest("g1", "m", 1, window(5, 40))
    agg.ingest("g1", "m", 1, window(5, 80))  # cumulative re-send: replaces
    agg.ingest("g2", "m", 1, window(5, 20))  # another gateway: adds
    agg.ingest("g1", "m", 1, window(6, 8))
    agg.ingest("g1", "m", 2, window(6, 4))
    total = agg.summed("m", 1, 5)
    assert total is not None and total.rows == 108 and total.window_id == 6
    np.testing.assert_array_equal(total.counts.sum(axis=1), 108)
    assert agg.summed("m", 1, 6).rows == 8  # type: ignore[union-attr]
    assert agg.summed("m", 1, 7) is None and agg.summed("other", 1, 0) is None
    assert agg.versions("m") == [1, 2] and agg.versions("other") == []


def test_ingest_keeps_its_own_copy() -> None:
    agg = DriftAggregator(10.0, 10)
    snap = window(5, 40)
    agg.ingest("g1", "m", 1, snap)
    snap.counts[:] = 0
    assert agg.summed("m", 1, 0).counts.sum() == 3 * 40  # type: ignore[union-attr]


def test_retention_drops_old_windows() -> None:
    agg = DriftAggregator(10.0, retention_windows=3)
    agg.ingest("g1", "m", 1, window(10, 5))
    agg.ingest("g1", "m", 1, window(12, 5))
    assert agg.summed("m", 1, 0).rows == 10  # type: ignore[union-attr]
    agg.ingest("g2", "m", 1, window(13, 5))  # keeps 11..13
    assert agg.summed("m", 1, 0).rows == 10  # type: ignore[union-attr]
    agg.ingest("g1", "m", 1, window(9, 5))  # too old: ignored
    assert agg.summed("m", 1, 0).rows == 10  # type: ignore[union-attr]
    assert agg.report("m", 1, PROFILE, now=200.0, lookback_seconds=1000.0, rule=RULE) == []  # all aged out
    assert agg.versions("m") == []


def test_report_sums_the_lookback() -> None:
    agg = DriftAggregator(10.0, 100)
    for wid in (95, 98, 99, 100):
        agg.ingest("g1", "m", 1, window(wid, 100, MAJOR if wid == 95 else UNIFORM))
    cols = agg.report("m", 1, PROFILE, now=1005.0, lookback_seconds=30.0, rule=RULE)  # windows 98..100
    assert [c.name for c in cols] == ["f0", "f1", "score"]
    assert cols[0].rows == 300 and cols[0].status == "ok"
    cols = agg.report("m", 1, PROFILE, now=1005.0, lookback_seconds=60.0, rule=RULE)  # 95..100
    assert cols[0].rows == 400 and cols[0].psi > 0.05 and cols[1].psi == 0.0
    assert agg.report("m", 2, PROFILE, now=1005.0, lookback_seconds=60.0, rule=RULE) == []


def test_bad_windows_raise() -> None:
    agg = DriftAggregator(10.0, 10)
    with pytest.raises(InvalidRequest):
        agg.ingest("g1", "m", 1, window(5, 10, seconds=5.0))
    agg.ingest("g1", "m", 1, window(5, 10))
    odd = WindowSnapshot(5, 10.0, 1, np.zeros((3, 8), np.int64), np.zeros(3), np.zeros(3))
    with pytest.raises(InvalidRequest):
        agg.ingest("g2", "m", 1, odd)


def evaluate(agg: DriftAggregator, now: float) -> list[tuple[str, bool, str, int]]:
    return [(c.column, c.active, c.level, c.window_id) for c in agg.evaluate_alerts("m", 1, PROFILE, now, RULE)]


def test_alert_needs_persistence_and_enough_rows() -> None:
    agg = DriftAggregator(10.0, 60)
    for wid in (100, 101):
        agg.ingest("g1", "m", 1, window(wid, 300, MAJOR))
    assert evaluate(agg, 1025.0) == []  # two drifted windows out of three
    agg.ingest("g1", "m", 1, window(102, 50, MAJOR))  # third one too small
    assert evaluate(agg, 1035.0) == []
    agg.ingest("g1", "m", 1, window(103, 300, MAJOR))
    agg.ingest("g1", "m", 1, window(104, 300, MAJOR))
    agg.ingest("g1", "m", 1, window(105, 300, MAJOR))
    agg.ingest("g1", "m", 1, window(106, 300, UNIFORM))  # the current window does not count yet
    assert evaluate(agg, 1065.0) == [("f0", True, "major", 105)]


def test_alert_on_level_change_and_off() -> None:
    agg = DriftAggregator(10.0, 60)
    for wid in (100, 101, 102):
        agg.ingest("g1", "m", 1, window(wid, 150, MODERATE))
        agg.ingest("g2", "m", 1, window(wid, 150, MODERATE))  # two gateways add up to 300 rows
    assert evaluate(agg, 1031.0) == [("f0", True, "moderate", 102)]
    assert evaluate(agg, 1031.0) == []  # only changes are returned
    (active,) = agg.active_alerts("m")
    assert (active.column, active.active, active.level, active.version) == ("f0", True, "moderate", 1)
    assert 0.1 <= active.psi < 0.25
    agg.ingest("g1", "m", 1, window(103, 300, MAJOR))
    assert evaluate(agg, 1041.0) == [("f0", True, "major", 103)]
    agg.ingest("g1", "m", 1, window(104, 20, UNIFORM))  # too few rows: the alert holds
    assert evaluate(agg, 1051.0) == []
    agg.ingest("g1", "m", 1, window(105, 300, UNIFORM))
    changes = agg.evaluate_alerts("m", 1, PROFILE, 1061.0, RULE)
    assert [(c.column, c.active, c.level, c.window_id) for c in changes] == [("f0", False, "ok", 105)]
    assert changes[0].psi < 0.1
    assert agg.active_alerts("m") == []
    assert evaluate(agg, 1071.0) == []


def test_drop_forgets_data_and_alerts() -> None:
    agg = DriftAggregator(10.0, 60)
    for wid in (100, 101, 102):
        agg.ingest("g1", "m", 1, window(wid, 300, MAJOR))
    evaluate(agg, 1031.0)
    assert len(agg.active_alerts("m")) == 1
    agg.drop("m", 1)
    assert agg.active_alerts("m") == [] and agg.versions("m") == []


def test_concurrent_ingest_is_consistent() -> None:
    agg = DriftAggregator(10.0, 1000)

    def worker(gateway: str) -> None:
        for wid in range(200):
            agg.ingest(gateway, "m", 1, window(wid, 4))
            agg.ingest(gateway, "m", 1, window(wid, 8))  # re-send replaces

    threads = [threading.Thread(target=worker, args=(f"g{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert agg.summed("m", 1, 0).rows == 4 * 200 * 8  # type: ignore[union-attr]
