"""Per-version traffic over recent windows, from the gateways' cumulative counters.

Every gateway report carries, per version it holds, counters that only grow while the gateway
lives (requests, failures, rows, latency buckets, shadow comparisons), and per model the requests
it refused before a version scored them, by gRPC code. ``TrafficHistory.record`` takes the
difference between a report and the previous report of the same gateway and adds it to the time
slot (``resolution_s`` long) the report arrived in; a window or a time series is then a sum of
slots, and gateways (workers, hosts) add.

Resets: a gateway that restarted (another ``started_at``) or one of whose counters went down
counts from zero again. The first report of a gateway that started before this history began (the
registry restarted while it served) is a baseline only: what it served before is not attributed
to the moment the registry heard of it. Slots older than ``history_s`` are dropped.

Counts travel as float64 vectors (exact for integers below 2**53) laid out as ``FIELDS``, then
the latency buckets of driftgate.latency_buckets, then one count per gRPC code in ``CODES``.
Transport-free; one lock, because reports and queries arrive on worker threads.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from driftgate.latency_buckets import LATENCY_BUCKET_BOUNDS_US
from driftgate.registry.catalogue.records import GatewayStatus

__all__ = [
    "CODES",
    "FIELDS",
    "REFUSED_VERSION",
    "WIDTH",
    "Counts",
    "TrafficHistory",
    "WindowSums",
    "counts_of",
    "percentile_ms",
]

FIELDS = (
    "requests",
    "failures",
    "rows",
    "latency_s",
    "shadow_mirrored",
    "shadow_dropped",
    "shadow_agree",
    "shadow_abs_diff",
)
# every gRPC status code but OK, by name (the core imports no grpc)
CODES = (
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
REFUSED_VERSION = 0  # the key of a model's requests refused before any version scored them

_F = {name: i for i, name in enumerate(FIELDS)}
_NB = len(LATENCY_BUCKET_BOUNDS_US) + 1
_B0 = len(FIELDS)
_C0 = _B0 + _NB
_CODE = {name: _C0 + i for i, name in enumerate(CODES)}
WIDTH = _C0 + len(CODES)

Key = tuple[str, int]  # (model, version)


class Counts:
    """A read-only view of one counts vector, by name."""

    __slots__ = ("v",)

    def __init__(self, v: np.ndarray) -> None:
        self.v = v

    def __getattr__(self, name: str) -> float:
        try:
            return float(self.v[_F[name]])
        except KeyError:
            raise AttributeError(name) from None

    @property
    def buckets(self) -> np.ndarray:
        return self.v[_B0:_C0]

    def errors(self) -> dict[str, int]:
        """Non-zero counts by gRPC code name."""
        return {code: int(self.v[i]) for code, i in _CODE.items() if self.v[i]}

    @property
    def error_total(self) -> int:
        return int(self.v[_C0:].sum())


def counts_of(status: GatewayStatus) -> dict[Key, np.ndarray]:
    """One report's cumulative counters as vectors, by (model, version); a version's scoring
    failures count as INTERNAL, refused requests are version ``REFUSED_VERSION``."""
    out: dict[Key, np.ndarray] = {}
    for s in status.stats:
        v = np.zeros(WIDTH)
        v[_F["requests"]] = s.requests
        v[_F["failures"]] = s.failures
        v[_F["rows"]] = s.rows
        v[_F["latency_s"]] = s.latency_ns_sum / 1e9
        v[_F["shadow_mirrored"]] = s.shadow_requests
        v[_F["shadow_dropped"]] = s.shadow_dropped
        v[_F["shadow_agree"]] = s.shadow_agree
        v[_F["shadow_abs_diff"]] = s.shadow_abs_diff_sum
        buckets = s.latency_buckets[:_NB]
        v[_B0 : _B0 + len(buckets)] = buckets
        v[_CODE["INTERNAL"]] = s.failures
        out[(s.model, s.version)] = v
    for model, code, count in status.refused:
        v = out.setdefault((model, REFUSED_VERSION), np.zeros(WIDTH))
        v[_CODE.get(code, _CODE["UNKNOWN"])] += count
        v[_F["requests"]] += count
        v[_F["failures"]] += count
    return out


def percentile_ms(buckets: Iterable[float], q: float) -> float:
    """The q-quantile (0..1) of a latency histogram, in milliseconds, interpolated linearly inside
    its bucket as Prometheus's histogram_quantile does (the overflow bucket answers the largest
    bound); NaN when the histogram is empty."""
    counts = np.asarray(list(buckets), dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return math.nan
    rank = q * total
    running = 0.0
    lower = 0.0
    for i, c in enumerate(counts):
        if i >= len(LATENCY_BUCKET_BOUNDS_US):
            return LATENCY_BUCKET_BOUNDS_US[-1] / 1000.0
        upper = float(LATENCY_BUCKET_BOUNDS_US[i])
        if c > 0 and running + c >= rank:
            return (lower + (upper - lower) * (rank - running) / c) / 1000.0
        running += c
        lower = upper
    return LATENCY_BUCKET_BOUNDS_US[-1] / 1000.0


def _started(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return -math.inf


@dataclass(frozen=True, slots=True)
class WindowSums:
    """Counts summed over a window: ``sums[(gateway_id, model, version)]`` (gateway_id "" when summed
    over gateways)."""

    start: float  # unix seconds: the window's first slot, or when the history began if later
    end: float
    sums: Mapping[tuple[str, str, int], np.ndarray]

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 0.0)


class TrafficHistory:
    """Increments of every gateway's counters in time slots, for windows and series."""

    def __init__(self, resolution_s: float, history_s: float, clock: Callable[[], float] = time.time) -> None:
        if resolution_s <= 0 or history_s < resolution_s:
            raise ValueError("resolution_s must be > 0 and history_s at least one slot")
        self.resolution_s = resolution_s
        self.history_s = history_s
        self._clock = clock
        self.began = clock()
        self._lock = threading.Lock()
        # gateway -> (started_at, when last heard, cumulative vectors of its last report)
        self._last: dict[str, tuple[str, float, dict[Key, np.ndarray]]] = {}
        # slot -> (gateway, model, version) -> increment
        self._slots: dict[int, dict[tuple[str, str, int], np.ndarray]] = {}

    def _slot(self, t: float) -> int:
        return math.floor(t / self.resolution_s)

    def record(self, status: GatewayStatus, now: float | None = None) -> None:
        """Add one gateway report (its cumulative counters) at ``now`` (default: the clock)."""
        now = self._clock() if now is None else now
        current = counts_of(status)
        gid = status.gateway_id
        with self._lock:
            last = self._last.get(gid)
            if last is not None and last[0] == status.started_at:
                before: dict[Key, np.ndarray] | None = last[2]
            elif _started(status.started_at) >= max(self.began, now - self.history_s):
                before = {}  # a gateway we saw start: everything it counted is new
            else:
                before = None  # running before this history began: a baseline only
            self._last[gid] = (status.started_at, now, current)
            if before is not None:
                slot = self._slots.setdefault(self._slot(now), {})
                for (model, version), vec in current.items():
                    prev = before.get((model, version))
                    # new here, or the counters were reset: it counts from zero
                    inc = vec if prev is None or bool((vec < prev).any()) else vec - prev
                    if inc.any():
                        key = (gid, model, version)
                        held = slot.get(key)
                        slot[key] = inc.copy() if held is None else held + inc
            self._prune(now)

    def _prune(self, now: float) -> None:
        oldest = self._slot(now - self.history_s)
        for k in [k for k in self._slots if k < oldest]:
            del self._slots[k]
        for gid in [g for g, (_, seen, _) in self._last.items() if seen < now - self.history_s]:
            del self._last[gid]

    def window(self, model: str, seconds: float, *, by_gateway: bool = False, now: float | None = None) -> WindowSums:
        """The counts of ``model`` over the last ``seconds`` (whole slots: the window starts at the
        start of the slot holding ``now - seconds``), summed over gateways unless ``by_gateway``."""
        now = self._clock() if now is None else now
        first = self._slot(now - seconds)
        last = self._slot(now)
        sums: dict[tuple[str, str, int], np.ndarray] = {}
        with self._lock:
            for k, slot in self._slots.items():
                if first <= k <= last:
                    _add(sums, slot, model, by_gateway)
        start = max(first * self.resolution_s, self.began)
        return WindowSums(start, now, sums)

    def series(
        self, model: str, seconds: float, step_s: float, *, now: float | None = None
    ) -> list[WindowSums]:
        """The counts of ``model`` over the last ``seconds`` in steps of ``step_s`` (rounded up to
        whole slots), oldest first, summed over gateways; steps before the history began are left
        out."""
        now = self._clock() if now is None else now
        per = max(1, math.ceil(step_s / self.resolution_s - 1e-9))
        step = per * self.resolution_s
        last = self._slot(now)
        n = max(1, math.ceil(seconds / step - 1e-9))
        first = last - n * per + 1  # n whole steps, the last one holding now
        points: list[dict[tuple[str, str, int], np.ndarray]] = [{} for _ in range(n)]
        with self._lock:
            for k, slot in self._slots.items():
                if first <= k <= last:
                    _add(points[(k - first) // per], slot, model, False)
        out = []
        for i, sums in enumerate(points):
            start = (first + i * per) * self.resolution_s
            end = min(start + step, now)
            if end <= self.began:
                continue
            out.append(WindowSums(max(start, self.began), end, sums))
        return out

    def gateways(self) -> list[str]:
        with self._lock:
            return sorted(self._last)


def _add(
    into: dict[tuple[str, str, int], np.ndarray],
    slot: Mapping[tuple[str, str, int], np.ndarray],
    model: str,
    by_gateway: bool,
) -> None:
    for (gid, m, version), inc in slot.items():
        if m != model:
            continue
        key = (gid if by_gateway else "", m, version)
        held = into.get(key)
        into[key] = inc.copy() if held is None else held + inc
