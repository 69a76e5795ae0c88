"""DriftSketch.observe (the numba kernel) against the plain reference, on adversarial data."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from driftgate.native import DriftSketch, build_profile, warm_up
from driftgate.native.profile import bin_index

from .reference import make_profile, ref_bin, ref_window

EDGES = np.array(
    [
        [-1.0, 0.0, 0.5, 1.0, 2.0],  # plain
        [3.0, 3.0, 3.0, 3.0, 3.0],  # constant column
        [0.0, 1.0, 1.0, 1.0, 2.0],  # duplicate inner edges
        [-2.0, -1.0, 0.0, 2.0, 2.0],  # duplicate top edge
        [0.1, 0.2, 0.3, 0.4, 0.5],  # score
    ]
)


def adversarial(rng: np.random.Generator, n: int) -> np.ndarray:
    """Values on every edge, between edges, beyond every edge, NaN and ±inf, per column."""
    pool = np.concatenate(
        [
            EDGES.ravel(),
            np.nextafter(EDGES.ravel(), np.inf),
            np.nextafter(EDGES.ravel(), -np.inf),
            [np.nan, np.inf, -np.inf, -1e30, 1e30, 0.0, -0.0, 0.25, 2.5, 3.5],
        ]
    )
    return rng.choice(pool, size=(n, EDGES.shape[0]))


def sketch_one(profile, X, s, now=1000.0, windows=4) -> DriftSketch:  # type: ignore[no-untyped-def]
    sk = DriftSketch(profile, windows=windows, window_seconds=10.0)
    sk.observe(X, s, now)
    return sk


def test_reference_bin_rule_matches_numpy_bin_index(rng: np.random.Generator) -> None:
    data = adversarial(rng, 400)
    for c in range(EDGES.shape[0]):
        expected = [ref_bin(float(v), EDGES[c]) for v in data[:, c]]
        np.testing.assert_array_equal(bin_index(data[:, c], EDGES[c]), expected)


def test_values_on_edges_follow_the_documented_rule() -> None:
    e = EDGES[0]  # -1, 0, 0.5, 1, 2: B = 4, bins 0..6
    values = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.nextafter(-1.0, -np.inf), np.nextafter(2.0, np.inf)])
    # an inner edge opens the bin to its right; the top edge closes the last inner bin
    np.testing.assert_array_equal(bin_index(values, e), [2, 3, 4, 5, 5, 1, 6])
    const = EDGES[1]
    np.testing.assert_array_equal(bin_index(np.array([2.9, 3.0, 3.1]), const), [1, 5, 6])
    dup = EDGES[2]  # 0, 1, 1, 1, 2: the value 1 goes to the bin opened by the last copy
    np.testing.assert_array_equal(bin_index(np.array([0.5, 1.0, 1.5]), dup), [2, 5, 5])


@pytest.mark.parametrize("xdt", [np.float32, np.float64])
@pytest.mark.parametrize("sdt", [np.float32, np.float64])
def test_kernel_matches_reference_on_adversarial_data(rng: np.random.Generator, xdt: type, sdt: type) -> None:
    profile = make_profile(EDGES)
    data = adversarial(rng, 300)
    X: np.ndarray = np.ascontiguousarray(data[:, :-1], dtype=xdt)
    s: np.ndarray = np.ascontiguousarray(data[:, -1], dtype=sdt)
    counts, sums, sumsq = ref_window(profile, X, s)
    (snap,) = sketch_one(profile, X, s).windows_since(0)
    assert snap.rows == 300
    np.testing.assert_array_equal(snap.counts, counts)
    np.testing.assert_allclose(snap.sums, sums, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(snap.sumsq, sumsq, rtol=1e-12)
    # every row lands in exactly one bin per column
    np.testing.assert_array_equal(snap.counts.sum(axis=1), 300)


def test_kernel_matches_reference_one_row_at_a_time(rng: np.random.Generator) -> None:
    profile = make_profile(EDGES)
    data = adversarial(rng, 60)
    sk = DriftSketch(profile, windows=4, window_seconds=10.0)
    for row in data:
        sk.observe(row[None, :-1].astype(np.float32), row[-1:].astype(np.float32), 1000.0)
    counts, sums, _ = ref_window(profile, data[:, :-1].astype(np.float32), data[:, -1].astype(np.float32))
    (snap,) = sk.windows_since(0)
    np.testing.assert_array_equal(snap.counts, counts)
    np.testing.assert_allclose(snap.sums, sums, rtol=1e-12, atol=1e-300)


def test_kernel_bins_like_the_profile_builder(rng: np.random.Generator) -> None:
    """A sketch of the reference data reproduces the profile's proportions exactly."""
    X = rng.normal(size=(2000, 7))
    X[:, 2] = 4.0  # constant
    X[::7, 3] = np.nan
    X[:, 4] = rng.integers(0, 3, size=2000)  # lumpy: duplicate edges
    s = rng.random(2000)
    profile = build_profile(X, s, [f"x{i}" for i in range(7)], bins=8)
    (snap,) = sketch_one(profile, X, s).windows_since(0)
    np.testing.assert_allclose(snap.counts / 2000, profile.proportions, rtol=0, atol=0)


