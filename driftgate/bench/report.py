"""A load run's results: merged from the shards, summarised with HdrHistogram, shown as a text
table or one JSON object, with the machine it ran on.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from typing import Any

import numpy as np

from driftgate.bench.loadgen import ShardResult
from driftgate.text_table import TextTable

__all__ = ["PERCENTILES", "Report", "machine_info", "merge", "render"]

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
_HIGHEST_US = 3_600_000_000  # one hour


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "grpcio": _version("grpcio"),
        "protobuf": _version("protobuf"),
        "numpy": _version("numpy"),
        "uvloop": _version("uvloop"),
        "platform": platform.platform(),
    }


def _summary(values: np.ndarray) -> tuple[dict[str, float], str]:
    """Percentiles (us) through an HdrHistogram (3 significant digits) and its encoding."""
    from hdrh.histogram import HdrHistogram

    hist = HdrHistogram(1, _HIGHEST_US, 3)
    if values.size:
        uniq, counts = np.unique(np.clip(values, 1, _HIGHEST_US), return_counts=True)
        for v, c in zip(uniq.tolist(), counts.tolist(), strict=True):
            hist.record_value(v, c)
    if not values.size:
        return {}, ""
    out = {f"p{p:g}": float(hist.get_value_at_percentile(p)) for p in PERCENTILES}
    out["max"] = float(hist.get_max_value())
    out["mean"] = round(float(hist.get_mean_value()), 1)
    encoded = hist.encode()
    return out, encoded.decode() if isinstance(encoded, bytes) else str(encoded)


@dataclass
class Report:
    settings: dict[str, Any]
    machine: dict[str, Any]
    window_s: float
    counted: int
    ok: int
    errors: dict[str, int]
    error_examples: dict[str, str]
    throughput_rps: float
    rows_per_s: float
    latency_us: dict[str, float]
    versions: dict[str, int]
    client_cpu_s: float
    client_cpu_us_per_request: float | None
    max_in_flight: int
    service_us: dict[str, float] = field(default_factory=dict)
    schedule_lag_us: dict[str, float] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    latency_hdr: str = ""
    label: str = ""

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _concat(parts: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(parts), dtype=np.int64) if parts else np.zeros(0, np.int64)


def _timeline(done_ms: np.ndarray, latency: np.ndarray, error_ms: np.ndarray, seconds: int) -> list[dict[str, Any]]:
    out = []
    ok_s = done_ms // 1000
    err_s = error_ms // 1000
    for s in range(max(seconds, int(ok_s.max()) + 1 if ok_s.size else 0)):
        lat = latency[ok_s == s]
        out.append(
            {
                "second": s,
                "ok": int(lat.size),
                "errors": int(np.count_nonzero(err_s == s)),
                "p50_us": float(np.percentile(lat, 50)) if lat.size else None,
                "p99_us": float(np.percentile(lat, 99)) if lat.size else None,
            }
        )
    return out


def merge(
    results: list[ShardResult], settings: dict[str, Any], machine: dict[str, Any], rows_per_request: int
) -> Report:
    latency = _concat([r.latency_us for r in results])
    done_ms = _concat([r.done_ms for r in results])
    error_ms = _concat([r.error_ms for r in results])
    lat_summary, hdr = _summary(latency)
    service, _ = _summary(_concat([r.service_us for r in results]))
    lag, _ = _summary(_concat([r.lag_us for r in results]))
    errors: dict[str, int] = {}
    examples: dict[str, str] = {}
    versions: dict[str, int] = {}
    for r in results:
        for k, v in r.errors.items():
            errors[k] = errors.get(k, 0) + v
        for code, example in r.error_examples.items():
            examples.setdefault(code, example)
        for k, v in r.versions.items():
            versions[k] = versions.get(k, 0) + v
    window = float(settings["duration_s"])
    completed = sum(r.completed_in_window for r in results)
    counted = sum(r.counted for r in results)
    cpu = sum(r.cpu_s for r in results)
    return Report(
        settings=settings,
        machine=machine,
        window_s=window,
        counted=counted,
        ok=int(latency.size),
        errors=dict(sorted(errors.items())),
        error_examples=examples,
        throughput_rps=round(completed / window, 1),
        rows_per_s=round(completed * rows_per_request / window, 1),
        latency_us=lat_summary,
        versions=dict(sorted(versions.items())),
        client_cpu_s=round(cpu, 3),
        client_cpu_us_per_request=round(cpu / completed * 1e6, 1) if completed else None,
        max_in_flight=sum(r.max_in_flight_seen for r in results),
        service_us=service if settings.get("rate") else {},
        schedule_lag_us=lag,
        timeline=_timeline(done_ms, latency, error_ms, int(np.ceil(window))),
        latency_hdr=hdr,
    )


def _ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.3f}"


def render(report: Report) -> str:
    """The report as a text table (and the first example of each error code) for a terminal."""
    s = report.settings
    mode = f"open loop {s['rate']:g} req/s" if s.get("rate") else f"closed loop, concurrency {s['concurrency']}"
    title = (
        f"{report.label + ': ' if report.label else ''}{s['model']} @ {s['target']} - {mode}, batch {s['batch_size']}"
    )
    table = TextTable(title, ["metric", "value"], right={"value"})
    table.add_row("window", f"{report.window_s:g} s (after {s['warmup_s']:g} s warm-up)")
    table.add_row("requests counted", f"{report.counted:,} ({report.ok:,} ok)")
    table.add_row("throughput", f"{report.throughput_rps:,.1f} req/s, {report.rows_per_s:,.1f} rows/s")
    for name in ("p50", "p90", "p99", "p99.9", "max", "mean"):
        table.add_row(f"latency {name} (ms)", _ms(report.latency_us.get(name)))
    if report.service_us:
        table.add_row("service p99 from actual send (ms)", _ms(report.service_us.get("p99")))
    if report.schedule_lag_us:
        table.add_row(
            "schedule lag p99 / max (ms)",
            f"{_ms(report.schedule_lag_us.get('p99'))} / {_ms(report.schedule_lag_us.get('max'))}",
        )
    errors = ", ".join(f"{k} {v:,}" for k, v in report.errors.items()) or "none"
    table.add_row("errors", errors)
    total = sum(report.versions.values())
    versions = ", ".join(f"{k or '(empty)'}: {v:,} ({100 * v / total:.1f}%)" for k, v in report.versions.items()) or "-"
    table.add_row("versions seen", versions)
    per_req = report.client_cpu_us_per_request
    table.add_row("client CPU", f"{report.client_cpu_s:.2f} s" + (f", {per_req:.0f} us/request" if per_req else ""))
    return "\n".join([table.render(), *(f"  {code}: {example}" for code, example in report.error_examples.items())])
