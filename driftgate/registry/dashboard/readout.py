"""What the dashboard's pages show, read from the registry's core objects (transport-free, synchronous).

Every function here reads through the same objects the gRPC API uses (Catalogue, GatewayTracker,
DriftMonitor, AccuracyMonitor, RolloutStore) and returns plain dicts and lists for the templates and the
charts' JSON. They touch the database, so the web app calls them in a worker thread
(``asyncio.to_thread``), as the gRPC API does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from driftgate.errors import DriftgateError
from driftgate.registry.catalogue.catalogue import Catalogue
from driftgate.registry.catalogue.gateways import GatewayTracker, applied_traffic
from driftgate.registry.catalogue.records import ACTIVE, EventRecord, ModelRecord, TrafficRecord
from driftgate.registry.loop.rollout import RolloutManager
from driftgate.registry.loop.rollout_db import RolloutRecord, RolloutStore
from driftgate.registry.observation.accuracy import AccuracyMonitor, roc_auc
from driftgate.registry.observation.aggregate import DriftAggregator
from driftgate.registry.observation.observe import DriftMonitor
from driftgate.settings import RolloutSettings

__all__ = ["Readout", "RegistryParts", "gate_readings"]

HEATMAP_WINDOWS = 30  # drift windows shown in the heatmap (newest)
SCORE_LOOKBACK_S = 300.0  # the live score distribution: the last five minutes
ACCURACY_LOOKBACK_S = 7 * 86_400.0
ACCURACY_BUCKETS = 24
CALIBRATION_BINS = 10
EVENT_LIMIT = 500



STATS_WINDOW_S = 60.0  # the overview's and model page's live numbers
SERIES_WINDOW_S = 600.0  # the charts: ten minutes in 10 s steps
SERIES_STEP_S = 10.0


class TrafficStats(Protocol):
    """The registry's per-version traffic statistics, as the dashboard reads them."""

    def model_stats(self, model: str, window_s: float = ..., *, by_gateway: bool = ...,
                    series_step_s: float = ..., now: float | None = ...) -> Any: ...


@dataclass(frozen=True, slots=True)
class RegistryParts:
    """The registry's core objects the dashboard reads and acts through (built by the composition root)."""

    catalogue: Catalogue
    gateways: GatewayTracker
    drift: DriftMonitor
    aggregator: DriftAggregator
    accuracy: AccuracyMonitor
    rollouts: RolloutStore
    rollout_manager: RolloutManager
    rollout_settings: RolloutSettings
    # per-version traffic from the gateways' counts (driftgate.registry.observation.stats_report.StatsReporter), where
    # the registry keeps them: req/s, errors, latency percentiles, actual shares, shadow agreement
    stats: TrafficStats | None = None


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def configured_shares(traffic: TrafficRecord, active: list[int]) -> dict[int, float]:
    """The operator's split as shares (0..1) per version: weights, or the newest ACTIVE one in latest mode."""
    if traffic.mode == "weights" and traffic.weights:
        total = sum(w for _, w in traffic.weights)
        return {v: w / total for v, w in traffic.weights} if total else {}
    return {max(active): 1.0} if active else {}


