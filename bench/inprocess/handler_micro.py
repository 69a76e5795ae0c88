"""In-process cost of one ModelInfer through the gateway's handler, next to the bare server's
handler on the same model, in one process: the Python path alone, no network; each call parses the
request from its bytes and serializes the response as grpc does around a handler.

    DRIFTGATE_GATEWAY__REGISTRY=127.0.0.1:9 python bench/inprocess/handler_micro.py HOME [nolog|nodrift]

HOME: a driftgate home where a gateway has run before (it serves the saved config; no registry is
needed, hence the unreachable registry address). Prints microseconds of CPU per call, min and median
over 40 chunks of 250 calls (the handlers' chunks interleaved), for requests without an id and
with a new id each, the ratios, and session.run alone for scale.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import uvloop

from driftgate.bench.bare_server import BareModel, BareServicer
from driftgate.gateway.server import GatewayServer
from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.settings import Settings

try:
    from driftgate.gateway.servicer import inference_handlers
except ImportError:  # a checkout from before the response writer: messages, serialized by grpc
    inference_handlers = None  # type: ignore[assignment]


class _Context:
    def invocation_metadata(self) -> tuple[()]:
        return ()

    def time_remaining(self) -> None:  # no deadline, as perf_analyzer sends
        return None


async def _interleaved(
    fns: dict[str, Callable[[], Awaitable[object]]], chunks: int = 40, calls: int = 250
) -> dict[str, tuple[float, float]]:
    """Microseconds of this thread's CPU per call (min and median over chunks) for each function,
    chunks of each taken in turn so that every function sees the same host. CPU time, not wall
    time: on a shared VM the wall clock also counts the time other tenants hold the core."""
    for fn in fns.values():
        for _ in range(1000):
            await fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(chunks):
        for name, fn in fns.items():
            started = time.thread_time_ns()
            for _ in range(calls):
                await fn()
            times[name].append((time.thread_time_ns() - started) / calls / 1e3)
    return {name: (min(t), statistics.median(t)) for name, t in times.items()}


async def main(home: Path, mode: str) -> None:
    settings = Settings(home=home)
    settings.gateway = settings.gateway.model_copy(update={"host": "127.0.0.1", "port": 0, "metrics_port": -1})
    server = GatewayServer(settings)
    await server.start()
    await server.wait_ready(60)
    if mode == "nolog":
        server.plane.requestlog = None
    elif mode == "nodrift":
        server.plane._drift = False
    onnx = next(p for p in (home / "artifacts").rglob("*") if p.is_file())
    bare = BareServicer(BareModel.from_onnx(str(onnx), 256), [], 0.0)
    x = np.zeros((1, 30), dtype=np.float32)

    def request_bytes(request_id: str) -> bytes:
        request = pb.ModelInferRequest(model_name="fraud", id=request_id)
        request.inputs.add(name="transaction", datatype="FP32", shape=[1, 30])
        request.raw_input_contents.append(x.tobytes())
        for spec in server.plane.models["fraud"].signature.outputs:  # as perf_analyzer and tritonclient ask
            request.outputs.add(name=spec.name)
        return request.SerializeToString()

    # Two clients: one that sends no id (perf_analyzer; driftgate then makes one for its request
    # log), one that sends a new id every time (a payment system's transaction id).
    sets = {"no id": [request_bytes("")], "own ids": [request_bytes(f"txn-{i:08d}") for i in range(1024)]}
    context = _Context()
    # As grpc calls them: the request parsed by the method's deserializer, the handler, the response
    # serialized by its serializer (driftgate's ModelInfer has neither: it reads and writes bytes).
    parse = pb.ModelInferRequest.FromString
    bare_serialize = pb.ModelInferResponse.SerializeToString
    if inference_handlers is not None:
        gateway_handler = inference_handlers(server.servicer)["ModelInfer"]
        gateway_infer = gateway_handler.unary_unary
        gateway_serialize = gateway_handler.response_serializer or (lambda data: data)
        gateway_parse = gateway_handler.request_deserializer or (lambda data: data)
    else:
        gateway_infer, gateway_serialize, gateway_parse = server.servicer.ModelInfer, bare_serialize, parse

    calls: dict[str, Callable[[], Awaitable[object]]] = {}
    for label, requests in sets.items():
        bare_next = itertools.cycle(requests).__next__
        gateway_next = itertools.cycle(requests).__next__

        async def bare_call(next_request: Callable[[], bytes] = bare_next) -> bytes:
            return bare_serialize(await bare.ModelInfer(parse(next_request()), context))

        async def gateway_call(next_request: Callable[[], bytes] = gateway_next) -> bytes:
            return gateway_serialize(await gateway_infer(gateway_parse(next_request()), context))

        calls[f"bare, {label}"] = bare_call
        calls[f"driftgate, {label}"] = gateway_call

    results = await _interleaved(calls)
    for name, (best, median) in results.items():
        print(f"{name:22s} {best:6.1f} us/call (min over chunks), median {median:6.1f}")
    for label in sets:
        ratio = results[f"driftgate, {label}"][1] / results[f"bare, {label}"][1]
        print(f"driftgate / bare, {label}, medians: {ratio:.3f}")
    version = server.plane.models["fraud"].ready[1]
    started = time.perf_counter()
    for _ in range(5000):
        version.run({"transaction": x})
    print(f"session.run alone: {(time.perf_counter() - started) / 5000 * 1e6:.1f} us")
    await server.stop(1)


if __name__ == "__main__":
    uvloop.run(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else ""))
