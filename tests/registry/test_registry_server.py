"""The server: WatchConfig, FetchArtifact, health, reflection, the address file; the demo model is the
registry command's, not the server's."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from registry_helpers import Models, Running, make_settings, register

from driftgate.cli.registry_cmd import ensure_demo_model
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.registry.catalogue.records import RegisterRequest
from driftgate.registry.server import RegistryServer
from tests.auth_helpers import local_aio_channel

ROOT = Path(__file__).resolve().parents[2]


async def test_watch_config_sends_current_then_each_change(registry: Running, models: Models) -> None:
    await register(registry.stub, "fraud", models.v1)
    stream = registry.stub.WatchConfig(pb.WatchConfigRequest(gateway_id="gw-a"))
    first = await asyncio.wait_for(stream.read(), 5)
    assert first.generation == 1
    assert [(m.name, [v.version for v in m.versions]) for m in first.models] == [("fraud", [1])]
    assert first.models[0].versions[0].artifact_sha256 == hashlib.sha256(models.v1).hexdigest()
    assert first.models[0].mode == "latest" and first.models[0].settings.max_batch_size == 256

    await register(registry.stub, "fraud", models.v2)
    second = await asyncio.wait_for(stream.read(), 5)
    assert second.generation == 2
    assert [v.version for v in second.models[0].versions] == [1, 2]

    await registry.stub.RetireVersion(pb.RetireVersionRequest(model="fraud", version=1))
    third = await asyncio.wait_for(stream.read(), 5)
    assert [v.version for v in third.models[0].versions] == [2]
    stream.cancel()


async def test_watch_ends_cleanly_when_the_server_stops(settings, models: Models) -> None:  # type: ignore[no-untyped-def]
    server = RegistryServer(settings)
    await server.start()
    async with local_aio_channel(server.address, settings.home) as channel:
        from driftgate.proto.v1 import control_pb2_grpc

        stream = control_pb2_grpc.ControlStub(channel).WatchConfig(pb.WatchConfigRequest(gateway_id="gw"))
        first = await asyncio.wait_for(stream.read(), 5)
        assert first.generation == 0 and not first.models
        await server.stop(2.0)
        assert await asyncio.wait_for(stream.read(), 5) is grpc.aio.EOF
        assert await stream.code() == grpc.StatusCode.OK


async def test_fetch_artifact_returns_the_exact_bytes(registry: Running, models: Models) -> None:
    info = await register(registry.stub, "fraud", models.v1)
    chunks = [c async for c in registry.stub.FetchArtifact(pb.FetchArtifactRequest(sha256=info.artifact_sha256))]
    assert b"".join(c.data for c in chunks) == models.v1
    assert {c.total_size for c in chunks} == {len(models.v1)}

    big = bytes(range(256)) * (10 * 1024 + 7)  # 2.5 MiB: three 1 MiB chunks
    sha = registry.server.artifacts.put(big)
    chunks = [c async for c in registry.stub.FetchArtifact(pb.FetchArtifactRequest(sha256=sha))]
    assert [len(c.data) for c in chunks] == [1 << 20, 1 << 20, len(big) - (2 << 20)]
    assert b"".join(c.data for c in chunks) == big

    registry.server.artifacts.path(sha).write_bytes(big[:-1] + b"x")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        _ = [c async for c in registry.stub.FetchArtifact(pb.FetchArtifactRequest(sha256=sha))]
    assert err.value.code() == grpc.StatusCode.DATA_LOSS
    with pytest.raises(grpc.aio.AioRpcError) as err:
        _ = [c async for c in registry.stub.FetchArtifact(pb.FetchArtifactRequest(sha256="0" * 64))]
    assert err.value.code() == grpc.StatusCode.DATA_LOSS and "missing" in err.value.details()


async def test_health_reflection_and_address_file(registry: Running) -> None:
    addr_file = registry.server.settings.home / "registry.addr"
    assert addr_file.read_text() == registry.server.address
    health = health_pb2_grpc.HealthStub(registry.channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service="driftgate.v1.Control"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING

    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(registry.channel)
    call = stub.ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    reply = await call.read()
    await call.done_writing()
    names = {s.name for s in reply.list_services_response.service}
    assert "driftgate.v1.Control" in names


async def test_address_file_is_removed_on_stop(settings) -> None:  # type: ignore[no-untyped-def]
    server = RegistryServer(settings)
    port = await server.start()
    assert port > 0 and server.address.endswith(f":{port}")
    await server.stop(0.1)
    assert not (settings.home / "registry.addr").exists()


async def test_list_gateways(registry: Running) -> None:
    await registry.stub.ReportStatus(
        pb.GatewayReport(
            gateway_id="gw-a",
            address="10.0.0.1:8001",
            host="h",
            pid=42,
            applied_generation=3,
            versions=[pb.LoadedVersionState(model="m", version=1, state="READY", load_seconds=0.5)],
            stats=[pb.VersionStats(model="m", version=1, requests=10, latency_buckets=[1, 2, 3])],
        )
    )
    reply = await registry.stub.ListGateways(pb.ListGatewaysRequest())
    (gw,) = reply.gateways
    assert (gw.gateway_id, gw.address, gw.pid, gw.applied_generation) == ("gw-a", "10.0.0.1:8001", 42, 3)
    assert gw.versions[0].state == "READY" and gw.stats[0].requests == 10
    assert list(gw.stats[0].latency_buckets) == [1, 2, 3]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await registry.stub.ReportStatus(pb.GatewayReport())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_database_is_durable_across_restarts(settings, models: Models) -> None:  # type: ignore[no-untyped-def]
    server = RegistryServer(settings)
    await server.start()
    await asyncio.to_thread(
        server.catalogue.register_version,
        RegisterRequest(model="m", onnx=models.v1),
    )
    await server.stop(0.1)
    again = RegistryServer(settings)
    assert [m.name for m in again.catalogue.list_models()] == ["m"]
    assert again.catalogue.generation() == 1
    again.db.dispose()


@pytest.mark.slow
async def test_the_registry_command_registers_the_demo_model_on_an_empty_registry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = RegistryServer(make_settings(tmp_path))
    assert await ensure_demo_model(server.catalogue, enabled=False) is None  # --no-demo
    record = await ensure_demo_model(server.catalogue, enabled=True)
    assert record is not None and (record.model, record.version, record.source) == ("fraud", 1, "demo")
    assert record.profile is not None and len(record.profile["features"]) == 30
    assert record.metrics
    assert await ensure_demo_model(server.catalogue, enabled=True) is None  # only when empty
    server.db.dispose()


def test_a_registry_started_alone_knows_nothing_of_the_demo(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The demo is the registry command's to compose (driftgate.cli.registry_cmd): a RegistryServer
    that starts, serves and stops, demo setting on, never imports driftgate.demo."""
    script = textwrap.dedent(f"""
        import asyncio, sys
        from pathlib import Path
        from driftgate.registry.server import RegistryServer
        from driftgate.settings import RegistrySettings, Settings

        async def main():
            server = RegistryServer(Settings(home=Path({str(tmp_path / "home")!r}),
                                             registry=RegistrySettings(port=0, dashboard_port=-1, demo=True)))
            await server.start()
            assert await asyncio.to_thread(server.catalogue.list_models) == []
            await server.stop(0.1)

        asyncio.run(main())
        print(sorted(m for m in sys.modules if m.startswith("driftgate.demo")))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
