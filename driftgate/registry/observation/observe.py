"""Drift as the registry sees it: every gateway's windows summed, alerts, reports.

Gateways report their drift windows cumulatively; the aggregator keeps one copy per gateway per
window (a later report of the same window replaces it) and adds the copies of different gateways.
After each ingest the touched versions' alerts are evaluated, and every alert that fires or clears
becomes an audit event ("drift_alert" / "drift_alert_cleared").

Transport-free and synchronous; the aggregator is guarded by one lock because reports and drift
queries arrive on worker threads.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from driftgate.errors import Conflict, InvalidRequest, NotFound
from driftgate.native import AlertRule, ColumnDrift, ReferenceProfile, WindowSnapshot, column_drift
from driftgate.registry.catalogue.catalogue import Catalogue
from driftgate.registry.observation.aggregate import AlertChange, DriftAggregator

__all__ = ["DEFAULT_LOOKBACK_SECONDS", "DriftMonitor", "VersionDriftReport"]

log = logging.getLogger("driftgate.registry.drift")

DEFAULT_LOOKBACK_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class VersionDriftReport:
    version: int
    rows: int
    features: tuple[ColumnDrift, ...]
    score: ColumnDrift | None
    alerting: frozenset[str]  # columns with an active alert


class DriftMonitor:
    def __init__(
        self,
        catalogue: Catalogue,
        aggregator: DriftAggregator,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._catalogue = catalogue
        self._aggregator = aggregator
        self._clock = clock
        self._lock = threading.Lock()
        # whether alert changes become audit events: with several registry replicas, the leader's only
        # (every replica sees the reports: a follower passes its reports on to the leader)
        self.record_alerts = True
        # (profile, (columns, bins)) per version; cached: a version's profile never changes.
        self._profiles: dict[tuple[str, int], tuple[ReferenceProfile, tuple[int, int]]] = {}

    def profile(self, model: str, version: int) -> ReferenceProfile | None:
        """The version's reference profile; None when it was registered without reference data."""
        entry = self._entry(model, version)
        return None if entry is None else entry[0]

    def _entry(self, model: str, version: int) -> tuple[ReferenceProfile, tuple[int, int]] | None:
        key = (model, version)
        cached = self._profiles.get(key)
        if cached is not None:
            return cached
        record = self._catalogue.get_version(model, version)
        if record.profile is None:
            return None
        d = record.profile
        shape = (len(d["features"]) + 1, len(d["score"]["edges"]) + 2)  # features + score, B+3 bins
        entry = (ReferenceProfile.from_dict(d), shape)
        self._profiles[key] = entry
        return entry

    def rule(self, model: str) -> AlertRule:
        s = self._catalogue.model_settings(model)
        return AlertRule(
            psi_moderate=s.psi_moderate,
            psi_major=s.psi_major,
            min_window_rows=s.min_window_rows,
            alert_windows=s.alert_windows,
        )

    def check(self, windows: Iterable[tuple[str, int, WindowSnapshot]]) -> None:
        """InvalidRequest unless every window has the registry's window length (checked before any is kept)."""
        expected = self._aggregator.window_seconds
        for model, version, snap in windows:
            if not math.isclose(snap.window_seconds, expected, rel_tol=1e-9):
                raise InvalidRequest(
                    f"drift window of {model} version {version} is {snap.window_seconds:g} s long; this registry "
                    f"sums {expected:g} s windows (Settings.drift.window_seconds must match)"
                )

    def ingest(self, gateway_id: str, windows: Iterable[tuple[str, int, WindowSnapshot]]) -> list[AlertChange]:
        """Add one gateway's windows; evaluate the touched versions' alerts and record changes."""
        touched: dict[tuple[str, int], ReferenceProfile] = {}
        with self._lock:
            for model, version, snap in windows:
                try:
                    entry = self._entry(model, version)
                except NotFound:  # the gateway knows a model or version this registry does not
                    log.debug("drift for unknown %s v%s from %s skipped", model, version, gateway_id)
                    continue
                if entry is None:
                    continue
                profile, shape = entry
                if tuple(snap.counts.shape) != shape:
                    log.warning(
                        "drift window of %s v%s from %s has shape %s; the profile needs %s; skipped",
                        model,
                        version,
                        gateway_id,
                        tuple(snap.counts.shape),
                        shape,
                    )
                    continue
                self._aggregator.ingest(gateway_id, model, version, snap)
                touched[(model, version)] = profile
            changes: list[AlertChange] = []
            now = self._clock()
            for (model, version), profile in sorted(touched.items(), key=lambda kv: kv[0]):
                changes.extend(self._aggregator.evaluate_alerts(model, version, profile, now, self.rule(model)))
        for change in changes if self.record_alerts else ():
            self._record(change)
        return changes

    def report(self, model: str, version: int, lookback_seconds: float) -> list[VersionDriftReport]:
        """Drift over the last ``lookback_seconds`` for one version, or every version with data (0)."""
        lookback = lookback_seconds if lookback_seconds > 0 else DEFAULT_LOOKBACK_SECONDS
        rule = self.rule(model)  # raises ModelNotFound
        with self._lock:
            if version:
                record = self._catalogue.get_version(model, version)  # raises VersionNotFound
                if record.profile is None:
                    raise Conflict(
                        f"{model} version {version} has no reference profile; register it with reference data"
                    )
                numbers = [version]
            else:
                numbers = sorted(self._aggregator.versions(model))
            alerts = self._aggregator.active_alerts(model)
            now = self._clock()
            out = []
            for number in numbers:
                profile = self.profile(model, number)
                if profile is None:
                    continue
                columns = list(self._aggregator.report(model, number, profile, now, lookback, rule))
                alerting = frozenset(a.column for a in alerts if a.version == number and a.active)
                score = columns[-1] if columns else None
                out.append(
                    VersionDriftReport(
                        version=number,
                        rows=int(score.rows) if score is not None else 0,
                        features=tuple(columns[:-1]),
                        score=score,
                        alerting=alerting,
                    )
                )
        return out

    def timeline(self, model: str, version: int) -> list[tuple[float, list[ColumnDrift]]]:
        """Drift of every column in each retained window of one version, oldest first, as (window start in
        unix seconds, features then score); empty without a reference profile or data."""
        rule = self.rule(model)
        profile = self.profile(model, version)
        if profile is None:
            return []
        seconds = self._aggregator.window_seconds
        return [
            (wid * seconds, column_drift(profile, snap, rule))
            for wid, snap in self._aggregator.per_window(model, version)
        ]

    def _record(self, change: AlertChange) -> None:
        if change.active:
            kind = "drift_alert"
            message = (
                f"{change.model} version {change.version}: {change.column} drift is {change.level} "
                f"(PSI {change.psi:.3f})"
            )
        else:
            kind = "drift_alert_cleared"
            message = f"{change.model} version {change.version}: {change.column} drift alert cleared"
        details: dict[str, Any] = {
            "column": change.column,
            "level": change.level,
            "psi": float(change.psi),
            "window_id": int(change.window_id),
        }
        self._catalogue.record_event(kind, change.model, change.version, "driftgate", message, details)