def test_read_only_strided_and_other_dtypes(rng: np.random.Generator) -> None:
    profile = make_profile(EDGES)
    data = adversarial(rng, 50)
    X = data[:, :-1].astype(np.float32)
    out = np.column_stack([1 - data[:, -1], data[:, -1]]).astype(np.float32)
    s = out[:, 1]  # a strided column, like a [n, 2] classifier output
    frozen = np.frombuffer(X.tobytes(), dtype=np.float32).reshape(X.shape)  # read-only
    assert not frozen.flags.writeable and not s.flags.c_contiguous
    expected = ref_window(profile, X, s)[0]
    half = np.clip(X, -1e4, 1e4).astype(np.float16)
    cases: list[tuple[np.ndarray, np.ndarray]] = [(frozen, s), (X, s.copy()), (frozen, s.reshape(-1, 1)), (half, s)]
    for xs, ss in cases:
        (snap,) = sketch_one(profile, xs, ss).windows_since(0)
        if xs.dtype == np.float16:  # through the converting path
            expected16 = ref_window(profile, xs.astype(np.float64), s)[0]
            np.testing.assert_array_equal(snap.counts, expected16)
        else:
            np.testing.assert_array_equal(snap.counts, expected)
    ints = rng.integers(-3, 4, size=(20, 4))
    (snap,) = sketch_one(profile, ints, np.zeros(20, dtype=np.int64)).windows_since(0)
    np.testing.assert_array_equal(snap.counts, ref_window(profile, ints, np.zeros(20))[0])


def test_empty_batch_adds_no_rows() -> None:
    profile = make_profile(EDGES)
    sk = sketch_one(profile, np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    assert sk.windows_since(0) == []


def test_shape_mismatch_raises() -> None:
    profile = make_profile(EDGES)
    sk = DriftSketch(profile)
    with pytest.raises(ValueError):
        sk.observe(np.zeros((2, 3), np.float32), np.zeros(2, np.float32), 1.0)
    with pytest.raises(ValueError):
        sk.observe(np.zeros((2, 4), np.float32), np.zeros(3, np.float32), 1.0)
    with pytest.raises(ValueError):
        sk.observe(np.zeros((2, 4), np.float32), np.zeros(2, np.float32), float("nan"))
    assert sk.windows_since(0) == []


def test_warm_up_compiles_every_signature() -> None:
    warm_up(feature_counts=(1, 4), bins=4)
    from driftgate.native.kernels import observe_kernel

    assert len(observe_kernel.compiled().overloads) >= 4
    assert len(observe_kernel.compiled(nogil=False).overloads) >= 4


def test_gil_and_nogil_variants_agree_and_the_sketch_picks_by_batch_size() -> None:
    """Small batches run the variant that keeps the GIL, large ones the nogil one; both are the
    same kernel, so a sketch fed either way holds the same numbers."""
    from driftgate.native.kernels import observe_kernel
    from driftgate.native.sketch import NOGIL_MIN_ROWS

    gil, nogil = observe_kernel.compiled(nogil=False), observe_kernel.compiled(nogil=True)
    assert gil is not nogil
    assert gil.targetoptions.get("nogil") is False and nogil.targetoptions.get("nogil") is True
    rng = np.random.default_rng(7)
    profile = make_profile(EDGES)
    X = adversarial(rng, 3 * NOGIL_MIN_ROWS)
    small, large = DriftSketch(profile, windows=4), DriftSketch(profile, windows=4)
    for start in range(0, len(X), 3):  # batches of 3 rows: the GIL-holding kernel
        small.observe(X[start:start + 3, :-1], X[start:start + 3, -1], 1000.0)
    large.observe(X[:, :-1], X[:, -1], 1000.0)  # one batch over the threshold: the nogil kernel
    (a,), (b,) = small.windows_since(0), large.windows_since(0)
    assert a.rows == b.rows == len(X)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_allclose(a.sums, b.sums)
    np.testing.assert_allclose(a.sumsq, b.sumsq)


def test_cache_switch_reads_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from driftgate.native._jit import cache_enabled

    monkeypatch.delenv("DRIFTGATE_DRIFT__NUMBA_CACHE", raising=False)
    assert cache_enabled()
    for off in ("0", "false", "OFF"):
        monkeypatch.setenv("DRIFTGATE_DRIFT__NUMBA_CACHE", off)
        assert not cache_enabled()
    monkeypatch.setenv("DRIFTGATE_DRIFT__NUMBA_CACHE", "1")
    assert cache_enabled()


def test_importing_the_package_does_not_import_numba() -> None:
    code = "import sys, driftgate.native; assert 'numba' not in sys.modules, 'numba imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
