"""Helpers and fixtures for the registry tests: tiny ONNX models, settings under tmp_path, a real aio
server on port 0, and a fake-free gateway (the test calls ReportStatus itself)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import numpy as np
import pytest

from driftgate.control_channel import grpc_options
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.proto.v1 import control_pb2_grpc
from driftgate.registry.server import RegistryServer
from driftgate.settings import DriftSettings, GatewaySettings, RegistrySettings, Settings
from tests.auth_helpers import local_aio_channel


def tiny_model(features: int = 4, seed: int = 0, rows: int = 200) -> tuple[bytes, np.ndarray]:
    """A LogisticRegression on ``rows`` seeded rows as ONNX (input "transaction" FP32 [None, F]), and its X."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=rows) > 0).astype(np.int64)
    clf = LogisticRegression().fit(X, y)
    onx = convert_sklearn(
        clf,
        initial_types=[("transaction", FloatTensorType([None, features]))],
        options={id(clf): {"zipmap": False}},
        target_opset=17,
    )
    return onx.SerializeToString(), X


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


@dataclass(frozen=True)
class Models:
    v1: bytes
    v2: bytes
    wide: bytes  # 5 features: a signature mismatch for a 4-feature model
    X: np.ndarray


@pytest.fixture(scope="session")
def models() -> Models:
    v1, X = tiny_model(4, seed=0)
    v2, _ = tiny_model(4, seed=1)
    wide, _ = tiny_model(5, seed=2)
    return Models(v1, v2, wide, X)


def make_settings(tmp_path, **registry) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(
        home=tmp_path / "home",
        # no dashboard (its default port 8006 is the user's) unless a test asks for one
        registry=RegistrySettings(**{"port": 0, "demo": False, "dashboard_port": -1, **registry}),
        gateway=GatewaySettings(report_interval_s=1.0),
        drift=DriftSettings(bins=8, window_seconds=10.0, windows=30, min_window_rows=10, alert_windows=1),
    )


@pytest.fixture
def settings(tmp_path, database_url: str) -> Settings:  # type: ignore[no-untyped-def]
    """Settings under tmp_path; on PostgreSQL too in a module marked ``databases`` (tests/pg.py)."""
    return make_settings(tmp_path, database_url=database_url)


@dataclass
class Running:
    server: RegistryServer
    stub: control_pb2_grpc.ControlStub
    channel: grpc.aio.Channel


@pytest.fixture
async def registry(settings: Settings) -> AsyncIterator[Running]:
    server = RegistryServer(settings)
    await server.start()
    channel = local_aio_channel(server.address, settings.home, options=grpc_options())  # admin (and gateway)
    try:
        yield Running(server, control_pb2_grpc.ControlStub(channel), channel)
    finally:
        await channel.close()
        await server.stop(0.5)


async def register(stub: control_pb2_grpc.ControlStub, model: str, onnx: bytes, **kw) -> pb.VersionInfo:  # type: ignore[no-untyped-def]
    return await stub.RegisterVersion(pb.RegisterVersionRequest(model=model, onnx=onnx, actor="tester", **kw))


async def report_ready(
    stub: control_pb2_grpc.ControlStub, gateway_id: str, model: str, states: dict[int, str], generation: int = 0
) -> pb.ReportAck:
    """Act as a gateway: report ``states`` (version -> LOADING/READY/FAILED) for ``model``."""
    return await stub.ReportStatus(
        pb.GatewayReport(
            gateway_id=gateway_id,
            applied_generation=generation,
            address="127.0.0.1:1",
            host="test",
            pid=1,
            versions=[pb.LoadedVersionState(model=model, version=v, state=s) for v, s in states.items()],
        )
    )
