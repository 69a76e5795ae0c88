"""driftgate on several hosts: a registry host, two gateway hosts and HAProxy (HTTP/2 on both sides) in
front of the gateways, each host a Linux network namespace on a private bridge (tests/multihost/netns.py),
the processes the real ``driftgate registry``, ``driftgate gateway`` and ``haproxy -f
deploy/haproxy/haproxy.cfg``, clients run on a client host (tests/multihost/hostclient.py, the CLI).

Shown: both gateways subscribe to the registry over the network; the registry merges both gateways'
drift windows and scored rows (labels join rows scored on either); a routing key gets the same version
from either gateway and through the balancer, before, during and after a traffic change, which drives
both; a gateway host SIGKILLed under load through the balancer costs at most 1% of the requests.

Every hop is TLS: clients to the balancer and the balancer to the gateways (verified against the test's
CA), gateways to the registry and the CLI to it with client certificates (mTLS). Needs root, iproute2 and
HAProxy (.ci/run installs them); skips with the reason elsewhere, fails in CI. Gateways and the CLI
carry the registry's tokens. PostgreSQL on a host of its own with two registry replicas, and the leader
killed under load: test_multihost_ha.py.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.multihost.hosts import (
    ROOT,
    Lines,
    hostclient,
    kill_under_load,
    require_hosts,
    start_balancer,
    start_gateway,
    tls_env,
)
from tests.multihost.netns import Network
from tests.security.pki import Pki, make_pki

SUBNET = "10.231.0"  # private, inside this suite's own namespaces only
HOSTS = {"registry": f"{SUBNET}.10", "gw1": f"{SUBNET}.11", "gw2": f"{SUBNET}.12", "lb": f"{SUBNET}.20",
         "client": f"{SUBNET}.30"}
REGISTRY = f"{HOSTS['registry']}:8005"
GW1, GW2, LB = f"{HOSTS['gw1']}:8001", f"{HOSTS['gw2']}:8001", f"{HOSTS['lb']}:8001"
ENV = {
    "PYTHONPATH": str(ROOT),
    "DRIFTGATE_GATEWAY__REPORT_INTERVAL_S": "0.3",
    "DRIFTGATE_ACCURACY__REPORT_INTERVAL_S": "0.3",
    "DRIFTGATE_REGISTRY__DEMO": "true",
}

pytestmark = pytest.mark.slow


@dataclass
class Cluster:
    net: Network
    tmp: Path
    gateways: dict[str, Any]
    pki: Pki
    tokens: dict[str, str]

    def client(self, *args: str, timeout: float = 240) -> dict[str, Any]:
        return hostclient(self.net, self.pki, ENV, *args, timeout=timeout)

    def cli(self, *args: str, timeout: float = 120) -> Any:
        argv = [sys.executable, "-m", "driftgate", "--home", str(self.tmp / "cli"), "--registry", REGISTRY,
                "--ca", str(self.pki.ca.path), "--cert", str(self.pki.client_cert), "--key", str(self.pki.client_key),
                *args]
        out = self.net.run("client", argv, env={**ENV, **self.tokens}, timeout=timeout, cwd=ROOT)
        assert out.returncode == 0, f"driftgate {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}"
        return json.loads(out.stdout) if "--json" in args else out.stdout


def _tokens(registry_home: Path) -> dict[str, str]:
    """The tokens the registry made at its first start (<home>/admin.token, gateway.token), handed to the
    other hosts as an operator would: the CLI's DRIFTGATE_TOKEN, the gateways' DRIFTGATE_GATEWAY__TOKEN."""
    admin, gateway = registry_home / "admin.token", registry_home / "gateway.token"
    if not admin.exists():  # a registry without API tokens (before issue 13's auth half)
        return {}
    return {"DRIFTGATE_TOKEN": admin.read_text().strip(), "DRIFTGATE_GATEWAY__TOKEN": gateway.read_text().strip()}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    haproxy = require_hosts()
    tmp = tmp_path_factory.mktemp("multihost")
    pki = make_pki(tmp / "pki")
    net = Network.create(HOSTS)
    try:
        log = tmp / "registry.log"
        registry = net.popen("registry", [sys.executable, "-m", "driftgate", "--home", str(tmp / "registry"),
                                          "registry", "--host", HOSTS["registry"], "--port", "8005"],
                             env={**ENV, **tls_env(pki, "registry", HOSTS["registry"], mtls=True)}, log=log, cwd=ROOT)
        assert "(mTLS)" in Lines(registry, log).wait(r"registry listening on .*", 300)
        tokens = _tokens(tmp / "registry")
        gateways = {name: start_gateway(net, tmp, pki, name, HOSTS[name], REGISTRY, ENV,
                                        tokens.get("DRIFTGATE_GATEWAY__TOKEN", ""))
                    for name in ("gw1", "gw2")}
        start_balancer(net, tmp, pki, haproxy, HOSTS["lb"], LB, (GW1, GW2))
        cluster = Cluster(net, tmp, gateways, pki, {k: v for k, v in tokens.items() if k == "DRIFTGATE_TOKEN"})
        for target in (GW1, GW2, LB):
            assert cluster.client("ready", target, "--timeout", "120")["ready"], f"{target} never became ready"
        yield cluster
    finally:
        net.close()


def test_registry_merges_drift_and_scored_rows_from_both_gateways(cluster: Cluster) -> None:
    rows = {"gw1": 600, "gw2": 400}
    for i, (name, target) in enumerate((("gw1", GW1), ("gw2", GW2))):
        done = cluster.client("score", target, "--rows", str(rows[name]), "--seed", str(i + 1), "--prefix", name,
                              "--labels-csv", str(cluster.tmp / f"{name}.csv"))
        assert done["rows"] == rows[name]
    total = sum(rows.values())
    deadline = time.monotonic() + 30
    while True:  # reports leave every 0.3 s; wait (bounded) until both gateways' rows arrived
        accuracy = cluster.cli("accuracy", "fraud", "--json")
        drift = cluster.cli("drift", "fraud", "--window", "5m", "--json")
        scored = sum(v["scored"] for v in accuracy["versions"])
        drifted = sum(v["rows"] for v in drift["versions"])
        if (scored, drifted) == (total, total) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert (scored, drifted) == (total, total), "the registry counts every row scored on either gateway"
    for name in rows:
        joined = cluster.cli("feedback", "fraud", "--file", str(cluster.tmp / f"{name}.csv"), "--json")
        assert (joined["joined"], joined["unknown"]) == (rows[name], 0), (name, joined)
    (version,) = cluster.cli("accuracy", "fraud", "--json")["versions"]
    assert version["labelled"] == total and 0.5 < version["auc"] <= 1.0
    shown = cluster.cli("models", "show", "fraud", "--json")
    states = {g["gateway_id"]: g["state"] for v in shown["versions"] for g in v.get("gateways", [])}
    assert states == {"gw1": "READY", "gw2": "READY"}, states


def _register_v2(cluster: Cluster) -> None:
    import numpy as np

    from driftgate.demo import generate, train_demo_model

    data = generate(3000, seed=21)
    trained = train_demo_model(data.X, data.y, seed=21, kind="logreg")
    (cluster.tmp / "v2.onnx").write_bytes(trained.onnx)
    np.save(cluster.tmp / "ref.npy", trained.reference)
    cluster.cli("traffic", "set", "fraud", "1=100")  # registering 2 must not move traffic yet
    cluster.cli("models", "register", "fraud", str(cluster.tmp / "v2.onnx"),
                "--reference", str(cluster.tmp / "ref.npy"))
    deadline = time.monotonic() + 60
    while True:
        shown = cluster.cli("models", "show", "fraud", "--json")
        v2 = next(v for v in shown["versions"] if int(v["version"]) == 2)
        states = {g["gateway_id"]: g["state"] for g in v2.get("gateways", [])}
        if states == {"gw1": "READY", "gw2": "READY"}:
            return
        assert time.monotonic() < deadline, f"version 2 not READY on both gateways: {states}"
        time.sleep(0.5)


def test_a_key_gets_one_version_everywhere_and_a_rollout_drives_both(cluster: Cluster) -> None:
    _register_v2(cluster)
    pinned = cluster.client("versions", GW1, "--agree-with", GW2, "--agree-with", LB, "--expect", "1",
                            "--timeout", "30")
    assert pinned["settled"], pinned

    cluster.cli("traffic", "set", "fraud", "1=50", "2=50", "--reason", "canary on both hosts")
    split = cluster.client("versions", GW1, "--agree-with", GW2, "--agree-with", LB, "--expect", "1,2",
                           "--timeout", "30")
    assert split["settled"], "both gateways (and the balancer) give every key the same version"
    maps = list(split["versions"].values())
    assert maps[0] == maps[1] == maps[2]
    share = sum(v == "2" for v in maps[0].values()) / len(maps[0])
    assert 0.3 < share < 0.7, share

    cluster.cli("traffic", "set", "fraud", "2=100", "--reason", "promote")
    promoted = cluster.client("versions", GW1, "--agree-with", GW2, "--agree-with", LB, "--expect", "2",
                              "--timeout", "30")
    assert promoted["settled"], promoted
    moved = [k for k, v in maps[0].items() if v == "1"]
    assert moved and all(promoted["versions"][GW1][k] == "2" for k in moved)


def test_a_gateway_host_killed_under_load_costs_at_most_one_percent(cluster: Cluster) -> None:
    requests = 3000
    result = kill_under_load(cluster.net, cluster.pki, ENV, cluster.tmp, LB, cluster.gateways["gw1"],
                             requests=requests, concurrency=8, mark=1000)
    print("load through the balancer, gw1 SIGKILLed after 1,000:", json.dumps(result))  # shown with -s / -rA
    failed = requests - result["counts"].get("OK", 0)
    assert failed <= requests // 100, result
