"""In-process cost of one ModelInfer through the gateway's handler, next to the bare server's
handler on the same model, in one process: the Python path alone, no network.

    DRIFTGATE_GATEWAY__REGISTRY=127.0.0.1:9 python bench/handler_micro.py HOME [nolog|nodrift]

HOME: a driftgate home where a gateway has run before (it serves the saved config; no registry is
needed, hence the unreachable registry address). Prints microseconds per call, min and median of
5 runs of 5,000 calls each, and session.run alone for scale.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import uvloop

from driftgate.bench.bare_server import BareModel, BareServicer
from driftgate.gateway.server import GatewayServer
from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.settings import Settings


class _Context:
    def invocation_metadata(self) -> tuple[()]:
        return ()


async def _per_call(fn, calls: int = 5000) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    for _ in range(2000):
        await fn()
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            await fn()
        runs.append((time.perf_counter() - started) / calls * 1e6)
    return min(runs), sorted(runs)[2]


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
    request = pb.ModelInferRequest(model_name="fraud", id="r1")
    request.inputs.add(name="transaction", datatype="FP32", shape=[1, 30])
    request.raw_input_contents.append(x.tobytes())
    context = _Context()
    for name, fn in (
        ("bare handler", lambda: bare.ModelInfer(request, context)),
        ("driftgate handler", lambda: server.servicer.ModelInfer(request, context)),
    ):
        best, median = await _per_call(fn)
        print(f"{name}: {best:.1f} us/call (min of 5), median {median:.1f}")
    version = server.plane.models["fraud"].ready[1]
    started = time.perf_counter()
    for _ in range(5000):
        version.run({"transaction": x})
    print(f"session.run alone: {(time.perf_counter() - started) / 5000 * 1e6:.1f} us")
    await server.stop(1)


if __name__ == "__main__":
    uvloop.run(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else ""))
