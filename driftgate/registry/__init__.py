"""The registry sidecar: driftgate's control plane.

It owns models, versions, artifacts, traffic and the audit log (Catalogue over a Database and an
ArtifactStore), remembers what gateways report (GatewayTracker, DriftMonitor), and serves it all
as the driftgate.v1 Control service (RegistryServer).
"""

from driftgate.registry.artifacts import ArtifactStore
from driftgate.registry.catalogue import Catalogue
from driftgate.registry.db import Database
from driftgate.registry.gateways import GatewayTracker
from driftgate.registry.records import (
    BatchingSettings,
    DesiredConfig,
    EventRecord,
    GatewayStatus,
    ModelRecord,
    ModelSettings,
    RegisterRequest,
    TrafficRecord,
    VersionRecord,
)
from driftgate.registry.server import RegistryServer

__all__ = [
    "ArtifactStore",
    "BatchingSettings",
    "Catalogue",
    "Database",
    "DesiredConfig",
    "EventRecord",
    "GatewayStatus",
    "GatewayTracker",
    "ModelRecord",
    "ModelSettings",
    "RegisterRequest",
    "RegistryServer",
    "TrafficRecord",
    "VersionRecord",
]
