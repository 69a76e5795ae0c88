"""merge_snapshots: order-insensitive, associative, never touches its arguments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftgate.native import WindowSnapshot, merge_snapshots

C, NB = 3, 5
floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def snapshots(draw: st.DrawFn) -> WindowSnapshot:
    counts = np.array(draw(st.lists(st.integers(0, 10_000), min_size=C * NB, max_size=C * NB))).reshape(C, NB)
    return WindowSnapshot(
        window_id=draw(st.integers(0, 10**9)),
        window_seconds=10.0,
        rows=draw(st.integers(0, 10**6)),
        counts=counts,
        sums=np.array(draw(st.lists(floats, min_size=C, max_size=C))),
        sumsq=np.array(draw(st.lists(floats.map(abs), min_size=C, max_size=C))),
    )


def frozen(s: WindowSnapshot) -> tuple[object, ...]:
    return (s.window_id, s.window_seconds, s.rows, s.counts.tobytes(), s.sums.tobytes(), s.sumsq.tobytes())


def same(a: WindowSnapshot | None, b: WindowSnapshot | None) -> bool:
    assert a is not None and b is not None
    return frozen(a) == frozen(b)


SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None)


@SETTINGS
@given(st.lists(snapshots(), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_merge_is_order_insensitive_and_pure(snaps: list[WindowSnapshot], shuffler) -> None:  # type: ignore[no-untyped-def]
    before = [frozen(s) for s in snaps]
    merged = merge_snapshots(snaps)
    shuffled = list(snaps)
    shuffler.shuffle(shuffled)
    assert same(merged, merge_snapshots(shuffled))
    assert [frozen(s) for s in snaps] == before
    assert merged is not None and all(merged is not s and merged.counts is not s.counts for s in snaps)
    assert merged.rows == sum(s.rows for s in snaps)
    assert merged.window_id == max(s.window_id for s in snaps)
    np.testing.assert_array_equal(merged.counts, np.sum([s.counts for s in snaps], axis=0))
    np.testing.assert_allclose(merged.sums, np.sum([s.sums for s in snaps], axis=0), rtol=1e-9, atol=1e-6)


@SETTINGS
@given(snapshots(), snapshots(), snapshots())
def test_merge_is_associative_and_commutative(a: WindowSnapshot, b: WindowSnapshot, c: WindowSnapshot) -> None:
    before = [frozen(s) for s in (a, b, c)]
    left = merge_snapshots([merge_snapshots([a, b]), c])  # type: ignore[list-item]
    right = merge_snapshots([a, merge_snapshots([b, c])])  # type: ignore[list-item]
    assert left is not None and right is not None
    assert (left.rows, left.window_id) == (right.rows, right.window_id)
    np.testing.assert_array_equal(left.counts, right.counts)
    np.testing.assert_allclose(left.sums, right.sums, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(left.sumsq, right.sumsq, rtol=1e-12, atol=1e-9)
    assert same(merge_snapshots([a, b]), merge_snapshots([b, a]))
    assert [frozen(s) for s in (a, b, c)] == before


def test_merge_edge_cases() -> None:
    assert merge_snapshots([]) is None
    a = WindowSnapshot(1, 10.0, 2, np.ones((C, NB), np.int64), np.zeros(C), np.zeros(C))
    single = merge_snapshots(iter([a]))
    assert single is not None and same(single, a) and single.counts is not a.counts
    with pytest.raises(ValueError):
        merge_snapshots([a, WindowSnapshot(1, 10.0, 2, np.ones((C, NB + 1), np.int64), np.zeros(C), np.zeros(C))])
    with pytest.raises(ValueError):
        merge_snapshots([a, WindowSnapshot(1, 5.0, 2, np.ones((C, NB), np.int64), np.zeros(C), np.zeros(C))])
    with pytest.raises(ValueError):
        WindowSnapshot(1, 10.0, 2, np.ones((C, NB), np.int64), np.zeros(C + 1), np.zeros(C))
