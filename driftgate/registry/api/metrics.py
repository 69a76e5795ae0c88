"""The registry's Prometheus metrics: the numbers it owns, read at scrape time.

Drift (PSI, status and alert per model, version and column, over the drift report's default
lookback), live accuracy (labelled AUC per version over one evaluation window), rollouts (the
latest rollout's state, versions rolled back), the desired config generation, and each gateway's
applied generation and report age (so a gateway behind on config shows). Request traffic is the
gateways' own metrics; this endpoint does not repeat it.

A collector built per registry and registered on a CollectorRegistry the composition root owns
(no module-level registry). One model's failure is logged and leaves its series out; the scrape
still answers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from driftgate.registry.catalogue.catalogue import Catalogue
from driftgate.registry.catalogue.gateways import GatewayTracker
from driftgate.registry.catalogue.records import ROLLED_BACK
from driftgate.registry.loop.rollout_db import RolloutStore
from driftgate.registry.observation.accuracy import AccuracyMonitor
from driftgate.registry.observation.observe import DEFAULT_LOOKBACK_SECONDS, DriftMonitor

__all__ = ["DRIFT_STATUS_VALUES", "RegistryCollector"]

log = logging.getLogger("driftgate.registry.metrics")

DRIFT_STATUS_VALUES = {"insufficient": -1.0, "ok": 0.0, "moderate": 1.0, "major": 2.0}


class RegistryCollector(Collector):
    def __init__(
        self,
        catalogue: Catalogue,
        drift: DriftMonitor,
        accuracy: AccuracyMonitor,
        rollouts: RolloutStore,
        gateways: GatewayTracker,
        generation: Callable[[], int],
        accuracy_window_s: float,
    ) -> None:
        self._catalogue = catalogue
        self._drift = drift
        self._accuracy = accuracy
        self._rollouts = rollouts
        self._gateways = gateways
        self._generation = generation
        self._accuracy_window_s = accuracy_window_s

    def collect(self) -> Iterator[Metric]:
        mv = ["model", "version"]
        col = ["model", "version", "column"]
        psi = GaugeMetricFamily("driftgate_drift_psi", "PSI against the reference profile over the last "
                                f"{DEFAULT_LOOKBACK_SECONDS:g} s, summed over gateways", labels=col)
        status = GaugeMetricFamily("driftgate_drift_status",
                                   "Drift status: -1 insufficient rows, 0 ok, 1 moderate, 2 major", labels=col)
        alert = GaugeMetricFamily("driftgate_drift_alert", "1 while a drift alert is active", labels=col)
        auc = GaugeMetricFamily("driftgate_accuracy_auc", "Labelled AUC of the rows scored in the evaluation "
                                "window (absent while a version has no labels of both classes)", labels=mv)
        labelled = GaugeMetricFamily("driftgate_accuracy_labelled", "Labelled rows in the evaluation window",
                                     labels=mv)
        degraded = GaugeMetricFamily("driftgate_accuracy_alert", "1 while an accuracy alert is active", labels=mv)
        rollout = GaugeMetricFamily("driftgate_rollout_state", "1 for the state of the model's latest rollout",
                                    labels=["model", "state", "challenger"])
        rolled_back = CounterMetricFamily("driftgate_rollbacks", "Versions rolled back, per model", labels=["model"])
        for model in self._catalogue.list_models():
            name = model.name
            try:
                for report in self._drift.report(name, 0, DEFAULT_LOOKBACK_SECONDS):
                    columns = [*report.features, *([report.score] if report.score is not None else [])]
                    for c in columns:
                        labels = [name, str(report.version), c.name]
                        if not math.isnan(c.psi):
                            psi.add_metric(labels, c.psi)
                        status.add_metric(labels, DRIFT_STATUS_VALUES.get(c.status, -1.0))
                        alert.add_metric(labels, 1.0 if c.name in report.alerting else 0.0)
                for row in self._accuracy.accuracy_report(name, 0, self._accuracy_window_s):
                    labels = [name, str(row.version)]
                    if not math.isnan(row.metrics.auc):
                        auc.add_metric(labels, row.metrics.auc)
                    labelled.add_metric(labels, row.metrics.labelled)
                    degraded.add_metric(labels, 1.0 if row.alert else 0.0)
                latest = self._rollouts.latest_rollout(name)
                if latest is not None:
                    rollout.add_metric([name, latest.state, str(latest.challenger)], 1.0)
                rolled_back.add_metric([name], sum(1 for v in model.versions if v.state == ROLLED_BACK))
            except Exception:  # one model's numbers must not take the scrape down
                log.exception("metrics of model %s could not be read", name)
        yield from (psi, status, alert, auc, labelled, degraded, rollout, rolled_back)

        desired = self._generation()
        yield GaugeMetricFamily("driftgate_desired_config_generation", "Generation of the config the registry "
                                "publishes", value=desired)
        applied = GaugeMetricFamily("driftgate_gateway_applied_generation",
                                    "Config generation each gateway reported applied", labels=["gateway"])
        lag = GaugeMetricFamily("driftgate_gateway_config_lag",
                                "Generations a gateway is behind the desired config", labels=["gateway"])
        age = GaugeMetricFamily("driftgate_gateway_report_age_seconds", "Seconds since a gateway's last report",
                                labels=["gateway"])
        live = GaugeMetricFamily("driftgate_gateway_live", "1 while a gateway reports in time", labels=["gateway"])
        for gw in self._gateways.all():
            applied.add_metric([gw.gateway_id], gw.applied_generation)
            lag.add_metric([gw.gateway_id], max(0, desired - gw.applied_generation))
            age.add_metric([gw.gateway_id], self._gateways.age(gw))
            live.add_metric([gw.gateway_id], 1.0 if self._gateways.is_live(gw) else 0.0)
        yield from (applied, lag, age, live)
