"""Helpers for the CLI tests: a registry on a background thread, the parser as main.py builds it,
tiny ONNX models, and a fake-free gateway report."""

from __future__ import annotations

import argparse
import asyncio
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from driftgate.cli import drift, events, models, registry_cmd, tokens, traffic
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.proto.v1 import control_pb2_grpc
from driftgate.registry.server import RegistryServer
from driftgate.settings import DriftSettings, GatewaySettings, RegistrySettings, Settings
from tests.auth_helpers import local_channel

MODULES = (models, traffic, events, drift, registry_cmd, tokens)


def build_parser() -> argparse.ArgumentParser:
    """The root parser exactly as driftgate/cli/main.py builds it, with this package's modules."""
    parser = argparse.ArgumentParser(prog="driftgate")
    parser.add_argument("--home", type=Path, default=Path(".driftgate"))
    parser.add_argument("--registry", default="")
    parser.add_argument("--token", default=None)
    sub = parser.add_subparsers(dest="command", required=True)
    for m in MODULES:
        m.register(sub)
    return parser


def tiny_model(features: int = 4, seed: int = 0, rows: int = 200) -> tuple[bytes, np.ndarray]:
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


@dataclass(frozen=True)
class Files:
    v1: Path
    v2: Path
    wide: Path
    reference: Path


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    root = tmp_path_factory.mktemp("models")
    v1, X = tiny_model(4, seed=0)
    v2, _ = tiny_model(4, seed=1)
    wide, _ = tiny_model(5, seed=2)
    for name, data in (("v1.onnx", v1), ("v2.onnx", v2), ("wide.onnx", wide)):
        (root / name).write_bytes(data)
    buf = io.BytesIO()
    np.save(buf, X, allow_pickle=False)
    (root / "reference.npy").write_bytes(buf.getvalue())
    return Files(root / "v1.onnx", root / "v2.onnx", root / "wide.onnx", root / "reference.npy")


@dataclass
class ThreadedRegistry:
    server: RegistryServer
    home: Path
    loop: asyncio.AbstractEventLoop

    def report(self, gateway_id: str, model: str, states: dict[int, str]) -> None:
        """Act as a gateway: report ``states`` (version -> READY/LOADING/FAILED) for ``model``."""
        with local_channel(self.server.address, self.home) as channel:
            control_pb2_grpc.ControlStub(channel).ReportStatus(
                pb.GatewayReport(
                    gateway_id=gateway_id,
                    applied_generation=self.server.catalogue.generation(),
                    versions=[pb.LoadedVersionState(model=model, version=v, state=s) for v, s in states.items()],
                ),
                timeout=10,
            )


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[ThreadedRegistry]:
    """A registry on a background thread's event loop, so the CLI's blocking calls can reach it."""
    home = tmp_path / "home"
    settings = Settings(
        home=home,
        registry=RegistrySettings(port=0, demo=False, dashboard_port=-1),
        gateway=GatewaySettings(report_interval_s=5.0),
        drift=DriftSettings(bins=8),
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = RegistryServer(settings)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
    try:
        yield ThreadedRegistry(server, home, loop)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(0.5), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
