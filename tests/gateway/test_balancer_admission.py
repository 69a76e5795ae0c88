"""Admission at the balancer (issue 14): ``haproxy -f deploy/haproxy/haproxy.cfg`` (the shipped file, h2c,
one gateway, DRIFTGATE_GATEWAY_MAXCONN=8) in front of a real ``driftgate serve``, called by real gRPC
clients. Why the limit lives there: the calls a worker has not taken yet wait in grpc core's queue, which
the worker cannot see or refuse from (bench/admission.md); HAProxy sees every request on arrival.

Shown: 256 concurrent clients get only OK or the balancer's RESOURCE_EXHAUSTED (some of each; never
UNAVAILABLE or CANCELLED) and every admitted call is scored; with 8 requests held open (streams) a ninth is
refused at once, and tritonclient, unchanged, reads RESOURCE_EXHAUSTED with the balancer's message, not
UNAVAILABLE from the HTTP answer; the refusal carries the retry pushback (gRFC A6) in its trailers, and a
grpc client with a retry policy for RESOURCE_EXHAUSTED gets through once a slot frees, as HAProxy's request
log (DRIFTGATE_LB_LOG) shows. Needs HAProxy (.ci/run installs it): skips with the reason elsewhere, fails
in CI.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest

from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.proto.inference import grpc_service_pb2_grpc as pb_grpc
from tests.conftest import Served, start_served, stop_served
from tests.gateway.balancer import HAPROXY_CFG, fraud_request, free_port, wait_ready_through
from tests.multihost.netns import tool
from tests.requirements import require

ROOT = Path(__file__).resolve().parents[2]
TRITON_CHECK = ROOT / "tests" / "clients" / "triton_check.py"
LIMIT = 8
CLIENTS = 256
BALANCER_MESSAGE = "every gateway is at its limit of requests in flight"
PUSHBACK = ("grpc-retry-pushback-ms", "100")  # deploy/haproxy/resource-exhausted.http
RETRY_ON_RESOURCE_EXHAUSTED = json.dumps({"methodConfig": [{
    "name": [{"service": "inference.GRPCInferenceService"}],
    "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.01s", "maxBackoff": "0.1s", "backoffMultiplier": 2,
                    "retryableStatusCodes": ["RESOURCE_EXHAUSTED"]},
}]})


@dataclass
class Balancer:
    address: str
    process: subprocess.Popen[bytes]
    log: Path


def _request(seed: int) -> pb.ModelInferRequest:
    return fraud_request(1, seed)


def _scored(response: pb.ModelInferResponse) -> bool:
    for out, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        if out.name == "probabilities":
            p = np.frombuffer(raw, "<f4").reshape(tuple(out.shape))
            return p.shape == (1, 2) and bool(np.allclose(p.sum(axis=1), 1.0, atol=1e-5))
    return False


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    haproxy = tool("haproxy")
    require(haproxy is not None, "HAProxy is not installed (Debian package haproxy)")
    s = start_served(tmp_path_factory.mktemp("balancer-admission") / "home")
    yield s
    code = stop_served(s)
    assert code == 0, (s.home / "serve.log").read_text()[-4000:]


def start_balancer(gateway: str, log: Path, request_log: bool = False) -> Balancer:
    """``haproxy -f deploy/haproxy/haproxy.cfg`` on a free local port: h2c both sides, one gateway, at most
    LIMIT requests in flight to it; with ``request_log``, its per-request log goes to ``log`` too."""
    haproxy = tool("haproxy")
    assert haproxy is not None
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "DRIFTGATE_LB_BIND": address, "DRIFTGATE_GATEWAY_1": gateway,
           "DRIFTGATE_GATEWAY_MAXCONN": str(LIMIT)}
    for name in ("DRIFTGATE_LB_PEM", "DRIFTGATE_LB_CA", "DRIFTGATE_GATEWAY_2", "DRIFTGATE_LB_LOG",
                 "DRIFTGATE_LB_LOG_FORMAT"):  # h2c, one gateway, no request log unless asked
        env.pop(name, None)
    if request_log:
        env["DRIFTGATE_LB_LOG"] = "stdout"
    with log.open("wb") as out:
        process = subprocess.Popen([haproxy, "-db", "-f", str(HAPROXY_CFG)], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return Balancer(address, process, log)


def wait_until_ready(balancer: Balancer) -> None:
    wait_ready_through(balancer.address, balancer.process, balancer.log)


@pytest.fixture(scope="module")
def balancer(gateway: Served) -> Iterator[Balancer]:
    balancer = start_balancer(gateway.gateway, gateway.home.parent / "haproxy.log")
    try:
        wait_until_ready(balancer)
        yield balancer
    finally:
        balancer.process.terminate()
        balancer.process.wait(30)


async def hold_every_slot(
    stub: pb_grpc.GRPCInferenceServiceStub, release: asyncio.Event
) -> list[grpc.aio.StreamStreamCall]:
    """LIMIT ModelStreamInfer streams, each answered once and then kept open until ``release``: each holds
    one of the gateway's slots at the balancer."""

    async def one_request_then_hold(seed: int) -> AsyncIterator[pb.ModelInferRequest]:
        yield _request(seed)
        await release.wait()

    streams = []
    for i in range(LIMIT):
        call = stub.ModelStreamInfer(one_request_then_hold(i))
        first = await call.read()
        assert not first.error_message and first.infer_response.outputs, first
        streams.append(call)
    return streams


