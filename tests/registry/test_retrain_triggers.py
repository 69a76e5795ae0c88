"""The closed loop's automatic triggers, as an operator sets them: a real registry on port 0 and the
CLI's main(). ``driftgate retrain-policy MODEL --on schedule --every 1s`` starts a retrain about a second
later, once, and the audit log says why ("scheduled every 1 s", actor driftgate).

The drift trigger (a drift alert from the gateways' reports starts a retrain) runs end to end in
tests/cli/test_demo.py: ``driftgate demo --quick`` sets a policy ``--on drift`` on a real ``driftgate serve``
and its timeline must show the retrain started by the alert.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from registry_helpers import make_settings, npy

from driftgate.cli.main import main as cli_main
from driftgate.control_channel import grpc_options
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.proto.v1 import control_pb2_grpc
from driftgate.registry.server import RegistryServer
from driftgate.settings import RolloutSettings
from tests.auth_helpers import local_aio_channel


async def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    code = await asyncio.to_thread(cli_main, list(argv))
    out = capsys.readouterr().out
    assert code == 0, out
    return out


async def test_a_schedule_starts_a_retrain_and_the_audit_log_says_why(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from driftgate.demo import generate, train_demo_model

    settings = make_settings(tmp_path)
    # the controller's smallest useful tick; few rows and the logistic trainer keep the retrain ~a second
    settings.rollout = RolloutSettings(tick_s=0.1, rows=2000)
    data = generate(2000, seed=1)
    champion = train_demo_model(data.X, data.y, seed=1, kind="logreg")
    server = RegistryServer(settings)
    await server.start()
    channel = local_aio_channel(server.address, settings.home, options=grpc_options())
    home = str(settings.home)
    try:
        stub = control_pb2_grpc.ControlStub(channel)
        await stub.RegisterVersion(pb.RegisterVersionRequest(
            model="fraud", onnx=champion.onnx, reference_npy=npy(champion.reference), actor="t"))
        set_at = time.time()
        out = await _cli(capsys, "--home", home, "retrain-policy", "fraud", "--on", "schedule", "--every", "1s",
                         "--trainer-option", "kind=logreg", "--auto-rollout", "off")
        assert "retrains on schedule (every 1 s)" in out

        deadline = time.monotonic() + 60
        runs: list[dict] = []  # type: ignore[type-arg]
        while time.monotonic() < deadline:
            status = json.loads(await _cli(capsys, "--home", home, "rollout", "status", "fraud", "--json"))
            runs = status["runs"]
            if runs and runs[-1]["state"] != "running":
                break
            await asyncio.sleep(0.2)
        assert runs, "no retrain started within a minute of the schedule"
        first = runs[-1]  # newest first
        assert first["id"] == 1 and first["trigger"] == "schedule" and first["actor"] == "driftgate", first
        # it ran to its end (its reason is now the outcome; the start's reason is in the audit log)
        assert first["state"] in ("registered", "rejected"), first
        # stop the schedule before the next period can start another
        await _cli(capsys, "--home", home, "retrain-policy", "fraud", "--on", "manual")

        events = json.loads(await _cli(capsys, "--home", home, "events", "fraud", "--limit", "100", "--json"))
        started = [e for e in events["events"] if e["kind"] == "retrain_started"]
        assert started, events
        ours = started[-1]  # the oldest: the first one the schedule started
        assert ours["actor"] == "driftgate"
        assert ours["message"] == "retrain #1 of fraud started (schedule): scheduled every 1 s", ours
        assert _seconds(ours["at"]) >= set_at + 1 - 0.5  # not before the period (the log's times are coarse)
        policy_set = [e for e in events["events"] if e["kind"] == "retrain_policy_set"]
        assert any("retrains on schedule" in e["message"] for e in policy_set), policy_set
    finally:
        await channel.close()
        await server.stop(0.5)


def _seconds(at: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
