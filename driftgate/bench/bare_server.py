"""The bare server: the floor a V2 gateway is compared with.

A minimal grpc.aio + uvloop Open Inference Protocol server. It answers ServerLive, ServerReady,
ServerMetadata, ModelReady, ModelMetadata, ModelConfig and ModelInfer for any model name (or only
the names given with ``--models``), and nothing else: no routing, no metrics, no drift, no
registry. Without ``--score`` ModelInfer checks the input's size against its shape and returns a
fixed FP32 output of zeros, pre-built per batch size; with ``--score --onnx PATH`` it decodes the
input with np.frombuffer and runs the ONNX file with onnxruntime (intra_op_num_threads=1) inline
on the event loop, returning every output as raw bytes. ``--delay-ms`` adds an asyncio.sleep to
each ModelInfer (tests use it to make queueing visible).

    python -m driftgate.bench.bare_server --port 0                      # echo floor
    python -m driftgate.bench.bare_server --port 0 --score --onnx m.onnx  # bare server that scores

Prints ``listening on 127.0.0.1:PORT`` (flushed) once it accepts requests.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np

from driftgate import errors
from driftgate.grpc_edge import wrap_servicer
from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.proto.inference import grpc_service_pb2_grpc as pb_grpc
from driftgate.proto.inference import model_config_pb2 as mc
from driftgate.signature import TensorSpec, numpy_dtype, signature_from_onnx

__all__ = ["BareModel", "BareServicer", "main", "start_server"]

_CONFIG_TYPE = {
    "BOOL": mc.TYPE_BOOL,
    "UINT8": mc.TYPE_UINT8,
    "INT32": mc.TYPE_INT32,
    "INT64": mc.TYPE_INT64,
    "FP16": mc.TYPE_FP16,
    "FP32": mc.TYPE_FP32,
    "FP64": mc.TYPE_FP64,
}


@dataclass
class BareModel:
    """What the bare server serves under every accepted name: a signature and, maybe, a session."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    session: Any = None  # onnxruntime.InferenceSession when scoring
    max_batch_size: int = 256
    _zeros: dict[int, bytes] = field(default_factory=dict)

    @classmethod
    def echo(cls, features: int = 30, outputs: int = 2, max_batch_size: int = 256) -> BareModel:
        return cls(
            inputs=(TensorSpec("input", "FP32", (-1, features)),),
            outputs=(TensorSpec("probabilities", "FP32", (-1, outputs)),),
            max_batch_size=max_batch_size,
        )

    @classmethod
    def from_onnx(cls, path: str, max_batch_size: int = 256) -> BareModel:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        signature = signature_from_onnx(session)
        if len(signature.inputs) != 1:
            raise errors.ModelLoadError("the bare server scores models with exactly one input")
        return cls(signature.inputs, signature.outputs, session, max_batch_size)

    def zeros(self, rows: int) -> bytes:
        out = self._zeros.get(rows)
        if out is None:
            width = int(np.prod([d for d in self.outputs[0].shape[1:] if d > 0] or [1]))
            out = self._zeros[rows] = bytes(4 * rows * width)
        return out


def _tensor_metadata(spec: TensorSpec) -> pb.ModelMetadataResponse.TensorMetadata:
    return pb.ModelMetadataResponse.TensorMetadata(name=spec.name, datatype=spec.datatype, shape=list(spec.shape))


