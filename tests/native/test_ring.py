"""The ring of windows: ids, slots, reset on reuse, wrap-around, stale batches, fixed memory."""

from __future__ import annotations

import numpy as np

from driftgate.native import DriftSketch

from .reference import make_profile, ref_window

EDGES = np.tile(np.linspace(0.0, 1.0, 5), (3, 1))  # 2 features + score, B = 4


def batch(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    data = rng.random((n, 3)) * 1.4 - 0.2
    return data[:, :2].astype(np.float32), data[:, 2].astype(np.float32)


def test_window_id_and_windows_since_order(rng: np.random.Generator) -> None:
    profile = make_profile(EDGES)
    sk = DriftSketch(profile, windows=5, window_seconds=2.0)
    assert sk.window_id(10.0) == 5 and sk.window_id(11.999) == 5 and sk.window_id(12.0) == 6
    expected: dict[int, np.ndarray] = {}
    for now, n in [(12.5, 3), (10.1, 4), (14.0, 5), (11.9, 2)]:  # out of order, within the ring
        X, s = batch(rng, n)
        sk.observe(X, s, now)
        wid = sk.window_id(now)
        c = ref_window(profile, X, s)[0]
        expected[wid] = expected.get(wid, 0) + c
    snaps = sk.windows_since(0)
    assert [s.window_id for s in snaps] == [5, 6, 7]
    assert [s.rows for s in snaps] == [6, 3, 5]
    for snap in snaps:
        np.testing.assert_array_equal(snap.counts, expected[snap.window_id])
        assert snap.window_seconds == 2.0
    assert [s.window_id for s in sk.windows_since(6)] == [6, 7]
    assert sk.windows_since(8) == []


def test_slot_is_reset_when_the_ring_wraps(rng: np.random.Generator) -> None:
    profile = make_profile(EDGES)
    sk = DriftSketch(profile, windows=3, window_seconds=1.0)
    kept = {}
    for wid in range(10):  # ids 0..9 through 3 slots: each slot reused three times
        X, s = batch(rng, 2 + wid)
        sk.observe(X, s, wid + 0.5)
        kept[wid] = ref_window(profile, X, s)
    snaps = sk.windows_since(0)
    assert [s.window_id for s in snaps] == [7, 8, 9]
    for snap in snaps:
        counts, sums, sumsq = kept[snap.window_id]
        assert snap.rows == 2 + snap.window_id
        np.testing.assert_array_equal(snap.counts, counts)
        np.testing.assert_allclose(snap.sums, sums, rtol=1e-12)
        np.testing.assert_allclose(snap.sumsq, sumsq, rtol=1e-12)


def test_skipped_windows_leave_no_rows_and_snapshots_are_copies(rng: np.random.Generator) -> None:
    profile = make_profile(EDGES)
    sk = DriftSketch(profile, windows=4, window_seconds=1.0)
    sk.observe(*batch(rng, 3), 100.2)
    sk.observe(*batch(rng, 3), 103.2)  # 101 and 102 never seen
    snaps = sk.windows_since(0)
    assert [s.window_id for s in snaps] == [100, 103]
    snaps[0].counts[:] = 0
    assert sk.windows_since(100)[0].counts.sum() == 3 * 3


def test_batch_older_than_its_slot_is_dropped(rng: np.random.Generator) -> None:
    profile = make_profile(EDGES)
    sk = DriftSketch(profile, windows=2, window_seconds=1.0)
    sk.observe(*batch(rng, 4), 10.0)
    sk.observe(*batch(rng, 5), 8.0)  # slot 0 holds id 10: id 8 is gone
    sk.observe(*batch(rng, 6), 9.0)  # slot 1 is empty: accepted
    assert [(s.window_id, s.rows) for s in sk.windows_since(0)] == [(9, 6), (10, 4)]


def test_memory_is_fixed_by_settings_not_traffic(rng: np.random.Generator) -> None:
    profile = make_profile(EDGES)
    sk = DriftSketch(profile, windows=60, window_seconds=10.0)
    before = sk.memory_bytes
    for i in range(200):
        sk.observe(*batch(rng, 8), 1000.0 + 3.0 * i)
    assert sk.memory_bytes == before
    c, nb = profile.n_columns, profile.n_bins
    assert before >= 60 * (c * nb * 8 + 2 * c * 8 + 16)
    assert before < 2 * 60 * (c * nb * 8 + 2 * c * 8 + 16) + 4096


def test_a_batch_binned_apart_and_merged_equals_one_observed_in_place(rng: np.random.Generator) -> None:
    """observe_apart (a private one-window state, any thread) then merge_apart gives the ring the
    same counts, moments and rows as observe, across windows, a reused slot and a stale window."""
    profile = make_profile(EDGES)
    direct = DriftSketch(profile, windows=3, window_seconds=1.0)
    apart = DriftSketch(profile, windows=3, window_seconds=1.0)
    for now, n in [(10.2, 7), (10.7, 300), (11.1, 5), (13.4, 64), (12.9, 9), (10.5, 4)]:  # 13.4 reuses 10's slot
        X, s = batch(rng, n)
        direct.observe(X, s, now)
        apart.merge_apart(apart.observe_apart(X, s, now))
    a, b = direct.windows_since(0), apart.windows_since(0)
    assert [w.window_id for w in a] == [w.window_id for w in b] == [11, 12, 13]
    for x, y in zip(a, b, strict=True):
        assert x.rows == y.rows
        np.testing.assert_array_equal(x.counts, y.counts)
        np.testing.assert_allclose(x.sums, y.sums)
        np.testing.assert_allclose(x.sumsq, y.sumsq)
