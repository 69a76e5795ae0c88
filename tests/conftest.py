"""Shared fixtures: a real ``driftgate serve`` (registry + gateway + demo model) on free ports.

Tests talk to it the way users do: gRPC stubs, tritonclient (from a subprocess: its protobuf
modules and ours declare the same symbols and cannot share a process), and the CLI.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.proto.inference import grpc_service_pb2_grpc
from driftgate.settings import TlsSettings
from driftgate.tls import channel

ROOT = Path(__file__).resolve().parent.parent

# The dashboard is on by default at the user's port 8006; registries started by tests (in-process
# Settings() and `driftgate registry`/`serve` subprocesses, which inherit this environment) leave it off
# so two of them never collide there. Tests that use the page ask for a free port (0) explicitly.
os.environ["DRIFTGATE_REGISTRY__DASHBOARD_PORT"] = "-1"


@dataclass
class Served:
    home: Path
    process: subprocess.Popen[str]
    log: object = None
    gateway: str = ""
    registry: str = ""
    metrics: str = ""
    lines: list[str] = field(default_factory=list)

    def stub(self) -> grpc_service_pb2_grpc.GRPCInferenceServiceStub:
        return grpc_service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(self.gateway))

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "driftgate", "--home", str(self.home), *args],
            capture_output=True, text=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"driftgate {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


def start_served(home: Path, *extra: str, env: dict[str, str] | None = None, timeout: float = 240,
                 global_args: Sequence[str] = (), tls: TlsSettings | None = None) -> Served:
    """``driftgate [global_args] serve [extra]``; ``tls``: how to dial its gateway (TLS tests)."""
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "serve.log").open("w")
    argv = [sys.executable, "-m", "driftgate", "--home", str(home), *global_args, "serve",
            "--port", "0", "--metrics-port", "0", "--registry-port", "0", "--dashboard-port", "0",
            "--host", "127.0.0.1", *extra]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True,
                               env={**os.environ, **(env or {})}, cwd=ROOT)
    served = Served(home, process, log)
    started = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            served.lines.append(line)
            if m := re.search(r"gateway listening on (\S+)", line):
                served.gateway = served.gateway or m.group(1)
            if m := re.search(r"registry listening on (\S+)", line):
                served.registry = served.registry or m.group(1)
            if m := re.search(r"metrics on (\S+)", line):
                served.metrics = served.metrics or m.group(1)
            if line.startswith("driftgate serving:"):
                started.set()
        started.set()

    threading.Thread(target=pump, daemon=True).start()
    if not started.wait(timeout) or process.poll() is not None:
        process.kill()
        log_text = (home / 'serve.log').read_text()
        raise RuntimeError(f"driftgate serve did not start:\n{''.join(served.lines)}\n{log_text}")
    wait_ready(served.gateway, timeout=120, tls=tls)
    return served


def wait_ready(address: str, timeout: float, tls: TlsSettings | None = None) -> None:
    stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel(address, tls or TlsSettings()))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if stub.ServerReady(pb.ServerReadyRequest(), timeout=2).ready:
                return
        except grpc.RpcError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"gateway at {address} not ready after {timeout} s")


def stop_served(served: Served, timeout: float = 60) -> int:
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGTERM)
    try:
        return served.process.wait(timeout)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait()
        return -9
    finally:
        if served.process.stdout is not None:
            served.process.stdout.close()
        served.log.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One driftgate serve for the read-mostly tests of the session."""
    s = start_served(tmp_path_factory.mktemp("served") / "home")
    yield s
    code = stop_served(s)
    assert code == 0, f"driftgate serve exited {code} on SIGTERM:\n{(s.home / 'serve.log').read_text()[-4000:]}"
