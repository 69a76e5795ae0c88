"""Open Inference Protocol tensors <-> numpy, checked against a model's signature.

On the hot path of every ModelInfer: no logging, no copies of tensor bytes on the raw path
(``np.frombuffer`` gives a read-only view of the request's bytes), and the per-signature lookup
tables are built once and reused.

Every malformed request raises :class:`~driftgate.errors.InvalidTensor` (an input's name,
datatype, shape or bytes) or :class:`~driftgate.errors.InvalidRequest` (the request as a whole)
with a message that names the input, what the model expects and what came; nothing else escapes,
whatever the request holds (an absurd declared shape is compared with the bytes that came before
anything is allocated).

Accepted:

- every model input exactly once, in any order;
- the model input's datatype exactly (no implicit casts: a client that sends FP64 to an FP32 model
  has a bug worth hearing about); every numeric V2 datatype, BYTES and BF16 are refused;
- the model input's rank, its fixed non-batch dimensions, a batch of 1..max_batch_size that is
  the same for every input;
- the data either all in ``raw_input_contents`` (one entry per input, in the order of
  ``inputs``, little-endian C order, exactly prod(shape) * itemsize bytes; BOOL one byte 0 or 1)
  or all in typed ``contents`` (the field the V2 specification assigns to the datatype, exactly
  prod(shape) values, each fitting the datatype; FP16 has no typed field and must come raw).
  An input with no elements (a 0 in a variable dimension) may come without data.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from driftgate.errors import InvalidRequest, InvalidTensor, ScoringError, shown
from driftgate.proto.inference import grpc_service_pb2
from driftgate.signature import NUMPY_BY_DATATYPE, Signature, TensorSpec, datatype_of

__all__ = [
    "SignaturePlan",
    "check_finite",
    "decode_inputs",
    "encode_outputs",
    "requested_outputs",
    "routing_key",
]

ROUTING_KEY_PARAMETER = "routing_key"

# The InferTensorContents field the V2 specification assigns to each datatype. FP16 (and BF16)
# have none: they travel in raw_input_contents only.
_TYPED_FIELD: dict[str, str] = {
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

# Datatypes whose typed field is wider than they are: (wide dtype the field holds, min, max).
_NARROWED: dict[str, tuple[np.dtype, int, int]] = {
    "INT8": (np.dtype(np.int32), -(2**7), 2**7 - 1),
    "INT16": (np.dtype(np.int32), -(2**15), 2**15 - 1),
    "UINT8": (np.dtype(np.uint32), 0, 2**8 - 1),
    "UINT16": (np.dtype(np.uint32), 0, 2**16 - 1),
}

_MAX_NBYTES = 2**62
_BIG_ENDIAN_HOST = sys.byteorder == "big"

_NOT_SERVED = {
    "BYTES": "driftgate serves numeric tensors only",
    "BF16": "numpy has no bfloat16; send FP32",
}


@dataclass(frozen=True, slots=True)
class _InputPlan:
    """What decode needs to know about one model input, computed once per signature."""

    spec: TensorSpec
    dtype: np.dtype | None  # None: a datatype driftgate cannot decode (BYTES, BF16)
    itemsize: int
    rank: int
    fixed: list[int]  # the non-batch dimensions, -1 where any size goes (a list: shapes come as lists)
    exact: bool  # no -1 among them: a tuple comparison checks the shape


class SignaturePlan:
    """What decode needs to know about a signature's inputs and outputs, computed once: built by the
    model's codec (driftgate.gateway.codec) when the model is published, and dropped with it."""

    __slots__ = ("by_name", "expected", "outputs_by_name", "signature", "single")

    def __init__(self, signature: Signature) -> None:
        by_name = {}
        for spec in signature.inputs:
            dtype = NUMPY_BY_DATATYPE.get(spec.datatype)
            fixed = list(spec.shape[1:])
            by_name[spec.name] = _InputPlan(
                spec=spec,
                dtype=dtype,
                itemsize=dtype.itemsize if dtype is not None else 0,
                rank=len(spec.shape),
                fixed=fixed,
                exact=all(d >= 0 for d in fixed),
            )
        only = next(iter(by_name.values())) if len(by_name) == 1 else None
        self.signature = signature
        self.by_name: dict[str, _InputPlan] = by_name
        self.expected = ", ".join(repr(s.name) for s in signature.inputs)  # "'a', 'b'" for messages
        self.outputs_by_name: dict[str, TensorSpec] = {s.name: s for s in signature.outputs}
        # The common request, checked in a few comparisons (see decode): the model takes one
        # numeric, non-BOOL input whose non-batch dimensions are all fixed. None otherwise.
        self.single: _InputPlan | None = (
            only if only is not None and only.exact and only.rank and only.dtype is not None
            and only.dtype.kind != "b" else None
        )

    def decode(
        self, request: grpc_service_pb2.ModelInferRequest, max_batch_size: int
    ) -> tuple[dict[str, np.ndarray], int]:
        """The request's inputs as arrays keyed by input name, in the model's dtype and shape, and
        the batch size (the first dimension every input shares).

        Raw inputs are read-only views of the request's bytes.
        """
        inputs = request.inputs
        raw = request.raw_input_contents
        single = self.single
        if single is not None and len(raw) == 1 and len(inputs) == 1:
            # The request nearly every client sends: one raw input, in a handful of comparisons
            # that accept exactly what the general path below accepts; anything else (an error
            # included) goes on to the general path, which explains what is wrong.
            inp = inputs[0]
            shape = inp.shape[:]
            if (
                len(shape) == single.rank
                and inp.name == single.spec.name
                and inp.datatype == single.spec.datatype
                and shape[1:] == single.fixed
                and 0 < shape[0] <= max_batch_size
                and len(raw[0]) == math.prod(shape) * single.itemsize
                and not inp.HasField("contents")
            ):
                return {inp.name: np.ndarray(shape, single.dtype, raw[0])}, shape[0]
        return _decode_general(request, self, max_batch_size)

    def requested(self, request: grpc_service_pb2.ModelInferRequest) -> tuple[TensorSpec, ...]:
        """The outputs the request asks for, in its order; all of the model's outputs when it names
        none. A request that names every output in the model's order gets ``signature.outputs``
        itself, as one that names none does. (Checked every call: the codec remembers.)"""
        if not request.outputs:
            return self.signature.outputs
        return _requested_checked(request.outputs, self)