def test_256_clients_get_ok_or_the_balancers_resource_exhausted(balancer: Balancer) -> None:
    async def run() -> list[tuple[str, str]]:
        channels = [grpc.aio.insecure_channel(balancer.address, options=[("grpc.use_local_subchannel_pool", 1)])
                    for _ in range(8)]
        stubs = [pb_grpc.GRPCInferenceServiceStub(c) for c in channels]

        async def client(i: int) -> list[tuple[str, str]]:
            seen = []
            for k in range(4):  # closed loop: the next request as soon as the last is answered
                try:
                    response = await stubs[i % 8].ModelInfer(_request(i * 4 + k), timeout=120)
                except grpc.aio.AioRpcError as exc:
                    seen.append((exc.code().name, exc.details() or ""))
                else:
                    seen.append(("OK" if _scored(response) else "OK but not scored", ""))
            return seen

        try:
            per_client = await asyncio.gather(*(client(i) for i in range(CLIENTS)))
        finally:
            for c in channels:
                await c.close()
        return [answer for answers in per_client for answer in answers]

    answers = asyncio.run(run())
    codes = Counter(code for code, _ in answers)
    assert set(codes) <= {"OK", "RESOURCE_EXHAUSTED"}, codes  # nothing UNAVAILABLE, CANCELLED, unscored
    assert codes["OK"] > 0 and codes["RESOURCE_EXHAUSTED"] > 0, codes
    refusals = {details for code, details in answers if code == "RESOURCE_EXHAUSTED"}
    assert all(BALANCER_MESSAGE in d for d in refusals), refusals  # HAProxy refused, not the gateway


