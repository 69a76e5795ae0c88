"""Hosts as Linux network namespaces, for tests of what crosses a network.

    net = Network.create({"registry": "10.231.0.10", "gw1": "10.231.0.11", ...})
    proc = net.popen("gw1", [sys.executable, "-m", "driftgate", ...])
    net.close()                        # ends every process it started, deletes every namespace

Each host is a namespace with its own loopback and one interface (eth0) on a private /24; a further
namespace holds the bridge that joins them, so nothing is attached to the machine's own network
namespace and the hosts can reach nothing but one another. Names carry this process's id
(``dgPID-role``); namespaces left by a run that died are deleted on the next ``create``.
Needs root and iproute2 (``ip``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PREFIX_LEN", "Network", "missing", "tool"]

PREFIX_LEN = 24
_NAME = re.compile(r"^dg(\d+)-[a-z0-9]+$")
# proxies would send the hosts' gRPC somewhere else; the hosts must talk only to one another
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "grpc_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def tool(name: str) -> str | None:
    """A system program's path, also where PATH leaves out the sbin folders (ip, haproxy live there)."""
    return shutil.which(name) or shutil.which(name, path="/usr/local/sbin:/usr/sbin:/sbin")


def missing() -> str:
    """Why network namespaces cannot be made here, or "" when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if tool("ip") is None:
        return "iproute2 (ip) is not installed"
    return ""


def _ip(*args: str) -> None:
    subprocess.run([tool("ip") or "ip", *args], check=True, capture_output=True, text=True, timeout=30)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale() -> None:
    """Namespaces of earlier runs whose process is gone (a crash skips teardown)."""
    listed = subprocess.run([tool("ip") or "ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.strip() else ""
        m = _NAME.match(name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", name)


@dataclass
class Network:
    hosts: dict[str, str]
    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    @staticmethod
    def ns(role: str) -> str:
        return f"dg{os.getpid()}-{role}"

    @classmethod
    def create(cls, hosts: dict[str, str]) -> Network:
        _remove_stale()
        net = cls(dict(hosts))
        try:
            switch = cls.ns("sw")
            _ip("netns", "add", switch)
            net.namespaces.append(switch)
            _ip("-n", switch, "link", "set", "lo", "up")
            _ip("-n", switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", switch, "link", "set", "br0", "up")
            for i, (role, address) in enumerate(hosts.items()):
                name = cls.ns(role)
                _ip("netns", "add", name)
                net.namespaces.append(name)
                _ip("-n", name, "link", "set", "lo", "up")
                port = f"p{i}"
                _ip("-n", switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name)
                _ip("-n", switch, "link", "set", port, "master", "br0")
                _ip("-n", switch, "link", "set", port, "up")
                _ip("-n", name, "addr", "add", f"{address}/{PREFIX_LEN}", "dev", "eth0")
                _ip("-n", name, "link", "set", "eth0", "up")
        except BaseException:
            net.close()
            raise
        return net

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS}
        env["no_proxy"] = env["NO_PROXY"] = "*"
        return {**env, **(extra or {})}

    def popen(self, role: str, argv: Sequence[str], *, env: dict[str, str] | None = None,
              log: Path | None = None, cwd: Path | None = None) -> subprocess.Popen[str]:
        """Start ``argv`` on host ``role`` (``ip netns exec`` execs it: the pid is the program's)."""
        stderr = log.open("w") if log is not None else subprocess.DEVNULL
        process = subprocess.Popen([tool("ip") or "ip", "netns", "exec", self.ns(role), *argv], stdout=subprocess.PIPE,
                                   stderr=stderr, stdin=subprocess.DEVNULL, text=True,
                                   env=self.env(env), cwd=cwd, start_new_session=True)
        self.processes.append(process)
        return process

    def run(self, role: str, argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 120,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([tool("ip") or "ip", "netns", "exec", self.ns(role), *argv], capture_output=True,
                              text=True, env=self.env(env), timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            if process.stdout is not None:
                process.stdout.close()
        for name in reversed(self.namespaces):
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", name)
        self.namespaces.clear()