def decode_inputs(
    request: grpc_service_pb2.ModelInferRequest, signature: Signature, max_batch_size: int
) -> tuple[dict[str, np.ndarray], int]:
    """SignaturePlan.decode for a caller without a plan (it builds one each call; the request path
    uses its model's codec, driftgate.gateway.codec)."""
    return SignaturePlan(signature).decode(request, max_batch_size)


def _decode_general(
    request: grpc_service_pb2.ModelInferRequest, plan: SignaturePlan, max_batch_size: int
) -> tuple[dict[str, np.ndarray], int]:
    """decode_inputs for every request: any number of inputs, raw or typed, and every error."""
    inputs = request.inputs
    raw = request.raw_input_contents
    n_raw = len(raw)
    if n_raw:
        for inp in inputs:
            if inp.HasField("contents") and inp.contents.ByteSize():
                raise InvalidRequest(
                    f"input {shown(inp.name)} has typed contents and the request has raw_input_contents: "
                    "use either raw_input_contents or typed contents, not both"
                )
        if n_raw != len(inputs):
            raise InvalidRequest(
                f"raw_input_contents has {n_raw} entries for {len(inputs)} inputs: "
                "send one entry per input, in the order of inputs"
            )

    arrays: dict[str, np.ndarray] = {}
    batch = -1
    first = ""
    by_name = plan.by_name
    for position in range(len(inputs)):
        inp = inputs[position]
        name = inp.name
        entry = by_name.get(name)
        if entry is None:
            raise InvalidTensor(f"unknown input {shown(name)}: the model takes {plan.expected}")
        if name in arrays:
            raise InvalidTensor(f"input {name!r} appears more than once; send each input once")
        datatype = inp.datatype
        if datatype != entry.spec.datatype or entry.dtype is None:
            raise InvalidTensor(_datatype_message(name, datatype, entry.spec.datatype))

        shape = inp.shape[:]  # a list; much cheaper than iterating the container
        if len(shape) != entry.rank or entry.rank == 0:
            raise InvalidTensor(_shape_message(name, shape, entry, "rank"))
        b = shape[0]
        if entry.exact:
            if shape[1:] != entry.fixed:
                raise InvalidTensor(_shape_message(name, shape, entry, "dims"))
        else:
            for d, f in zip(shape[1:], entry.fixed, strict=True):
                if d < 0 or (f >= 0 and d != f):
                    raise InvalidTensor(_shape_message(name, shape, entry, "dims"))
        if b < 1 or b > max_batch_size:
            if b < 0:
                raise InvalidTensor(_shape_message(name, shape, entry, "dims"))
            if b == 0:
                raise InvalidTensor(f"input {name!r}: batch 0 in shape {shape}; send at least one row")
            raise InvalidTensor(f"input {name!r}: batch {b} exceeds the model's max_batch_size {max_batch_size}")
        if batch != b:
            if batch >= 0:
                raise InvalidTensor(
                    f"input {name!r} has batch {b} but input {first!r} has batch {batch}: "
                    "every input must have the same batch size"
                )
            batch = b
            first = name

        count = math.prod(shape)
        if count == 0 and math.prod(d for d in shape if d) * entry.itemsize > _MAX_NBYTES:
            # numpy refuses such a shape even with no elements
            raise InvalidTensor(f"input {name!r}: shape {shape} is too large")
        if n_raw:
            data = raw[position]
            expected = count * entry.itemsize
            if len(data) != expected:
                raise InvalidTensor(
                    f"input {name!r}: {len(data)} bytes for shape {shape} {datatype}, expected {expected}"
                )
            if entry.dtype.kind == "b" and count and np.frombuffer(data, np.uint8).max() > 1:
                raise InvalidTensor(f"input {name!r}: BOOL bytes must be 0 or 1")
            # a read-only view of the request's bytes (their length is checked above)
            arrays[name] = np.ndarray(shape, entry.dtype, data)
        else:
            arrays[name] = _decode_typed(inp, entry, shape, count)

    if len(arrays) != len(by_name):
        missing = [repr(n) for n in by_name if n not in arrays]
        raise InvalidTensor(
            f"missing input{'s' if len(missing) > 1 else ''} {', '.join(missing)}: the model takes {plan.expected}"
        )
    return arrays, max(batch, 0)


