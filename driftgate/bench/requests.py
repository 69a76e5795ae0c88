"""Pre-built ModelInfer requests, serialised once, so the load loop spends no CPU on protobuf.

The target's ModelMetadata decides the input names, datatypes and shapes, so the same pool works
against driftgate, Triton or MLServer. Rows come from ``driftgate.demo.generate`` (default), a
seeded random generator, or a .npy file.

Routing keys are appended per request as serialised map entries: a protobuf message followed by
more fields merges them, so ``pool[i] + key_entry(k)`` is the request with ``routing_key`` set.
Card ids have a fixed width, so every entry has the same length prefix and only the digits vary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from driftgate.bench.config import BenchConfig, BenchConfigError
from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.signature import TensorSpec, numpy_dtype

__all__ = ["RequestPool", "RoutingKeys", "build_pool", "input_specs"]

_TYPED_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}

ROUTING_KEY = "routing_key"
_CARD_DIGITS = 10


class RoutingKeys:
    """Serialised ``parameters["routing_key"] = card-NNNNNNNNNN`` entries, cheap to make per request."""

    def __init__(self) -> None:
        probe = "card-" + "0" * _CARD_DIGITS
        entry = pb.ModelInferRequest(
            parameters={ROUTING_KEY: pb.InferParameter(string_param=probe)}
        ).SerializeToString()
        if not entry.endswith(probe.encode()):
            raise AssertionError("unexpected encoding of a routing key entry")
        self._prefix = entry[:-_CARD_DIGITS]
        self._format = b"%0" + str(_CARD_DIGITS).encode() + b"d"

    def entry(self, card: int) -> bytes:
        return self._prefix + self._format % card

    @staticmethod
    def card_id(card: int) -> str:
        return f"card-{card:0{_CARD_DIGITS}d}"


@dataclass
class RequestPool:
    """Serialised requests, a power-of-two count so the loop picks one with a mask."""

    requests: list[bytes]
    inputs: list[TensorSpec]  # as sent, with the batch dimension filled in
    rows_per_request: int

    @property
    def mask(self) -> int:
        return len(self.requests) - 1


def input_specs(metadata: pb.ModelMetadataResponse) -> list[TensorSpec]:
    return [TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in metadata.inputs]


def _shape_for(spec: TensorSpec, batch: int) -> tuple[int, ...]:
    if not spec.shape:
        raise BenchConfigError(f"input {spec.name!r} is a scalar; cannot batch it")
    first = spec.shape[0]
    if first not in (-1, batch):
        raise BenchConfigError(f"input {spec.name!r} has fixed first dimension {first}; use --batch-size {first}")
    return (batch, *(d if d > 0 else 1 for d in spec.shape[1:]))


def _dtype(spec: TensorSpec) -> np.dtype:
    try:
        return numpy_dtype(spec.datatype)
    except KeyError:
        raise BenchConfigError(
            f"input {spec.name!r} has datatype {spec.datatype}, which the load generator cannot fill"
        ) from None


def _rows(config: BenchConfig, specs: list[TensorSpec], n_rows: int) -> list[np.ndarray]:
    """One [n_rows, *row_shape] array per input."""
    row_shapes = [_shape_for(s, 1)[1:] for s in specs]
    if config.input_data == "demo" or config.input_data.endswith(".npy"):
        if len(specs) != 1:
            names = ", ".join(s.name for s in specs)
            raise BenchConfigError(
                f"--input-data {config.input_data} fills one input; the model takes {names}: use random"
            )
        if config.input_data == "demo":
            from driftgate.demo import generate  # the colleague-owned demo data set

            x = np.asarray(generate(n_rows, seed=config.seed, drift=config.drift).X)
        else:
            path = Path(config.input_data)
            if not path.is_file():
                raise BenchConfigError(f"--input-data {path}: no such file")
            x = np.load(path, allow_pickle=False)
            if x.ndim == 1:
                x = x[None, :]
            x = np.resize(x, (n_rows, *x.shape[1:]))  # cycle the file's rows
        want = int(np.prod(row_shapes[0]))
        if int(np.prod(x.shape[1:])) != want:
            raise BenchConfigError(
                f"{config.input_data} rows have shape {list(x.shape[1:])}; "
                f"input {specs[0].name!r} takes {list(row_shapes[0])}"
            )
        return [np.ascontiguousarray(x.reshape(n_rows, *row_shapes[0]), dtype=_dtype(specs[0]))]
    if config.input_data == "random":
        rng = np.random.default_rng(config.seed)
        out = []
        for spec, shape in zip(specs, row_shapes, strict=True):
            dtype = _dtype(spec)
            if dtype.kind == "f":
                out.append(rng.standard_normal((n_rows, *shape)).astype(dtype))
            elif dtype.kind == "b":
                out.append(rng.integers(0, 2, (n_rows, *shape)).astype(dtype))
            else:
                out.append(rng.integers(0, 100, (n_rows, *shape)).astype(dtype))
        return out
    raise BenchConfigError(f"--input-data {config.input_data!r}: use demo, random or a .npy file")


def build_pool(config: BenchConfig, metadata: pb.ModelMetadataResponse) -> RequestPool:
    """Serialise ``pool_size`` (rounded up to a power of two) requests for the model's inputs."""
    specs = input_specs(metadata)
    if not specs:
        raise BenchConfigError(f"model {config.model!r} declares no inputs")
    size = 1 << max(0, int(config.pool_size - 1).bit_length())
    batch = config.batch_size
    data = _rows(config, specs, size * batch)
    sent = [TensorSpec(s.name, s.datatype, _shape_for(s, batch)) for s in specs]
    if not config.raw:
        for spec in sent:
            if spec.datatype not in _TYPED_FIELD:
                raise BenchConfigError(f"--typed cannot carry {spec.datatype} (input {spec.name!r}); use --raw")
    requests = []
    for i in range(size):
        request = pb.ModelInferRequest(model_name=config.model, model_version=config.model_version)
        for spec, x in zip(sent, data, strict=True):
            chunk = x[i * batch : (i + 1) * batch]
            tensor = request.inputs.add(name=spec.name, datatype=spec.datatype, shape=list(spec.shape))
            if config.raw:
                request.raw_input_contents.append(chunk.tobytes())
            else:
                getattr(tensor.contents, _TYPED_FIELD[spec.datatype]).extend(chunk.ravel().tolist())
        requests.append(request.SerializeToString())
    return RequestPool(requests, sent, batch)
