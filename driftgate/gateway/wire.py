"""ModelInferResponse bytes written directly, for the response nearly every request gets.

A response to an unpinned, unfiltered request differs from the last one of the same version only
in its id and its output bytes (and in the output shapes when the batch size changes). Building
it as a protobuf message costs a message, one sub-message per output, their fields, then grpc's
``SerializeToString``: ~11 us a response, more than onnxruntime's run of the demo model (bench/
README.md). :class:`ResponseWriter` serializes the fixed parts once per version and batch shape
with protobuf itself and joins the rest, in the canonical field order, so the bytes are the ones
``SerializeToString`` gives (tests/gateway/test_wire.py holds it to that, byte for byte).

Anything it was not built for (an output of another dtype than the signature says, a BYTES
output, a non-contiguous array, a shape it has not seen when its cache is full) answers None and
the caller takes the message path (driftgate.gateway.tensors.encode_outputs).
"""

from __future__ import annotations

import math
import operator
import sys
from collections.abc import Sequence

import numpy as np

from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.signature import NUMPY_BY_DATATYPE, TensorSpec

__all__ = ["ResponseWriter", "stream_frame", "varint"]

_ID_TAG = b"\x1a"  # ModelInferResponse.id: field 3, length-delimited
_RAW_TAG = b"\x32"  # ModelInferResponse.raw_output_contents: field 6, length-delimited
_STREAM_RESPONSE_TAG = b"\x12"  # ModelStreamInferResponse.infer_response: field 2
_SMALL = tuple(bytes((i,)) for i in range(128))
_SHAPE = operator.attrgetter("shape")
_DTYPE = operator.attrgetter("dtype")
_MAX_SHAPES = 4096  # batch shapes remembered per version (one per batch size, for most models)


def varint(n: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int."""
    if n < 128:
        return _SMALL[n]
    out = bytearray()
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def stream_frame(response: bytes) -> bytes:
    """A serialized ModelInferResponse as a ModelStreamInferResponse (no error message)."""
    return b"".join((_STREAM_RESPONSE_TAG, varint(len(response)), response))


class ResponseWriter:
    """Serialized ModelInferResponses for one model version's outputs, in the signature's order."""

    __slots__ = ("_dtypes", "_head", "_plans", "_specs")

    def __init__(self, model_name: str, version: str, specs: Sequence[TensorSpec]) -> None:
        self._head = pb.ModelInferResponse(model_name=model_name, model_version=version).SerializeToString()
        self._specs = tuple(specs)
        dtypes = [NUMPY_BY_DATATYPE.get(s.datatype) for s in self._specs]
        # None disables the fast path: a BYTES output, or a big-endian host (raw contents are
        # little-endian; there native arrays are not).
        known = [d for d in dtypes if d is not None]
        self._dtypes: tuple[np.dtype, ...] | None = (
            tuple(known) if len(known) == len(dtypes) and sys.byteorder == "little" else None
        )
        self._plans: dict[tuple[tuple[int, ...], ...], tuple[bytes, tuple[bytes, ...]]] = {}

    def encode(self, request_id: str, arrays: Sequence[np.ndarray]) -> bytes | None:
        """The response's bytes, or None when these arrays need the message path."""
        dtypes = self._dtypes
        if dtypes is None or len(arrays) != len(dtypes):
            return None
        try:
            shapes = tuple(map(_SHAPE, arrays))
            if tuple(map(_DTYPE, arrays)) != dtypes:  # == a native dtype: the byte order too
                return None
        except AttributeError:  # not arrays
            return None
        plan = self._plans.get(shapes)
        if plan is None:
            plan = self._plan(shapes)
            if plan is None:
                return None
        meta, prefixes = plan
        if request_id:
            rid = request_id.encode()
            size = len(rid)
            parts = [self._head, _ID_TAG, _SMALL[size] if size < 128 else varint(size), rid, meta]
        else:
            parts = [self._head, meta]
        for prefix, array in zip(prefixes, arrays, strict=True):
            parts.append(prefix)
            parts.append(array)  # joined through the buffer protocol: one copy, into the response
        try:
            return b"".join(parts)
        except (BufferError, TypeError):  # a non-contiguous array
            return None

    def _plan(self, shapes: tuple[tuple[int, ...], ...]) -> tuple[bytes, tuple[bytes, ...]] | None:
        if len(self._plans) >= _MAX_SHAPES:
            return None
        dtypes = self._dtypes
        assert dtypes is not None  # encode checked
        message = pb.ModelInferResponse()
        prefixes = []
        for spec, shape, dtype in zip(self._specs, shapes, dtypes, strict=True):
            tensor = message.outputs.add()
            tensor.name = spec.name
            tensor.datatype = spec.datatype
            tensor.shape.extend(shape)
            prefixes.append(_RAW_TAG + varint(math.prod(shape) * dtype.itemsize))
        plan = message.SerializeToString(), tuple(prefixes)
        self._plans[shapes] = plan
        return plan
