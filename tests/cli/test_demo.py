"""``driftgate demo`` as a user runs it: a real process that starts its own ``driftgate serve`` and tells the
closed loop's story with ``--quick`` (the same loop with short canary steps): the traffic drifts, the drift
alert starts a retrain (the retrain policy's drift trigger), the challenger is canaried and promoted, a bad
challenger is rolled back by a gate, and not one client request fails. ``driftgate --home X demo`` keeps its
state under X."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from driftgate.cli.main import DEFAULT_HOME, build_parser

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_takes_home_before_or_after_its_name_and_a_temporary_one_by_default() -> None:
    parser = build_parser()
    assert parser.parse_args(["--home", "x", "demo"]).home == Path("x")
    assert parser.parse_args(["demo", "--home", "y"]).home == Path("y")
    assert parser.parse_args(["demo"]).home is DEFAULT_HOME  # the demo then makes a temporary folder


@pytest.mark.slow
def test_demo_quick_promotes_a_good_retrain_rolls_back_a_bad_one_and_no_request_fails(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    result = subprocess.run(
        [sys.executable, "-m", "driftgate", "--home", str(home), "demo", "--quick", "--json", "--dashboard-port", "-1"],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    story = json.loads(result.stdout)
    assert story["failed_requests"] == 0, story["errors"]
    assert story["requests_sent"] > 100
    assert story["promoted_version"] == 2 and story["rolled_back_version"] == 3, story["milestones"]
    assert story["final_status"]["champion"] == 2

    timeline = story["timeline"]  # the audit log, oldest first
    kinds = [e["kind"] for e in timeline]
    for kind in ("retrain_policy_set", "drift_alert", "retrain_started", "rollout_promoted", "rollout_rolled_back"):
        assert kind in kinds, kinds
    first_retrain = next(e for e in timeline if e["kind"] == "retrain_started")
    # started by the drift trigger, by driftgate itself, naming the alert that fired it
    assert first_retrain["actor"] == "driftgate"
    assert "started (drift): fraud version 1:" in first_retrain["message"], first_retrain
    assert "drift is" in first_retrain["message"]
    assert kinds.index("drift_alert") < kinds.index("retrain_started")

    # the state lives under the --home given before the subcommand, and stays there
    assert (home / "registry.db").is_file() and (home / "serve.log").is_file()
    assert (home / "admin.token").is_file()
