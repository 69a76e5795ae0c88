"""The closed loop through a real ``driftgate serve``: a manual retrain canaries and promotes, then a bad
challenger forced into a canary is rolled back by a gate; a client scores all along and no request fails."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import grpc
import pytest

from driftgate.demo import generate
from driftgate.proto.inference import grpc_service_pb2 as pb
from tests.conftest import Served, start_served, stop_served

ENV = {
    "DRIFTGATE_DRIFT__WINDOW_SECONDS": "2",
    "DRIFTGATE_GATEWAY__REPORT_INTERVAL_S": "0.5",
    "DRIFTGATE_ROLLOUT__STEPS": "[20, 100]",
    "DRIFTGATE_ROLLOUT__STEP_HOLD_S": "1.5",
    "DRIFTGATE_ROLLOUT__STEP_MIN_REQUESTS": "40",
    "DRIFTGATE_ROLLOUT__KEEP_OLD_S": "1",
    "DRIFTGATE_ROLLOUT__ROWS": "20000",
    "DRIFTGATE_ROLLOUT__EVAL_MARGIN": "0.2",
    "DRIFTGATE_ROLLOUT__TICK_S": "0.25",
    # This test is about the flow (promote a good challenger, roll back a bad one), with only ~40
    # canary requests a step on a shared 2-core box: a p99 of 40 samples is its maximum, and a
    # score PSI over 19 bins from 40 rows is noisy. The bad challenger's score PSI is 3.3-3.7, so a
    # gate at 1.5 still catches it; latency is not under test here.
    "DRIFTGATE_ROLLOUT__MAX_SCORE_PSI": "1.5",
    "DRIFTGATE_ROLLOUT__MAX_P99_RATIO": "50",
}


class Client(threading.Thread):
    def __init__(self, served: Served) -> None:
        super().__init__(daemon=True)
        self.stub = served.stub()
        self.sent = self.failed = 0
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        X = generate(4000, seed=7, drift="amount_shift").X
        i = 0
        while not self.stop.is_set():
            x = X[i % 1000 * 4 : i % 1000 * 4 + 4]
            i += 1
            req = pb.ModelInferRequest(model_name="fraud")
            req.inputs.add(name="transaction", datatype="FP32", shape=list(x.shape))
            req.raw_input_contents.append(x.tobytes())
            self.sent += 1
            try:
                self.stub.ModelInfer(req, timeout=5)
            except grpc.RpcError as exc:
                self.failed += 1
                self.errors.append(f"{exc.code().name}: {exc.details()}")
            time.sleep(0.01)


def _wait_rollout(served: Served, done: tuple[str, ...], after: int = 0, timeout: float = 150) -> dict:  # type: ignore[type-arg]
    end = time.monotonic() + timeout
    status: dict = {}  # type: ignore[type-arg]
    while time.monotonic() < end:
        result = served.cli("rollout", "status", "fraud", "--json", check=False)
        if result.returncode != 0:  # the registry is restarting
            time.sleep(0.5)
            continue
        status = json.loads(result.stdout)
        r = status.get("rollout")
        if r and r["id"] > after and r["state"] in done:
            return status
        if status["runs"] and status["runs"][0]["state"] in ("failed", "rejected"):
            raise AssertionError(f"retrain ended {status['runs'][0]['state']}: {status['runs'][0]['reason']}")
        time.sleep(0.5)
    raise AssertionError(f"no rollout reached {done}: {status}")


@pytest.mark.slow
def test_retrain_canary_promote_then_bad_rolled_back(tmp_path: Path) -> None:
    served = start_served(tmp_path / "home", env=ENV)
    client = Client(served)
    try:
        client.start()
        served.cli("retrain", "fraud", "--data-option", "drift=amount_shift", "--reason", "test")
        first = _wait_rollout(served, ("done", "rolled_back"))
        assert first["rollout"]["state"] == "done", first
        assert first["champion"] == 2
        run = served.cli("retrain", "fraud", "--trainer-option", "kind=bad", "--force", "--reason", "bad")
        assert run.returncode == 0
        second = _wait_rollout(served, ("done", "rolled_back"), after=first["rollout"]["id"])
        assert second["rollout"]["state"] == "rolled_back", second
        assert second["champion"] == 2
        time.sleep(1)
    finally:
        client.stop.set()
        client.join(10)
        events = served.cli("events", "fraud", "--limit", "200", "--json").stdout
        assert stop_served(served) == 0
    assert client.failed == 0, client.errors[:5]
    assert client.sent > 100
    models = {e["kind"] for e in json.loads(events)["events"]}
    assert {"retrain_started", "retrain_registered", "rollout_promoted", "rollout_rolled_back",
            "version_rolled_back", "version_retired"} <= models


def _registry_pid(served: Served) -> int:
    import subprocess

    out = subprocess.run(["pgrep", "-f", "--", f"--home {served.home} registry"], capture_output=True, text=True).stdout
    pids = [int(p) for p in out.split()]
    assert pids, "registry process not found"
    return max(pids)


@pytest.mark.slow
def test_registry_killed_mid_rollout_resumes_and_no_request_fails(tmp_path: Path) -> None:
    import os
    import signal

    env = {**ENV, "DRIFTGATE_ROLLOUT__STEP_HOLD_S": "4"}  # long enough to kill it inside a step
    served = start_served(tmp_path / "home", env=env)
    client = Client(served)
    try:
        client.start()
        served.cli("retrain", "fraud", "--data-option", "drift=amount_shift", "--reason", "test")
        in_step = _wait_rollout(served, ("canary",))
        os.kill(_registry_pid(served), signal.SIGKILL)  # the supervisor restarts it on its port
        done = _wait_rollout(served, ("done", "rolled_back"))
        assert done["rollout"]["id"] == in_step["rollout"]["id"]  # the same rollout, resumed
        assert done["rollout"]["state"] == "done", done
        assert done["champion"] == 2
    finally:
        client.stop.set()
        client.join(10)
        assert stop_served(served) == 0
    assert client.failed == 0, client.errors[:5]
    assert client.sent > 100
