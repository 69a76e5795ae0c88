"""The shadow queue under a slow shadow: copies beyond ``gateway.shadow_queue`` are dropped and counted
(``driftgate_shadow_requests_total{outcome="dropped"}``), and the primary's responses are never touched: a
burst of concurrent requests all answered by the primary, none failed. A real registry and gateway on free
ports, the traffic set with the CLI, the counters read from the gateway's Prometheus endpoint."""

from __future__ import annotations

import asyncio
import re
import urllib.request

import grpc
import numpy as np

from driftgate.proto.inference import grpc_service_pb2 as ipb
from driftgate.proto.inference import grpc_service_pb2_grpc
from driftgate.proto.v1 import control_pb2 as pb
from tests.gateway.live import cli, eventually, gateway_states, make_settings, ready_on, start_gateway, start_registry

FEATURES = 4
WIDTH = 512


def matmul_model(layers: int) -> bytes:
    """Input "transaction" FP32 [N, 4] -> ``layers`` MatMuls by one [512, 512] matrix -> "probabilities" [N, 2].
    With 0 layers it is instant; with a few hundred it costs tens of milliseconds a run (a slow shadow)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    widen = numpy_helper.from_array((rng.normal(size=(FEATURES, WIDTH)) / FEATURES).astype(np.float32), "widen")
    square = numpy_helper.from_array(np.eye(WIDTH, dtype=np.float32), "square")  # keeps the values as they are
    nodes = [helper.make_node("MatMul", ["transaction", "widen"], ["h0"])]
    for i in range(layers):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "square"], [f"h{i + 1}"]))
    nodes += [
        helper.make_node("ReduceMean", [f"h{layers}"], ["logit"], keepdims=1, axes=[1]),
        helper.make_node("Sigmoid", ["logit"], ["p1"]),
        helper.make_node("Sub", ["one", "p1"], ["p0"]),
        helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "slow" if layers else "fast",
        [helper.make_tensor_value_info("transaction", TensorProto.FLOAT, [None, FEATURES])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        [widen, square, numpy_helper.from_array(np.ones((1, 1), np.float32), "one")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _shadow_counts(metrics_port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    counts: dict[str, float] = {}
    for outcome, value in re.findall(
            r'^driftgate_shadow_requests_total\{model="m",outcome="(\w+)",version="2"\} (\S+)$', text, re.M):
        counts[outcome] = float(value)
    return counts


def _request() -> ipb.ModelInferRequest:
    x = np.random.default_rng(1).normal(size=(1, FEATURES)).astype(np.float32)
    request = ipb.ModelInferRequest(model_name="m")
    request.inputs.add(name="transaction", datatype="FP32", shape=list(x.shape))
    request.raw_input_contents.append(x.tobytes())
    return request


async def test_a_slow_shadow_drops_and_counts_copies_and_the_primary_never_notices(tmp_path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    reg = await start_registry(home)
    settings = make_settings(home, registry=reg.server.address)
    settings.gateway = settings.gateway.model_copy(update={"metrics_port": 0, "shadow_queue": 1})
    gateway = await start_gateway(settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}")
    stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    try:
        await reg.stub.RegisterVersion(pb.RegisterVersionRequest(model="m", onnx=matmul_model(0), actor="t"))
        await reg.stub.RegisterVersion(pb.RegisterVersionRequest(model="m", onnx=matmul_model(400), actor="t"))
        for version in (1, 2):
            await eventually(lambda v=version: _ready(reg, v), f"m v{version} READY on the gateway")
        home_arg = ("--home", str(home))
        assert await cli(*home_arg, "traffic", "set", "m", "1=100", "--reason", "primary") == 0
        assert await cli(*home_arg, "traffic", "shadow", "m", "2", "--rate", "1", "--reason", "slow shadow") == 0

        async def shadow_scored() -> bool:  # the gateway has the shadow once one copy was scored
            reply = await stub.ModelInfer(_request(), timeout=10)
            assert reply.model_version == "1"
            return _shadow_counts(gateway.metrics_port).get("scored", 0) >= 1

        await eventually(shadow_scored, "a shadow copy scored by v2")
        before = _shadow_counts(gateway.metrics_port)

        burst = 40  # while v2 scores one copy, the queue (1) is full and the others are dropped
        replies = await asyncio.gather(*(stub.ModelInfer(_request(), timeout=30) for _ in range(burst)),
                                       return_exceptions=True)
        failed = [r for r in replies if isinstance(r, BaseException)]
        assert not failed, failed[:3]
        assert {r.model_version for r in replies} == {"1"}  # type: ignore[union-attr]

        after = await eventually(
            lambda: (c := _shadow_counts(gateway.metrics_port)) and
            c.get("dropped", 0) + c.get("scored", 0) >= before.get("scored", 0) + burst and c,
            "every copy of the burst either scored or dropped")
        dropped = after.get("dropped", 0) - before.get("dropped", 0)
        assert dropped >= 1, (before, after)
        assert after.get("failed", 0) == 0
    finally:
        await channel.close()
        await gateway.stop(0.5)
        await reg.close()


async def _ready(reg, version: int) -> bool:  # type: ignore[no-untyped-def]
    return ready_on(await gateway_states(reg, "m", version))