class Readout:
    def __init__(self, parts: RegistryParts, clock: Callable[[], float] = time.time) -> None:
        self.parts = parts
        self._clock = clock

    # ---- overview ----

    def overview(self) -> dict[str, Any]:
        p = self.parts
        generation = p.catalogue.generation()
        models = [self._model_summary(m) for m in p.catalogue.list_models()]
        return {"generation": generation, "models": models, "gateways": self._gateways(generation)}

    def _gateways(self, generation: int) -> list[dict[str, Any]]:
        out = []
        now = time.monotonic()
        for gw in self.parts.gateways.all():
            live = self.parts.gateways.is_live(gw)
            behind = generation - gw.applied_generation
            out.append({
                "id": gw.gateway_id, "address": gw.address, "host": gw.host, "pid": gw.pid,
                "applied": gw.applied_generation, "behind": behind, "live": live,
                "age_s": max(0.0, now - gw.last_seen), "reported_at": gw.reported_at,
                "versions": [f"{v.model} v{v.version} {v.state}" for v in gw.versions],
            })
        return out

    def _model_summary(self, model: ModelRecord) -> dict[str, Any]:
        live = self.parts.gateways.live()
        active = [v.version for v in model.versions if v.state == ACTIVE]
        shares = configured_shares(model.traffic, active)
        latest = self.parts.rollouts.latest_rollout(model.name)
        live_stats = self._live_stats(model.name)
        versions = []
        for v in sorted(model.versions, key=lambda v: v.version, reverse=True):
            counts = {"READY": 0, "LOADING": 0, "FAILED": 0, "DRAINING": 0}
            for gw in live:
                state = gw.state_of(model.name, v.version)
                if state is not None:
                    counts[state.state] = counts.get(state.state, 0) + 1
            requests = failures = 0
            for gw in self.parts.gateways.all():
                for s in gw.stats:
                    if s.model == model.name and s.version == v.version:
                        requests += s.requests
                        failures += s.failures
            versions.append({
                "version": v.version, "state": v.state, "created_at": v.created_at, "source": v.source,
                "description": v.description, "parent": v.parent,
                "auc": _finite(v.metrics.get("auc")) if v.metrics else None,
                "share": shares.get(v.version, 0.0), "weight": dict(model.traffic.weights).get(v.version, 0),
                "gateways": counts, "requests": requests, "failures": failures,
                **live_stats.get(v.version, {}),
            })
        routed: list[str] = []
        for gw in live:
            weights, _ = applied_traffic(model.name, gw)
            routed.append(gw.gateway_id + ": " + (", ".join(f"v{v}={w}" for v, w in weights) or "nothing READY"))
        refused = live_stats.get(0, {})
        return {
            "refused": refused, "has_stats": bool(live_stats),
            "name": model.name, "mode": model.traffic.mode, "weights": list(model.traffic.weights),
            "shadows": list(model.traffic.shadows), "versions": versions, "active": active,
            "routed": routed, "rollout": _rollout_summary(latest) if latest is not None else None,
        }

    def _live_stats(self, model: str) -> dict[int, dict[str, Any]]:
        """version -> req/s, p50/p99 ms, errors, actual share, shadow numbers over the last minute."""
        if self.parts.stats is None:
            return {}
        try:
            report = self.parts.stats.model_stats(model, STATS_WINDOW_S)
        except DriftgateError:
            return {}
        out: dict[int, dict[str, Any]] = {}
        for row in report.versions:
            out[int(row.version)] = {
                "rps": _finite(row.requests_per_second), "p50_ms": _finite(row.p50_ms),
                "p99_ms": _finite(row.p99_ms), "errors": int(sum(row.errors.values())),
                "error_codes": dict(row.errors), "window_requests": int(row.requests),
                "actual_share": _finite(row.share), "role": row.role,
                "shadow_mirrored": int(row.shadow_mirrored), "shadow_dropped": int(row.shadow_dropped),
                "shadow_agreement": _finite(row.shadow_agreement),
                "shadow_mean_abs_diff": _finite(row.shadow_mean_abs_diff),
            }
        return out

    # ---- one model ----

    def model(self, name: str) -> dict[str, Any]:
        p = self.parts
        model = p.catalogue.get_model(name)  # ModelNotFound
        summary = self._model_summary(model)
        champion = p.rollouts.champion(name)
        summary["champion"] = champion
        summary["drift"] = [self._drift(name, v["version"]) for v in summary["versions"] if v["state"] == ACTIVE]
        summary["accuracy"] = self._accuracy_table(name)
        summary["rollouts"] = [_rollout_summary(r) for r in p.rollouts.rollouts(name, 5)]
        return summary

    def _drift(self, model: str, version: int) -> dict[str, Any]:
        timeline = self.parts.drift.timeline(model, version)[-HEATMAP_WINDOWS:]
        columns: list[str] = [c.name for c in timeline[0][1]] if timeline else []
        alerting: frozenset[str] = frozenset()
        try:
            reports = self.parts.drift.report(model, version, SCORE_LOOKBACK_S)
            if reports:
                alerting = reports[0].alerting
        except DriftgateError:  # no reference profile
            pass
        rows = []
        for c, column in enumerate(columns):
            cells = [{"psi": d[c].psi, "status": d[c].status, "rows": d[c].rows} for _, d in timeline]
            rows.append({"name": column, "cells": cells, "alert": column in alerting})
        return {
            "version": version,
            "windows": [time.strftime("%H:%M:%S", time.gmtime(t)) for t, _ in timeline],
            "rows": rows,
            "alerting": sorted(alerting),
        }

    def _accuracy_table(self, model: str) -> list[dict[str, Any]]:
        out = []
        for row in self.parts.accuracy.accuracy_report(model, 0, ACCURACY_LOOKBACK_S):
            m = row.metrics
            out.append({
                "version": row.version, "scored": row.scored, "labelled": m.labelled, "positives": m.positives,
                "auc": _finite(m.auc), "precision": _finite(m.precision), "recall": _finite(m.recall),
                "mean_score": _finite(m.mean_score), "observed_rate": _finite(m.observed_rate),
                "status": row.status, "reasons": list(row.reasons), "alert": row.alert,
            })
        return out

    def charts(self, name: str) -> dict[str, Any]:
        """The model page's chart data: score distribution against the reference, accuracy over time and
        calibration, per ACTIVE version."""
        model = self.parts.catalogue.get_model(name)
        active = [v.version for v in model.versions if v.state == ACTIVE]
        return {
            "scores": [self._score_distribution(name, v) for v in active],
            "accuracy": self._accuracy_series(name),
            "traffic": self._traffic_series(name),
        }

    def _traffic_series(self, model: str) -> dict[str, Any]:
        """req/s, p50 and p99 per version over the last ten minutes (empty without the stats module)."""
        out: dict[str, Any] = {"versions": [], "times": [], "rps": {}, "p50_ms": {}, "p99_ms": {}}
        if self.parts.stats is None:
            return out
        try:
            report = self.parts.stats.model_stats(model, SERIES_WINDOW_S, series_step_s=SERIES_STEP_S)
        except DriftgateError:
            return out
        for series in report.series:
            if not series.points:
                continue
            if not out["times"]:
                out["times"] = [p.start + p.seconds for p in series.points]
            key = str(series.version)
            out["versions"].append(int(series.version))
            out["rps"][key] = [_finite(p.requests_per_second) for p in series.points]
            out["p50_ms"][key] = [_finite(p.p50_ms) for p in series.points]
            out["p99_ms"][key] = [_finite(p.p99_ms) for p in series.points]
        return out

    def _score_distribution(self, model: str, version: int) -> dict[str, Any]:
        record = self.parts.catalogue.get_version(model, version)
        if record.profile is None:
            return {"version": version, "edges": [], "reference": [], "live": [], "rows": 0}
        score = record.profile["score"]
        edges = [float(x) for x in score["edges"]]
        reference = [float(x) for x in score["proportions"]]
        agg = self.parts.aggregator
        window_seconds = agg.window_seconds
        since = math.floor((self._clock() - SCORE_LOOKBACK_S) / window_seconds)
        snap = agg.summed(model, version, since)
        live: list[float] = []
        rows = 0
        if snap is not None and snap.rows > 0:
            counts = np.asarray(snap.counts[-1], dtype=np.float64)
            rows = int(snap.rows)
            live = [float(x) for x in counts / max(rows, 1)]
        # bins: NaN, below the first edge, the inner bins, above the last edge
        return {"version": version, "edges": edges, "reference": reference, "live": live, "rows": rows}

    def _accuracy_series(self, model: str) -> dict[str, Any]:
        since = self._clock() - ACCURACY_LOOKBACK_S
        rows = self.parts.accuracy.store.labelled(model, since, 0)
        series: dict[str, Any] = {"versions": [], "times": [], "auc": {}, "labelled": {}, "calibration": {}}
        if rows.score.size == 0:
            return series
        lo, hi = float(rows.scored_at.min()), float(rows.scored_at.max())
        step = max((hi - lo) / ACCURACY_BUCKETS, 1.0)
        bucket = np.minimum(((rows.scored_at - lo) / step).astype(np.int64), ACCURACY_BUCKETS - 1)
        used = sorted(set(bucket.tolist()))
        series["times"] = [lo + (b + 0.5) * step for b in used]
        versions = sorted(set(rows.version.tolist()))
        series["versions"] = versions
        for v in versions:
            mask_v = rows.version == v
            aucs: list[float | None] = []
            counts: list[int] = []
            for b in used:
                mask = mask_v & (bucket == b)
                counts.append(int(mask.sum()))
                aucs.append(_finite(roc_auc(rows.score[mask], rows.label[mask])) if mask.any() else None)
            series["auc"][str(v)] = aucs
            series["labelled"][str(v)] = counts
            series["calibration"][str(v)] = _calibration(rows.score[mask_v], rows.label[mask_v])
        return series

    # ---- rollouts and the audit log ----

    def rollouts(self, model: str = "") -> list[dict[str, Any]]:
        rs = self.parts.rollout_settings
        out = []
        for r in self.parts.rollouts.rollouts(model, 20):
            events = [e for e in self.parts.catalogue.list_events(r.model, EVENT_LIMIT)
                      if e.details.get("rollout") == r.id]
            steps = []
            for e in sorted(events, key=lambda e: e.id):
                gates = e.details.get("gates") or {}
                steps.append({"at": e.at, "kind": e.kind, "actor": e.actor, "message": e.message,
                              "gates": gate_readings(gates, rs) if gates else []})
            summary = _rollout_summary(r)
            summary["events"] = steps
            summary["gates"] = gate_readings(r.gates, rs) if r.gates else []
            out.append(summary)
        return out

    def events(self, model: str = "", kind: str = "", actor: str = "", text: str = "") -> list[EventRecord]:
        found = self.parts.catalogue.list_events(model, EVENT_LIMIT)
        return list(_filtered(found, kind, actor, text))

    def model_names(self) -> list[str]:
        return [m.name for m in self.parts.catalogue.list_models()]


