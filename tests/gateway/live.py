"""A real registry and a real gateway in this process, on free ports, for the gateway's fault tests: settings
for tiny models (drift off, fast reports and retries), a proxy in front of the registry that fails or holds
artifact fetches, and polling helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from driftgate.cli.main import main as cli_main
from driftgate.control_channel import grpc_options
from driftgate.gateway.server import GatewayServer
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.proto.v1 import control_pb2_grpc
from driftgate.registry.server import RegistryServer
from driftgate.settings import AccuracySettings, DriftSettings, GatewaySettings, RegistrySettings, Settings
from tests.auth_helpers import local_aio_channel

__all__ = ["Registry", "RegistryProxy", "cli", "eventually", "gateway_states", "make_settings", "ready_on",
           "start_gateway", "start_registry", "tiny_onnx", "v1_ready"]


def tiny_onnx(features: int, seed: int = 0) -> bytes:
    """A logistic regression over ``features`` float inputs (input "transaction"), as ONNX bytes."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, features)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    clf = LogisticRegression().fit(X, y)
    onx = convert_sklearn(clf, initial_types=[("transaction", FloatTensorType([None, features]))],
                          options={id(clf): {"zipmap": False}}, target_opset=17)
    return onx.SerializeToString()  # type: ignore[no-any-return]


def make_settings(home: Path, registry: str = "", scored_interval_s: float = 60.0) -> Settings:
    return Settings(
        home=home,
        registry=RegistrySettings(port=0, demo=False, dashboard_port=-1),
        gateway=GatewaySettings(host="127.0.0.1", port=0, metrics_port=-1, report_interval_s=0.2, registry=registry,
                                gc_freeze=False, fetch_retry_max_s=0.5, gateway_id="gw-test"),
        drift=DriftSettings(enabled=False),
        accuracy=AccuracySettings(report_interval_s=scored_interval_s),
    )


@dataclass
class Registry:
    server: RegistryServer
    channel: grpc.aio.Channel

    @property
    def stub(self) -> control_pb2_grpc.ControlStub:
        return control_pb2_grpc.ControlStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()
        await self.server.stop(0.2)


async def start_registry(home: Path) -> Registry:
    server = RegistryServer(make_settings(home))
    await server.start()
    return Registry(server, local_aio_channel(server.address, home, options=grpc_options()))


async def start_gateway(settings: Settings) -> GatewayServer:
    gateway = GatewayServer(settings)
    await gateway.start()
    return gateway


async def eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; fail with ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.05)


async def gateway_states(reg: Registry, model: str = "m", version: int = 1) -> list[pb.GatewayVersionState]:
    info = await reg.stub.GetModel(pb.GetModelRequest(name=model))
    return [g for v in info.versions if v.version == version for g in v.gateways]


def ready_on(states: list[pb.GatewayVersionState]) -> bool:
    return bool(states) and all(s.state == "READY" for s in states)


async def v1_ready(reg: Registry) -> bool:
    """Version 1 of "m" READY on every gateway that reports it (and one does)."""
    return ready_on(await gateway_states(reg))


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(cli_main, list(argv))


# ---- a proxy in front of the registry that fails or holds FetchArtifact --------------------------


def _auth(context: Any) -> tuple[tuple[str, str], ...]:
    """The caller's authorization header, passed on: the proxy acts for the gateway, with its token."""
    return tuple((k, v) for k, v in context.invocation_metadata() if k == "authorization")


class RegistryProxy(control_pb2_grpc.ControlServicer):
    """Forwards what a gateway calls (WatchConfig, ReportStatus, FetchArtifact) to the registry;
    the first ``fail_fetches`` fetches end UNAVAILABLE, and with ``hold`` every fetch waits
    (``release()`` lets them go). Every report that passes is kept."""

    def __init__(self, target: str, fail_fetches: int = 0, hold: bool = False) -> None:
        self._channel = grpc.aio.insecure_channel(target, options=grpc_options())
        self._stub = control_pb2_grpc.ControlStub(self._channel)
        self.fail_fetches = fail_fetches
        self.fetches = 0
        self.reports: list[pb.GatewayReport] = []
        self._released = asyncio.Event()
        if not hold:
            self._released.set()

    def release(self) -> None:
        self._released.set()

    async def serve(self) -> tuple[grpc.aio.Server, int]:
        """A server of its own on a free port: (server, port)."""
        server = grpc.aio.server()
        control_pb2_grpc.add_ControlServicer_to_server(self, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    async def WatchConfig(self, request: Any, context: Any) -> AsyncIterator[pb.GatewayConfig]:
        async for config in self._stub.WatchConfig(request, metadata=_auth(context)):
            yield config

    async def ReportStatus(self, request: Any, context: Any) -> pb.ReportAck:
        self.reports.append(request)
        return await self._stub.ReportStatus(request, metadata=_auth(context))

    async def FetchArtifact(self, request: Any, context: Any) -> AsyncIterator[pb.ArtifactChunk]:
        self.fetches += 1
        await self._released.wait()
        if self.fetches <= self.fail_fetches:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "injected: the registry went away mid-fetch")
        async for chunk in self._stub.FetchArtifact(request, metadata=_auth(context)):
            yield chunk
