"""Nothing lost, failures heal or shout (issue 14), with faults injected into real servers: a real
registry and a real gateway on free ports in this process (a tiny ONNX model, drift off, so each
test takes seconds), a gRPC proxy in front of the registry that fails FetchArtifact once, a full
tmpfs under the gateway's artifact cache and under the registry's database, and the CLI's main().

    test                                  fault                                what must hold
    a fetch that fails once               proxy: UNAVAILABLE on the 1st fetch  READY after the retry, never FAILED
    a full artifact cache                 tmpfs filled to the last byte        ERROR once, reported, `models show`
                                                                               lagging; after freeing: applied
    the saved config before the registry  registry down at the gateway's start LOADING (not FAILED), health
                                                                               NOT_SERVING; READY once it is up
    labels sent right after scoring       before the report with the rows      held, joined by the next report
    a full registry database              tmpfs filled                         UNAVAILABLE "registry storage: no
                                                                               space left on device"; CLI: resend
    a version that FAILED for good        bytes onnxruntime refuses            not retried, until ReloadVersion
"""

from __future__ import annotations

import contextlib
import logging

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from driftgate.proto.inference import grpc_service_pb2 as ipb
from driftgate.proto.inference import grpc_service_pb2_grpc
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.proto.v1 import control_pb2_grpc, feedback_pb2, feedback_pb2_grpc
from driftgate.settings import DriftSettings, GatewaySettings
from tests.auth_helpers import local_aio_channel
from tests.faults import fill, tmpfs
from tests.gateway.live import (
    Registry,
    RegistryProxy,
    cli,
    eventually,
    gateway_states,
    make_settings,
    ready_on,
    start_gateway,
    start_registry,
    tiny_onnx,
    v1_ready,
)

__all__ = ["tmpfs"]  # the fixture

FEATURES = 4


@pytest.fixture(scope="module")
def onnx_model() -> bytes:
    return tiny_onnx(FEATURES)


async def test_a_fetch_that_fails_once_is_retried_and_the_version_never_fails(tmp_path, onnx_model) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    reg = await start_registry(home)
    proxy = RegistryProxy(reg.server.address, fail_fetches=1)
    server = grpc.aio.server()
    control_pb2_grpc.add_ControlServicer_to_server(proxy, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    gateway = await start_gateway(make_settings(home, registry=f"127.0.0.1:{port}"))
    try:
        await reg.stub.RegisterVersion(pb.RegisterVersionRequest(model="m", onnx=onnx_model, actor="t"))
        await eventually(lambda: v1_ready(reg), "v1 READY on the gateway")
        assert ready_on(await gateway_states(reg))
        states = [(v.state, v.reason) for r in proxy.reports for v in r.versions]
        assert proxy.fetches == 2
        assert any(s == "LOADING" and "injected" in why for s, why in states), states
        assert all(s != "FAILED" for s, _ in states), states
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}"))
        assert (await stub.ModelReady(ipb.ModelReadyRequest(name="m", version="1"))).ready
    finally:
        await gateway.stop(0.5)
        await server.stop(0)
        await reg.close()


# ---- a full artifact cache -------------------------------------------------------------------


async def test_a_full_artifact_cache_shouts_once_shows_lagging_and_heals(  # type: ignore[no-untyped-def]
    tmp_path, onnx_model, tmpfs, caplog, capsys
) -> None:
    home = tmp_path / "home"
    cache = tmpfs(home / "cache" / "artifacts", 64)
    reg = await start_registry(home)
    gateway = await start_gateway(make_settings(home))
    try:
        await eventually(lambda: gateway.reconciler.applied.is_set(), "the first (empty) config applied")
        filler = fill(cache)
        caplog.set_level(logging.DEBUG, logger="driftgate.gateway")
        info = await reg.stub.RegisterVersion(pb.RegisterVersionRequest(model="m", onnx=onnx_model, actor="t"))
        assert info.version == 1

        async def retried_thrice() -> bool:
            states = await gateway_states(reg)
            return any("attempt 3" in s.reason for s in states)

        await eventually(retried_thrice, "three attempts to cache the artifact")
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "no space left on device" in r.message]
        assert len(errors) == 1, [r.message for r in caplog.records if r.levelno >= logging.ERROR]
        model = await reg.stub.GetModel(pb.GetModelRequest(name="m"))
        (lag,) = model.lagging
        assert lag.gateway_id == "gw-test" and lag.applied_generation < lag.desired_generation
        assert "no space left on device" in lag.reason
        (gw,) = (await reg.stub.ListGateways(pb.ListGatewaysRequest())).gateways
        assert gw.lagging and "no space left on device" in gw.config_error
        registry = gateway.metrics_registry
        assert registry.get_sample_value("driftgate_config_generation") < lag.desired_generation
        assert registry.get_sample_value("driftgate_config_received_generation") == lag.desired_generation
        assert registry.get_sample_value("driftgate_config_error") == 1
        capsys.readouterr()
        assert await cli("--home", str(home), "models", "show", "m") == 0
        shown = capsys.readouterr().out
        assert "gateway gw-test is lagging" in shown and "no space left on device" in shown, shown

        filler.unlink()  # the operator frees space: the next attempt catches up
        await eventually(lambda: v1_ready(reg), "v1 READY after freeing space")

        async def caught_up() -> bool:
            return not (await reg.stub.GetModel(pb.GetModelRequest(name="m"))).lagging

        await eventually(caught_up, "no gateway lagging")
        assert registry.get_sample_value("driftgate_config_generation") == lag.desired_generation
        assert registry.get_sample_value("driftgate_config_error") == 0
        assert any("loaded after" in r.message for r in caplog.records if r.levelno == logging.INFO)
    finally:
        await gateway.stop(0.5)
        await reg.close()


