"""Prometheus metrics of one gateway worker, on a registry built per process and injected.

Label children are resolved once per loaded version (``VersionMetrics``), so the request path
pays an ``inc()``/``observe()`` and never a label lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["GatewayMetrics", "VersionMetrics"]

_LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


@dataclass(slots=True)
class VersionMetrics:
    requests: Counter
    failures: Counter
    rows: Counter
    latency: Histogram


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "driftgate_requests", "Inference requests served, by model and version", ["model", "version"],
            registry=registry,
        )
        self.failures = Counter(
            "driftgate_request_failures", "Inference requests that failed, by model, version and status",
            ["model", "version", "code"], registry=registry,
        )
        self.rows = Counter("driftgate_rows", "Rows scored", ["model", "version"], registry=registry)
        self.latency = Histogram(
            "driftgate_request_latency_seconds", "Time from decoded request to encoded response",
            ["model", "version"], buckets=_LATENCY_BUCKETS, registry=registry,
        )
        self.in_flight = Gauge("driftgate_in_flight_requests", "Inference requests in progress", registry=registry)
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
            "driftgate_rejected_requests", "Requests refused before scoring, by status code", ["code"],
            registry=registry,
        )
        self.shadow = Counter(
            "driftgate_shadow_requests", "Shadow copies, by outcome (scored, dropped, failed)",
            ["model", "version", "outcome"], registry=registry,
        )
        self.config_generation = Gauge(
            "driftgate_config_generation", "Generation of the registry config applied", registry=registry
        )

    def for_version(self, model: str, version: int) -> VersionMetrics:
        v = str(version)
        return VersionMetrics(
            requests=self.requests.labels(model, v),
            failures=self.failures.labels(model, v, "INTERNAL"),
            rows=self.rows.labels(model, v),
            latency=self.latency.labels(model, v),
        )
