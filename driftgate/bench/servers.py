"""Servers a scenario starts for itself: the bare servers and ``driftgate serve``, as subprocesses on
port 0. Each is read for its address line on stdout, stopped with SIGTERM, and metered: the CPU
time of its whole process tree (from /proc) lets a scenario report server CPU per request.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "ServerProcess", "cpu_list", "driftgate_cli", "free_address", "gateway_worker_pid", "haproxy_command", "start_bare",
    "start_serve", "tree_cpu_s", "wait_model_ready",
]

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK  # ppid, utime + stime


def cpu_list(cpus: str) -> set[int]:
    """The CPUs of a taskset-style list ("0", "0,2", "1-3")."""
    out: set[int] = set()
    for part in cpus.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def free_address() -> str:
    """HOST:PORT of a local port free right now, for a server that cannot bind port 0 and say so (HAProxy)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def haproxy_command(config: Path) -> list[str]:
    """``haproxy -db -f CONFIG`` (in the foreground); SystemExit naming the package when HAProxy is missing."""
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/local/sbin:/usr/sbin:/sbin")
    if haproxy is None:
        raise SystemExit("HAProxy is not installed (Debian package haproxy)")
    return [haproxy, "-db", "-f", str(config)]


def gateway_worker_pid(home: Path) -> int:
    """The pid of the gateway worker process a ``driftgate --home HOME serve`` started (its command
    line names both "gateway" and the home); RuntimeError when there is none."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"gateway" in argv and str(home).encode() in argv:
            return int(entry.name)
    raise RuntimeError("no gateway process")


def tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its live descendants (Linux; 0 elsewhere)."""
    if not os.path.isdir("/proc"):
        return 0.0
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (s := _stat(int(entry))) is not None:
            stats[int(entry)] = s
    total, frontier = 0.0, [pid]
    while frontier:
        p = frontier.pop()
        if p in stats:
            total += stats[p][1]
        frontier.extend(c for c, (ppid, _) in stats.items() if ppid == p)
    return total


class ServerProcess:
    """A server subprocess whose address is read from its stdout."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        pattern: str,
        env: Mapping[str, str] | None = None,
        ready: str | None = None,
        log: Path | None = None,
        timeout: float = 240,
    ) -> None:
        self.name = name
        self.lines: list[str] = []
        self._log = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.address = ""
        found = threading.Event()
        regex = re.compile(pattern)

        def pump() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.append(line)
                if not self.address and (m := regex.search(line)):
                    self.address = m.group(1).replace("0.0.0.0", "127.0.0.1")
                    if ready is None:
                        found.set()
                if ready is not None and self.address and ready in line:
                    found.set()
            found.set()

        threading.Thread(target=pump, daemon=True).start()
        if not found.wait(timeout) or not self.address or self.process.poll() is not None:
            self.stop()
            raise RuntimeError(f"{name} did not start: {''.join(self.lines)[-2000:]}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_s(self) -> float:
        return tree_cpu_s(self.pid)

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not subprocess.DEVNULL:
            self._log.close()  # type: ignore[union-attr]

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_bare(score_onnx: str | None = None, log: Path | None = None) -> ServerProcess:
    argv = [sys.executable, "-m", "driftgate.bench.bare_server", "--port", "0"]
    if score_onnx:
        argv += ["--score", "--onnx", score_onnx]
    return ServerProcess("bare+score" if score_onnx else "bare", argv, r"listening on (\S+)", log=log, timeout=60)


def start_serve(home: Path, env: Mapping[str, str] | None = None, log: Path | None = None) -> ServerProcess:
    """``driftgate serve`` (registry + gateway + demo model) on free ports, ready when it says so."""
    home.mkdir(parents=True, exist_ok=True)
    argv = [
        *driftgate_cli(home), "serve",
        "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--registry-port", "0",
    ]  # fmt: skip
    return ServerProcess(
        "driftgate", argv, r"gateway listening on (\S+)", env=env, ready="driftgate serving:", log=log, timeout=300
    )


def driftgate_cli(home: Path) -> list[str]:
    return [sys.executable, "-m", "driftgate", "--home", str(home)]


def wait_model_ready(target: str, model: str, timeout: float = 120) -> None:
    import grpc

    from driftgate.proto.inference import grpc_service_pb2 as pb
    from driftgate.proto.inference import grpc_service_pb2_grpc as pb_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        while time.monotonic() < deadline:
            try:
                if stub.ModelReady(pb.ModelReadyRequest(name=model), timeout=2).ready:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise TimeoutError(f"model {model!r} not ready at {target} after {timeout} s")
