"""Prometheus metrics of one gateway worker, on a registry built per process and injected.

The request path touches no Prometheus object: per-version requests, failures, rows and latency
live in plain counters (driftgate.gateway.stats.VersionCounters, mutated on the event loop), and
in-flight requests in an integer; a collector reads them when Prometheus scrapes. Profiling the
handler showed six label-child updates a request (each with its lock and checks) costing more
than decoding the request. Control-plane events (loads, shadows, rejections) still use ordinary
metrics: they are rare or off the response path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from driftgate.gateway.stats import BATCH_ROWS_BOUNDS, VersionCounters
from driftgate.latency_buckets import LATENCY_BUCKET_BOUNDS_US

__all__ = ["AdmissionCollector", "GatewayMetrics", "RequestCountersCollector"]

CounterSource = Callable[[], Iterable[tuple[tuple[str, int], VersionCounters]]]


class RequestCountersCollector(Collector):
    """Exposes the request counters at scrape time (names as ordinary metrics would have)."""

    def __init__(self, counters: CounterSource, in_flight: Callable[[], int]) -> None:
        self._counters = counters
        self._in_flight = in_flight

    def collect(self) -> Iterator[Metric]:
        labels = ["model", "version"]
        requests = CounterMetricFamily("driftgate_requests", "Inference requests served, by model and version",
                                       labels=labels)
        failures = CounterMetricFamily("driftgate_request_failures",
                                       "Requests that failed while scoring, by model and version", labels=labels)
        rows = CounterMetricFamily("driftgate_rows", "Rows scored", labels=labels)
        latency = HistogramMetricFamily("driftgate_request_latency_seconds",
                                        "Time from routing to a scored, observed response", labels=labels)
        batch_rows = HistogramMetricFamily("driftgate_batch_rows",
                                           "Rows per session run of the adaptive batcher (batching on)",
                                           labels=labels)
        batch_queue = CounterMetricFamily("driftgate_batch_queue_seconds",
                                          "Time requests waited in the adaptive batcher's queue", labels=labels)
        bounds = [str(b / 1e6) for b in LATENCY_BUCKET_BOUNDS_US] + ["+Inf"]
        row_bounds = [str(b) for b in BATCH_ROWS_BOUNDS] + ["+Inf"]
        for (model, version), c in sorted(self._counters(), key=lambda item: item[0]):
            values = [model, str(version)]
            requests.add_metric(values, c.requests)
            failures.add_metric(values, c.failures)
            rows.add_metric(values, c.rows)
            latency.add_metric(values, _cumulative(bounds, c.buckets), (c.success_ns + c.fail_ns) / 1e9)
            if c.batch_runs:
                batch_rows.add_metric(values, _cumulative(row_bounds, c.batch_buckets), c.batch_rows_sum)
                batch_queue.add_metric(values, c.queue_ns / 1e9)
        yield requests
        yield failures
        yield rows
        yield latency
        yield batch_rows
        yield batch_queue
        yield GaugeMetricFamily("driftgate_in_flight_requests", "Inference requests in progress",
                                value=self._in_flight())


class AdmissionCollector(Collector):
    """The admission counters (driftgate.gateway.admission.Admission), read at scrape time."""

    def __init__(self, admission: Any) -> None:
        self._admission = admission

    def collect(self) -> Iterator[Metric]:
        a = self._admission
        rejected = CounterMetricFamily(
            "driftgate_requests_rejected",
            "Inference requests refused unscored, by model and reason: overload (over max_inflight, refused "
            "before the request was read: model is empty), deadline (the caller's deadline passed before "
            "scoring), too_large (over max_request_rows or an id/routing key length limit)",
            labels=["model", "reason"],
        )
        for (model, reason), count in sorted(a.rejected.items()):
            rejected.add_metric([model, reason], count)
        yield rejected
        yield CounterMetricFamily("driftgate_requests_cancelled",
                                  "Inference calls cancelled while in progress (the client went away or its "
                                  "deadline passed)", value=a.cancelled)
        yield GaugeMetricFamily("driftgate_admitted_requests",
                                "Inference calls admitted and not finished (limit: max_inflight)", value=a.active)


def _cumulative(bounds: list[str], counts: list[int]) -> list[tuple[str, float]]:
    out, running = [], 0
    for bound, count in zip(bounds, counts, strict=True):
        running += count
        out.append((bound, float(running)))
    return out


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.loads = Counter(
            "driftgate_version_loads", "Version loads, by outcome", ["model", "version", "outcome"], registry=registry
        )
        self.load_seconds = Histogram(
            "driftgate_version_load_seconds", "Time to fetch, load and warm up a version", ["model"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=registry,
        )
        self.versions_ready = Gauge(
            "driftgate_versions_ready", "Versions loaded and READY, by model", ["model"], registry=registry
        )
        self.rejected = Counter(
            "driftgate_rejected_requests", "Requests refused or failed, by status code", ["code"],
            registry=registry,
        )
        self.shadow = Counter(
            "driftgate_shadow_requests", "Shadow copies, by outcome (scored, dropped, failed)",
            ["model", "version", "outcome"], registry=registry,
        )
        # Lag (issue 14): alert on driftgate_config_received_generation > driftgate_config_generation
        # for minutes, on driftgate_config_error == 1, or on driftgate_registry_connected == 0.
        self.config_generation = Gauge(
            "driftgate_config_generation",
            "Generation of the registry config fully applied (every version READY, or FAILED for a definitive cause)",
            registry=registry,
        )
        self.config_received_generation = Gauge(
            "driftgate_config_received_generation", "Generation of the newest registry config received",
            registry=registry,
        )
        self.config_error = Gauge(
            "driftgate_config_error",
            "1 while applying the config fails (a fetch, a full disk, ...) and is being retried; the reason is "
            "in the log and in the registry's ListGateways / models show",
            registry=registry,
        )
        self.registry_connected = Gauge(
            "driftgate_registry_connected", "1 while the gateway's config stream from the registry is up",
            registry=registry,
        )
        self.report_pause = Histogram(
            "driftgate_report_pause_seconds",
            "Event-loop time of one step of a report to the registry (build: the report, with the scored rows "
            "when due; commit: forgetting the rows it carried); requests wait meanwhile",
            ["step"], buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25), registry=registry,
        )

    def watch_requests(self, counters: CounterSource, in_flight: Callable[[], int]) -> None:
        """Expose the request counters (read at scrape time)."""
        self.registry.register(RequestCountersCollector(counters, in_flight))
