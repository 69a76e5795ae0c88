"""Each version's live accuracy from delayed labels, and accuracy alerts. Transport-free, synchronous.

Drift says the inputs moved; this says whether the model got worse. Labels (chargebacks) are joined
to scored rows by driftgate.registry.observation.labels; this module turns the labelled rows into metrics:

- labelled count, label delay (labelled_at - scored_at: median and p90),
- AUC (rank statistic with ties averaged, as sklearn.metrics.roc_auc_score),
- precision and recall at the model's threshold (score >= threshold predicts fraud),
- calibration: mean score against the observed fraud rate, and their gap,
- a status against the model's thresholds: ``insufficient`` (fewer than min_labels labelled rows),
  ``degraded`` (AUC below min_auc or calibration gap above max_calibration_gap), else ``ok``.

Alerts follow drift's rules: rows are cut into evaluation windows by the time they were *scored*
(``eval_window_seconds``, a day by default: daily vintages); a window counts only with at least
``min_labels`` labelled rows; an alert fires when the newest ``alert_windows`` windows that count all
breach, and clears when the newest window that counts does not. Firing and clearing are audit events
("accuracy_alert" / "accuracy_alert_cleared"). Alerts are evaluated after every label batch (labels
are what change accuracy); the alert state is restored from the audit log on first use.

The API the closed loop calls (no transport, callable from any thread)::

    monitor = AccuracyMonitor(catalogue, LabelStore(db, settings.accuracy), settings.accuracy)
    monitor.accuracy_report("fraud", version=0, window_seconds=7 * 86400) -> list[VersionAccuracy]
    monitor.active_accuracy_alerts("fraud") -> list[AccuracyAlert]
    monitor.submit_labels("fraud", ids, labels, labelled_at, actor="ops") -> JoinResult

``RegistryServer.accuracy`` holds the registry's instance.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from sqlalchemy import Column, String, Table, Text, delete, insert, select

from driftgate.errors import InvalidRequest
from driftgate.registry.catalogue.catalogue import Catalogue
from driftgate.registry.observation.label_join import JoinResult
from driftgate.registry.observation.labels import LabelStore
from driftgate.registry.store.db import metadata
from driftgate.settings import AccuracySettings

__all__ = [
    "DEFAULT_WINDOW_SECONDS",
    "AccuracyAlert",
    "AccuracyMetrics",
    "AccuracyMonitor",
    "ModelAccuracySettings",
    "VersionAccuracy",
    "accuracy_metrics",
    "accuracy_settings",
    "roc_auc",
]

log = logging.getLogger("driftgate.registry.accuracy")

DEFAULT_WINDOW_SECONDS = 7 * 86_400.0
ALERT_LOOKBACK_WINDOWS = 4  # alerts look at most alert_windows * this many evaluation windows back
NAN = float("nan")

# the per-model overrides an operator set (SetAccuracySettings), on the shared metadata
accuracy_settings = Table(
    "accuracy_settings",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("settings", Text, nullable=False),  # JSON: the fields set for this model
)


@dataclass(frozen=True, slots=True)
class ModelAccuracySettings:
    threshold: float
    min_auc: float
    max_calibration_gap: float
    min_labels: int
    alert_windows: int
    eval_window_seconds: float

    def check(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise InvalidRequest(f"threshold must be in [0, 1], got {self.threshold}")
        if not 0.0 <= self.min_auc <= 1.0:
            raise InvalidRequest(f"min_auc must be in [0, 1], got {self.min_auc}")
        if not 0.0 <= self.max_calibration_gap <= 1.0:
            raise InvalidRequest(f"max_calibration_gap must be in [0, 1], got {self.max_calibration_gap}")
        if self.min_labels < 1 or self.alert_windows < 1:
            raise InvalidRequest("min_labels and alert_windows must be at least 1")
        if not (self.eval_window_seconds > 0 and math.isfinite(self.eval_window_seconds)):
            raise InvalidRequest(f"eval_window_seconds must be > 0, got {self.eval_window_seconds}")


@dataclass(frozen=True, slots=True)
class AccuracyMetrics:
    labelled: int
    positives: int
    auc: float  # NaN unless both classes are present
    precision: float  # NaN without predicted positives
    recall: float  # NaN without positives
    mean_score: float
    observed_rate: float
    calibration_gap: float
    delay_median_s: float
    delay_p90_s: float


@dataclass(frozen=True, slots=True)
class VersionAccuracy:
    version: int
    scored: int
    metrics: AccuracyMetrics
    threshold: float
    status: str  # ok | degraded | insufficient
    reasons: tuple[str, ...]
    alert: bool


@dataclass(frozen=True, slots=True)
class AccuracyAlert:
    model: str
    version: int
    window_start: float  # unix seconds: the newest evaluation window that breached
    reasons: tuple[str, ...]


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); NaN with one class."""
    y = np.asarray(labels) != 0
    pos = int(y.sum())
    neg = y.size - pos
    if pos == 0 or neg == 0:
        return NAN
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    # average 1-based rank of each tie group
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], s.size]
    group_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(s.size)
    ranks[order] = np.repeat(group_rank, ends - starts)
    return float((ranks[y].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def accuracy_metrics(
    scores: np.ndarray, labels: np.ndarray, threshold: float, delays: np.ndarray | None = None
) -> AccuracyMetrics:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels) != 0
    n = int(s.size)
    if n == 0:
        return AccuracyMetrics(0, 0, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN)
    pos = int(y.sum())
    predicted = s >= threshold
    tp = int(np.count_nonzero(predicted & y))
    n_pred = int(np.count_nonzero(predicted))
    mean_score = float(s.mean())
    rate = pos / n
    if delays is not None and delays.size:
        median, p90 = (float(x) for x in np.percentile(delays, [50, 90]))
    else:
        median = p90 = NAN
    return AccuracyMetrics(
        labelled=n,
        positives=pos,
        auc=roc_auc(s, y),
        precision=tp / n_pred if n_pred else NAN,
        recall=tp / pos if pos else NAN,
        mean_score=mean_score,
        observed_rate=rate,
        calibration_gap=abs(mean_score - rate),
        delay_median_s=median,
        delay_p90_s=p90,
    )


def _judge(m: AccuracyMetrics, s: ModelAccuracySettings) -> tuple[str, tuple[str, ...]]:
    if m.labelled < s.min_labels:
        return "insufficient", (f"{m.labelled} labelled rows, fewer than {s.min_labels}",)
    reasons = []
    if m.auc == m.auc and m.auc < s.min_auc:
        reasons.append(f"AUC {m.auc:.3f} below {s.min_auc:g}")
    if m.calibration_gap > s.max_calibration_gap:
        reasons.append(
            f"calibration gap {m.calibration_gap:.3f} (mean score {m.mean_score:.3f}, fraud rate "
            f"{m.observed_rate:.3f}) above {s.max_calibration_gap:g}"
        )
    return ("degraded" if reasons else "ok"), tuple(reasons)


class AccuracyMonitor:
    def __init__(
        self,
        catalogue: Catalogue,
        store: LabelStore,
        defaults: AccuracySettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._catalogue = catalogue
        self.store = store
        self._defaults = defaults
        self._clock = clock
        self._lock = threading.Lock()  # alert state, and evaluation one model at a time
        self._alerts: dict[str, dict[int, AccuracyAlert]] = {}  # model -> version -> active alert

    # ---- settings ----

    def settings_for(self, model: str) -> ModelAccuracySettings:
        d = self._defaults
        base = ModelAccuracySettings(
            d.threshold, d.min_auc, d.max_calibration_gap, d.min_labels, d.alert_windows, d.eval_window_seconds
        )
        with self.store.db.read() as conn:
            row = conn.execute(select(accuracy_settings.c.settings).where(accuracy_settings.c.model == model)).first()
        if row is None:
            return base
        return replace(base, **json.loads(row[0]))

    def update_settings(self, model: str, changes: Mapping[str, Any], actor: str = "") -> ModelAccuracySettings:
        """Set some of a model's accuracy settings (field names of ModelAccuracySettings); an audit event."""
        self._catalogue.get_model(model)  # ModelNotFound
        known = set(ModelAccuracySettings.__dataclass_fields__)
        for key in changes:
            if key not in known:
                raise InvalidRequest(f"unknown accuracy setting {key!r}; known: {', '.join(sorted(known))}")
        old = self.settings_for(model)
        new = replace(old, **dict(changes))
        new.check()
        if new == old:
            return old
        d = self._defaults
        defaults = ModelAccuracySettings(
            d.threshold, d.min_auc, d.max_calibration_gap, d.min_labels, d.alert_windows, d.eval_window_seconds
        )
        overrides = {k: v for k, v in asdict(new).items() if getattr(defaults, k) != v}
        with self.store.db.begin() as conn:
            conn.execute(delete(accuracy_settings).where(accuracy_settings.c.model == model))
            conn.execute(insert(accuracy_settings).values(model=model, settings=json.dumps(overrides, sort_keys=True)))
        self._catalogue.record_event(
            "accuracy_settings_updated", model, 0, actor, f"updated {model}'s accuracy settings",
            {"old": asdict(old), "new": asdict(new)},
        )
        return new

    # ---- labels ----

    def submit_labels(
        self,
        model: str,
        ids: Sequence[str],
        labels: Sequence[int],
        labelled_at: Sequence[float] = (),
        actor: str = "",
    ) -> JoinResult:
        """Join a batch of labels (all or nothing), then evaluate the model's accuracy alerts."""
        self._catalogue.get_model(model)  # ModelNotFound
        result = self.store.submit(model, ids, labels, labelled_at)
        log.info(
            "%s: %d labels from %s: %d joined, %d held, %d unknown, %d duplicates, %d expired",
            model, result.received, actor or "?", result.joined, result.held, result.unknown, result.duplicates,
            result.expired,
        )
        if result.joined:
            self.evaluate(model)
        return result

    # ---- reports ----

    def accuracy_report(
        self, model: str, version: int = 0, window_seconds: float = DEFAULT_WINDOW_SECONDS
    ) -> list[VersionAccuracy]:
        """Per version (or one), over rows scored in the last ``window_seconds``."""
        self._catalogue.get_model(model)  # ModelNotFound
        if version:
            self._catalogue.get_version(model, version)  # VersionNotFound
        window = window_seconds if window_seconds > 0 else DEFAULT_WINDOW_SECONDS
        s = self.settings_for(model)
        since = self._clock() - window
        rows = self.store.labelled(model, since, version)
        scored = self.store.scored_counts(model, since, version)
        alerts = self._active(model)
        out = []
        for v in sorted(set(scored) | set(np.unique(rows.version).tolist())):
            mask = rows.version == v
            m = accuracy_metrics(
                rows.score[mask], rows.label[mask], s.threshold, rows.labelled_at[mask] - rows.scored_at[mask]
            )
            status, reasons = _judge(m, s)
            out.append(VersionAccuracy(int(v), scored.get(int(v), 0), m, s.threshold, status, reasons, v in alerts))
        return out

    def active_accuracy_alerts(self, model: str) -> list[AccuracyAlert]:
        return sorted(self._active(model).values(), key=lambda a: a.version)

    # ---- alerts ----

    def _active(self, model: str) -> dict[int, AccuracyAlert]:
        with self._lock:
            return dict(self._restored(model))

    def _restored(self, model: str) -> dict[int, AccuracyAlert]:
        """The model's alert state (lock held), read back from the audit log the first time."""
        state = self._alerts.get(model)
        if state is None:
            state = {}
            events = self._catalogue.list_events(model, 10_000)
            for e in sorted(events, key=lambda e: e.id):
                if e.kind == "accuracy_alert":
                    state[e.version] = AccuracyAlert(
                        model, e.version, float(e.details.get("window_start", 0.0)),
                        tuple(e.details.get("reasons", ())),
                    )
                elif e.kind == "accuracy_alert_cleared":
                    state.pop(e.version, None)
            self._alerts[model] = state
        return state

    def evaluate(self, model: str) -> list[tuple[AccuracyAlert, bool]]:
        """Evaluate the model's alerts over its evaluation windows; returns (alert, fired) for each change."""
        s = self.settings_for(model)
        width = s.eval_window_seconds
        now = self._clock()
        rows = self.store.labelled(model, now - width * s.alert_windows * ALERT_LOOKBACK_WINDOWS)
        changes: list[tuple[AccuracyAlert, bool]] = []
        with self._lock:
            state = self._restored(model)
            buckets = np.floor(rows.scored_at / width)
            for v in sorted(set(np.unique(rows.version).tolist()) | set(state)):
                vmask = rows.version == v
                judged: list[tuple[float, str, tuple[str, ...]]] = []  # newest window first, only those that count
                for b in sorted(np.unique(buckets[vmask]).tolist(), reverse=True):
                    mask = vmask & (buckets == b)
                    status, reasons = _judge(accuracy_metrics(rows.score[mask], rows.label[mask], s.threshold), s)
                    if status != "insufficient":
                        judged.append((b * width, status, reasons))
                active = state.get(int(v))
                if active is None:
                    newest = judged[: s.alert_windows]
                    if len(newest) == s.alert_windows and all(status == "degraded" for _, status, _ in newest):
                        alert = AccuracyAlert(model, int(v), newest[0][0], newest[0][2])
                        state[int(v)] = alert
                        changes.append((alert, True))
                elif judged and judged[0][1] == "ok":
                    del state[int(v)]
                    changes.append((replace(active, window_start=judged[0][0], reasons=()), False))
        for alert, fired in changes:
            self._record(alert, fired, s)
        return changes

    def _record(self, alert: AccuracyAlert, fired: bool, s: ModelAccuracySettings) -> None:
        if fired:
            kind = "accuracy_alert"
            message = f"{alert.model} version {alert.version}: accuracy degraded ({'; '.join(alert.reasons)})"
        else:
            kind = "accuracy_alert_cleared"
            message = f"{alert.model} version {alert.version}: accuracy alert cleared"
        details = {
            "window_start": alert.window_start,
            "window_seconds": s.eval_window_seconds,
            "reasons": list(alert.reasons),
            "min_auc": s.min_auc,
            "max_calibration_gap": s.max_calibration_gap,
        }
        self._catalogue.record_event(kind, alert.model, alert.version, "driftgate", message, details)
