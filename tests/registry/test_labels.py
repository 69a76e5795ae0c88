"""Scored rows, the label join, retention, metrics against scikit-learn, alert persistence."""

from __future__ import annotations

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose
from registry_helpers import make_settings

from driftgate.errors import InvalidRequest, ModelNotFound
from driftgate.registry.catalogue.records import RegisterRequest
from driftgate.registry.observation.accuracy import accuracy_metrics, roc_auc
from driftgate.registry.observation.labels import ScoredBatch
from driftgate.registry.server import RegistryServer


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def core(tmp_path, models):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path)
    settings.accuracy.trim_interval_s = 0
    server = RegistryServer(settings)
    server.catalogue.register_version(RegisterRequest(model="m", onnx=models.v1, actor="t"))
    server.catalogue.register_version(RegisterRequest(model="m", onnx=models.v2, actor="t"))
    clock = Clock()
    server.labels._clock = clock
    server.accuracy._clock = clock
    yield server, clock
    server.db.dispose()


def batch(version: int, ids: list[str], scores: list[float], at: float) -> ScoredBatch:
    return ScoredBatch.checked("m", version, ids, scores, [at] * len(ids))


def test_join_counts_held_duplicates_and_first_label_stands(core) -> None:  # type: ignore[no-untyped-def]
    server, clock = core
    store = server.labels
    store.ingest("g1", [batch(1, ["a", "b", "c"], [0.9, 0.1, 0.2], clock.t)])
    store.ingest("g2", [batch(1, ["a"], [0.5], clock.t)])  # a resent id keeps its first row
    r = server.accuracy.submit_labels("m", ["a", "b", "zz", "a"], [1, 0, 1, 0])
    assert (r.received, r.joined, r.held, r.duplicates, r.expired) == (4, 2, 1, 1, 0)
    r = server.accuracy.submit_labels("m", ["a", "c"], [0, 1])
    assert (r.joined, r.duplicates, r.held) == (1, 1, 0)
    rows = store.labelled("m", 0.0)
    assert sorted(zip(rows.score.tolist(), rows.label.tolist(), strict=True)) == [(0.1, 0), (0.2, 1), (0.9, 1)]


@pytest.mark.parametrize(
    ("ids", "labels", "at", "message"),
    [
        (["a", "b"], [1, 2], [], "item 2 (id 'b'): label must be 0 or 1"),
        (["a", ""], [1, 0], [], "item 2: id must be"),
        (["a", "b"], [1], [], "2 ids but 1 labels"),
        (["a", "b"], [1, 0], [5.0, -1.0], "item 2 (id 'b'): labelled_at"),
        ([], [], [], "no labels"),
    ],
)
def test_malformed_batch_is_refused_whole(core, ids, labels, at, message) -> None:  # type: ignore[no-untyped-def]
    server, clock = core
    server.labels.ingest("g", [batch(1, ["a", "b"], [0.9, 0.1], clock.t)])
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        server.accuracy.submit_labels("m", ids, labels, at)
    assert server.labels.labelled("m", 0.0).label.size == 0  # nothing applied


def test_unknown_model_is_not_found(core) -> None:  # type: ignore[no-untyped-def]
    server, _ = core
    with pytest.raises(ModelNotFound):
        server.accuracy.submit_labels("nope", ["a"], [1])


def test_retention_by_count_and_age_counts_drops_and_expired_ids(core) -> None:  # type: ignore[no-untyped-def]
    server, clock = core
    store = server.labels
    store._settings.max_rows = 5
    store._settings.max_age_days = 1.0
    store.ingest("g", [batch(1, ["old"], [0.5], clock.t - 2 * 86400)])
    assert store.retention_dropped("m") == 1  # older than a day
    store.ingest("g", [batch(1, [f"r{i}" for i in range(8)], [0.5] * 8, clock.t)])
    assert store.retention_dropped("m") == 4  # r0..r2 over the count, oldest first
    assert store.scored_counts("m", 0.0) == {1: 5}
    r = server.accuracy.submit_labels("m", ["old", "r0", "r3", "never"], [1, 1, 0, 0])
    assert (r.joined, r.expired, r.held) == (1, 2, 1)


def test_gateway_drops_are_the_latest_count_per_gateway(core) -> None:  # type: ignore[no-untyped-def]
    server, clock = core
    store = server.labels
    store.ingest("g1", [batch(1, ["a"], [0.5], clock.t)], 3)
    store.ingest("g1", [batch(1, ["b"], [0.5], clock.t)], 5)
    store.ingest("g2", [batch(1, ["c"], [0.5], clock.t)], 2)
    assert store.gateway_dropped("m") == 7


def test_scored_batch_lengths_must_agree() -> None:
    with pytest.raises(InvalidRequest, match="as many"):
        ScoredBatch.checked("m", 1, ["a", "b"], [0.1], [1.0, 2.0])


