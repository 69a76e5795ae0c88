"""What the multi-host suites (test_multihost.py, test_multihost_ha.py) run on their namespace hosts
(tests/multihost/netns.py): what they need on this machine, a gateway host, the HAProxy host in front
of the gateways, the client host's hostclient.py, and a process's output lines waited on with a bound.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.multihost.netns import Network, missing, tool
from tests.requirements import require
from tests.security.pki import Pki

__all__ = ["HAPROXY_CFG", "HOSTCLIENT", "ROOT", "Lines", "hostclient", "kill_under_load", "require_hosts",
           "start_balancer", "start_gateway", "tls_env"]

ROOT = Path(__file__).resolve().parents[2]
HOSTCLIENT = Path(__file__).with_name("hostclient.py")
HAPROXY_CFG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"


def require_hosts() -> str:
    """Skip (fail in CI) unless network namespaces and HAProxy are here; HAProxy's path."""
    reason = missing()
    require(not reason, reason)
    haproxy = tool("haproxy")
    require(haproxy is not None, "HAProxy is not installed (Debian package haproxy)")
    assert haproxy is not None
    return haproxy


class Lines:
    """A process's stdout lines, read by a thread, so that waiting for one is bounded."""

    def __init__(self, process: subprocess.Popen[str], log: Path) -> None:
        self.process, self.log = process, log
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # end of output
            self._changed.notify_all()

    def wait(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if m := re.search(pattern, line):
                        return m.group(0)
                left = deadline - time.monotonic()
                if left <= 0 or (self.lines and self.lines[-1] == ""):
                    break
                self._changed.wait(min(left, 1.0))
        raise AssertionError(f"no {pattern!r} from {self.process.args!r}:\n{''.join(self.lines)}\n"
                             f"{self.log.read_text()[-3000:]}")


def tls_env(pki: Pki, name: str, address: str, *, mtls: bool = False) -> dict[str, str]:
    """A host's certificate (for its own address), and the CA it verifies servers with."""
    cert, key = pki.ca.issue_files(name, pki.folder, ips=(address,))
    env = {"DRIFTGATE_TLS__CERT": str(cert), "DRIFTGATE_TLS__KEY": str(key), "DRIFTGATE_TLS__CA": str(pki.ca.path)}
    if mtls:
        env["DRIFTGATE_TLS__CLIENT_CA"] = str(pki.ca.path)
    return env


def start_gateway(net: Network, tmp: Path, pki: Pki, name: str, address: str, registry: str, env: dict[str, str],
                  token: str) -> subprocess.Popen[str]:
    """``driftgate gateway`` on host ``name`` at ``address``:8001 over TLS, watching ``registry`` (A or A,B)
    with the gateway ``token``; returns once it listens."""
    log = tmp / f"{name}.log"
    env = {**env, **tls_env(pki, name, address), "DRIFTGATE_GATEWAY__GATEWAY_ID": name,
           **({"DRIFTGATE_GATEWAY__TOKEN": token} if token else {})}
    process = net.popen(name, [sys.executable, "-m", "driftgate", "--home", str(tmp / name), "--registry", registry,
                               "gateway", "--host", address, "--port", "8001", "--metrics-port", "-1"],
                        env=env, log=log, cwd=ROOT)
    assert "(TLS)" in Lines(process, log).wait(r"gateway listening on .*", 120)
    return process


def start_balancer(net: Network, tmp: Path, pki: Pki, haproxy: str, address: str, bind: str,
                   gateways: tuple[str, str]) -> subprocess.Popen[str]:
    """HAProxy with deploy/haproxy/haproxy.cfg on host "lb" (``address``), TLS on ``bind``, to two gateways."""
    cert, key = pki.ca.issue_files("lb", pki.folder, ips=(address,))
    (pki.folder / "lb-bundle.pem").write_bytes(cert.read_bytes() + key.read_bytes())
    env = {"DRIFTGATE_LB_BIND": bind, "DRIFTGATE_GATEWAY_1": gateways[0], "DRIFTGATE_GATEWAY_2": gateways[1],
           "DRIFTGATE_LB_PEM": str(pki.folder / "lb-bundle.pem"), "DRIFTGATE_LB_CA": str(pki.ca.path)}
    return net.popen("lb", [haproxy, "-db", "-f", str(HAPROXY_CFG)], env=env, log=tmp / "haproxy.log")


def hostclient(net: Network, pki: Pki, env: dict[str, str], *args: str, timeout: float = 240) -> dict[str, Any]:
    """tests/multihost/hostclient.py on the client host; its last line, a JSON object."""
    argv = [sys.executable, str(HOSTCLIENT), "--ca", str(pki.ca.path), *args]
    out = net.run("client", argv, env=env, timeout=timeout, cwd=ROOT)
    assert out.returncode == 0, f"hostclient {args} failed:\n{out.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def kill_under_load(net: Network, pki: Pki, env: dict[str, str], tmp: Path, target: str, victim: subprocess.Popen[str],
                    *, requests: int, concurrency: int, mark: int) -> dict[str, Any]:
    """hostclient.py's bounded load on ``target`` from the client host; ``victim`` SIGKILLed once ``mark``
    requests are done; the load's result (``counts`` by status) once every request has been answered."""
    argv = [sys.executable, str(HOSTCLIENT), "--ca", str(pki.ca.path), "load", target,
            "--requests", str(requests), "--concurrency", str(concurrency), "--mark", str(mark)]
    load = net.popen("client", argv, env=env, log=tmp / "load.log", cwd=ROOT)
    lines = Lines(load, tmp / "load.log")
    lines.wait(r"^mark", 120)
    os.kill(victim.pid, signal.SIGKILL)
    assert load.wait(180) == 0, (tmp / "load.log").read_text()[-3000:]
    result: dict[str, Any] = json.loads(lines.wait(r"^\{.*\}$", 10))
    assert victim.wait(10) == -signal.SIGKILL
    assert sum(result["counts"].values()) == requests, result
    return result
