"""The state the registry wants this gateway in, as plain records, and the last one kept on disk.

The reconciler (driftgate.gateway.reconcile) works on these records, never on the registry's
messages: the link (driftgate.gateway.sync) converts each GatewayConfig it receives with
:func:`desired_from_proto`, and a test can build them by hand. :class:`LastConfig` keeps the last
config received as its message's bytes (``<home>/gateway/last_config.pb``) so that a restarted
gateway serves it at once, without the registry.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftgate.atomic_write import write_atomic
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.signature import Signature, TensorSpec

__all__ = [
    "Batching",
    "DesiredConfig",
    "DesiredModel",
    "DesiredVersion",
    "LastConfig",
    "desired_from_proto",
    "signature_from_proto",
]

log = logging.getLogger("driftgate.gateway.desired")

_NO_SIGNATURE = Signature((), ())


@dataclass(frozen=True, slots=True)
class DesiredVersion:
    """One version the gateway must hold loaded."""

    version: int
    sha256: str  # of the ONNX artifact
    signature: Signature = _NO_SIGNATURE  # as registered; empty: not checked
    # the reference profile as ReferenceProfile.to_dict gives it (None: none), and where the score
    # is read ("": the first floating output)
    profile: Mapping[str, Any] | None = None
    score_output: str = ""
    score_column: int = 0
    reload: int = 0  # reloads an operator asked for: a change retries a FAILED version


@dataclass(frozen=True, slots=True)
class Batching:
    """Adaptive batching of a model's versions (driftgate.gateway.batcher)."""

    max_rows: int
    max_delay_us: int


@dataclass(frozen=True, slots=True)
class DesiredModel:
    name: str
    versions: tuple[DesiredVersion, ...]
    mode: str = "latest"  # "latest" or "weights"
    weights: Mapping[int, int] = field(default_factory=dict)  # version -> weight (mode "weights")
    shadows: Mapping[int, float] = field(default_factory=dict)  # version -> rate
    max_batch_size: int = 0  # 0: the gateway's setting
    batching: Batching | None = None  # None: off
    reject_nonfinite: bool = False  # refuse NaN/inf in float inputs


@dataclass(frozen=True, slots=True)
class DesiredConfig:
    generation: int
    models: tuple[DesiredModel, ...] = ()


def signature_from_proto(sig: pb.Signature) -> Signature:
    return Signature(
        tuple(TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in sig.inputs),
        tuple(TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in sig.outputs),
    )


def _column(c: pb.ColumnProfile) -> dict[str, object]:
    return {"name": c.name, "edges": list(c.edges), "proportions": list(c.proportions), "mean": c.mean, "std": c.std}


def _profile(profile: pb.ReferenceProfile) -> dict[str, Any] | None:
    if not profile.features or not profile.score.edges:
        return None
    return {"features": [_column(c) for c in profile.features], "score": _column(profile.score), "rows": profile.rows}


def _version(dv: pb.DeployedVersion) -> DesiredVersion:
    return DesiredVersion(
        version=dv.version,
        sha256=dv.artifact_sha256,
        signature=signature_from_proto(dv.signature),
        profile=_profile(dv.profile),
        score_output=dv.profile.score_output,
        score_column=dv.profile.score_column,
        reload=dv.reload,
    )


def _model(dm: pb.DeployedModel) -> DesiredModel:
    b = dm.settings.batching
    return DesiredModel(
        name=dm.name,
        versions=tuple(_version(dv) for dv in dm.versions),
        mode=dm.mode,
        weights={w.version: w.weight for w in dm.weights},
        shadows={s.version: s.rate for s in dm.shadows},
        max_batch_size=dm.settings.max_batch_size,
        batching=Batching(b.max_batch_rows, b.max_queue_delay_us) if b.enabled else None,
        reject_nonfinite=dm.settings.nonfinite_inputs == "reject",
    )


def desired_from_proto(config: pb.GatewayConfig) -> DesiredConfig:
    """The registry's GatewayConfig as records."""
    return DesiredConfig(config.generation, tuple(_model(dm) for dm in config.models))


class LastConfig:
    """The last GatewayConfig received, kept on disk for a start without the registry."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def of_home(cls, home: Path) -> LastConfig:
        return cls(home / "gateway" / "last_config.pb")

    def load(self) -> pb.GatewayConfig | None:
        """The saved config; None when there is none, or it cannot be read (logged)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        config = pb.GatewayConfig()
        try:
            config.ParseFromString(data)
        except Exception:
            log.warning("ignoring unreadable saved config %s", self.path)
            return None
        return config

    def save(self, config: pb.GatewayConfig) -> None:
        """Replace the saved config atomically (blocking: call it in a thread)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, config.SerializeToString())