def test_metrics_match_sklearn() -> None:
    from sklearn.metrics import precision_score, recall_score, roc_auc_score

    rng = np.random.default_rng(7)
    y = (rng.random(5000) < 0.05).astype(np.int8)
    s = np.clip(rng.normal(0.2 + 0.4 * y, 0.2), 0, 1).round(2)  # rounded: many ties
    m = accuracy_metrics(s, y, 0.5, delays=rng.exponential(3600, 5000))
    assert_allclose(m.auc, roc_auc_score(y, s), rtol=1e-12)
    assert_allclose(m.precision, precision_score(y, s >= 0.5), rtol=1e-12)
    assert_allclose(m.recall, recall_score(y, s >= 0.5), rtol=1e-12)
    assert_allclose(m.calibration_gap, abs(s.mean() - y.mean()), rtol=1e-12)
    assert m.labelled == 5000 and m.positives == int(y.sum())
    assert np.isnan(roc_auc(s, np.zeros_like(y)))
    assert np.isnan(accuracy_metrics(s, y, 1.01).precision)  # nothing predicted positive


def test_report_per_version_against_sklearn(core) -> None:  # type: ignore[no-untyped-def]
    from sklearn.metrics import roc_auc_score

    server, clock = core
    rng = np.random.default_rng(3)
    y = (rng.random(600) < 0.2).astype(int)
    s = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1)
    ids = [f"t{i}" for i in range(600)]
    server.labels.ingest("g", [batch(1, ids[:300], s[:300].tolist(), clock.t - 100),
                               batch(2, ids[300:], s[300:].tolist(), clock.t - 100)])
    server.accuracy.submit_labels("m", ids[:500], y[:500].tolist(), [clock.t] * 500)
    v1, v2 = server.accuracy.accuracy_report("m", 0, 3600)
    assert (v1.version, v1.scored, v1.metrics.labelled) == (1, 300, 300)
    assert (v2.version, v2.scored, v2.metrics.labelled) == (2, 300, 200)
    s32 = s.astype(np.float32).astype(np.float64)  # scores travel as float32
    assert_allclose(v1.metrics.auc, roc_auc_score(y[:300], s32[:300]), rtol=1e-9)
    assert_allclose(v2.metrics.auc, roc_auc_score(y[300:500], s32[300:500]), rtol=1e-9)
    assert_allclose(v1.metrics.delay_median_s, 100.0, rtol=1e-6)
    assert server.accuracy.accuracy_report("m", 2, 3600)[0].version == 2
    assert server.accuracy.accuracy_report("m", 0, 10) == []  # scored before the window


def _day(server, clock, day: int, good: bool, n: int = 400) -> None:  # type: ignore[no-untyped-def]
    """One evaluation window of labelled traffic: a good model (AUC ~1) or a useless one (AUC ~0.5)."""
    rng = np.random.default_rng(day)
    y = (rng.random(n) < 0.3).astype(int)
    s = (0.1 + 0.8 * y if good else rng.random(n)).tolist()
    ids = [f"d{day}-{i}" for i in range(n)]
    at = clock.t - (10 - day) * 86400.0 + 10
    server.labels.ingest("g", [batch(1, ids, s, at)])
    server.accuracy.submit_labels("m", ids, y.tolist())


def kinds(server) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.kind for e in reversed(server.catalogue.list_events("m", 100)) if e.kind.startswith("accuracy")]


def test_alert_needs_enough_labels_and_persistence_and_clears(core) -> None:  # type: ignore[no-untyped-def]
    server, clock = core
    server.accuracy.update_settings("m", {"min_labels": 100, "alert_windows": 2, "max_calibration_gap": 1.0}, "t")
    _day(server, clock, 1, good=True)
    _day(server, clock, 2, good=False)
    assert server.accuracy.active_accuracy_alerts("m") == []  # one bad window is not enough
    _day(server, clock, 3, good=False, n=50)  # too few labels: does not count either way
    assert server.accuracy.active_accuracy_alerts("m") == []
    _day(server, clock, 4, good=False)
    (alert,) = server.accuracy.active_accuracy_alerts("m")
    assert alert.version == 1 and "AUC" in alert.reasons[0]
    assert kinds(server) == ["accuracy_settings_updated", "accuracy_alert"]
    assert server.accuracy.accuracy_report("m", 1, 30 * 86400)[0].alert
    _day(server, clock, 5, good=False)  # still bad: no second event
    _day(server, clock, 6, good=True)
    assert server.accuracy.active_accuracy_alerts("m") == []
    assert kinds(server) == ["accuracy_settings_updated", "accuracy_alert", "accuracy_alert_cleared"]


def test_alert_state_survives_a_restart(core, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server, clock = core
    server.accuracy.update_settings("m", {"min_labels": 100, "alert_windows": 1, "max_calibration_gap": 1.0}, "t")
    _day(server, clock, 9, good=False)
    assert len(server.accuracy.active_accuracy_alerts("m")) == 1
    again = RegistryServer(server.settings)
    try:
        assert [a.version for a in again.accuracy.active_accuracy_alerts("m")] == [1]
    finally:
        again.db.dispose()


def test_settings_are_checked(core) -> None:  # type: ignore[no-untyped-def]
    server, _ = core
    with pytest.raises(InvalidRequest, match="threshold"):
        server.accuracy.update_settings("m", {"threshold": 2.0}, "t")
    with pytest.raises(InvalidRequest, match="unknown accuracy setting"):
        server.accuracy.update_settings("m", {"nope": 1}, "t")
    assert server.accuracy.update_settings("m", {"threshold": 0.3}, "t").threshold == 0.3
    assert server.accuracy.settings_for("m").threshold == 0.3