def _filtered(events: Iterable[EventRecord], kind: str, actor: str, text: str) -> Iterable[EventRecord]:
    needle = text.lower()
    for e in events:
        if kind and e.kind != kind:
            continue
        if actor and e.actor != actor:
            continue
        if needle and needle not in e.message.lower():
            continue
        yield e


def _calibration(scores: np.ndarray, labels: np.ndarray) -> dict[str, list[Any]]:
    """Mean score against the observed fraud rate in CALIBRATION_BINS equal-width score bins (empty bins left out)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels) != 0
    bins = np.minimum((np.clip(s, 0.0, 1.0) * CALIBRATION_BINS).astype(np.int64), CALIBRATION_BINS - 1)
    predicted, observed, count = [], [], []
    for b in range(CALIBRATION_BINS):
        mask = bins == b
        n = int(mask.sum())
        if n:
            predicted.append(float(s[mask].mean()))
            observed.append(float(y[mask].mean()))
            count.append(n)
    return {"predicted": predicted, "observed": observed, "count": count}


def _rollout_summary(r: RolloutRecord) -> dict[str, Any]:
    return {
        "id": r.id, "model": r.model, "champion": r.champion, "challenger": r.challenger, "state": r.state,
        "step": r.step + 1, "steps": list(r.steps), "percent": r.steps[r.step] if r.steps else 0,
        "paused": r.paused, "reason": r.reason, "actor": r.actor, "active": r.active,
        "created_at": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.created_at)),
        "updated_at": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.updated_at)),
    }


def gate_readings(g: dict[str, Any], rs: RolloutSettings) -> list[dict[str, Any]]:
    """Each gate's reading against its threshold, as the rollout judged it (registry/loop/rollout.py)."""
    out: list[dict[str, Any]] = []
    if "canary_error_rate" in g:
        limit = float(g.get("champion_error_rate", 0.0)) + rs.max_error_rate_increase
        out.append({"gate": "error rate", "value": f"{g['canary_error_rate']:.2%}",
                    "threshold": f"<= {limit:.2%} (champion {g.get('champion_error_rate', 0.0):.2%} "
                                 f"+ {rs.max_error_rate_increase:.2%})",
                    "ok": g["canary_error_rate"] <= limit})
    if "canary_p99_us" in g:
        ratio = float(g["canary_p99_us"]) / max(float(g.get("champion_p99_us", 1.0)), 1.0)
        out.append({"gate": "p99 latency", "value": f"{g['canary_p99_us']:.0f} us ({ratio:.2f}x)",
                    "threshold": f"<= {rs.max_p99_ratio:g}x champion {g.get('champion_p99_us', 0):.0f} us",
                    "ok": ratio <= rs.max_p99_ratio})
    psi = g.get("score_psi")
    out.append({"gate": "score PSI", "value": "n/a" if psi is None else f"{psi:.3f}",
                "threshold": f"<= {rs.max_score_psi:g}",
                "ok": None if psi is None or not math.isfinite(psi) else psi <= rs.max_score_psi})
    a, b = g.get("canary_auc"), g.get("champion_auc")
    if "canary_auc" in g:
        out.append({"gate": "labelled AUC", "value": "n/a" if a is None else f"{a:.3f}",
                    "threshold": f"champion {'n/a' if b is None else f'{b:.3f}'} {rs.min_accuracy_delta:+g}",
                    "ok": None if a is None or b is None else a - b >= rs.min_accuracy_delta})
    if "canary_requests" in g:
        out.append({"gate": "canary requests", "value": str(g["canary_requests"]),
                    "threshold": "before judging", "ok": None})
    return out
