"""The driftgate.v1 Control service: a thin adapter over the registry core.

Each RPC converts its message, calls the core (in a worker thread when it validates models, reads
or writes the database, or evaluates drift, so the event loop never blocks for long), and converts
the result back. Errors are mapped to status codes by driftgate.grpc_edge.wrap_servicer, in one
place; no method catches and aborts itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from driftgate.auth import audit_actor
from driftgate.errors import Conflict, InvalidRequest
from driftgate.grpc_edge import wrap_servicer
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.proto.v1 import control_pb2_grpc
from driftgate.registry.access.tokens import TokenStore
from driftgate.registry.api import convert
from driftgate.registry.api.feedback_api import ScoredReports
from driftgate.registry.api.tokens_api import TokenRpcs
from driftgate.registry.api.watch import ConfigHub
from driftgate.registry.catalogue.catalogue import Catalogue
from driftgate.registry.catalogue.gateways import GatewayTracker
from driftgate.registry.observation.observe import DEFAULT_LOOKBACK_SECONDS, DriftMonitor
from driftgate.registry.observation.stats_report import StatsReporter

__all__ = ["ARTIFACT_CHUNK_BYTES", "ControlService"]

ARTIFACT_CHUNK_BYTES = 1024 * 1024


@wrap_servicer
class ControlService(TokenRpcs, control_pb2_grpc.ControlServicer):
    def __init__(
        self,
        catalogue: Catalogue,
        gateways: GatewayTracker,
        drift: DriftMonitor,
        hub: ConfigHub,
        scored: ScoredReports | None = None,
        stats: StatsReporter | None = None,
        forward: Callable[[pb.GatewayReport, Any], None] | None = None,
        tokens: TokenStore | None = None,
    ) -> None:
        self._tokens = tokens  # CreateToken, ListTokens, RevokeToken (registry/api/tokens_api.py)
        self._stats = stats  # per-version traffic windows (driftgate stats); None: not kept
        self._catalogue = catalogue
        self._forward = forward  # a follower replica passes reports on to the leader (registry/replicas/forward.py)
        self._scored = scored  # scored rows of reports, for the join with labels
        self._gateways = gateways
        self._drift = drift
        self._hub = hub

    # ---- catalogue ----

    async def RegisterVersion(self, request: pb.RegisterVersionRequest, context: Any) -> pb.VersionInfo:
        req = convert.register_request(request)
        req.actor = audit_actor(req.actor)
        record = await asyncio.to_thread(self._catalogue.register_version, req)
        return convert.version_pb(record, self._gateways.live())

    async def ListModels(self, request: pb.ListModelsRequest, context: Any) -> pb.ListModelsResponse:
        models = await asyncio.to_thread(self._catalogue.list_models)
        live = self._gateways.live()
        return pb.ListModelsResponse(models=[convert.model_pb(m, live, self._hub.generation) for m in models])

    async def GetModel(self, request: pb.GetModelRequest, context: Any) -> pb.ModelInfo:
        model = await asyncio.to_thread(self._catalogue.get_model, request.name)
        return convert.model_pb(model, self._gateways.live(), self._hub.generation)

    async def RetireVersion(self, request: pb.RetireVersionRequest, context: Any) -> pb.VersionInfo:
        record = await asyncio.to_thread(
            self._catalogue.retire_version, request.model, request.version, audit_actor(request.actor), request.reason
        )
        return convert.version_pb(record, self._gateways.live())

    async def UpdateModelSettings(self, request: pb.UpdateModelSettingsRequest, context: Any) -> pb.ModelInfo:
        model = await asyncio.to_thread(
            self._catalogue.update_settings, request.model, convert.settings_changes(request.settings),
            audit_actor(request.actor),
        )
        return convert.model_pb(model, self._gateways.live())

    # ---- traffic ----

    async def SetTraffic(self, request: pb.SetTrafficRequest, context: Any) -> pb.TrafficInfo:
        weights: dict[int, int] = {}
        for rw in request.weights:
            if rw.version in weights:
                raise InvalidRequest(f"version {rw.version} is listed twice")
            weights[rw.version] = rw.weight
        await asyncio.to_thread(
            self._catalogue.set_traffic,
            request.model,
            weights,
            latest=request.latest,
            actor=audit_actor(request.actor),
            reason=request.reason,
        )
        return await self._traffic(request.model)

    async def SetShadow(self, request: pb.SetShadowRequest, context: Any) -> pb.TrafficInfo:
        await asyncio.to_thread(
            self._catalogue.set_shadow,
            request.model,
            request.version,
            request.rate,
            actor=audit_actor(request.actor),
            reason=request.reason,
        )
        return await self._traffic(request.model)

    async def GetTraffic(self, request: pb.GetTrafficRequest, context: Any) -> pb.TrafficInfo:
        return await self._traffic(request.model)

    async def _traffic(self, name: str) -> pb.TrafficInfo:
        model = await asyncio.to_thread(self._catalogue.get_model, name)
        return convert.traffic_pb(model.traffic, self._gateways.live())

    # ---- gateways ----

    async def WatchConfig(self, request: pb.WatchConfigRequest, context: Any) -> AsyncIterator[pb.GatewayConfig]:
        async for config in self._hub.watch():
            yield config

    async def ReportStatus(self, request: pb.GatewayReport, context: Any) -> pb.ReportAck:
        status = convert.gateway_status(request)
        windows = [convert.window_snapshot(w) for w in request.drift]
        self._drift.check(windows)  # every window is checked before anything of the report is kept
        scored = self._scored.convert(request) if self._scored is not None else []
        self._gateways.record(status)
        if self._stats is not None:
            self._stats.history.record(status)
        if windows:
            await asyncio.to_thread(self._drift.ingest, status.gateway_id, windows)
        if self._scored is not None and (scored or request.scored_dropped):
            await self._scored.ingest(
                status.gateway_id, scored, request.scored_dropped, request.scored_source, request.scored_upto
            )
        if self._forward is not None:
            self._forward(request, context.invocation_metadata())
        return pb.ReportAck(generation=self._hub.generation)

    async def FetchArtifact(self, request: pb.FetchArtifactRequest, context: Any) -> AsyncIterator[pb.ArtifactChunk]:
        data = await asyncio.to_thread(self._catalogue.artifacts.get, request.sha256)  # verified before sending
        view = memoryview(data)
        for start in range(0, max(len(data), 1), ARTIFACT_CHUNK_BYTES):
            yield pb.ArtifactChunk(data=bytes(view[start : start + ARTIFACT_CHUNK_BYTES]), total_size=len(data))

    async def ListGateways(self, request: pb.ListGatewaysRequest, context: Any) -> pb.ListGatewaysResponse:
        desired = self._hub.generation
        return pb.ListGatewaysResponse(gateways=[convert.gateway_info_pb(g, desired) for g in self._gateways.all()])

    # ---- observation and audit ----

    async def GetDrift(self, request: pb.GetDriftRequest, context: Any) -> pb.DriftReport:
        window = request.window_seconds if request.window_seconds > 0 else DEFAULT_LOOKBACK_SECONDS
        reports = await asyncio.to_thread(self._drift.report, request.model, request.version, window)
        return convert.drift_report_pb(request.model, window, reports)

    async def ListEvents(self, request: pb.ListEventsRequest, context: Any) -> pb.ListEventsResponse:
        events = await asyncio.to_thread(self._catalogue.list_events, request.model, request.limit)
        return pb.ListEventsResponse(events=[convert.event_pb(e) for e in events])

    # ---- operator actions on the gateways ----

    async def ReloadVersion(self, request: pb.ReloadVersionRequest, context: Any) -> pb.VersionInfo:
        record = await asyncio.to_thread(
            self._catalogue.reload_version, request.model, request.version, audit_actor(request.actor), request.reason
        )
        return convert.version_pb(record, self._gateways.live())

    # ---- traffic statistics ----

    async def GetStats(self, request: pb.GetStatsRequest, context: Any) -> pb.StatsReport:
        if self._stats is None:
            raise Conflict("this registry keeps no traffic statistics")
        stats = await asyncio.to_thread(
            self._stats.model_stats,
            request.model,
            request.window_seconds,
            by_gateway=request.by_gateway,
            series_step_s=request.series_step_seconds,
        )
        return convert.stats_report_pb(stats)
