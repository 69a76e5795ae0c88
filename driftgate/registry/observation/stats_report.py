"""What ``driftgate stats`` and the dashboard show: a model's per-version traffic over a window,
against the split the operator configured, and the same as a time series.

Built from driftgate.registry.observation.stats.TrafficHistory (the gateways' counts) and the catalogue (the
configured traffic, the model's versions). Transport-free; the gRPC adapter converts the records
field by field (their names are the proto's: driftgate.v1.StatsReport).

Units: counts are integers, rates per second, latencies milliseconds (percentiles interpolated in
the gateways' latency buckets, so as precise as the bucket bounds), shares in [0, 1]. NaN marks a
number with nothing to compute it from (a percentile without requests, agreement without a
compared row).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from driftgate.errors import InvalidRequest
from driftgate.latency_buckets import LATENCY_BUCKET_BOUNDS_US
from driftgate.registry.catalogue.catalogue import Catalogue
from driftgate.registry.catalogue.records import ACTIVE, TrafficRecord
from driftgate.registry.observation.stats import (
    REFUSED_VERSION,
    WIDTH,
    Counts,
    TrafficHistory,
    WindowSums,
    percentile_ms,
)

__all__ = ["DEFAULT_WINDOW_S", "ModelStats", "StatsPoint", "StatsReporter", "VersionSeries", "VersionWindowStats"]

DEFAULT_WINDOW_S = 60.0
MAX_POINTS = 2000  # a series longer than this is refused: ask for a larger step

SERVING, SHADOW, IDLE, REFUSED = "serving", "shadow", "idle", "refused"


@dataclass(frozen=True, slots=True)
class VersionWindowStats:
    version: int  # REFUSED_VERSION (0): requests refused before any version scored them
    gateway_id: str  # "" when summed over gateways
    role: str  # serving, shadow, idle, refused
    requests: int
    requests_per_second: float
    rows: int
    errors: dict[str, int]  # by gRPC code name; a version's scoring failures are INTERNAL
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    share: float  # of the routed requests (versions > 0) in the window, per gateway when by gateway
    configured_share: float  # weight / total weight (latest mode: 1 for the newest active version)
    shadow_rate: float  # configured mirror rate when the version is a shadow
    shadow_mirrored: int  # rows scored as shadow copies and compared with the primary's
    shadow_dropped: int
    shadow_agreement: float  # share of compared rows on the same side of 0.5
    shadow_mean_abs_diff: float
    latency_buckets: tuple[int, ...]  # per bound of LATENCY_BUCKET_BOUNDS_US, then overflow


@dataclass(frozen=True, slots=True)
class StatsPoint:
    start: float  # unix seconds
    seconds: float
    requests: int
    errors: int
    requests_per_second: float
    p99_ms: float
    p50_ms: float


@dataclass(frozen=True, slots=True)
class VersionSeries:
    version: int
    points: tuple[StatsPoint, ...]


@dataclass(frozen=True, slots=True)
class ModelStats:
    model: str
    window_seconds: float
    covered_seconds: float  # the part of the window the registry has history for
    at: float  # unix seconds, the window's end
    mode: str  # latest | weights
    requests: int  # every version's, refused included
    versions: tuple[VersionWindowStats, ...]
    latency_bounds_us: tuple[int, ...] = LATENCY_BUCKET_BOUNDS_US
    series: tuple[VersionSeries, ...] = ()
    step_seconds: float = 0.0
    gateways: tuple[str, ...] = field(default=())  # gateways heard from in the history


def _configured(traffic: TrafficRecord, active: list[int]) -> tuple[dict[int, float], dict[int, float]]:
    """(share by version, shadow rate by version) as the operator set them."""
    if traffic.mode == "weights" and traffic.weights:
        total = sum(w for _, w in traffic.weights)
        shares = {v: w / total for v, w in traffic.weights}
    else:
        shares = {max(active): 1.0} if active else {}
    return shares, dict(traffic.shadows)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


class StatsReporter:
    def __init__(self, history: TrafficHistory, catalogue: Catalogue) -> None:
        self.history = history
        self._catalogue = catalogue

    def model_stats(
        self,
        model: str,
        window_s: float = DEFAULT_WINDOW_S,
        *,
        by_gateway: bool = False,
        series_step_s: float = 0.0,
        now: float | None = None,
    ) -> ModelStats:
        """Per-version traffic of ``model`` over the last ``window_s`` seconds (ModelNotFound for
        an unknown model); with ``series_step_s`` > 0 also the series over the same window."""
        if window_s <= 0:
            window_s = DEFAULT_WINDOW_S
        if window_s > self.history.history_s:
            raise InvalidRequest(
                f"the registry keeps {self.history.history_s:g} s of traffic history; ask for a window up to that "
                f"(Settings.stats.history_s)"
            )
        record = self._catalogue.get_model(model)  # raises ModelNotFound
        active = sorted(v.version for v in record.versions if v.state == ACTIVE)
        shares, shadows = _configured(record.traffic, active)
        w = self.history.window(model, window_s, by_gateway=by_gateway, now=now)
        seconds = w.seconds
        routed: dict[str, float] = {}
        for (gid, _, version), vec in w.sums.items():
            if version != REFUSED_VERSION:
                routed[gid] = routed.get(gid, 0.0) + Counts(vec).requests
        rows: list[VersionWindowStats] = []
        keys = set(w.sums)
        if not by_gateway:  # every active version shows, traffic or not
            keys |= {("", model, v) for v in active}
        for gid, _, version in sorted(keys, key=lambda k: (k[2], k[0])):
            c = Counts(w.sums.get((gid, model, version), np.zeros(WIDTH)))
            rows.append(self._row(version, gid, c, seconds, routed.get(gid, 0.0), shares, shadows))
        series: tuple[VersionSeries, ...] = ()
        if series_step_s > 0:
            series = self.series(model, window_s, series_step_s, now=w.end)
        return ModelStats(
            model=model,
            window_seconds=window_s,
            covered_seconds=seconds,
            at=w.end,
            mode=record.traffic.mode,
            requests=int(sum(Counts(v).requests for v in w.sums.values())),
            versions=tuple(rows),
            series=series,
            step_seconds=series_step_s if series_step_s > 0 else 0.0,
            gateways=tuple(self.history.gateways()),
        )

    def _row(
        self,
        version: int,
        gid: str,
        c: Counts,
        seconds: float,
        routed: float,
        shares: dict[int, float],
        shadows: dict[int, float],
    ) -> VersionWindowStats:
        requests = int(c.requests)
        buckets = tuple(int(b) for b in c.buckets)
        if version == REFUSED_VERSION:
            role = REFUSED
        elif version in shadows:
            role = SHADOW
        elif shares.get(version, 0.0) > 0:
            role = SERVING
        else:
            role = IDLE
        mirrored = int(c.shadow_mirrored)
        return VersionWindowStats(
            version=version,
            gateway_id=gid,
            role=role,
            requests=requests,
            requests_per_second=_ratio(requests, seconds) if seconds > 0 else 0.0,
            rows=int(c.rows),
            errors=c.errors(),
            p50_ms=percentile_ms(buckets, 0.50),
            p90_ms=percentile_ms(buckets, 0.90),
            p99_ms=percentile_ms(buckets, 0.99),
            mean_ms=_ratio(c.latency_s * 1000.0, c.requests),
            share=math.nan if version == REFUSED_VERSION else _ratio(requests, routed),
            configured_share=shares.get(version, 0.0),
            shadow_rate=shadows.get(version, 0.0),
            shadow_mirrored=mirrored,
            shadow_dropped=int(c.shadow_dropped),
            shadow_agreement=_ratio(c.shadow_agree, mirrored),
            shadow_mean_abs_diff=_ratio(c.shadow_abs_diff, mirrored),
            latency_buckets=buckets,
        )

    def series(
        self, model: str, window_s: float, step_s: float, *, now: float | None = None
    ) -> tuple[VersionSeries, ...]:
        """Requests, errors, req/s, p50 and p99 per version in steps of ``step_s`` (rounded up to
        whole history slots) over the last ``window_s``, oldest first, summed over gateways."""
        if step_s <= 0:
            raise InvalidRequest("a series needs a step > 0 s")
        if window_s / step_s > MAX_POINTS:
            raise InvalidRequest(f"at most {MAX_POINTS} points a series: ask for a step of at least "
                                 f"{window_s / MAX_POINTS:g} s")
        self._catalogue.get_model(model)  # raises ModelNotFound
        steps = self.history.series(model, window_s, step_s, now=now)
        versions = sorted({k[2] for s in steps for k in s.sums})
        out = []
        for version in versions:
            out.append(VersionSeries(version, tuple(_point(s, model, version) for s in steps)))
        return tuple(out)


def _point(s: WindowSums, model: str, version: int) -> StatsPoint:
    vec = s.sums.get(("", model, version))
    if vec is None:
        return StatsPoint(s.start, s.seconds, 0, 0, 0.0, math.nan, math.nan)
    c = Counts(vec)
    requests = int(c.requests)
    return StatsPoint(
        start=s.start,
        seconds=s.seconds,
        requests=requests,
        errors=c.error_total,
        requests_per_second=_ratio(requests, s.seconds) if s.seconds > 0 else 0.0,
        p99_ms=percentile_ms(c.buckets, 0.99),
        p50_ms=percentile_ms(c.buckets, 0.50),
    )