def test_a_request_beyond_the_limit_is_refused_at_once_and_tritonclient_reads_resource_exhausted(
    balancer: Balancer,
) -> None:
    async def run() -> tuple[dict[str, object], str, str]:
        channel = grpc.aio.insecure_channel(balancer.address)
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        release = asyncio.Event()
        try:
            streams = await hold_every_slot(stub, release)
            triton = await asyncio.to_thread(
                subprocess.run, [sys.executable, str(TRITON_CHECK), balancer.address, "--infer-probe"],
                capture_output=True, text=True, timeout=120)
            assert triton.returncode == 0, triton.stderr
            try:
                await stub.ModelInfer(_request(99), timeout=60)
                code, details = "OK", ""
            except grpc.aio.AioRpcError as exc:
                code, details = exc.code().name, exc.details() or ""
            release.set()
            for call in streams:
                assert await call.read() == grpc.aio.EOF
                assert await call.code() == grpc.StatusCode.OK
            seen: dict[str, object] = json.loads(triton.stdout)
            return seen, code, details
        finally:
            release.set()
            await channel.close()

    triton, code, details = asyncio.run(run())
    assert triton["status"] == "StatusCode.RESOURCE_EXHAUSTED", triton
    assert BALANCER_MESSAGE in str(triton["message"]), triton
    assert code == "RESOURCE_EXHAUSTED" and BALANCER_MESSAGE in details, (code, details)
    # the slots come back once the streams end (HAProxy may take a moment to see them close)
    with grpc.insecure_channel(balancer.address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for _ in range(200):
            try:
                assert _scored(stub.ModelInfer(_request(7), timeout=60))
                break
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc  # type: ignore[attr-defined]
                time.sleep(0.05)
        else:
            raise AssertionError("the balancer never admitted a call again after the streams ended")


def _logged(log: Path, backend: str) -> list[list[str]]:
    """HAProxy's request-log lines (the shipped log-format) for ModelInfer answered by ``backend``: `gateways`,
    or `grpc` (the frontend: HAProxy answered itself)."""
    lines = [line.split() for line in log.read_text().splitlines()]
    return [f for f in lines if len(f) == 14 and f[1] == backend and f[13].endswith("/ModelInfer")]


def test_a_refusal_carries_retry_pushback_and_a_client_with_a_retry_policy_gets_through(
    gateway: Served, tmp_path: Path
) -> None:
    balancer = start_balancer(gateway.gateway, tmp_path / "haproxy.log", request_log=True)

    async def run() -> tuple[grpc.StatusCode, str, list[tuple[str, str]], int, bool]:
        plain = grpc.aio.insecure_channel(balancer.address)
        retrying = grpc.aio.insecure_channel(balancer.address, options=[
            ("grpc.enable_retries", 1), ("grpc.service_config", RETRY_ON_RESOURCE_EXHAUSTED)])
        stub = pb_grpc.GRPCInferenceServiceStub(plain)
        release = asyncio.Event()
        try:
            streams = await hold_every_slot(stub, release)
            try:
                await stub.ModelInfer(_request(1), timeout=60)
                raise AssertionError("a call beyond the limit was admitted")
            except grpc.aio.AioRpcError as exc:
                code, details, trailers = exc.code(), exc.details() or "", list(exc.trailing_metadata() or ())
            before = len(_logged(balancer.log, "grpc"))
            call = asyncio.ensure_future(pb_grpc.GRPCInferenceServiceStub(retrying).ModelInfer(_request(2), timeout=60))
            for _ in range(2000):  # until HAProxy has refused its first attempt (bounded, not a timing claim)
                if len(_logged(balancer.log, "grpc")) > before or call.done():
                    break
                await asyncio.sleep(0.005)
            refused_first = len(_logged(balancer.log, "grpc")) - before
            release.set()  # the slots free: the retry after the pushback is admitted
            for s in streams:
                assert await s.read() == grpc.aio.EOF
            return code, details, trailers, refused_first, _scored(await call)
        finally:
            release.set()
            await plain.close()
            await retrying.close()

    try:
        wait_until_ready(balancer)
        code, details, trailers, refused_first, scored = asyncio.run(run())
    finally:
        balancer.process.terminate()
        balancer.process.wait(30)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and BALANCER_MESSAGE in details, (code, details)
    assert "retry with backoff" in details
    assert PUSHBACK in trailers, trailers  # a client with a retry policy waits that long (gRFC A6)
    assert refused_first >= 1, balancer.log.read_text()[-3000:]  # its first attempt was refused ...
    assert scored  # ... and a retry got through and was scored
    admitted = _logged(balancer.log, "gateways")
    assert admitted and all(f[2] == "gateway1" and f[3] == "200" for f in admitted), admitted
    assert all(f[2] == "<NOSRV>" and f[6] == "-1" for f in _logged(balancer.log, "grpc"))  # never sent on


def test_with_every_gateway_down_the_balancer_answers_unavailable_not_resource_exhausted(tmp_path: Path) -> None:
    require(tool("haproxy") is not None, "HAProxy is not installed (Debian package haproxy)")
    balancer = start_balancer(f"127.0.0.1:{free_port()}", tmp_path / "haproxy.log")  # nothing listens there
    try:
        for _ in range(600):  # until its health checks have marked the gateway down (HAProxy logs it)
            assert balancer.process.poll() is None, balancer.log.read_text()
            if "gateway1 is DOWN" in balancer.log.read_text():
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"HAProxy never marked the gateway down:\n{balancer.log.read_text()}")
        with grpc.insecure_channel(balancer.address) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            codes: Counter[str] = Counter()
            for k in range(5):
                try:
                    stub.ModelInfer(_request(k), timeout=10)
                    codes["OK"] += 1
                except grpc.RpcError as exc:
                    codes[exc.code().name] += 1  # type: ignore[attr-defined]
    finally:
        balancer.process.terminate()
        balancer.process.wait(30)
    assert codes == {"UNAVAILABLE": 5}, codes  # a gateway that is down is not "at its limit"
