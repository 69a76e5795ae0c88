"""What deploy/grafana/driftgate.json and deploy/prometheus/alerts.yml ask Prometheus for, and what
a /metrics page exports, as sets of metric names (shared by the rule checks and the e2e scrape)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ALERTS", "DASHBOARD", "exported_metrics", "expressions", "referenced_metrics"]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "driftgate.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
_NAME = re.compile(r"\bdriftgate_[a-z0-9_]+")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}


def _walk(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in ("expr", "definition") and isinstance(v, str)]
        return found + [e for v in node.values() for e in _walk(v)]
    if isinstance(node, list):
        return [e for v in node for e in _walk(v)]
    return []


def expressions() -> dict[str, list[str]]:
    """Every PromQL expression of the dashboard and of the rules, by file."""
    rules = yaml.safe_load(ALERTS.read_text())
    return {
        "dashboard": _walk(json.loads(DASHBOARD.read_text())),
        "alerts": [r["expr"] for g in rules["groups"] for r in g["rules"]],
    }


def referenced_metrics() -> set[str]:
    return {name for exprs in expressions().values() for e in exprs for name in _NAME.findall(e)}


def exported_metrics(text: str) -> set[str]:
    """Metric names a Prometheus text page exports: every family (with its type's sample
    suffixes, so a family with no sample yet still counts) and every sample name."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            names.update(name + s for s in _SUFFIXES.get(kind, ()))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names
