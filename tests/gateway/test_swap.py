"""Versions follow the registry while clients keep calling: nothing fails during a swap, and the
gateway keeps serving when the registry is gone."""

from __future__ import annotations

import asyncio
import collections
import re
import signal
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest

from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.proto.inference import grpc_service_pb2_grpc
from tests.conftest import start_served, stop_served, wait_ready

pytestmark = pytest.mark.slow


class Load:
    """Closed-loop load from many concurrent clients on a background event loop."""

    def __init__(self, address: str, concurrency: int = 16, leave_on_unavailable: bool = False) -> None:
        self.leave_on_unavailable = leave_on_unavailable
        self.address = address
        self.concurrency = concurrency
        self.codes: collections.Counter[str] = collections.Counter()
        self.versions: collections.Counter[str] = collections.Counter()
        self.last_versions: collections.deque[str] = collections.deque(maxlen=200)
        self.details: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _client(self, stub: grpc_service_pb2_grpc.GRPCInferenceServiceStub, x: np.ndarray, i: int) -> None:
        request = pb.ModelInferRequest(model_name="fraud")
        request.inputs.add(name="transaction", datatype="FP32", shape=[1, 30])
        request.raw_input_contents.append(x[i % len(x)].tobytes())
        while not self._stop.is_set():
            try:
                response = await stub.ModelInfer(request, timeout=10)
                self.codes["OK"] += 1
                self.versions[response.model_version] += 1
                self.last_versions.append(response.model_version)
            except grpc.aio.AioRpcError as exc:
                self.codes[exc.code().name] += 1
                self.details.append(exc.details() or "")
                if self.leave_on_unavailable and exc.code() == grpc.StatusCode.UNAVAILABLE:
                    return  # a balanced client moves to another instance

    async def _run(self) -> None:
        from driftgate.demo import generate

        x = generate(256, seed=11).X
        channels = [grpc.aio.insecure_channel(self.address) for _ in range(4)]
        stubs = [grpc_service_pb2_grpc.GRPCInferenceServiceStub(c) for c in channels]
        await asyncio.gather(*(self._client(stubs[i % 4], x, i) for i in range(self.concurrency)))
        for c in channels:
            await c.close()

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}: versions {self.versions}, codes {self.codes}")


def test_register_and_retire_under_load_fail_no_request(tmp_path, challenger):
    served = start_served(tmp_path / "home")
    try:
        with Load(served.gateway) as load:
            load.wait_for(lambda: load.codes["OK"] > 200, 60, "steady traffic on version 1")
            out = served.cli("models", "register", "fraud", str(challenger[0]), "--reference", str(challenger[1]))
            assert out.stdout.strip().endswith("2")
            load.wait_for(lambda: list(load.last_versions)[-50:] == ["2"] * 50, 60, "traffic to move to version 2")
            served.cli("models", "retire", "fraud", "2", "--reason", "test")
            load.wait_for(lambda: list(load.last_versions)[-50:] == ["1"] * 50, 60, "traffic to move back to 1")
            time.sleep(0.5)
        assert load.versions["2"] > 0
        assert set(load.codes) == {"OK"}, (load.codes, load.details[:5])
    finally:
        assert stop_served(served) == 0


def _start(argv: list[str], pattern: str, timeout: float = 240) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if m := re.search(pattern, line):
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # type: ignore[union-attr]
            return process, m.group(1)
    process.kill()
    raise RuntimeError(f"{argv} did not start")


def test_gateway_serves_without_registry_and_restarts_from_saved_config(tmp_path):
    home = tmp_path / "home"
    base = [sys.executable, "-m", "driftgate", "--home", str(home)]
    registry, _ = _start([*base, "registry", "--port", "0"], r"registry listening on (\S+)")
    gateway_argv = [*base, "gateway", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "-1"]
    gateway, address = _start(gateway_argv, r"gateway listening on (\S+)")
    try:
        wait_ready(address, 120)
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(address))
        request = pb.ModelInferRequest(model_name="fraud")
        request.inputs.add(name="transaction", datatype="FP32", shape=[1, 30])
        request.raw_input_contents.append(np.zeros((1, 30), dtype=np.float32).tobytes())
        assert stub.ModelInfer(request).model_version == "1"

        registry.kill()
        registry.wait()
        for _ in range(20):
            assert stub.ModelInfer(request, timeout=5).model_version == "1"

        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(60) == 0

        gateway, address = _start(gateway_argv, r"gateway listening on (\S+)")
        wait_ready(address, 60)
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(address))
        assert stub.ModelInfer(request, timeout=5).model_version == "1"
    finally:
        for p in (gateway, registry):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_sigterm_finishes_in_flight_requests_and_exits_zero(tmp_path):
    served = start_served(tmp_path / "home")
    with Load(served.gateway, concurrency=32, leave_on_unavailable=True) as load:
        load.wait_for(lambda: load.codes["OK"] > 300, 60, "steady traffic")
        served.process.send_signal(signal.SIGTERM)
        code = served.process.wait(60)
        time.sleep(0.5)
    stop_served(served)
    assert code == 0
    # requests in flight at the signal finish; later ones are refused as UNAVAILABLE (retryable,
    # never scored), and no call is cancelled or fails
    assert set(load.codes) <= {"OK", "UNAVAILABLE"}, (load.codes, load.details[:5])
    assert load.codes["OK"] > 300
