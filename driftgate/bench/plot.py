"""Latency percentiles against throughput, one PNG per sweep (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from driftgate.bench.report import Report

__all__ = ["plot_sweep"]

_STYLES = {"p50": ":", "p90": "-.", "p99": "-", "p99.9": "--"}


def _point_label(report: Report) -> str:
    s = report.settings
    return f"{s['rate']:g}/s" if s.get("rate") else f"c{s['concurrency']}"


def plot_sweep(series: Mapping[str, Sequence[Report]], path: str | Path, title: str = "") -> Path:
    """One line per (series, percentile): x = throughput (req/s), y = latency (ms, log scale).

    With one series every percentile is drawn; with several, p50 and p99 of each.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    percentiles = list(_STYLES) if len(series) == 1 else ["p50", "p99"]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, reports) in enumerate(series.items()):
        color = colors[i % len(colors)]
        xs = [r.throughput_rps for r in reports]
        for j, p in enumerate(percentiles):
            ys = [r.latency_us.get(p, float("nan")) / 1000 for r in reports]
            c = colors[j % len(colors)] if len(series) == 1 else color
            label = p if len(series) == 1 else f"{name} {p}"
            ax.plot(xs, ys, _STYLES[p], marker="o", color=c, label=label)
        top = [r.latency_us.get(percentiles[-1], float("nan")) / 1000 for r in reports]
        for x, y, r in zip(xs, top, reports, strict=True):
            ax.annotate(_point_label(r), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)
    ax.set_yscale("log")
    ax.set_xlabel("throughput (req/s)")
    ax.set_ylabel("latency (ms)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
