"""``driftgate serve --workers 2``: two gateway processes serve one port (SO_REUSEPORT), both take requests
(each counts its own on its own metrics port, and each reports to the registry under its own id), and a
worker that is killed is restarted by the supervisor on the same port, as docs/architecture.md promises,
and serves again while the other one never stopped."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import grpc
import pytest

from driftgate.demo import generate
from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.proto.inference import grpc_service_pb2_grpc
from tests.conftest import Served, start_served, stop_served

X = generate(64, seed=5).X


def _metrics_ports(served: Served) -> list[int]:
    """The workers' metrics ports, in the order they printed them (a restarted worker prints a new one)."""
    return [int(m.group(1)) for line in list(served.lines)
            if (m := re.search(r"metrics on http://[\d.]+:(\d+)/metrics", line))]


def _served_requests(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return sum(float(v) for v in re.findall(r'^driftgate_requests_total\{[^}]*model="fraud"[^}]*\} (\S+)$', text, re.M))


def _send(address: str, connections: int, per_connection: int = 3) -> int:
    """Requests over ``connections`` new connections (the kernel spreads connections, not requests, over
    the workers); returns how many failed."""
    request = pb.ModelInferRequest(model_name="fraud")
    request.inputs.add(name="transaction", datatype="FP32", shape=[4, X.shape[1]])
    request.raw_input_contents.append(X[:4].tobytes())
    failed = 0
    for _ in range(connections):
        with grpc.insecure_channel(address) as channel:
            stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
            for _ in range(per_connection):
                try:
                    stub.ModelInfer(request, timeout=10)
                except grpc.RpcError:
                    failed += 1
    return failed


def _worker_pid(served: Served, index: int) -> int:
    out = subprocess.run(["pgrep", "-f", "--", f"--home {served.home} gateway .*--worker-index {index}"],
                         capture_output=True, text=True).stdout
    pids = [int(p) for p in out.split()]
    assert len(pids) == 1, (index, pids)
    return pids[0]


def _gateways_ready(served: Served) -> set[str]:
    """Ids of the gateways that report fraud v1 READY to the registry."""
    show = json.loads(served.cli("models", "show", "fraud", "--json").stdout)
    return {g["gateway_id"] for v in show["versions"] if v["version"] == 1
            for g in v.get("gateways", []) if g["state"] == "READY"}


def _eventually(check, what: str, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.2)


@pytest.mark.slow
def test_two_workers_share_a_port_both_serve_and_a_killed_one_is_restarted(tmp_path: Path) -> None:
    served = start_served(tmp_path / "home", "--workers", "2")
    try:
        first = _eventually(lambda: (p := _metrics_ports(served)) and len(p) >= 2 and p, "both workers' metrics")
        assert len(set(first)) == 2
        assert _send(served.gateway, connections=30) == 0
        counts = [_served_requests(p) for p in first]
        assert all(c > 0 for c in counts), counts  # both workers took requests on the one port
        ids = _eventually(lambda: (g := _gateways_ready(served)) and len(g) == 2 and g, "two gateways in the registry")
        pids = {_worker_pid(served, 0), _worker_pid(served, 1)}
        assert {int(i.rsplit(":", 1)[1]) for i in ids} == pids  # each worker reports under its own host:pid

        killed = _worker_pid(served, 1)
        os.kill(killed, signal.SIGKILL)
        restarted = _eventually(lambda: (p := _metrics_ports(served)) and len(p) >= 3 and p, "worker 1 restarted")
        new_pid = _worker_pid(served, 1)
        assert new_pid != killed
        log = (served.home / "serve.log").read_text()
        assert "gateway-1 exited with code -9; restarting in" in log
        _eventually(lambda: any(i.endswith(f":{new_pid}") for i in _gateways_ready(served)),
                    "the restarted worker READY in the registry")
        # the restarted worker serves on the same port again: new connections reach it
        _eventually(lambda: _send(served.gateway, connections=10) == 0 and _served_requests(restarted[-1]) > 0,
                    "requests reach the restarted worker")
        assert _served_requests(first[0]) > counts[0]  # and worker 0 never stopped serving
    finally:
        assert stop_served(served) == 0


def test_gateway_workers_runs_that_many_processes_on_one_port(tmp_path: Path) -> None:
    """``driftgate gateway --workers 2`` (a gateway host of its own, docs/deploy.md) starts two workers on one
    port, as ``serve`` does, and stops them cleanly (it used to run one process whatever N said)."""
    import sys

    home = tmp_path / "home"
    registry = subprocess.Popen([sys.executable, "-m", "driftgate", "--home", str(home), "registry", "--port", "0",
                                 "--no-demo", "--dashboard-port", "-1"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    gateway = None
    try:
        assert registry.stdout is not None
        assert registry.stdout.readline().startswith("registry listening on")  # it wrote the gateway's token
        gateway = subprocess.Popen([sys.executable, "-m", "driftgate", "--home", str(home), "gateway", "--workers", "2",
                                    "--host", "127.0.0.1", "--port", "0", "--metrics-port", "-1"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert gateway.stdout is not None
        lines = []
        for line in gateway.stdout:
            lines.append(line)
            if line.startswith("driftgate gateway: "):
                break
        assert lines and lines[-1].startswith("driftgate gateway: 2 workers on 127.0.0.1:"), lines
        address = lines[-1].split()[-1]
        listening = [line.split()[3] for line in lines if line.startswith("gateway listening on")]
        assert listening == [address, address], lines
        pids = [int(p) for p in subprocess.run(["pgrep", "-f", "--", f"--home {home} gateway .*--worker-index"],
                                               capture_output=True, text=True).stdout.split()]
        assert len(pids) == 2 and gateway.pid not in pids
        with grpc.insecure_channel(address) as channel:
            assert grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel).ServerLive(
                pb.ServerLiveRequest(), timeout=10).live
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(60) == 0
    finally:
        for process in (gateway, registry):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(60)
