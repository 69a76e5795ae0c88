"""The driftgate.v1 Feedback service (labels in, accuracy out) and the scored rows of gateway
reports: thin adapters over driftgate.registry.observation.accuracy and driftgate.registry.observation.labels.

Each RPC converts its message, calls the core in a worker thread (it reads or writes the database),
and converts back; errors map to status codes in driftgate.grpc_edge.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np

from driftgate.auth import audit_actor
from driftgate.errors import InvalidRequest
from driftgate.grpc_edge import wrap_servicer
from driftgate.proto.v1 import control_pb2, feedback_pb2, feedback_pb2_grpc
from driftgate.registry.observation.accuracy import (
    DEFAULT_WINDOW_SECONDS,
    AccuracyMonitor,
    ModelAccuracySettings,
    VersionAccuracy,
)
from driftgate.registry.observation.labels import LabelStore, ScoredBatch

__all__ = ["FEEDBACK_SERVICE", "FeedbackService", "ScoredReports"]

FEEDBACK_SERVICE = feedback_pb2.DESCRIPTOR.services_by_name["Feedback"].full_name

_SETTING_FIELDS = ("threshold", "min_auc", "max_calibration_gap", "min_labels", "alert_windows", "eval_window_seconds")


class ScoredReports:
    """The scored rows of a GatewayReport: checked with the rest of the report, then kept."""

    def __init__(self, store: LabelStore) -> None:
        self._store = store

    def convert(self, report: control_pb2.GatewayReport) -> list[ScoredBatch]:
        """InvalidRequest for a malformed entry (before anything of the report is kept)."""
        return [convert_scored(r) for r in report.scored]

    async def ingest(
        self, gateway_id: str, batches: list[ScoredBatch], dropped: int, source: str = "", upto: int = 0
    ) -> None:
        await asyncio.to_thread(self._store.ingest, gateway_id, batches, dropped, source, upto)


def convert_scored(r: control_pb2.ScoredRecords) -> ScoredBatch:
    """One ScoredRecords entry: the packed scores and times, or the repeated fields of an older gateway."""
    if len(r.scores_f32) % 4 or len(r.at_f64) % 8:
        raise InvalidRequest(
            f"scored rows of {r.model} version {r.version}: packed scores or times are not whole float32/float64 "
            f"values ({len(r.scores_f32)} and {len(r.at_f64)} bytes)"
        )
    scores = np.frombuffer(r.scores_f32, dtype="<f4") if r.scores_f32 else r.scores
    at = np.frombuffer(r.at_f64, dtype="<f8") if r.at_f64 else r.at
    return ScoredBatch.checked(r.model, r.version, r.ids, scores, at)


def settings_pb(model: str, s: ModelAccuracySettings) -> feedback_pb2.AccuracySettings:
    return feedback_pb2.AccuracySettings(
        model=model,
        threshold=s.threshold,
        min_auc=s.min_auc,
        max_calibration_gap=s.max_calibration_gap,
        min_labels=s.min_labels,
        alert_windows=s.alert_windows,
        eval_window_seconds=s.eval_window_seconds,
    )


def version_pb(v: VersionAccuracy) -> feedback_pb2.VersionAccuracy:
    m = v.metrics
    return feedback_pb2.VersionAccuracy(
        version=v.version,
        scored=v.scored,
        labelled=m.labelled,
        positives=m.positives,
        delay_median_s=m.delay_median_s,
        delay_p90_s=m.delay_p90_s,
        auc=m.auc,
        precision=m.precision,
        recall=m.recall,
        mean_score=m.mean_score,
        observed_rate=m.observed_rate,
        calibration_gap=m.calibration_gap,
        status=v.status,
        reasons=v.reasons,
        alert=v.alert,
    )


@wrap_servicer
class FeedbackService(feedback_pb2_grpc.FeedbackServicer):
    def __init__(self, monitor: AccuracyMonitor) -> None:
        self._monitor = monitor

    async def SubmitLabels(
        self, request: feedback_pb2.SubmitLabelsRequest, context: Any
    ) -> feedback_pb2.SubmitLabelsResponse:
        result = await asyncio.to_thread(
            self._monitor.submit_labels,
            request.model,
            list(request.ids),
            list(request.labels),
            list(request.labelled_at),
            audit_actor(request.actor),
        )
        return feedback_pb2.SubmitLabelsResponse(
            received=result.received,
            joined=result.joined,
            unknown=result.unknown,
            duplicates=result.duplicates,
            expired=result.expired,
            held=result.held,
        )

    async def GetAccuracy(self, request: feedback_pb2.GetAccuracyRequest, context: Any) -> feedback_pb2.AccuracyReport:
        window = request.window_seconds
        if not (window > 0 and math.isfinite(window)):
            window = DEFAULT_WINDOW_SECONDS
        monitor = self._monitor

        def build() -> feedback_pb2.AccuracyReport:
            versions = monitor.accuracy_report(request.model, request.version, window)
            return feedback_pb2.AccuracyReport(
                model=request.model,
                window_seconds=window,
                settings=settings_pb(request.model, monitor.settings_for(request.model)),
                versions=[version_pb(v) for v in versions],
                retention_dropped=monitor.store.retention_dropped(request.model),
                gateway_dropped=monitor.store.gateway_dropped(request.model),
                held_labels=monitor.store.held(request.model),
                held_expired=monitor.store.held_expired(request.model),
            )

        return await asyncio.to_thread(build)

    async def UpdateAccuracySettings(
        self, request: feedback_pb2.UpdateAccuracySettingsRequest, context: Any
    ) -> feedback_pb2.AccuracySettings:
        changes = {name: getattr(request, name) for name in _SETTING_FIELDS if request.HasField(name)}
        new = await asyncio.to_thread(self._monitor.update_settings, request.model, changes, audit_actor(request.actor))
        return settings_pb(request.model, new)
