"""Reference profiles: per column (features, then the score) quantile bin edges, the reference
proportions over the B+3 bins, and the mean and std of the finite values.

Bins (see :mod:`driftgate.native.kernels` for the full rule): 0 NaN, 1 underflow (< e[0]),
2..B+1 the inner bins ``[e[i], e[i+1])`` with the last one closed, B+2 overflow (> e[B]).

Edges are ``np.quantile(finite, linspace(0, 1, B+1))`` of the column's finite values (monotone by
construction, clipped to the finite range). A constant column gets B+1 equal edges ``c``: values
below ``c`` underflow, ``c`` itself goes to the last inner bin, values above overflow. A column
with no finite value (empty, all NaN, all ±inf) gets edges all 0.0, mean 0.0 and std 0.0; its
proportions are still the binned shares (all NaN: 1.0 in the NaN bin). A profile of zero rows has
proportions all 0.0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ReferenceProfile", "bin_index", "build_profile"]

SCORE = "score"


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value (int64, 0..B+2) for one column's ascending edges [B+1]; the numpy
    reference of the kernel's rule."""
    v = np.asarray(values, dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    top = e.size - 1
    k = np.searchsorted(e, v, side="right")  # edges <= v; NaN sorts last
    b = k.astype(np.int64) + 1
    b[(k == top + 1) & (v == e[top])] = top + 1
    b[np.isnan(v)] = 0
    return b


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """A model version's reference distribution; arrays are float64, read-only.

    names: feature names then "score"; edges [C, B+1]; proportions [C, B+3]; mean, std [C].
    """

    names: tuple[str, ...]
    edges: np.ndarray = field(repr=False)
    proportions: np.ndarray = field(repr=False)
    mean: np.ndarray = field(repr=False)
    std: np.ndarray = field(repr=False)
    rows: int

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        arrays = {}
        for key in ("edges", "proportions", "mean", "std"):
            a = np.array(getattr(self, key), dtype=np.float64, order="C")  # a private copy
            a.flags.writeable = False
            arrays[key] = a
        edges, props = arrays["edges"], arrays["proportions"]
        c = len(names)
        if c < 1 or edges.ndim != 2 or edges.shape[0] != c or edges.shape[1] < 2:
            raise ValueError(f"profile edges must be [{c}, B+1] with B >= 1, got {edges.shape}")
        if props.shape != (c, edges.shape[1] + 2):
            raise ValueError(f"profile proportions must be [{c}, {edges.shape[1] + 2}], got {props.shape}")
        if arrays["mean"].shape != (c,) or arrays["std"].shape != (c,):
            raise ValueError(f"profile mean and std must be [{c}]")
        if not np.all(np.isfinite(edges)) or np.any(np.diff(edges, axis=1) < 0):
            raise ValueError("profile edges must be finite and ascending")
        if not np.all(np.isfinite(props)) or np.any(props < 0):
            raise ValueError("profile proportions must be finite and non-negative")
        object.__setattr__(self, "names", names)
        for key, a in arrays.items():
            object.__setattr__(self, key, a)
        object.__setattr__(self, "rows", int(self.rows))

    @property
    def n_features(self) -> int:
        return len(self.names) - 1

    @property
    def n_columns(self) -> int:
        return len(self.names)

    @property
    def n_bins(self) -> int:
        return int(self.proportions.shape[1])

    def _column(self, c: int) -> dict[str, Any]:
        return {
            "name": self.names[c],
            "edges": [float(x) for x in self.edges[c]],
            "proportions": [float(x) for x in self.proportions[c]],
            "mean": float(self.mean[c]),
            "std": float(self.std[c]),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: {"features": [{name, edges, proportions, mean, std}], "score": {...}, "rows"}."""
        return {
            "features": [self._column(c) for c in range(self.n_features)],
            "score": self._column(self.n_columns - 1),
            "rows": int(self.rows),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReferenceProfile:
        """The inverse of :meth:`to_dict`; raises ValueError on a malformed dict."""
        try:
            columns = [*d["features"], d["score"]]
            return cls(
                names=tuple(str(col.get("name", SCORE)) for col in columns),
                edges=np.array([col["edges"] for col in columns], dtype=np.float64),
                proportions=np.array([col["proportions"] for col in columns], dtype=np.float64),
                mean=np.array([col["mean"] for col in columns], dtype=np.float64),
                std=np.array([col["std"] for col in columns], dtype=np.float64),
                rows=int(d["rows"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed reference profile: {exc!r}") from exc
        except ValueError as exc:  # ragged lists, non-numbers, or the checks above
            raise ValueError(f"malformed reference profile: {exc}") from exc


def _column_profile(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    finite = values[np.isfinite(values)]
    if finite.size:
        edges = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1))
        edges = np.clip(np.maximum.accumulate(edges), finite.min(), finite.max())
        mean = float(finite.mean())
        std = float(finite.std())
    else:
        edges = np.zeros(bins + 1)
        mean = std = 0.0
    counts = np.bincount(bin_index(values, edges), minlength=bins + 3).astype(np.float64)
    proportions = counts / values.size if values.size else counts
    return edges, proportions, mean, std


def build_profile(X: np.ndarray, scores: np.ndarray, feature_names: Sequence[str], bins: int = 16) -> ReferenceProfile:
    """Profile reference data: X [n, F] (any real dtype), scores [n], one name per feature."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    x = np.asarray(X, dtype=np.float64)
    if x.ndim == 1 and len(feature_names) == 1:
        x = x.reshape(-1, 1)
    if x.ndim != 2:
        raise ValueError(f"X must be [n, features], got shape {x.shape}")
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.shape[0] != x.shape[0]:
        raise ValueError(f"scores has {s.shape[0]} rows, X has {x.shape[0]}")
    if len(feature_names) != x.shape[1]:
        raise ValueError(f"{len(feature_names)} feature names for {x.shape[1]} features")
    columns = [_column_profile(x[:, j], bins) for j in range(x.shape[1])]
    columns.append(_column_profile(s, bins))
    return ReferenceProfile(
        names=(*(str(n) for n in feature_names), SCORE),
        edges=np.stack([c[0] for c in columns]),
        proportions=np.stack([c[1] for c in columns]),
        mean=np.array([c[2] for c in columns]),
        std=np.array([c[3] for c in columns]),
        rows=int(x.shape[0]),
    )
