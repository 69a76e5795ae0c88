"""A request for a model whose only version is still loading gets UNAVAILABLE at once, with a message that
says so (a client retries it), never INTERNAL and never a hang. The load is held back by a proxy in front of
the registry that keeps the artifact fetch waiting; a real registry and gateway on free ports."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from driftgate.proto.inference import grpc_service_pb2 as ipb
from driftgate.proto.inference import grpc_service_pb2_grpc
from driftgate.proto.v1 import control_pb2 as pb
from tests.gateway.live import RegistryProxy, eventually, make_settings, start_gateway, start_registry, tiny_onnx

FEATURES = 4


def _request(version: str = "") -> ipb.ModelInferRequest:
    x = np.zeros((2, FEATURES), np.float32)
    request = ipb.ModelInferRequest(model_name="m", model_version=version)
    request.inputs.add(name="transaction", datatype="FP32", shape=list(x.shape))
    request.raw_input_contents.append(x.tobytes())
    return request


async def test_a_model_whose_only_version_loads_is_unavailable_with_the_reason_until_ready(tmp_path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    reg = await start_registry(home)
    proxy = RegistryProxy(reg.server.address, hold=True)
    proxy_server, port = await proxy.serve()
    gateway = await start_gateway(make_settings(home, registry=f"127.0.0.1:{port}"))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}")
    stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    try:
        await reg.stub.RegisterVersion(pb.RegisterVersionRequest(model="m", onnx=tiny_onnx(FEATURES), actor="t"))

        def loading() -> bool:
            return proxy.fetches >= 1 and any(
                v.model == "m" and v.version == 1 and v.state == "LOADING" for r in proxy.reports for v in r.versions)

        await eventually(loading, "the gateway reports m v1 LOADING while its fetch is held")
        for version, says in (("", "model 'm' has no version ready yet; retry shortly"),
                              ("1", "model 'm' version 1 is loading; retry shortly")):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ModelInfer(_request(version), timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value
            assert refused.value.details() == says
        assert not (await stub.ModelReady(ipb.ModelReadyRequest(name="m"), timeout=10)).ready
        assert not (await stub.ModelReady(ipb.ModelReadyRequest(name="m", version="1"), timeout=10)).ready

        proxy.release()  # the fetch goes on: the version loads, and the same request scores

        async def ready() -> bool:
            return bool((await stub.ModelReady(ipb.ModelReadyRequest(name="m", version="1"), timeout=10)).ready)

        await eventually(ready, "m v1 READY once the fetch is let through")
        reply = await stub.ModelInfer(_request(), timeout=10)
        assert reply.model_version == "1"
    finally:
        await channel.close()
        await gateway.stop(0.5)
        await proxy_server.stop(0)
        await reg.close()
