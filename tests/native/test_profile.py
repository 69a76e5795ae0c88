"""build_profile and the profile's dict round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftgate.native import ReferenceProfile, build_profile

from .reference import ref_bin


def test_edges_proportions_and_moments(rng: np.random.Generator) -> None:
    X = rng.normal(size=(1000, 3)).astype(np.float32)
    X[::10, 1] = np.nan
    X[5, 2] = np.inf
    s = rng.random(1000)
    p = build_profile(X, s, ["a", "b", "c"], bins=10)
    assert p.names == ("a", "b", "c", "score")
    assert (p.n_features, p.n_columns, p.n_bins, p.rows) == (3, 4, 13, 1000)
    assert p.edges.shape == (4, 11) and p.proportions.shape == (4, 13)
    cols = np.column_stack([X.astype(np.float64), s])
    for c in range(4):
        finite = cols[:, c][np.isfinite(cols[:, c])]
        np.testing.assert_allclose(p.edges[c], np.quantile(finite, np.linspace(0, 1, 11)))
        counts = np.zeros(13)
        for v in cols[:, c]:
            counts[ref_bin(float(v), p.edges[c])] += 1
        np.testing.assert_allclose(p.proportions[c], counts / 1000)
        np.testing.assert_allclose(p.mean[c], finite.mean())
        np.testing.assert_allclose(p.std[c], finite.std())
    assert p.proportions[1, 0] == pytest.approx(0.1)  # NaN share
    assert p.proportions[2, -1] == pytest.approx(0.001)  # +inf overflows
    np.testing.assert_allclose(p.proportions.sum(axis=1), 1.0)


def test_degenerate_columns(rng: np.random.Generator) -> None:
    X = np.column_stack([np.full(50, 7.0), np.full(50, np.nan), rng.integers(0, 2, 50)])
    p = build_profile(X, np.zeros(50), ["const", "nan", "bit"], bins=4)
    np.testing.assert_array_equal(p.edges[0], 7.0)
    np.testing.assert_array_equal(p.proportions[0], [0, 0, 0, 0, 0, 1, 0])  # last inner bin
    np.testing.assert_array_equal(p.edges[1], 0.0)
    np.testing.assert_array_equal(p.proportions[1], [1, 0, 0, 0, 0, 0, 0])
    assert (p.mean[1], p.std[1]) == (0.0, 0.0)
    assert np.all(np.diff(p.edges[2]) >= 0)
    np.testing.assert_allclose(p.proportions[2].sum(), 1.0)


def test_integer_and_empty_input() -> None:
    p = build_profile(np.arange(20, dtype=np.int32).reshape(10, 2), np.arange(10), ["x", "y"], bins=2)
    np.testing.assert_allclose(p.edges[0], [0, 9, 18])
    empty = build_profile(np.zeros((0, 2)), np.zeros(0), ["x", "y"])
    assert empty.rows == 0
    np.testing.assert_array_equal(empty.proportions, 0.0)
    np.testing.assert_array_equal(empty.edges, 0.0)


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError):
        build_profile(np.zeros((3, 2)), np.zeros(4), ["x", "y"])
    with pytest.raises(ValueError):
        build_profile(np.zeros((3, 2)), np.zeros(3), ["x"])
    with pytest.raises(ValueError):
        build_profile(np.zeros((3, 2)), np.zeros(3), ["x", "y"], bins=0)


def test_round_trip_through_json(rng: np.random.Generator) -> None:
    X = rng.normal(size=(300, 4))
    p = build_profile(X, rng.random(300), ["a", "b", "c", "d"], bins=6)
    d = json.loads(json.dumps(p.to_dict()))
    assert set(d) == {"features", "score", "rows"}
    assert set(d["features"][0]) == {"name", "edges", "proportions", "mean", "std"}
    assert d["score"]["name"] == "score" and len(d["features"]) == 4
    q = ReferenceProfile.from_dict(d)
    assert q.names == p.names and q.rows == p.rows
    for key in ("edges", "proportions", "mean", "std"):
        np.testing.assert_array_equal(getattr(q, key), getattr(p, key))
    assert q.to_dict() == p.to_dict()


def test_profile_is_immutable_and_validated(rng: np.random.Generator) -> None:
    p = build_profile(rng.normal(size=(30, 2)), rng.random(30), ["a", "b"], bins=3)
    with pytest.raises(ValueError):
        p.edges[0, 0] = 1.0
    bad = p.to_dict()
    bad["features"][0]["edges"] = [3.0, 2.0, 1.0, 0.0]
    with pytest.raises(ValueError):
        ReferenceProfile.from_dict(bad)
    bad = p.to_dict()
    bad["score"]["proportions"] = [1.0]
    with pytest.raises(ValueError):
        ReferenceProfile.from_dict(bad)
    with pytest.raises(ValueError):
        ReferenceProfile.from_dict({"features": []})
