"""driftgate highly available on several hosts: PostgreSQL on a host of its own, two registry replicas on
two hosts against it, two gateway hosts given both replicas (``--registry A,B`` and ``B,A``), HAProxy in
front of the gateways, clients on a client host; each host a Linux network namespace on a private bridge
(tests/multihost/netns.py), every process the real program (Debian's postgres, ``driftgate registry``,
``driftgate gateway``, ``haproxy -f deploy/haproxy/haproxy.cfg``).

Shown: a version registered and a traffic change made through the follower replica drive both gateways
(a key gets the same version from either gateway and through the balancer); the LEADER replica (found
through its ``driftgate.v1.Leader`` health service) SIGKILLed while a bounded client loop sends requests
through the balancer costs no request; the other replica leads, and a traffic change made through it
afterwards reaches both gateways.

Every driftgate hop is TLS (registries advertise their own addresses, certificates carry them), the
registry API is called with the replicas' shared tokens (they live in the database). PostgreSQL trusts
only this suite's private subnet. Needs root, iproute2, HAProxy and PostgreSQL (.ci/run installs them);
skips with the reason elsewhere, fails in CI.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
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
from tests.multihost.netns import PREFIX_LEN, Network
from tests.pg import _bin_dir
from tests.requirements import require
from tests.security.pki import Pki, make_pki

SUBNET = "10.231.0"  # private, inside this suite's own namespaces only
HOSTS = {"db": f"{SUBNET}.40", "rega": f"{SUBNET}.10", "regb": f"{SUBNET}.13", "gw1": f"{SUBNET}.11",
         "gw2": f"{SUBNET}.12", "lb": f"{SUBNET}.20", "client": f"{SUBNET}.30"}
REGISTRIES = {"rega": f"{HOSTS['rega']}:8005", "regb": f"{HOSTS['regb']}:8005"}
GW1, GW2, LB = f"{HOSTS['gw1']}:8001", f"{HOSTS['gw2']}:8001", f"{HOSTS['lb']}:8001"
DATABASE_URL = f"postgresql://postgres@{HOSTS['db']}:5432/postgres"
ENV = {
    "PYTHONPATH": str(ROOT),
    "DRIFTGATE_GATEWAY__REPORT_INTERVAL_S": "0.3",
    "DRIFTGATE_ACCURACY__REPORT_INTERVAL_S": "0.3",
    "DRIFTGATE_REGISTRY__LEADER_CHECK_S": "0.2",
}

pytestmark = pytest.mark.slow


@dataclass
class Cluster:
    net: Network
    tmp: Path
    pki: Pki
    registries: dict[str, subprocess.Popen[str]]
    token: str

    def client(self, *args: str, timeout: float = 240) -> dict[str, Any]:
        return hostclient(self.net, self.pki, ENV, *args, timeout=timeout)

    def cli(self, registry: str, *args: str, timeout: float = 120) -> str:
        argv = [sys.executable, "-m", "driftgate", "--home", str(self.tmp / "cli"), "--registry", registry,
                "--ca", str(self.pki.ca.path), *args]
        out = self.net.run("client", argv, env={**ENV, "DRIFTGATE_TOKEN": self.token}, timeout=timeout, cwd=ROOT)
        assert out.returncode == 0, f"driftgate {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}"
        return out.stdout

    def leader(self, timeout: float = 30) -> str:
        """The one replica whose driftgate.v1.Leader health service is SERVING (bounded wait)."""
        deadline = time.monotonic() + timeout
        while True:
            alive = [REGISTRIES[n] for n, p in self.registries.items() if p.poll() is None]
            leads = self.client("leader", *alive)["leader"]
            leaders = [n for n, address in REGISTRIES.items() if leads.get(address)]
            if len(leaders) == 1:
                return leaders[0]
            assert time.monotonic() < deadline, f"no single leader: {leads}"
            time.sleep(0.3)


@dataclass
class Postgres:
    root: Path
    bin_dir: Path
    as_user: list[str]

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "stop",
                        "-m", "immediate"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def _start_postgres(net: Network, bin_dir: Path) -> Postgres:
    """initdb + pg_ctl as the ``postgres`` user, the server inside the db host's namespace, listening on
    that host's address only, trusting only this suite's subnet."""
    user = pwd.getpwnam("postgres")
    root = Path(tempfile.mkdtemp(prefix="driftgate-pg-ha-"))
    os.chown(root, user.pw_uid, user.pw_gid)
    as_user = ["runuser", "-u", "postgres", "--"]
    server = Postgres(root, bin_dir, as_user)
    init = subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "postgres",
                           "--auth=reject", "-E", "UTF8", "--no-sync", "--no-instructions"],
                          capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr[-1000:]
    # the only door: TCP from this suite's private subnet (initdb's --auth=reject shut the others)
    (root / "data" / "pg_hba.conf").write_text(f"host all postgres {SUBNET}.0/{PREFIX_LEN} trust\n")
    options = (f"-p 5432 -k {root} -c listen_addresses={HOSTS['db']} -c fsync=off -c synchronous_commit=off "
               "-c full_page_writes=off -c max_connections=100")
    started = net.run("db", [*as_user, str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "start", "-w", "-t", "60",
                             "-l", str(root / "server.log"), "-o", options], timeout=90)
    if started.returncode != 0:
        log = (root / "server.log").read_text(errors="replace")[-1000:] if (root / "server.log").exists() else ""
        server.stop()
        raise AssertionError(f"pg_ctl start failed: {started.stderr[-500:]} {log}")
    return server


def _start_registry(net: Network, tmp: Path, pki: Pki, name: str, *, demo: bool) -> subprocess.Popen[str]:
    log = tmp / f"{name}.log"
    env = {**ENV, **tls_env(pki, name, HOSTS[name]), "DRIFTGATE_REGISTRY__ADVERTISE": REGISTRIES[name],
           "DRIFTGATE_REGISTRY__DEMO": "true" if demo else "false"}
    process = net.popen(name, [sys.executable, "-m", "driftgate", "--home", str(tmp / name), "registry",
                               "--host", HOSTS[name], "--port", "8005", "--database-url", DATABASE_URL],
                        env=env, log=log, cwd=ROOT)
    assert "(TLS)" in Lines(process, log).wait(r"registry listening on .*", 300)
    return process


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    haproxy = require_hosts()
    bin_dir = _bin_dir()
    require(bin_dir is not None, "no PostgreSQL server binaries (apt-get install postgresql)")
    assert bin_dir is not None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        require(False, "there is no 'postgres' user to run the server as")
    tmp = tmp_path_factory.mktemp("multihost-ha")
    pki = make_pki(tmp / "pki")
    net = Network.create(HOSTS)
    postgres: Postgres | None = None
    try:
        postgres = _start_postgres(net, bin_dir)
        registries = {"rega": _start_registry(net, tmp, pki, "rega", demo=True)}  # registers the demo model
        registries["regb"] = _start_registry(net, tmp, pki, "regb", demo=False)
        # the tokens live in the database: the first replica's files are valid on both
        admin = (tmp / "rega" / "admin.token").read_text().strip()
        gateway = (tmp / "rega" / "gateway.token").read_text().strip()
        a, b = REGISTRIES["rega"], REGISTRIES["regb"]
        start_gateway(net, tmp, pki, "gw1", HOSTS["gw1"], f"{a},{b}", ENV, gateway)
        start_gateway(net, tmp, pki, "gw2", HOSTS["gw2"], f"{b},{a}", ENV, gateway)
        start_balancer(net, tmp, pki, haproxy, HOSTS["lb"], LB, (GW1, GW2))
        cluster = Cluster(net, tmp, pki, registries, admin)
        for target in (GW1, GW2, LB):
            assert cluster.client("ready", target, "--timeout", "120")["ready"], f"{target} never became ready"
        yield cluster
    finally:
        net.close()
        if postgres is not None:
            postgres.stop()


def _register_v2(cluster: Cluster, registry: str) -> None:
    import numpy as np

    from driftgate.demo import generate, train_demo_model

    data = generate(3000, seed=21)
    trained = train_demo_model(data.X, data.y, seed=21, kind="logreg")
    (cluster.tmp / "v2.onnx").write_bytes(trained.onnx)
    np.save(cluster.tmp / "ref.npy", trained.reference)
    cluster.cli(registry, "traffic", "set", "fraud", "1=100")  # registering 2 must not move traffic yet
    cluster.cli(registry, "models", "register", "fraud", str(cluster.tmp / "v2.onnx"),
                "--reference", str(cluster.tmp / "ref.npy"))


def test_the_leader_registry_killed_under_load_costs_nothing_and_the_other_drives_both(cluster: Cluster) -> None:
    leader = cluster.leader()
    follower = next(n for n in REGISTRIES if n != leader)

    # changes made through the follower reach both gateways (one watches the leader, one the follower)
    _register_v2(cluster, REGISTRIES[follower])
    cluster.cli(REGISTRIES[follower], "traffic", "set", "fraud", "1=50", "2=50", "--reason", "canary via follower")
    split = cluster.client("versions", GW1, "--agree-with", GW2, "--agree-with", LB, "--expect", "1,2",
                           "--timeout", "60")
    assert split["settled"], "both gateways (and the balancer) give every key the same version"
    maps = list(split["versions"].values())
    share = sum(v == "2" for v in maps[0].values()) / len(maps[0])
    assert 0.3 < share < 0.7, share

    # the leader SIGKILLed while a bounded loop sends requests through the balancer
    requests = 1500
    result = kill_under_load(cluster.net, cluster.pki, ENV, cluster.tmp, LB, cluster.registries[leader],
                             requests=requests, concurrency=4, mark=300)
    print(f"load through the balancer, leader {leader} SIGKILLed after 300:", json.dumps(result))
    assert result["counts"] == {"OK": requests}, result

    # the survivor leads, and a change made through it reaches both gateways
    assert cluster.leader() == follower
    cluster.cli(REGISTRIES[follower], "traffic", "set", "fraud", "2=100", "--reason", "promote after failover")
    promoted = cluster.client("versions", GW1, "--agree-with", GW2, "--agree-with", LB, "--expect", "2",
                              "--timeout", "60")
    assert promoted["settled"], promoted
    moved = [k for k, v in maps[0].items() if v == "1"]
    assert moved and all(promoted["versions"][GW1][k] == "2" for k in moved)