# ---- the saved config applied before the registry is up --------------------------------------


async def health(port: int) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="inference.GRPCInferenceService"))
        return reply.status  # type: ignore[no-any-return]


async def test_the_saved_config_waits_for_the_registry_instead_of_failing(tmp_path, onnx_model) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    reg = await start_registry(home)
    gateway = await start_gateway(make_settings(home))
    await reg.stub.RegisterVersion(pb.RegisterVersionRequest(model="m", onnx=onnx_model, actor="t"))
    await eventually(lambda: v1_ready(reg), "v1 READY")
    await gateway.stop(0.5)
    await reg.close()
    for path in (home / "cache" / "artifacts").rglob("*"):  # a fresh host: the saved config, no artifacts
        if path.is_file():
            path.unlink()

    gateway = await start_gateway(make_settings(home))  # the registry is down
    reg2: Registry | None = None
    try:
        await eventually(lambda: gateway.reconciler.applied.is_set(), "the saved config applied")
        state = gateway.reconciler.states[("m", 1)]
        assert state.state == "LOADING" and ("not cached" in state.reason or "fetch" in state.reason), state
        await eventually(lambda: "attempt 2" in gateway.reconciler.states[("m", 1)].reason, "a second attempt")
        assert gateway.reconciler.states[("m", 1)].state == "LOADING"
        assert await health(gateway.port) == health_pb2.HealthCheckResponse.NOT_SERVING
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}"))
        assert not (await stub.ServerReady(ipb.ServerReadyRequest())).ready

        reg2 = await start_registry(home)  # the registry comes up (on another port)

        async def serving() -> bool:
            return await health(gateway.port) == health_pb2.HealthCheckResponse.SERVING

        await eventually(serving, "health SERVING once the registry is up")
        assert gateway.reconciler.states[("m", 1)].state == "READY"
        assert (await stub.ServerReady(ipb.ServerReadyRequest())).ready
    finally:
        await gateway.stop(0.5)
        if reg2 is not None:
            await reg2.close()


# ---- labels before their scored rows -----------------------------------------------------------


async def test_labels_sent_right_after_scoring_are_joined_by_the_next_report(tmp_path, onnx_model, capsys) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    reg = await start_registry(home)
    gateway = await start_gateway(make_settings(home, scored_interval_s=3600.0))  # the next report: an hour away
    try:
        await reg.stub.RegisterVersion(pb.RegisterVersionRequest(model="m", onnx=onnx_model, actor="t"))
        await eventually(lambda: v1_ready(reg), "v1 READY")
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}"))
        X = np.random.default_rng(1).normal(size=(50, FEATURES)).astype(np.float32)
        ids = []
        for i in range(0, 50, 10):
            request = ipb.ModelInferRequest(model_name="m", id=f"tx{i}")
            request.inputs.add(name="transaction", datatype="FP32", shape=[10, FEATURES])
            request.raw_input_contents.append(X[i : i + 10].tobytes())
            await stub.ModelInfer(request)
            ids += [f"tx{i}#{k}" for k in range(10)]
        csv = tmp_path / "labels.csv"
        csv.write_text("id,label\n" + "".join(f"{rid},{int(x[0] > 0)}\n" for rid, x in zip(ids, X, strict=True)))
        capsys.readouterr()
        assert await cli("--home", str(home), "feedback", "m", "--file", str(csv)) == 0
        said = capsys.readouterr().out
        assert "0 joined, 50 held" in said and "0 unknown" in said, said

        await gateway.link.report_once(flush=True)  # the next report brings the rows
        async with local_aio_channel(reg.server.address, home) as channel:
            report = await feedback_pb2_grpc.FeedbackStub(channel).GetAccuracy(
                feedback_pb2.GetAccuracyRequest(model="m"))
        (v1,) = report.versions
        assert (v1.labelled, v1.scored, report.held_labels, report.held_expired) == (50, 50, 0, 0)
        assert v1.auc > 0.9
        again = await cli("--home", str(home), "feedback", "m", "--file", str(csv), "--json")
        assert again == 0 and '"duplicates": 50' in capsys.readouterr().out  # sent twice: the first stands
    finally:
        await gateway.stop(0.5)
        await reg.close()


