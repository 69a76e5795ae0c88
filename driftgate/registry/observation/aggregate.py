"""The registry's cross-gateway drift aggregator (transport-free, thread-safe, not on a hot path).

It sums the windows that driftgate.native's sketches fill on every gateway and keeps the alerts'
state machine; it compiles nothing, so it lives with the rest of what the registry observes.

Gateways report windows cumulatively: a report of (gateway, model, version, window_id) REPLACES
that gateway's earlier copy, so a re-sent report never double counts; different gateways ADD.
Windows older than ``retention_windows`` before the newest window seen (or before ``now`` when a
reader passes it) are dropped; so a gateway whose clock runs far ahead moves that cutoff for all
(keep gateway clocks in sync, as the window ids assume anyway).

Alerts, per (model, version, column), evaluated over COMPLETED windows (ids below ``now``'s):

- ON when each of the last ``rule.alert_windows`` completed windows has rows >= min_window_rows
  and psi >= psi_moderate; level "major" or "moderate" by the latest of them.
- While ON, the level follows the latest completed window with enough rows (a change of level
  is reported as a change, still active).
- OFF when the latest completed window with enough rows has psi < psi_moderate (level "ok").
  With no such window retained (traffic stopped) the alert keeps its state.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from driftgate.errors import InvalidRequest
from driftgate.native import AlertRule, ColumnDrift, ReferenceProfile, WindowSnapshot, column_drift, merge_snapshots

__all__ = ["AlertChange", "DriftAggregator"]


@dataclass(frozen=True)
class AlertChange:
    model: str
    version: int
    column: str
    active: bool
    level: str  # "moderate" or "major" when active, "ok" when cleared
    psi: float
    window_id: int


_Key = tuple[str, int]


class DriftAggregator:
    def __init__(self, window_seconds: float, retention_windows: int) -> None:
        if not (window_seconds > 0 and math.isfinite(window_seconds)):
            raise ValueError(f"window_seconds must be positive, got {window_seconds}")
        if retention_windows < 1:
            raise ValueError(f"retention_windows must be >= 1, got {retention_windows}")
        self.window_seconds = float(window_seconds)
        self.retention_windows = int(retention_windows)
        self._lock = threading.Lock()
        # (model, version) -> window_id -> gateway_id -> that gateway's latest copy
        self._windows: dict[_Key, dict[int, dict[str, WindowSnapshot]]] = {}
        self._alerts: dict[tuple[str, int, str], AlertChange] = {}
        self._newest: int | None = None

    def window_id(self, now: float) -> int:
        return math.floor(now / self.window_seconds)

    # -- writing ---------------------------------------------------------------------------------

    def ingest(self, gateway_id: str, model: str, version: int, snap: WindowSnapshot) -> None:
        """Store ``gateway_id``'s copy of one window, replacing its earlier copy of that window."""
        if not math.isclose(snap.window_seconds, self.window_seconds, rel_tol=1e-9):
            raise InvalidRequest(
                f"drift window of {snap.window_seconds} s from {gateway_id}; the registry uses {self.window_seconds} s"
            )
        with self._lock:
            key = (model, int(version))
            windows = self._windows.get(key)
            if windows:
                shape = next(iter(next(iter(windows.values())).values())).counts.shape
                if snap.counts.shape != shape:
                    raise InvalidRequest(
                        f"drift window of {model} v{version} from {gateway_id} has shape {snap.counts.shape}, "
                        f"earlier windows have {shape}"
                    )
            self._advance(snap.window_id)
            if snap.window_id < self._cutoff():
                return
            self._windows.setdefault(key, {}).setdefault(snap.window_id, {})[gateway_id] = snap.copy()

    def drop(self, model: str, version: int | None = None) -> None:
        """Forget a model's (or one version's) windows and alert states."""
        with self._lock:
            for key in [k for k in self._windows if k[0] == model and (version is None or k[1] == version)]:
                del self._windows[key]
            for akey in [k for k in self._alerts if k[0] == model and (version is None or k[1] == version)]:
                del self._alerts[akey]

    def _advance(self, window_id: int) -> None:
        if self._newest is not None and window_id <= self._newest:
            return
        self._newest = window_id
        cutoff = self._cutoff()
        for key in list(self._windows):
            windows = self._windows[key]
            for wid in [w for w in windows if w < cutoff]:
                del windows[wid]
            if not windows:
                del self._windows[key]

    def _cutoff(self) -> int:
        assert self._newest is not None
        return self._newest - self.retention_windows + 1

    # -- reading ---------------------------------------------------------------------------------

    def _summed(self, key: _Key, since: int, until: int | None = None) -> WindowSnapshot | None:
        windows = self._windows.get(key, {})
        return merge_snapshots(
            snap
            for wid, copies in windows.items()
            if wid >= since and (until is None or wid <= until)
            for snap in copies.values()
        )

    def summed(self, model: str, version: int, since_window_id: int) -> WindowSnapshot | None:
        """Every gateway's windows with id >= ``since_window_id``, summed; None without data."""
        with self._lock:
            return self._summed((model, int(version)), since_window_id)

    def report(
        self,
        model: str,
        version: int,
        profile: ReferenceProfile,
        now: float,
        lookback_seconds: float,
        rule: AlertRule,
    ) -> list[ColumnDrift]:
        """Drift over the last ``lookback_seconds`` (whole windows, the current one included)."""
        current = self.window_id(now)
        span = max(1, math.ceil(lookback_seconds / self.window_seconds - 1e-9))
        with self._lock:
            self._advance(current)
            snap = self._summed((model, int(version)), current - span + 1)
        return [] if snap is None else column_drift(profile, snap, rule)

    def per_window(self, model: str, version: int) -> list[tuple[int, WindowSnapshot]]:
        """Every retained window of (model, version), oldest first, each summed over the gateways."""
        key = (model, int(version))
        with self._lock:
            out = []
            for wid in sorted(self._windows.get(key, {})):
                snap = self._summed(key, wid, wid)
                if snap is not None:
                    out.append((wid, snap))
            return out

    def versions(self, model: str) -> list[int]:
        """Versions of ``model`` with retained data."""
        with self._lock:
            return sorted(v for (m, v), windows in self._windows.items() if m == model and windows)

    def active_alerts(self, model: str) -> list[AlertChange]:
        """The alerts of ``model`` that are ON now."""
        with self._lock:
            return [a for (m, _, _), a in self._alerts.items() if m == model]

    def evaluate_alerts(
        self, model: str, version: int, profile: ReferenceProfile, now: float, rule: AlertRule
    ) -> list[AlertChange]:
        """Update the alert state of every column of (model, version); return only the changes."""
        key = (model, int(version))
        current = self.window_id(now)
        with self._lock:
            self._advance(current)
            windows = self._windows.get(key, {})
            completed = sorted((w for w in windows if w < current), reverse=True)
            drift: dict[int, list[ColumnDrift]] = {}

            def window_drift(wid: int) -> list[ColumnDrift] | None:
                if wid not in drift:
                    snap = self._summed(key, wid, wid)
                    if snap is None:
                        return None
                    drift[wid] = column_drift(profile, snap, rule)
                return drift[wid]

            # the last `alert_windows` completed windows, consecutive ids (a missing one has 0 rows)
            recent = [window_drift(current - 1 - i) for i in range(max(1, rule.alert_windows))]
            latest_full: tuple[int, list[ColumnDrift]] | None = None
            for wid in completed:
                d = window_drift(wid)
                if d is not None and d[0].rows >= rule.min_window_rows and d[0].rows > 0:
                    latest_full = (wid, d)
                    break

            changes: list[AlertChange] = []
            for c, name in enumerate(profile.names):
                akey = (model, int(version), name)
                active = self._alerts.get(akey)
                if active is None:
                    if all(d is not None and d[c].status in ("moderate", "major") for d in recent):
                        first = recent[0]
                        assert first is not None
                        change = AlertChange(
                            model, int(version), name, True, first[c].status, first[c].psi, current - 1
                        )
                        self._alerts[akey] = change
                        changes.append(change)
                elif latest_full is not None:
                    wid, d = latest_full
                    status = d[c].status
                    if status == "ok":
                        del self._alerts[akey]
                        changes.append(AlertChange(model, int(version), name, False, "ok", d[c].psi, wid))
                    elif status != active.level:
                        change = AlertChange(model, int(version), name, True, status, d[c].psi, wid)
                        self._alerts[akey] = change
                        changes.append(change)
            return changes
