"""A plain Python/numpy reference of the sketch's binning, and small hand-made profiles."""

from __future__ import annotations

import math

import numpy as np

from driftgate.native import ReferenceProfile


def ref_bin(v: float, e: np.ndarray) -> int:
    """The documented bin rule, one value at a time, written independently of the library."""
    top = len(e) - 1
    if math.isnan(v):
        return 0
    if v < e[0]:
        return 1
    if v > e[top]:
        return top + 2
    if v == e[top]:
        return top + 1
    i = max(i for i in range(top) if e[i] <= v)
    return 2 + i


def ref_window(profile: ReferenceProfile, X: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, ...]:
    """Counts [C, B+3], sums [C], sumsq [C] of one batch, in plain Python/numpy (float64)."""
    cols = np.column_stack([np.asarray(X, dtype=np.float64), np.asarray(scores, dtype=np.float64)])
    counts = np.zeros((profile.n_columns, profile.n_bins), dtype=np.int64)
    for c in range(profile.n_columns):
        for v in cols[:, c]:
            counts[c, ref_bin(float(v), profile.edges[c])] += 1
    finite = np.where(np.isfinite(cols), cols, 0.0)
    return counts, finite.sum(axis=0), (finite * finite).sum(axis=0)


def make_profile(edges: np.ndarray, names: tuple[str, ...] | None = None) -> ReferenceProfile:
    """A profile with the given edges [C, B+1] and uniform inner proportions."""
    edges = np.asarray(edges, dtype=np.float64)
    c, e = edges.shape
    props = np.zeros((c, e + 2))
    props[:, 2 : e + 1] = 1.0 / (e - 1)
    if names is None:
        names = (*(f"f{i}" for i in range(c - 1)), "score")
    return ReferenceProfile(names, edges, props, np.zeros(c), np.ones(c), rows=100)
