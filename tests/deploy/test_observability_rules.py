"""deploy/prometheus/alerts.yml and deploy/grafana/driftgate.json are well formed: promtool checks
the rules (Debian's prometheus package; CI installs it), and a structural check runs everywhere.
That every metric they name is exported is checked against real endpoints in
tests/registry/test_stats_e2e.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import yaml

from tests.deploy.observability import ALERTS, DASHBOARD, expressions, referenced_metrics
from tests.requirements import require

_DURATION = re.compile(r"^\d+[smhdwy]$")


def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    require(promtool is not None, "promtool is not installed (Debian: apt-get install prometheus)")
    result = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_are_structurally_sound() -> None:
    doc = yaml.safe_load(ALERTS.read_text())
    names = set()
    for group in doc["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert rule["alert"] not in names
            names.add(rule["alert"])
            assert rule["expr"].count("(") == rule["expr"].count(")")
            assert "for" not in rule or _DURATION.match(rule["for"])
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert rule["annotations"]["summary"]
    assert {"DriftgateDriftMajor", "DriftgateAccuracyDegraded", "DriftgateRolloutRolledBack",
            "DriftgateGatewayBehindOnConfig"} <= names


def test_dashboard_is_well_formed() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "driftgate" and dash["panels"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
    exprs = expressions()["dashboard"]
    assert all(e.count("(") == e.count(")") and e.count("{") == e.count("}") for e in exprs)
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for topic in ("requests/s", "p99", "errors", "psi", "accuracy", "rejections", "config lag"):
        assert topic in titles, topic
    assert len(referenced_metrics()) >= 10