def _decode_typed(
    inp: grpc_service_pb2.ModelInferRequest.InferInputTensor, entry: _InputPlan, shape: list[int], count: int
) -> np.ndarray:
    name = inp.name
    datatype = entry.spec.datatype
    dtype = entry.dtype
    assert dtype is not None  # checked by the caller
    field = _TYPED_FIELD.get(datatype)
    if field is None:
        raise InvalidTensor(f"input {name!r}: {datatype} has no typed contents field; send it in raw_input_contents")
    set_fields = inp.contents.ListFields() if inp.HasField("contents") else []
    if not set_fields:
        if count == 0:
            return np.empty(shape, dtype)
        raise InvalidRequest(
            f"input {name!r} has no data: put its {count} values in raw_input_contents or in contents.{field}"
        )
    wrong = [fd.name for fd, _ in set_fields if fd.name != field]
    if wrong:
        raise InvalidTensor(
            f"input {name!r}: {datatype} values belong in contents.{field}, got contents.{', contents.'.join(wrong)}"
        )
    values = getattr(inp.contents, field)
    if len(values) != count:
        raise InvalidTensor(
            f"input {name!r}: {len(values)} values in contents.{field} for shape {shape}, expected {count}"
        )
    narrowed = _NARROWED.get(datatype)
    if narrowed is None:
        return np.fromiter(values, dtype, count=count).reshape(shape)
    wide, lo, hi = narrowed
    array = np.fromiter(values, wide, count=count)
    if count and (int(array.min()) < lo or int(array.max()) > hi):
        bad = next(int(v) for v in array if not lo <= int(v) <= hi)
        raise InvalidTensor(f"input {name!r}: value {bad} does not fit {datatype} ({lo}..{hi})")
    return array.astype(dtype).reshape(shape)


def _datatype_message(name: str, got: str, want: str) -> str:
    if want not in NUMPY_BY_DATATYPE:
        why = _NOT_SERVED.get(want, "it is not a V2 numeric datatype")
        return f"input {name!r}: the model takes {want}, which driftgate cannot serve ({why})"
    if got in _NOT_SERVED:
        return f"input {name!r}: datatype {got} is not supported ({_NOT_SERVED[got]}); the model expects {want}"
    if got not in NUMPY_BY_DATATYPE:
        return f"input {name!r}: unknown datatype {shown(got)}, the model expects {want}"
    return f"input {name!r}: datatype {got}, the model expects {want}"


def _shape_message(name: str, shape: list[int], entry: _InputPlan, what: str) -> str:
    want = list(entry.spec.shape)
    if entry.rank == 0:
        return f"input {name!r}: the model declares it without a batch dimension, which driftgate cannot serve"
    if what == "rank":
        return f"input {name!r}: shape {shape} has rank {len(shape)}, the model expects rank {entry.rank} {want}"
    if any(d < 0 for d in shape):
        return f"input {name!r}: shape {shape} has a negative dimension"
    return f"input {name!r}: shape {shape}, the model expects {want} (-1: any size)"


def check_finite(model: str, feeds: dict[str, np.ndarray]) -> None:
    """Refuse NaN and infinite values in float inputs (a model whose input policy is "reject"):
    InvalidTensor naming the input, the first such row and its column. One np.isfinite pass over
    each float input; only called when the policy is reject."""
    for name, array in feeds.items():
        if array.dtype.kind != "f" or np.isfinite(array).all():
            continue
        bad = np.argwhere(~np.isfinite(array))[0]
        value = array[tuple(bad)]
        row = int(bad[0])
        where = f"row {row}" + (f", column {int(bad[1])}" if len(bad) > 1 else "")
        if len(bad) > 2:
            where += f" (index {tuple(int(i) for i in bad[1:])})"
        raise InvalidTensor(
            f"input {shown(name)}: {where} is {value}; model {shown(model)} refuses NaN and infinite inputs "
            "(its input policy: driftgate models input-policy MODEL --nan score|reject)"
        )


