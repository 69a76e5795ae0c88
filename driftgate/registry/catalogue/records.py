"""The registry core's values: plain frozen dataclasses, no protobuf, no grpc.

The gRPC adapter (driftgate.registry.api.convert) turns these into driftgate.v1 messages and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftgate.signature import Signature

__all__ = [
    "ACTIVE",
    "MAX_QUEUE_DELAY_US",
    "NONFINITE_POLICIES",
    "REJECTED",
    "RETIRED",
    "ROLLED_BACK",
    "BatchingSettings",
    "DesiredConfig",
    "EventRecord",
    "GatewayStatus",
    "LoadedVersion",
    "ModelRecord",
    "ModelSettings",
    "RegisterRequest",
    "TrafficRecord",
    "VersionRecord",
    "VersionStatsRecord",
]

ACTIVE = "active"
RETIRED = "retired"
ROLLED_BACK = "rolled_back"
REJECTED = "rejected"
VERSION_STATES = ("active", "retired", "rolled_back", "rejected")


NONFINITE_POLICIES = ("score", "reject")
"""What the gateways do with NaN or infinite input values: score them (drift counts them) or refuse
the request (INVALID_ARGUMENT naming the input, row and column)."""

# The longest queue delay the registry accepts: a scoring request that waits a second for company
# is a misconfiguration (Triton's own examples use 100 us to a few ms).
MAX_QUEUE_DELAY_US = 1_000_000


@dataclass(frozen=True, slots=True)
class BatchingSettings:
    """Adaptive batching on the gateways (Triton's dynamic batcher): off by default."""

    enabled: bool = False
    max_batch_rows: int = 0  # rows a batch may hold; 2..max_batch_size when enabled
    max_queue_delay_us: int = 0  # wait at most this long after the first queued request

    def describe(self) -> str:
        if not self.enabled:
            return "off"
        return f"max {self.max_batch_rows} rows, {self.max_queue_delay_us} us"


@dataclass(frozen=True, slots=True)
class ModelSettings:
    max_batch_size: int
    psi_moderate: float
    psi_major: float
    min_window_rows: int
    alert_windows: int
    feature_names: tuple[str, ...] = ()
    batching: BatchingSettings = field(default_factory=BatchingSettings)
    nonfinite_inputs: str = "score"  # NaN/inf in float inputs: "score" or "reject" (NONFINITE_POLICIES)


@dataclass(frozen=True, slots=True)
class VersionRecord:
    model: str
    version: int
    state: str
    artifact_sha256: str
    artifact_size: int
    signature: Signature
    profile: dict[str, Any] | None  # ReferenceProfile.to_dict(); None without reference data
    score_output: str
    score_column: int
    source: str
    created_at: str
    parent: int
    metrics: dict[str, float]
    description: str


@dataclass(frozen=True, slots=True)
class TrafficRecord:
    model: str
    mode: str  # "latest" | "weights"
    weights: tuple[tuple[int, int], ...] = ()  # (version, weight), weight > 0, by version
    shadows: tuple[tuple[int, float], ...] = ()  # (version, rate)


@dataclass(frozen=True, slots=True)
class ModelRecord:
    name: str
    settings: ModelSettings
    traffic: TrafficRecord
    versions: tuple[VersionRecord, ...]
    created_at: str


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    at: str
    model: str
    version: int
    kind: str
    actor: str
    message: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DesiredConfig:
    """What every gateway must serve: each model with its ACTIVE versions only."""

    generation: int
    models: tuple[ModelRecord, ...]
    reloads: dict[tuple[str, int], int] = field(default_factory=dict)  # (model, version) -> reloads asked for


@dataclass(slots=True)
class RegisterRequest:
    model: str
    onnx: bytes
    reference: bytes | np.ndarray | None = None  # .npy bytes or an array [rows, features]
    source: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    description: str = ""
    parent: int = 0
    actor: str = ""
    feature_names: tuple[str, ...] = ()
    max_batch_size: int = 0
    score_output: str = ""
    score_column: int = 0


# ---- what gateways report (kept in memory, never in the database) ----


@dataclass(frozen=True, slots=True)
class LoadedVersion:
    model: str
    version: int
    state: str  # LOADING, READY, FAILED, DRAINING
    reason: str = ""
    load_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class VersionStatsRecord:
    model: str
    version: int
    requests: int = 0
    failures: int = 0
    rows: int = 0
    latency_ns_sum: int = 0
    latency_buckets: tuple[int, ...] = ()
    shadow_requests: int = 0
    shadow_dropped: int = 0
    shadow_agree: int = 0
    shadow_abs_diff_sum: float = 0.0


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    gateway_id: str
    address: str
    host: str
    pid: int
    started_at: str
    applied_generation: int
    versions: tuple[LoadedVersion, ...]
    stats: tuple[VersionStatsRecord, ...]
    last_seen: float  # the tracker's clock (monotonic)
    reported_at: str  # RFC 3339, UTC
    # model -> (weights, shadows) as the gateway routes it now
    routes: tuple[tuple[str, tuple[tuple[int, int], ...], tuple[tuple[int, float], ...]], ...] = ()
    received_generation: int = 0  # the newest config the gateway received (applied_generation: fully applied)
    config_error: str = ""  # why it is behind: its last error applying a config; empty when none
    # (model, gRPC code name, count): requests refused before a version scored them, cumulative;
    # model "" for a model the gateway does not serve
    refused: tuple[tuple[str, str, int], ...] = ()

    def state_of(self, model: str, version: int) -> LoadedVersion | None:
        for v in self.versions:
            if v.model == model and v.version == version:
                return v
        return None


def signature_to_dict(sig: Signature) -> dict[str, Any]:
    return {
        kind: [{"name": s.name, "datatype": s.datatype, "shape": list(s.shape)} for s in specs]
        for kind, specs in (("inputs", sig.inputs), ("outputs", sig.outputs))
    }


def signature_from_dict(d: dict[str, Any]) -> Signature:
    from driftgate.signature import TensorSpec

    def specs(key: str) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(s["name"], s["datatype"], tuple(int(x) for x in s["shape"])) for s in d.get(key, ()))

    return Signature(specs("inputs"), specs("outputs"))


def utc_iso(ts: float | None = None) -> str:
    """RFC 3339 UTC timestamp (seconds precision with microseconds), e.g. 2024-05-01T12:00:00.123456Z."""
    import datetime as _dt

    moment = _dt.datetime.now(_dt.UTC) if ts is None else _dt.datetime.fromtimestamp(ts, _dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
