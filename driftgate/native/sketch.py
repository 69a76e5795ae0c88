"""A version's live drift sketch: a ring of time windows of per-column bin counts and moments.

Window id = ``floor(now / window_seconds)`` (``now`` in unix seconds, passed in by the caller);
slot = ``id % windows``. A slot holding an older id is reset before use; a batch whose window is
older than the one its slot already holds (the clock went back by more than the whole ring) is
dropped. Memory is fixed by the settings, never by traffic: :attr:`DriftSketch.memory_bytes`.

Mean and variance: ``sums``/``sumsq`` hold the finite values only, while ``counts`` put ±inf in
the under/overflow bins; a reader that divides ``sums`` by the non-NaN rows treats infinities as 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from driftgate.native.kernels import StateLayout, observe_kernel
from driftgate.native.profile import ReferenceProfile

__all__ = ["NOGIL_MIN_ROWS", "DriftSketch", "WindowSnapshot", "merge_snapshots"]


@dataclass(frozen=True, eq=False)
class WindowSnapshot:
    """One window's counts (a copy): int64 counts [C, B+3], float64 sums and sumsq [C] of the
    finite values, and the rows observed. Columns are the features then the score."""

    window_id: int
    window_seconds: float
    rows: int
    counts: np.ndarray = field(repr=False)
    sums: np.ndarray = field(repr=False)
    sumsq: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.int64)
        sums = np.asarray(self.sums, dtype=np.float64)
        sumsq = np.asarray(self.sumsq, dtype=np.float64)
        if counts.ndim != 2 or sums.shape != (counts.shape[0],) or sumsq.shape != (counts.shape[0],):
            raise ValueError(
                f"window snapshot shapes disagree: counts {counts.shape}, sums {sums.shape}, sumsq {sumsq.shape}"
            )
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "sums", sums)
        object.__setattr__(self, "sumsq", sumsq)
        object.__setattr__(self, "window_id", int(self.window_id))
        object.__setattr__(self, "window_seconds", float(self.window_seconds))
        object.__setattr__(self, "rows", int(self.rows))

    @property
    def n_columns(self) -> int:
        return int(self.counts.shape[0])

    @property
    def n_bins(self) -> int:
        return int(self.counts.shape[1])

    def copy(self) -> WindowSnapshot:
        return WindowSnapshot(
            self.window_id, self.window_seconds, self.rows, self.counts.copy(), self.sums.copy(), self.sumsq.copy()
        )


def _exact_sum(parts: list[np.ndarray]) -> np.ndarray:
    """Column sums that do not depend on the order of ``parts`` (math.fsum is exactly rounded)."""
    stacked = np.stack(parts)
    try:
        return np.array([math.fsum(stacked[:, j]) for j in range(stacked.shape[1])], dtype=np.float64)
    except (OverflowError, ValueError):  # inf/nan or an intermediate overflow: plain sums
        return stacked.sum(axis=0)


def merge_snapshots(snaps: Iterable[WindowSnapshot]) -> WindowSnapshot | None:
    """A new snapshot summing rows, counts, sums and sumsq (window_id = the largest); None if empty.

    Never mutates its arguments. Order-insensitive: counts and rows are integers, and float sums
    are exactly rounded (math.fsum), so any permutation gives identical results. Raises ValueError
    when shapes or window lengths differ.
    """
    items = list(snaps)
    if not items:
        return None
    first = items[0]
    for s in items[1:]:
        if s.counts.shape != first.counts.shape:
            raise ValueError(f"cannot merge windows of shapes {first.counts.shape} and {s.counts.shape}")
        if s.window_seconds != first.window_seconds:
            raise ValueError(f"cannot merge windows of {first.window_seconds} s and {s.window_seconds} s")
    counts = np.asarray(np.stack([s.counts for s in items]).sum(axis=0, dtype=np.int64))
    return WindowSnapshot(
        window_id=max(s.window_id for s in items),
        window_seconds=first.window_seconds,
        rows=sum(s.rows for s in items),
        counts=counts,
        sums=_exact_sum([s.sums for s in items]),
        sumsq=_exact_sum([s.sumsq for s in items]),
    )


NOGIL_MIN_ROWS = 64
"""From this many rows (about 11 us of kernel at 171 ns a row) the kernel releases the GIL."""


class DriftSketch:
    """Per-version ring of ``windows`` time windows of ``window_seconds`` each.

    :meth:`observe` is the hot path (one numba call, no allocation, no lock); everything else reads
    copies. Single-writer: call :meth:`observe` and :meth:`windows_since` from one thread (the
    gateway's event loop).
    """

    __slots__ = (
        "_counts", "_kernel", "_kernel_nogil", "_layout", "_meta", "_moments", "_state", "profile", "window_seconds",
        "windows",
    )

    def __init__(self, profile: ReferenceProfile, windows: int = 60, window_seconds: float = 10.0) -> None:
        if windows < 1:
            raise ValueError(f"windows must be >= 1, got {windows}")
        if not (window_seconds > 0 and math.isfinite(window_seconds)):
            raise ValueError(f"window_seconds must be a positive number, got {window_seconds}")
        self.profile = profile
        self.windows = int(windows)
        self.window_seconds = float(window_seconds)
        self._layout = StateLayout(windows=self.windows, columns=profile.n_columns, edges=profile.edges.shape[1])
        self._state = self._layout.new_state(profile.edges, self.window_seconds)
        self._meta = self._layout.meta_view(self._state)
        self._counts = self._layout.counts_view(self._state)
        self._moments = self._layout.moments_view(self._state)
        self._kernel = observe_kernel.compiled(nogil=False)  # small batches: ~1 us, keep the GIL
        self._kernel_nogil = observe_kernel.compiled(nogil=True)

    def observe(self, X: np.ndarray, scores: np.ndarray, now: float) -> None:
        """Add a batch: X [n, F] float32/float64 C-contiguous, scores [n], now in unix seconds.

        Batches of NOGIL_MIN_ROWS rows or more run with the GIL released (other threads go on
        meanwhile); smaller ones hold it, since handing it over costs more than they take
        (driftgate.native._jit). Other dtypes or layouts work too, through a slower converting path.
        """
        kernel = self._kernel if len(X) < NOGIL_MIN_ROWS else self._kernel_nogil
        try:
            kernel(self._state, X, scores, now)
        except TypeError:  # no matching signature: an int dtype, a strided view, a [n, 1] score
            kernel(
                self._state,
                np.ascontiguousarray(X, dtype=np.float64),
                np.ascontiguousarray(np.asarray(scores).reshape(-1), dtype=np.float64),
                float(now),
            )

    def observe_apart(self, X: np.ndarray, scores: np.ndarray, now: float) -> np.ndarray:
        """Bin a batch into a private one-window state, with the GIL released: safe on any thread
        while the event loop goes on observing into this sketch. :meth:`merge_apart` (on the
        sketch's own thread) adds the result. For large batches, which would hold the loop for
        milliseconds (~150 ns a row)."""
        layout = StateLayout(windows=1, columns=self._layout.columns, edges=self._layout.edges)
        state = layout.new_state(self.profile.edges, self.window_seconds)
        try:
            self._kernel_nogil(state, X, scores, now)
        except TypeError:  # as in observe
            self._kernel_nogil(
                state,
                np.ascontiguousarray(X, dtype=np.float64),
                np.ascontiguousarray(np.asarray(scores).reshape(-1), dtype=np.float64),
                float(now),
            )
        return state

    def merge_apart(self, state: np.ndarray) -> None:
        """Add a state from :meth:`observe_apart` into the ring (the window rule of the kernel: a
        newer window replaces an older slot; a window older than its slot's is gone)."""
        layout = StateLayout(windows=1, columns=self._layout.columns, edges=self._layout.edges)
        wid, rows = (int(v) for v in layout.meta_view(state)[0])
        if rows <= 0:
            return
        slot = wid % self.windows
        meta = self._meta[slot]
        if meta[0] != wid:
            if meta[0] > wid:
                return
            self._counts[slot] = 0
            self._moments[slot] = 0.0
            meta[0] = wid
            meta[1] = 0
        self._counts[slot] += layout.counts_view(state)[0]
        self._moments[slot] += layout.moments_view(state)[0]
        meta[1] += rows

    def window_id(self, now: float) -> int:
        """The id of the window ``now`` (unix seconds) falls in."""
        return math.floor(now / self.window_seconds)

    def windows_since(self, window_id: int) -> list[WindowSnapshot]:
        """Copies of the windows with id >= ``window_id`` and at least one row, oldest first."""
        ids = self._meta[:, 0]
        rows = self._meta[:, 1]
        slots = np.flatnonzero((ids >= window_id) & (rows > 0))
        slots = slots[np.argsort(ids[slots], kind="stable")]
        return [
            WindowSnapshot(
                window_id=int(ids[s]),
                window_seconds=self.window_seconds,
                rows=int(rows[s]),
                counts=self._counts[s].copy(),
                sums=self._moments[s, 0].copy(),
                sumsq=self._moments[s, 1].copy(),
            )
            for s in slots
        ]

    @property
    def memory_bytes(self) -> int:
        """Bytes of state, fixed by the profile's shape and the ring's length."""
        return int(self._state.nbytes)
