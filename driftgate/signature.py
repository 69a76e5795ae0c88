"""What a model takes and returns: tensor specs in Open Inference Protocol terms, and the one
datatype table (V2 name <-> numpy dtype <-> ONNX type) the whole project uses.

Transport-free: the gateway, the registry and the benchmark convert their messages to these.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from driftgate.errors import ModelLoadError, SignatureMismatch

__all__ = [
    "NUMPY_BY_DATATYPE",
    "ONNX_TYPE_TO_DATATYPE",
    "Signature",
    "TensorSpec",
    "datatype_of",
    "numpy_dtype",
    "signature_from_onnx",
]

# V2 datatype -> numpy dtype (little-endian, as raw_*_contents carries it).
NUMPY_BY_DATATYPE: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}

_DATATYPE_BY_NUMPY: dict[np.dtype, str] = {v: k for k, v in NUMPY_BY_DATATYPE.items()}

# onnxruntime's NodeArg.type strings -> V2 datatype.
ONNX_TYPE_TO_DATATYPE: dict[str, str] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


def numpy_dtype(datatype: str) -> np.dtype:
    """numpy dtype of a V2 numeric datatype; KeyError names the unknown one."""
    try:
        return NUMPY_BY_DATATYPE[datatype]
    except KeyError:
        raise KeyError(f"unknown or non-numeric datatype {datatype!r}") from None


def datatype_of(dtype: np.dtype) -> str:
    try:
        return _DATATYPE_BY_NUMPY[np.dtype(dtype)]
    except KeyError:
        raise KeyError(f"numpy dtype {dtype} has no V2 datatype") from None


@dataclass(frozen=True, slots=True)
class TensorSpec:
    name: str
    datatype: str
    shape: tuple[int, ...]  # -1: any size; shape[0] is the batch dimension

    def describe(self) -> str:
        return f"{self.name} {self.datatype}{list(self.shape)}"


@dataclass(frozen=True, slots=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def input(self, name: str) -> TensorSpec | None:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        return None

    def check_compatible(self, other: Signature) -> None:
        """Raise SignatureMismatch unless ``other`` takes and returns the same tensors.

        A new version of a model must be a drop-in replacement: same input and output names,
        datatypes and ranks, and equal fixed (non-batch) dimensions.
        """
        problems: list[str] = []
        for kind, mine, theirs in (("input", self.inputs, other.inputs), ("output", self.outputs, other.outputs)):
            a = {s.name: s for s in mine}
            b = {s.name: s for s in theirs}
            for name in sorted(a.keys() - b.keys()):
                problems.append(f"{kind} {name!r} is missing")
            for name in sorted(b.keys() - a.keys()):
                problems.append(f"{kind} {name!r} is new")
            for name in sorted(a.keys() & b.keys()):
                x, y = a[name], b[name]
                if x.datatype != y.datatype:
                    problems.append(f"{kind} {name!r} datatype {y.datatype}, the model has {x.datatype}")
                elif len(x.shape) != len(y.shape) or any(
                    p != q and p != -1 and q != -1 for p, q in zip(x.shape[1:], y.shape[1:], strict=False)
                ):
                    problems.append(f"{kind} {name!r} shape {list(y.shape)}, the model has {list(x.shape)}")
        if problems:
            raise SignatureMismatch("signature does not match the model's: " + "; ".join(problems))


def _dims(shape: Iterable[object]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d >= 0 else -1 for d in shape)


def signature_from_onnx(session: object) -> Signature:
    """Signature of an onnxruntime.InferenceSession (symbolic dimensions become -1).

    Raises ModelLoadError for a model a V2 client cannot call: a non-numeric input, or an
    input or output without a batch dimension.
    """
    inputs: list[TensorSpec] = []
    outputs: list[TensorSpec] = []
    for kind, args, out in (("input", session.get_inputs(), inputs), ("output", session.get_outputs(), outputs)):  # type: ignore[attr-defined]
        for arg in args:
            datatype = ONNX_TYPE_TO_DATATYPE.get(arg.type)
            if datatype is None:
                raise ModelLoadError(f"{kind} {arg.name!r} has type {arg.type}, which driftgate cannot serve")
            if kind == "input" and datatype == "BYTES":
                raise ModelLoadError(f"input {arg.name!r} is a string tensor; driftgate serves numeric inputs")
            shape = _dims(arg.shape or ())
            if not shape:
                raise ModelLoadError(f"{kind} {arg.name!r} is a scalar; driftgate needs a batch dimension")
            out.append(TensorSpec(arg.name, datatype, (-1, *shape[1:])))
    return Signature(tuple(inputs), tuple(outputs))