@wrap_servicer
class BareServicer(pb_grpc.GRPCInferenceServiceServicer):
    """Thin V2 servicer over one BareModel; every method is a few lines on purpose."""

    def __init__(self, model: BareModel, names: Sequence[str] = (), delay_s: float = 0.0) -> None:
        self._model = model
        self._names = frozenset(names)
        self._delay_s = delay_s
        spec = model.inputs[0]
        self._input_dtype = numpy_dtype(spec.datatype)
        self._row_items = int(np.prod([d for d in spec.shape[1:] if d > 0] or [1]))

    def _check(self, name: str) -> None:
        if self._names and name not in self._names:
            raise errors.ModelNotFound(f"unknown model {name!r}")

    async def ServerLive(self, request: Any, context: Any) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=True)

    async def ServerMetadata(self, request: Any, context: Any) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name="driftgate-bare", version="1", extensions=[])

    async def ModelReady(self, request: Any, context: Any) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=not self._names or request.name in self._names)

    async def ModelMetadata(self, request: Any, context: Any) -> pb.ModelMetadataResponse:
        self._check(request.name)
        return pb.ModelMetadataResponse(
            name=request.name,
            versions=["1"],
            platform="onnxruntime_onnx",
            inputs=[_tensor_metadata(s) for s in self._model.inputs],
            outputs=[_tensor_metadata(s) for s in self._model.outputs],
        )

    async def ModelConfig(self, request: Any, context: Any) -> pb.ModelConfigResponse:
        self._check(request.name)
        model = self._model
        config = mc.ModelConfig(
            name=request.name,
            platform="onnxruntime_onnx",
            max_batch_size=model.max_batch_size,
            input=[
                mc.ModelInput(name=s.name, data_type=_CONFIG_TYPE[s.datatype], dims=list(s.shape[1:]))
                for s in model.inputs
            ],
            output=[
                mc.ModelOutput(name=s.name, data_type=_CONFIG_TYPE[s.datatype], dims=list(s.shape[1:]))
                for s in model.outputs
            ],
        )
        return pb.ModelConfigResponse(config=config)

    async def ModelInfer(self, request: Any, context: Any) -> pb.ModelInferResponse:
        self._check(request.model_name)
        if self._delay_s:
            await asyncio.sleep(self._delay_s)
        if len(request.inputs) != 1:
            raise errors.InvalidTensor(f"expected 1 input, got {len(request.inputs)}")
        tensor = request.inputs[0]
        if not tensor.shape:
            raise errors.InvalidTensor("input has no shape")
        rows = tensor.shape[0]
        if rows < 1 or rows > self._model.max_batch_size:
            raise errors.InvalidTensor(f"batch of {rows} rows; the limit is {self._model.max_batch_size}")
        count = rows * self._row_items
        if request.raw_input_contents:
            raw = request.raw_input_contents[0]
            if len(raw) != count * self._input_dtype.itemsize:
                raise errors.InvalidTensor(f"input holds {len(raw)} bytes; shape {list(tensor.shape)} needs more")
            x = np.frombuffer(raw, dtype=self._input_dtype) if self._model.session is not None else None
        else:
            contents = tensor.contents.fp32_contents
            if len(contents) != count:
                raise errors.InvalidTensor(
                    f"input holds {len(contents)} values; shape {list(tensor.shape)} needs {count}"
                )
            x = np.asarray(contents, dtype=self._input_dtype) if self._model.session is not None else None
        response = pb.ModelInferResponse(model_name=request.model_name, model_version="1", id=request.id)
        if x is None:
            spec = self._model.outputs[0]
            response.outputs.add(name=spec.name, datatype=spec.datatype, shape=[rows, *spec.shape[1:]])
            response.raw_output_contents.append(self._model.zeros(rows))
            return response
        session = self._model.session
        results = session.run(None, {self._model.inputs[0].name: x.reshape(rows, *tensor.shape[1:])})
        for spec, value in zip(self._model.outputs, results, strict=True):
            value = np.ascontiguousarray(value)
            response.outputs.add(name=spec.name, datatype=spec.datatype, shape=list(value.shape))
            response.raw_output_contents.append(value.tobytes())
        return response


async def start_server(
    model: BareModel,
    host: str = "127.0.0.1",
    port: int = 0,
    names: Sequence[str] = (),
    delay_s: float = 0.0,
    reuseport: bool = False,
) -> tuple[grpc.aio.Server, int]:
    """Start a bare server on the running loop; returns it and the port it bound. With
    ``reuseport`` several processes can share one port (SO_REUSEPORT), as gateway workers do."""
    server = grpc.aio.server(
        options=[("grpc.max_receive_message_length", 64 << 20), ("grpc.so_reuseport", int(reuseport))],
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(BareServicer(model, names, delay_s), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind {host}:{port}")
    await server.start()
    return server, bound


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m driftgate.bench.bare_server", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    p.add_argument("--score", action="store_true", help="score with onnxruntime (needs --onnx)")
    p.add_argument("--onnx", help="ONNX file to score with --score")
    p.add_argument("--features", type=int, default=30, help="input width without --score")
    p.add_argument("--max-batch-size", type=int, default=256)
    p.add_argument("--models", default="", help="comma-separated names to accept (default: any)")
    p.add_argument("--delay-ms", type=float, default=0.0, help="sleep this long in each ModelInfer")
    p.add_argument("--reuseport", action="store_true", help="share the port with other processes (SO_REUSEPORT)")
    return p


async def _serve(args: argparse.Namespace) -> None:
    if args.score:
        model = BareModel.from_onnx(args.onnx, args.max_batch_size)
        # one warm-up call so the first request does not pay onnxruntime's lazy set-up
        spec = model.inputs[0]
        width = [d if d > 0 else 1 for d in spec.shape[1:]]
        model.session.run(None, {spec.name: np.zeros((1, *width), dtype=numpy_dtype(spec.datatype))})
    else:
        model = BareModel.echo(args.features, max_batch_size=args.max_batch_size)
    names = [n for n in args.models.split(",") if n]
    server, port = await start_server(model, args.host, args.port, names, args.delay_ms / 1000, args.reuseport)
    print(f"listening on {args.host}:{port}", flush=True)
    await server.wait_for_termination()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.score and not args.onnx:
        print("--score needs --onnx PATH", file=sys.stderr)
        return 2
    try:
        import uvloop

        uvloop.run(_serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
