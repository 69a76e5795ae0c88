"""driftgate.v1 messages <-> the registry core's records. Pure functions, no I/O."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import numpy as np

from driftgate.errors import InvalidRequest
from driftgate.native import ColumnDrift, WindowSnapshot
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.registry.catalogue.gateways import applied_traffic
from driftgate.registry.catalogue.records import (
    BatchingSettings,
    DesiredConfig,
    EventRecord,
    GatewayStatus,
    LoadedVersion,
    ModelRecord,
    ModelSettings,
    RegisterRequest,
    TrafficRecord,
    VersionRecord,
    VersionStatsRecord,
    utc_iso,
)
from driftgate.registry.observation.observe import VersionDriftReport
from driftgate.registry.observation.stats_report import ModelStats, VersionWindowStats
from driftgate.signature import Signature

__all__ = [
    "config_pb",
    "drift_report_pb",
    "event_pb",
    "gateway_info_pb",
    "gateway_status",
    "model_pb",
    "register_request",
    "settings_changes",
    "stats_report_pb",
    "traffic_pb",
    "version_pb",
    "window_snapshot",
]

_STATS_FIELDS = tuple(f for f in VersionStatsRecord.__dataclass_fields__)
_WINDOW_FIELDS = tuple(f for f in VersionWindowStats.__dataclass_fields__)


def signature_pb(sig: Signature) -> pb.Signature:
    return pb.Signature(
        inputs=[pb.TensorSpec(name=s.name, datatype=s.datatype, shape=list(s.shape)) for s in sig.inputs],
        outputs=[pb.TensorSpec(name=s.name, datatype=s.datatype, shape=list(s.shape)) for s in sig.outputs],
    )


def _column_pb(d: dict[str, Any]) -> pb.ColumnProfile:
    return pb.ColumnProfile(
        name=str(d["name"]),
        edges=[float(x) for x in d["edges"]],
        proportions=[float(x) for x in d["proportions"]],
        mean=float(d["mean"]),
        std=float(d["std"]),
    )


def profile_pb(v: VersionRecord) -> pb.ReferenceProfile | None:
    if v.profile is None:
        return None
    return pb.ReferenceProfile(
        features=[_column_pb(c) for c in v.profile["features"]],
        score=_column_pb(v.profile["score"]),
        score_output=v.score_output,
        score_column=v.score_column,
        rows=int(v.profile.get("rows", 0)),
    )


def settings_pb(s: ModelSettings) -> pb.ModelSettings:
    return pb.ModelSettings(
        max_batch_size=s.max_batch_size,
        psi_moderate=s.psi_moderate,
        psi_major=s.psi_major,
        min_window_rows=s.min_window_rows,
        alert_windows=s.alert_windows,
        feature_names=list(s.feature_names),
        batching=pb.BatchingSettings(
            enabled=s.batching.enabled,
            max_batch_rows=s.batching.max_batch_rows,
            max_queue_delay_us=s.batching.max_queue_delay_us,
        ),
        nonfinite_inputs=s.nonfinite_inputs,
    )


def settings_changes(s: pb.ModelSettings) -> dict[str, Any]:
    """The changes an UpdateModelSettings asks for: zero scalars keep their value; the batching
    message replaces the whole setting when present (so "off" and a zero delay can be said)."""
    changes: dict[str, Any] = {
        "max_batch_size": s.max_batch_size,
        "psi_moderate": s.psi_moderate,
        "psi_major": s.psi_major,
        "min_window_rows": s.min_window_rows,
        "alert_windows": s.alert_windows,
        "feature_names": tuple(s.feature_names),
        "nonfinite_inputs": s.nonfinite_inputs,  # "": keep
    }
    if s.HasField("batching"):
        b = s.batching
        changes["batching"] = BatchingSettings(b.enabled, b.max_batch_rows, b.max_queue_delay_us)
    return changes


def version_pb(v: VersionRecord, gateways: Iterable[GatewayStatus] = ()) -> pb.VersionInfo:
    msg = pb.VersionInfo(
        model=v.model,
        version=v.version,
        state=v.state,
        artifact_sha256=v.artifact_sha256,
        artifact_size=v.artifact_size,
        signature=signature_pb(v.signature),
        source=v.source,
        created_at=v.created_at,
        parent=v.parent,
        metrics=v.metrics,
        description=v.description,
    )
    profile = profile_pb(v)
    if profile is not None:
        msg.profile.CopyFrom(profile)
    for gw in gateways:
        state = gw.state_of(v.model, v.version)
        if state is not None:
            msg.gateways.add(
                gateway_id=gw.gateway_id, state=state.state, reason=state.reason, reported_at=gw.reported_at
            )
    return msg


def traffic_pb(tr: TrafficRecord, gateways: Iterable[GatewayStatus] = ()) -> pb.TrafficInfo:
    msg = pb.TrafficInfo(
        model=tr.model,
        mode=tr.mode,
        weights=[pb.RouteWeight(version=v, weight=w) for v, w in tr.weights],
        shadows=[pb.ShadowTarget(version=v, rate=r) for v, r in tr.shadows],
    )
    for gw in gateways:
        weights, shadows = applied_traffic(tr.model, gw)
        msg.applied.add(
            gateway_id=gw.gateway_id,
            generation=gw.applied_generation,
            weights=[pb.RouteWeight(version=v, weight=w) for v, w in weights],
            shadows=[pb.ShadowTarget(version=v, rate=r) for v, r in shadows],
        )
    return msg


def model_pb(m: ModelRecord, gateways: Iterable[GatewayStatus] = (), desired: int = -1) -> pb.ModelInfo:
    """``desired``: the registry's config generation, to name the gateways behind it (-1: none named)."""
    gateways = list(gateways)
    return pb.ModelInfo(
        name=m.name,
        versions=[version_pb(v, gateways) for v in m.versions],
        traffic=traffic_pb(m.traffic, gateways),
        settings=settings_pb(m.settings),
        lagging=lagging_pb(gateways, desired) if desired >= 0 else [],
    )


