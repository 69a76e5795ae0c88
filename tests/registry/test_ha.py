"""Two registry replicas on one PostgreSQL (tests/pg.py): one leader runs the loops; the leader is
SIGKILLed mid-rollout, the other replica takes over, the rollout finishes, and no client request
fails. Two gateways are given both addresses, in opposite orders: one reports to the leader and
fails over, the other reports to the follower, which passes its reports on to the leader. The CLI
is given both addresses too."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from registry_helpers import Models, make_settings, register, report_ready
from test_rollout_e2e import ENV, Client

from driftgate.control_channel import LEADER_SERVICE, grpc_options
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.proto.v1 import control_pb2_grpc
from driftgate.registry.server import RegistryServer
from tests.auth_helpers import admin_token, gateway_token, local_aio_channel, local_channel
from tests.conftest import Served, wait_ready

SERVING = health_pb2.HealthCheckResponse.SERVING


class Process:
    def __init__(self, argv: list[str], pattern: str, env: dict[str, str], timeout: float = 240) -> None:
        self.popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                      env={**os.environ, **env})
        assert self.popen.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.popen.stdout.readline()
            if not line:
                break
            if m := re.search(pattern, line):
                self.address = m.group(1)
                threading.Thread(target=lambda: [None for _ in self.popen.stdout], daemon=True).start()  # type: ignore[union-attr]
                return
        self.popen.kill()
        raise RuntimeError(f"{argv} did not start")

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


def _leads(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=LEADER_SERVICE),
                                                              timeout=2)
        except grpc.RpcError:
            return False
        return bool(reply.status == SERVING)


def _gateways(address: str, home: Path) -> int:
    with local_channel(address, home) as channel:  # a registry home's admin token (shared database: valid on both)
        reply = control_pb2_grpc.ControlStub(channel).ListGateways(pb.ListGatewaysRequest(), timeout=5)
    return len(reply.gateways)


def _until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _cli(home: Path, registries: str, *args: str) -> subprocess.CompletedProcess[str]:
    token = admin_token(home / "a")  # the first registry's; the replicas share the database
    return subprocess.run([sys.executable, "-m", "driftgate", "--home", str(home), "--registry", registries,
                           "--token", token, *args],
                          capture_output=True, text=True, timeout=120)


def _rollout(home: Path, registries: str) -> dict:  # type: ignore[type-arg]
    result = _cli(home, registries, "rollout", "status", "fraud", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _wait_rollout(home: Path, registries: str, states: tuple[str, ...], timeout: float = 150) -> dict:  # type: ignore[type-arg]
    status: dict = {}  # type: ignore[type-arg]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = _rollout(home, registries)
        if status.get("rollout") and status["rollout"]["state"] in states:
            return status
        if status["runs"] and status["runs"][0]["state"] in ("failed", "rejected"):
            raise AssertionError(f"retrain ended {status['runs'][0]['state']}: {status['runs'][0]['reason']}")
        time.sleep(0.3)
    raise AssertionError(f"no rollout reached {states}: {status}")


@pytest.mark.slow
def test_the_leader_killed_mid_rollout_another_replica_finishes_it(tmp_path: Path, pg_url: str) -> None:
    env = {**ENV, "DRIFTGATE_ROLLOUT__STEP_HOLD_S": "4", "DRIFTGATE_REGISTRY__LEADER_CHECK_S": "0.2"}
    base = [sys.executable, "-m", "driftgate"]
    registry = ["registry", "--port", "0", "--database-url", pg_url]
    processes: list[Process] = []
    clients: list[Client] = []
    try:
        first = Process([*base, "--home", str(tmp_path / "a"), *registry], r"registry listening on (\S+)", env)
        processes.append(first)  # trains and registers the demo model, then leads (it was alone)
        second = Process([*base, "--home", str(tmp_path / "b"), *registry, "--no-demo"],
                         r"registry listening on (\S+)", env)
        processes.append(second)
        _until(lambda: _leads(first.address), 30, "the first registry to lead")
        assert not _leads(second.address)
        both = f"{first.address},{second.address}"
        # one gateway reaches the leader first, the other a follower (which passes its reports on)
        for name, order in (("g1", both), ("g2", f"{second.address},{first.address}")):
            processes.append(Process([*base, "--home", str(tmp_path / name), "--registry", order,
                                      "--token", gateway_token(tmp_path / "a"), "gateway",
                                      "--host", "127.0.0.1", "--port", "0", "--metrics-port", "-1"],
                                     r"gateway listening on (\S+)", env))
        gateways = processes[2:]
        for gateway in gateways:
            wait_ready(gateway.address, 120)
        clients = [Client(Served(tmp_path, g.popen, gateway=g.address)) for g in gateways]  # type: ignore[arg-type]
        for client in clients:
            client.start()
        _until(lambda: _gateways(first.address, tmp_path / "a") == 2, 30, "the leader to hear of both gateways")
        run = _cli(tmp_path, both, "retrain", "fraud", "--data-option", "drift=amount_shift", "--reason", "ha")
        assert run.returncode == 0, run.stderr
        in_step = _wait_rollout(tmp_path, both, ("canary",))

        first.kill()  # SIGKILL: no goodbye, its lock goes with its database session
        _until(lambda: _leads(second.address), 30, "the second registry to lead")
        done = _wait_rollout(tmp_path, both, ("done", "rolled_back"))  # the CLI fails over to the second
        assert done["rollout"]["id"] == in_step["rollout"]["id"]
        assert done["rollout"]["state"] == "done", done
        assert done["champion"] == 2
    finally:
        for client in clients:
            client.stop.set()
            client.join(10)
        for process in reversed(processes):
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
                try:
                    process.popen.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
    assert len(clients) == 2
    for client in clients:
        assert client.failed == 0, client.errors[:5]
        assert client.sent > 100


async def test_replicas_registering_at_once_number_versions_without_clashing(tmp_path: Path, pg_url: str,
                                                                           models: Models) -> None:
    replicas = [RegistryServer(make_settings(tmp_path / name, database_url=pg_url)) for name in ("a", "b")]
    channels = []
    try:
        for replica in replicas:
            await replica.start()
            channels.append(local_aio_channel(replica.address, replica.settings.home, options=grpc_options()))
        leaders = [replica.leadership.is_leader for replica in replicas]
        assert sorted(leaders) == [False, True]  # exactly one runs the loops
        stubs = [control_pb2_grpc.ControlStub(c) for c in channels]
        infos = await asyncio.gather(*(register(stubs[i % 2], "fraud", models.v1 if i % 2 else models.v2)
                                       for i in range(6)))
        assert sorted(info.version for info in infos) == [1, 2, 3, 4, 5, 6]
    finally:
        for channel in channels:
            await channel.close()
        for replica in replicas:
            await replica.stop(0.5)


async def test_a_follower_passes_gateway_reports_on_to_the_leader(tmp_path: Path, pg_url: str,
                                                                 models: Models) -> None:
    leader = RegistryServer(make_settings(tmp_path / "a", database_url=pg_url))
    follower = RegistryServer(make_settings(tmp_path / "b", database_url=pg_url))
    channels = []
    try:
        await leader.start()
        await follower.start()
        assert leader.leadership.is_leader and not follower.leadership.is_leader
        channels = [local_aio_channel(r.address, r.settings.home, options=grpc_options()) for r in (leader, follower)]
        to_leader, to_follower = (control_pb2_grpc.ControlStub(c) for c in channels)
        await register(to_leader, "fraud", models.v1)
        await report_ready(to_follower, "gateway-on-the-follower", "fraud", {1: "READY"})
        end = time.monotonic() + 30
        while time.monotonic() < end:
            heard = await to_leader.ListGateways(pb.ListGatewaysRequest())
            if [g.gateway_id for g in heard.gateways] == ["gateway-on-the-follower"]:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the leader never heard of the gateway that reported to the follower")
        # the leader's gates see it: traffic may move onto version 1 through the leader
        changed = await to_leader.SetTraffic(
            pb.SetTrafficRequest(model="fraud", weights=[pb.RouteWeight(version=1, weight=1)]))
        assert changed.mode == "weights"
        # a gateway watching the follower gets the change the leader committed
        wanted = leader.catalogue.generation()
        async for config in to_follower.WatchConfig(pb.WatchConfigRequest(gateway_id="g")):
            if config.generation >= wanted:
                break
    finally:
        for channel in channels:
            await channel.close()
        await follower.stop(0.5)
        await leader.stop(0.5)