def requested_outputs(request: grpc_service_pb2.ModelInferRequest, signature: Signature) -> tuple[TensorSpec, ...]:
    """SignaturePlan.requested for a caller without a plan (it builds one each call)."""
    return SignaturePlan(signature).requested(request)


def _requested_checked(
    requested: Sequence[grpc_service_pb2.ModelInferRequest.InferRequestedOutputTensor], plan: SignaturePlan
) -> tuple[TensorSpec, ...]:
    signature = plan.signature
    specs: list[TensorSpec] = []
    for out in requested:
        spec = plan.outputs_by_name.get(out.name)
        if spec is None:
            known = ", ".join(repr(s.name) for s in signature.outputs)
            raise InvalidRequest(f"unknown output {shown(out.name)}: the model returns {known}")
        if spec in specs:
            raise InvalidRequest(f"output {out.name!r} is requested more than once")
        if "classification" in out.parameters:
            raise InvalidRequest(f"output {out.name!r}: the classification extension is not supported")
        specs.append(spec)
    return signature.outputs if tuple(specs) == signature.outputs else tuple(specs)


def encode_outputs(
    response: grpc_service_pb2.ModelInferResponse, specs: Sequence[TensorSpec], arrays: Sequence[np.ndarray]
) -> None:
    """Append each output (name, datatype, shape) and its raw bytes (little-endian, C order).

    The datatype is the spec's when the array has that dtype, else the array's own (a label never
    disagrees with the bytes). One ``tobytes`` per output; an array already C-contiguous and
    little-endian is not converted first.
    """
    if len(specs) != len(arrays):
        raise ScoringError(f"the model returned {len(arrays)} outputs for {len(specs)} requested")
    outputs = response.outputs
    raw = response.raw_output_contents
    for spec, array in zip(specs, arrays, strict=True):
        wanted = NUMPY_BY_DATATYPE.get(spec.datatype)
        if array.__class__ is np.ndarray and wanted is not None and array.dtype == wanted and not _BIG_ENDIAN_HOST:
            # what onnxruntime returns: a native array of the declared dtype (equality with a
            # native dtype implies native byte order, little-endian here)
            tensor = outputs.add()
            tensor.name = spec.name
            tensor.datatype = spec.datatype
            tensor.shape.extend(array.shape)
            raw.append(array.tobytes())
            continue
        array = np.asarray(array)
        dtype = array.dtype
        if dtype.kind in "OSU":
            data = _encode_bytes(spec, array)
            datatype = "BYTES"
        else:
            if dtype.byteorder == ">" or (_BIG_ENDIAN_HOST and dtype.byteorder == "="):
                dtype = dtype.newbyteorder("<")
                array = array.astype(dtype)
            if wanted == dtype:
                datatype = spec.datatype
            else:
                try:
                    datatype = datatype_of(dtype)
                except KeyError:
                    raise ScoringError(f"output {spec.name!r} has dtype {dtype}, which has no V2 datatype") from None
            data = array.tobytes(order="C")
        tensor = outputs.add()  # setting fields one by one is cheaper than add(**fields) in upb
        tensor.name = spec.name
        tensor.datatype = datatype
        tensor.shape.extend(array.shape)
        raw.append(data)


def _encode_bytes(spec: TensorSpec, array: np.ndarray) -> bytes:
    """BYTES in raw contents: each element as a 4-byte little-endian length and its bytes."""
    parts: list[bytes] = []
    for item in array.ravel(order="C"):
        if isinstance(item, str):
            item = item.encode("utf-8")
        elif not isinstance(item, bytes):
            item = str(item).encode("utf-8")
        parts.append(len(item).to_bytes(4, "little"))
        parts.append(item)
    return b"".join(parts)


def routing_key(request: grpc_service_pb2.ModelInferRequest) -> str | None:
    """The request parameter ``routing_key``: a string, or an int64/uint64 as its decimal string.

    None when absent or empty (an empty key carries no identity; hashing it would pin every such
    request to one version). A bool or double key is refused: it is almost certainly a bug.
    """
    params = request.parameters
    if ROUTING_KEY_PARAMETER not in params:
        return None
    param = params[ROUTING_KEY_PARAMETER]
    kind = param.WhichOneof("parameter_choice")
    if kind == "string_param":
        return param.string_param or None
    if kind == "int64_param":
        return str(param.int64_param)
    if kind == "uint64_param":
        return str(param.uint64_param)
    if kind is None:
        return None
    raise InvalidRequest(f"parameter routing_key must be a string or an integer, got {kind}")