def config_pb(config: DesiredConfig) -> pb.GatewayConfig:
    msg = pb.GatewayConfig(generation=config.generation)
    for m in config.models:
        deployed = msg.models.add(
            name=m.name,
            mode=m.traffic.mode,
            weights=[pb.RouteWeight(version=v, weight=w) for v, w in m.traffic.weights],
            shadows=[pb.ShadowTarget(version=v, rate=r) for v, r in m.traffic.shadows],
            settings=settings_pb(m.settings),
        )
        for v in m.versions:
            dv = deployed.versions.add(
                version=v.version,
                artifact_sha256=v.artifact_sha256,
                artifact_size=v.artifact_size,
                signature=signature_pb(v.signature),
                reload=config.reloads.get((m.name, v.version), 0),
            )
            profile = profile_pb(v)
            if profile is not None:
                dv.profile.CopyFrom(profile)
    return msg


def event_pb(e: EventRecord) -> pb.Event:
    return pb.Event(
        id=e.id,
        at=e.at,
        model=e.model,
        version=e.version,
        kind=e.kind,
        actor=e.actor,
        message=e.message,
        details_json=json.dumps(e.details, sort_keys=True),
    )


def register_request(r: pb.RegisterVersionRequest) -> RegisterRequest:
    return RegisterRequest(
        model=r.model,
        onnx=r.onnx,
        reference=r.reference_npy or None,
        source=r.source,
        metrics=dict(r.metrics),
        description=r.description,
        parent=r.parent,
        actor=r.actor,
        feature_names=tuple(r.feature_names),
        max_batch_size=r.max_batch_size,
        score_output=r.score_output,
        score_column=r.score_column,
    )


def gateway_status(r: pb.GatewayReport) -> GatewayStatus:
    if not r.gateway_id:
        raise InvalidRequest("a gateway report needs a gateway_id")
    return GatewayStatus(
        gateway_id=r.gateway_id,
        address=r.address,
        host=r.host,
        pid=r.pid,
        started_at=r.started_at,
        applied_generation=r.applied_generation,
        versions=tuple(LoadedVersion(v.model, v.version, v.state, v.reason, v.load_seconds) for v in r.versions),
        stats=tuple(_stats_record(s) for s in r.stats),
        last_seen=0.0,
        reported_at=utc_iso(),
        routes=tuple(
            (m.model, tuple((w.version, w.weight) for w in m.weights), tuple((x.version, x.rate) for x in m.shadows))
            for m in r.routes
        ),
        # a gateway from before these fields reports what it received as applied
        received_generation=max(r.received_generation, r.applied_generation),
        config_error=r.config_error[:2000],
        refused=tuple((c.model, c.code, c.count) for c in r.refused),
    )