# ---- the registry's database on a full disk ------------------------------------------------------


async def test_a_full_registry_disk_refuses_labels_by_name_and_the_cli_says_resend(  # type: ignore[no-untyped-def]
    tmp_path, onnx_model, tmpfs, capsys
) -> None:
    home = tmpfs(tmp_path / "home", 2048)
    reg = await start_registry(home)
    try:
        await reg.stub.RegisterVersion(pb.RegisterVersionRequest(model="m", onnx=onnx_model, actor="t"))
        csv = tmp_path / "labels.csv"
        csv.write_text("id,label\n" + "".join(f"row-{i}-{'x' * 60},{i % 2}\n" for i in range(3000)))
        filler = fill(home)
        capsys.readouterr()
        assert await cli("--home", str(home), "feedback", "m", "--file", str(csv)) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert "registry unavailable: registry storage: no space left on device" in err, err
        assert "send the file again" in err, err
        async with local_aio_channel(reg.server.address, home) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await feedback_pb2_grpc.FeedbackStub(channel).SubmitLabels(
                    feedback_pb2.SubmitLabelsRequest(model="m", ids=["a"], labels=[1]))
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert (refused.value.details() or "").startswith("registry storage: no space left on device")
        filler.unlink()
        assert await cli("--home", str(home), "feedback", "m", "--file", str(csv), "--json") == 0
        assert '"held": 3000' in capsys.readouterr().out  # nothing was kept from the refused batch
    finally:
        with contextlib.suppress(Exception):
            await reg.close()


# ---- FAILED for good, until an operator asks for a reload -------------------------------------------


async def test_a_definitive_failure_is_not_retried_until_a_reload(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import dataclasses
    import hashlib

    from prometheus_client import CollectorRegistry

    from driftgate.gateway.artifacts import ArtifactCache
    from driftgate.gateway.dataplane import DataPlane
    from driftgate.gateway.desired import DesiredConfig, DesiredModel, DesiredVersion
    from driftgate.gateway.metrics import GatewayMetrics
    from driftgate.gateway.reconcile import Reconciler

    bad = b"bytes onnxruntime refuses"

    async def fetch(sha256: str) -> bytes:
        return bad

    metrics = GatewayMetrics(CollectorRegistry())
    plane = DataPlane(metrics, inline_max_rows=64, shadow_queue=8, drift_enabled=False, requestlog=None)
    reconciler = Reconciler(plane, metrics, ArtifactCache(tmp_path / "cache"), GatewaySettings(),
                            DriftSettings(enabled=False), fetch=fetch)
    version = DesiredVersion(version=1, sha256=hashlib.sha256(bad).hexdigest())

    def config(generation: int, reload: int = 0) -> DesiredConfig:
        return DesiredConfig(generation, (DesiredModel("m", (dataclasses.replace(version, reload=reload),)),))

    def failed_loads() -> float:
        return metrics.registry.get_sample_value(
            "driftgate_version_loads_total", {"model": "m", "version": "1", "outcome": "failed"}) or 0.0

    await reconciler.apply(config(1))
    state = reconciler.states[("m", 1)]
    assert state.state == "FAILED" and "onnxruntime could not load" in state.reason
    assert reconciler.applied_generation == 1 and not reconciler.unserved()  # definitive: not a lag, not unhealthy
    await reconciler.apply(config(2))
    assert failed_loads() == 1  # the same bytes are not tried again
    await reconciler.apply(config(3, reload=1))  # driftgate models reload m 1
    assert failed_loads() == 2 and reconciler.states[("m", 1)].state == "FAILED"


async def test_models_reload_reaches_the_gateways_through_the_config(tmp_path, onnx_model, capsys) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    reg = await start_registry(home)
    try:
        await reg.stub.RegisterVersion(pb.RegisterVersionRequest(model="m", onnx=onnx_model, actor="t"))
        capsys.readouterr()
        assert await cli("--home", str(home), "models", "reload", "m", "1", "--reason", "fixed the host") == 0
        assert "asked the gateways to reload m version 1" in capsys.readouterr().out
        call = reg.stub.WatchConfig(pb.WatchConfigRequest(gateway_id="probe"))
        config = await call.read()
        call.cancel()
        assert config.models[0].versions[0].reload == 1
        events = await reg.stub.ListEvents(pb.ListEventsRequest(model="m"))
        assert any(e.kind == "version_reload" and "fixed the host" in e.message for e in events.events)
        assert await cli("--home", str(home), "models", "reload", "m", "9") == 1
        assert "has no version 9" in capsys.readouterr().err
    finally:
        await reg.close()
