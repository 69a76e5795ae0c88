"""Benchmark (not a test): DriftSketch.observe in ns per row, next to a plain numpy version.

    .venv/bin/python bench/inprocess/drift_kernels.py [--features 30] [--bins 16] [--runs 7]

30 features, 16 bins, batch 1 and 64, float32 rows from np.frombuffer (read-only, as the gateway
decodes them). Each number is the median of ``--runs`` timed runs, each run a loop of many calls
after warm-up; wall time (perf_counter) and the calling thread's CPU time (thread_time, less
disturbed by other processes on a shared machine) are both shown. Also prints the state size of
one version's sketch for the default settings (60 windows).
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from driftgate.native import DriftSketch, build_profile, warm_up


class NumpySketch:
    """The same update in plain numpy, vectorised over rows, columns and edges."""

    def __init__(self, edges: np.ndarray, windows: int, window_seconds: float) -> None:
        self.edges = edges
        c, e = edges.shape
        self.counts = np.zeros((windows, c, e + 2), dtype=np.int64)
        self.moments = np.zeros((windows, 2, c))
        self.ids = np.full(windows, -1, dtype=np.int64)
        self.rows = np.zeros(windows, dtype=np.int64)
        self.window_seconds = window_seconds
        self.offsets = (np.arange(c) * (e + 2))[None, :]

    def observe(self, X: np.ndarray, scores: np.ndarray, now: float) -> None:
        wid = math.floor(now / self.window_seconds)
        slot = wid % len(self.ids)
        if self.ids[slot] != wid:
            self.counts[slot] = 0
            self.moments[slot] = 0.0
            self.ids[slot] = wid
            self.rows[slot] = 0
        cols = np.column_stack([X, scores]).astype(np.float64)
        e = self.edges
        k = (e[None, :, :] <= cols[:, :, None]).sum(axis=2)  # edges <= value, every column at once
        top = e.shape[1] - 1
        bins = k + 1
        bins[(k == top + 1) & (cols == e[None, :, top])] = top + 1
        bins[np.isnan(cols)] = 0
        self.counts[slot] += np.bincount((bins + self.offsets).ravel(), minlength=self.counts[slot].size).reshape(
            self.counts[slot].shape
        )
        finite = np.where(np.isfinite(cols), cols, 0.0)
        self.moments[slot, 0] += finite.sum(axis=0)
        self.moments[slot, 1] += (finite * finite).sum(axis=0)
        self.rows[slot] += len(cols)


def timed(call: Callable[[], None], reps: int, runs: int) -> tuple[float, float]:
    """Median seconds per call over ``runs`` runs: (wall, thread CPU)."""
    walls, cpus = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(reps):
            call()
        walls.append((time.perf_counter() - w0) / reps)
        cpus.append((time.thread_time() - c0) / reps)
    return statistics.median(walls), statistics.median(cpus)


def breakdown(sketch: DriftSketch, rng: np.random.Generator, f: int, runs: int) -> None:
    """Where batch 1's time goes: an empty kernel of the same signatures (numba's dispatch and
    unboxing; with numba's runtime, as numba compiles by default, and without it, as driftgate's
    kernels are), the kernel called directly, and through DriftSketch.observe."""
    import numba

    from driftgate.native.kernels import _observe_signatures, observe_kernel

    def nothing(state: np.ndarray, X: np.ndarray, scores: np.ndarray, now: float) -> None:
        return None

    with_nrt = numba.njit(_observe_signatures(), nogil=True)(nothing)
    empty = numba.njit(_observe_signatures(), nogil=True, _nrt=False)(nothing)
    kernel = observe_kernel.compiled()
    state = sketch._state
    X = rng.normal(size=(1, f)).astype(np.float32)
    s = rng.random(1).astype(np.float32)
    frozen = np.frombuffer(X.tobytes(), dtype=np.float32).reshape(1, f)
    for label, xs in (("writable", X), ("read-only", frozen)):
        nrt = timed(lambda xs=xs: with_nrt(state, xs, s, 1e6), 200_000, runs)[1]
        floor = timed(lambda xs=xs: empty(state, xs, s, 1e6), 200_000, runs)[1]
        direct = timed(lambda xs=xs: kernel(state, xs, s, 1e6), 200_000, runs)[1]
        method = timed(lambda xs=xs: sketch.observe(xs, s, 1e6), 200_000, runs)[1]
        print(
            f"batch 1, {label} X, cpu ns: empty kernel {nrt * 1e9:.0f} (numba runtime on), "
            f"{floor * 1e9:.0f} (off); kernel {direct * 1e9:.0f}; "
            f"DriftSketch.observe {method * 1e9:.0f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=int, default=30)
    ap.add_argument("--bins", type=int, default=16)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--windows", type=int, default=60)
    ap.add_argument("--breakdown", action="store_true", help="also time numba's call floor at batch 1")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    f = args.features
    ref = rng.normal(size=(20_000, f))
    profile = build_profile(ref, rng.random(20_000), [f"f{i}" for i in range(f)], bins=args.bins)
    t0 = time.perf_counter()
    warm_up((f,), args.bins)
    warm = time.perf_counter() - t0
    sketch = DriftSketch(profile, windows=args.windows, window_seconds=10.0)
    plain = NumpySketch(profile.edges, args.windows, 10.0)

    print(f"python {platform.python_version()} on {platform.machine()} ({platform.processor() or 'cpu'})")
    print(f"warm_up: {warm * 1e3:.0f} ms;  {f} features + score, {args.bins} bins, median of {args.runs} runs")
    print(f"{'batch':>5}  {'observe ns/row (wall / cpu)':>29}  {'numpy ns/row (wall / cpu)':>27}  speed-up")
    for n in (1, 64):
        X = np.frombuffer(rng.normal(size=(n, f)).astype(np.float32).tobytes(), dtype=np.float32).reshape(n, f)
        s = rng.random(n).astype(np.float32)
        now = 1_000_000.0
        fast = timed(lambda X=X, s=s, now=now: sketch.observe(X, s, now), 200_000 // n, args.runs)
        slow = timed(lambda X=X, s=s, now=now: plain.observe(X, s, now), 20_000 // n if n > 1 else 5_000, args.runs)
        print(
            f"{n:>5}  {fast[0] * 1e9 / n:>14.0f} / {fast[1] * 1e9 / n:>12.0f}"
            f"  {slow[0] * 1e9 / n:>12.0f} / {slow[1] * 1e9 / n:>12.0f}  {slow[1] / fast[1]:>7.0f}x"
        )
    if args.breakdown:
        breakdown(sketch, rng, f, args.runs)
    for windows in (args.windows,):
        mem = DriftSketch(profile, windows=windows, window_seconds=10.0).memory_bytes
        print(
            f"memory per version ({windows} windows, {profile.n_columns} columns x {profile.n_bins} bins): "
            f"{mem:,} bytes ({mem / 1024:.0f} KiB)"
        )


if __name__ == "__main__":
    main()