def _stats_record(s: pb.VersionStats) -> VersionStatsRecord:
    values: dict[str, Any] = {f: getattr(s, f) for f in _STATS_FIELDS}
    values["latency_buckets"] = tuple(s.latency_buckets)
    return VersionStatsRecord(**values)


def lagging_pb(gateways: Iterable[GatewayStatus], desired: int) -> list[pb.GatewayLag]:
    """Gateways that have not fully applied the ``desired`` generation, with their reason."""
    return [
        pb.GatewayLag(gateway_id=g.gateway_id, applied_generation=g.applied_generation, desired_generation=desired,
                      reason=g.config_error)
        for g in gateways
        if g.applied_generation < desired
    ]


def gateway_info_pb(g: GatewayStatus, desired: int = -1) -> pb.GatewayInfo:
    return pb.GatewayInfo(
        received_generation=g.received_generation,
        config_error=g.config_error,
        desired_generation=max(desired, 0),
        lagging=g.applied_generation < desired,
        gateway_id=g.gateway_id,
        address=g.address,
        host=g.host,
        pid=g.pid,
        applied_generation=g.applied_generation,
        last_report=g.reported_at,
        versions=[
            pb.LoadedVersionState(
                model=v.model, version=v.version, state=v.state, reason=v.reason, load_seconds=v.load_seconds
            )
            for v in g.versions
        ],
        stats=[pb.VersionStats(**{f: getattr(s, f) for f in _STATS_FIELDS}) for s in g.stats],
    )


def window_snapshot(w: pb.DriftWindow) -> tuple[str, int, WindowSnapshot]:
    """A reported window as the aggregator's snapshot; InvalidRequest when its arrays disagree."""
    where = f"drift window {w.window_id} of {w.model} version {w.version}"
    if w.columns <= 0 or w.bins <= 0:
        raise InvalidRequest(f"{where} has {w.columns} columns and {w.bins} bins")
    if len(w.counts) != w.columns * w.bins:
        raise InvalidRequest(f"{where} has {len(w.counts)} counts; columns x bins is {w.columns * w.bins}")
    if len(w.sums) != w.columns or len(w.sumsq) != w.columns:
        raise InvalidRequest(f"{where} needs {w.columns} sums and sumsq")
    if w.window_seconds <= 0 or w.rows < 0:
        raise InvalidRequest(f"{where} has window_seconds {w.window_seconds} and rows {w.rows}")
    snap = WindowSnapshot(
        window_id=int(w.window_id),
        window_seconds=float(w.window_seconds),
        rows=int(w.rows),
        counts=np.asarray(w.counts, dtype=np.int64).reshape(w.columns, w.bins),
        sums=np.asarray(w.sums, dtype=np.float64),
        sumsq=np.asarray(w.sumsq, dtype=np.float64),
    )
    return w.model, int(w.version), snap


def _column_drift_pb(c: ColumnDrift, alerting: frozenset[str]) -> pb.ColumnDrift:
    return pb.ColumnDrift(
        name=c.name,
        psi=float(c.psi),
        js=float(c.js),
        ks=float(c.ks),
        mean_shift=float(c.mean_shift),
        nan_rate=float(c.nan_rate),
        out_of_range_rate=float(c.out_of_range_rate),
        rows=int(c.rows),
        status=str(c.status),
        alert=c.name in alerting,
    )


def drift_report_pb(model: str, window_seconds: float, reports: Iterable[VersionDriftReport]) -> pb.DriftReport:
    msg = pb.DriftReport(model=model, window_seconds=window_seconds)
    for r in reports:
        vd = msg.versions.add(
            version=r.version, rows=r.rows, features=[_column_drift_pb(c, r.alerting) for c in r.features]
        )
        if r.score is not None:
            vd.score.CopyFrom(_column_drift_pb(r.score, r.alerting))
    return msg


def stats_report_pb(s: ModelStats) -> pb.StatsReport:
    out = pb.StatsReport(
        model=s.model, window_seconds=s.window_seconds, covered_seconds=s.covered_seconds, at=s.at, mode=s.mode,
        requests=s.requests, latency_bounds_us=s.latency_bounds_us, step_seconds=s.step_seconds,
    )
    for v in s.versions:
        out.versions.add(**{f: getattr(v, f) for f in _WINDOW_FIELDS})
    for series in s.series:
        out.series.add(version=series.version, points=[pb.StatsPoint(**asdict(p)) for p in series.points])
    return out
