"""The drift kernel: bin a batch of rows into the current window of a sketch's ring.

Binning rule, shared with :func:`driftgate.native.profile.bin_index` (the numpy reference). A column
with edges ``e[0] <= ... <= e[B]`` (B inner bins, B+1 edges) has B+3 bins::

    0        NaN
    1        underflow   v < e[0]            (-inf too)
    2 + i    inner bin i e[i] <= v < e[i+1]  (i = 0 .. B-1; the last one is closed: e[B-1] <= v <= e[B])
    B + 2    overflow    v > e[B]            (+inf too)

So a value exactly on an inner edge ``e[i]`` falls in the bin that starts there (numpy's
``searchsorted(e, v, side="right")``), and ``e[B]`` itself falls in the last inner bin. With
duplicate edges (a constant or lumpy column) the bins between equal edges are empty; a value equal
to a repeated edge goes to the bin that starts at its last copy, or to the last inner bin if that
copy is ``e[B]``. Values are compared in float64 (float32 inputs are widened exactly).

State. One sketch is one flat int64 array, so the hot call unboxes three arrays and a float and
nothing else (each extra array argument costs about 80 ns in numba's dispatcher). Float sections
are the same memory viewed as float64. :class:`StateLayout` names the sections; the header holds
the offsets so the kernel reads them from the array::

    header   [_HEADER] int64   windows, columns, edges, window_seconds (float bits), offsets
    edges_t  [E, P]    float64 edges transposed, so one edge compares against a whole row (SIMD);
                               P = C rounded up to a multiple of 4, padding edges +inf
    row      [P]       float64 scratch: the row being binned, features then score
    below    [P]       int64   scratch: per column, how many edges are <= the value
    meta     [W, 2]    int64   per slot: window id (-1: never used), rows
    counts   [W, C, NB] int64  per slot bin counts
    moments  [W, 2, C] float64 per slot sums and sums of squares of the finite values

The scratch sections make a sketch single-writer: call ``observe`` from one thread at a time (the
event loop), which the gateway does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftgate.native._jit import kernel

__all__ = ["StateLayout", "observe_kernel", "warm_up"]

# header slots
_H_WINDOWS = 0
_H_COLUMNS = 1
_H_EDGES = 2
_H_WINDOW_SECONDS = 3  # float64 bits
_H_EDGES_T = 4
_H_ROW = 5
_H_BELOW = 6
_H_META = 7
_H_COUNTS = 8
_H_MOMENTS = 9
_H_PADDED = 10
_HEADER = 11


@dataclass(frozen=True)
class StateLayout:
    """Offsets (in int64 units) of the sections of one sketch's state array."""

    windows: int
    columns: int
    edges: int  # B + 1

    @property
    def bins(self) -> int:
        return self.edges + 2

    @property
    def padded(self) -> int:
        """Columns rounded up to a multiple of 4 (the scratch and edge rows are this wide)."""
        return -(-self.columns // 4) * 4

    @property
    def edges_t(self) -> int:
        return _HEADER

    @property
    def row(self) -> int:
        return self.edges_t + self.edges * self.padded

    @property
    def below(self) -> int:
        return self.row + self.padded

    @property
    def meta(self) -> int:
        return self.below + self.padded

    @property
    def counts(self) -> int:
        return self.meta + 2 * self.windows

    @property
    def moments(self) -> int:
        return self.counts + self.windows * self.columns * self.bins

    @property
    def size(self) -> int:
        return self.moments + self.windows * 2 * self.columns

    def new_state(self, edges: np.ndarray, window_seconds: float) -> np.ndarray:
        """A fresh state array: header filled, edges copied in, every slot unused."""
        state = np.zeros(self.size, dtype=np.int64)
        floats = state.view(np.float64)
        state[_H_WINDOWS] = self.windows
        state[_H_COLUMNS] = self.columns
        state[_H_EDGES] = self.edges
        floats[_H_WINDOW_SECONDS] = window_seconds
        state[_H_EDGES_T] = self.edges_t
        state[_H_ROW] = self.row
        state[_H_BELOW] = self.below
        state[_H_META] = self.meta
        state[_H_COUNTS] = self.counts
        state[_H_MOMENTS] = self.moments
        state[_H_PADDED] = self.padded
        edges_t = np.full((self.edges, self.padded), np.inf)  # padding columns never count
        edges_t[:, : self.columns] = np.asarray(edges, dtype=np.float64).T
        floats[self.edges_t : self.row] = edges_t.ravel()
        self.meta_view(state)[:, 0] = -1
        return state

    def meta_view(self, state: np.ndarray) -> np.ndarray:
        return state[self.meta : self.counts].reshape(self.windows, 2)

    def counts_view(self, state: np.ndarray) -> np.ndarray:
        return state[self.counts : self.moments].reshape(self.windows, self.columns, self.bins)

    def moments_view(self, state: np.ndarray) -> np.ndarray:
        return state[self.moments : self.size].view(np.float64).reshape(self.windows, 2, self.columns)


def _observe_signatures() -> list[object]:
    from numba import types as nt

    sigs: list[object] = []
    for x in (nt.float32, nt.float64):
        for s in (nt.float32, nt.float64):
            # Read-only, any-layout array types: they accept writable and strided arrays too (numba
            # converts types once, at the C level), and the gateway's inputs come from np.frombuffer
            # (read-only) while a score may be a column of a [n, 2] output (strided). A read-only
            # C-layout signature would send read-only arrays through numba's slow typeof path.
            xs = nt.Array(x, 2, "A", readonly=True)
            ss = nt.Array(s, 1, "A", readonly=True)
            sigs.append(nt.void(nt.int64[::1], xs, ss, nt.float64))
    return sigs


@kernel(_observe_signatures)
def _observe(state, X, scores, now):  # type: ignore[no-untyped-def]
    windows = state[_H_WINDOWS]
    C = state[_H_COLUMNS]
    E = state[_H_EDGES]
    NB = E + 2
    F = C - 1
    n = X.shape[0]
    if X.shape[1] != F or scores.shape[0] != n:
        raise ValueError("observe: X must be [n, features] and scores [n]")
    if not np.isfinite(now):
        raise ValueError("observe: now must be finite")
    floats = state.view(np.float64)
    wid = np.int64(np.floor(now / floats[_H_WINDOW_SECONDS]))
    slot = wid % windows
    m = state[_H_META] + 2 * slot
    c0 = state[_H_COUNTS] + slot * C * NB
    f0 = state[_H_MOMENTS] + slot * 2 * C
    if state[m] != wid:
        if state[m] > wid:
            return  # the clock went back past the whole ring: that window is gone
        state[c0 : c0 + C * NB] = 0
        floats[f0 : f0 + 2 * C] = 0.0
        state[m] = wid
        state[m + 1] = 0
    P = state[_H_PADDED]  # C rounded up to a multiple of 4: whole SIMD vectors in the edge loop
    e0 = state[_H_EDGES_T]
    edges_t = floats[e0 : e0 + E * P]
    r0 = state[_H_ROW]
    row = floats[r0 : r0 + P]
    b0 = state[_H_BELOW]
    below = state[b0 : b0 + P]
    counts = state[c0 : c0 + C * NB]
    moments = floats[f0 : f0 + 2 * C]
    last = (E - 1) * P
    for i in range(n):
        for j in range(F):
            row[j] = X[i, j]
        row[F] = scores[i]
        for j in range(P):
            below[j] = 0
        for t in range(E):  # one edge against the whole row: vectorised over columns
            et = t * P
            for j in range(P):
                below[j] += 1 if edges_t[et + j] <= row[j] else 0
        for j in range(C):  # moments of the finite values, branch-free (vectorised too)
            v = row[j]
            w = v if v - v == 0.0 else 0.0
            moments[j] += w
            moments[C + j] += w * w
        for j in range(C):
            v = row[j]
            k = below[j]
            if v != v:
                b = 0
            elif k == E and v == edges_t[last + j]:
                b = E  # exactly the top edge: the last inner bin (B + 1)
            else:
                b = k + 1
            counts[j * NB + b] += 1
    state[m + 1] += n


observe_kernel = _observe
"""The lazy kernel behind :meth:`DriftSketch.observe` (``observe_kernel.compiled()`` is the dispatcher)."""


def warm_up(feature_counts: Iterable[int] = (30,), bins: int = 16) -> None:
    """Compile (or load from numba's cache) every kernel signature and run each once.

    Call before a gateway reports ready: the first numba call costs a compile (seconds) or a cache
    load (hundreds of milliseconds). The signatures do not depend on the shapes; ``feature_counts``
    and ``bins`` pick the shapes the dry runs use.
    """
    for nogil in (False, True):
        _dry_runs(_observe.compiled(nogil=nogil), feature_counts, bins)


def _dry_runs(dispatcher: Any, feature_counts: Iterable[int], bins: int) -> None:
    for features in feature_counts:
        layout = StateLayout(windows=2, columns=int(features) + 1, edges=int(bins) + 1)
        edges = np.tile(np.linspace(0.0, 1.0, layout.edges), (layout.columns, 1))
        state = layout.new_state(edges, 1.0)
        for xt in (np.float32, np.float64):
            for st in (np.float32, np.float64):
                X = np.full((2, int(features)), 0.5, dtype=xt)
                scores = np.full(2, 0.5, dtype=st)
                dispatcher(state, X, scores, 0.0)
                X.flags.writeable = False
                scores.flags.writeable = False
                dispatcher(state, X, scores, 0.0)
