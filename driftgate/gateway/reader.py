"""What a ModelInferRequest asks for, read from its message or straight from its bytes.

A client sends the same request again and again but for its id, its parameters (a routing key)
and its tensor bytes: model name, version, input name, datatype and shape, requested outputs are
the same bytes every time. :class:`RequestReader` splits a request's top-level fields without
parsing them (all seven are length-delimited), keys a cache on the bytes of the fixed fields, and
for a key it has checked before reads only the id, the parameters and the tensor: no protobuf
message, no decode. A key is learnt from a request the message path (:func:`read_message`, every
check and every error message of driftgate.gateway.tensors) accepted, so the cache can only
repeat what that path decided; protobuf's semantics make it sound (a message is the
concatenation of its fields: the fixed fields' bytes alone parse to the same model name, version,
inputs and outputs). Anything else (a field the scanner does not expect, a second raw entry, a
new key, a model whose served state changed since the key was learnt, an id that is not UTF-8)
takes the message path. A client that sends no id needs not even the split: a request of a length
seen before that starts with the learnt request's bytes up to its tensor differs from it in the
tensor alone. tests/gateway/test_reader.py holds the paths to the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from google.protobuf.message import DecodeError

from driftgate.errors import InvalidRequest
from driftgate.gateway.codec import Outputs
from driftgate.gateway.dataplane import DataPlane, ServedModel
from driftgate.gateway.tensors import routing_key
from driftgate.proto.inference import grpc_service_pb2 as pb

__all__ = ["Read", "RequestReader", "read_message", "request_id", "request_model", "scan"]


@dataclass(slots=True)
class Read:
    """What one ModelInferRequest asks for. Built on every request, so a slotted dataclass: 220 ns
    to build and read, against 500 for a NamedTuple and 1,130 for a frozen dataclass
    (bench/request_edge.md)."""

    model: ServedModel
    feeds: dict[str, np.ndarray]
    rows: int
    outputs: Outputs  # the outputs requested, with their response writers (driftgate.gateway.codec)
    version: str  # the pinned version, "" for none
    key: str | None  # the routing key from the request's parameters, None for none
    request_id: str  # "" for none

# ModelInferRequest's fields 1..7, every one length-delimited: tag = field << 3 | 2
_ID, _PARAMS, _RAW = 0x1A, 0x22, 0x3A
_FIXED = frozenset((0x0A, 0x12, 0x2A, 0x32))  # model_name, model_version, inputs, outputs
_PLANS_MAX = 1024


def read_message(request: pb.ModelInferRequest, plane: DataPlane) -> Read:
    """Every check, in order: the model, its inputs, the outputs named, the routing key."""
    model = plane.model(request.model_name)
    codec = model.codec
    feeds, rows = codec.decode(request, model.max_batch_size)
    return Read(model, feeds, rows, codec.outputs(request), request.model_version, routing_key(request), request.id)


def scan(data: bytes) -> tuple[bytes, int, int, list[tuple[int, int]], int, int] | None:
    """Split a serialized ModelInferRequest's top-level fields: (the fixed fields' bytes, id
    start, id end, the parameter entries' (start, end), raw start, raw end), where the id and
    raw ranges are of the values (past tag and length) and the parameter ranges of whole fields;
    id start is -1 without an id. None when the request is not one raw tensor among the seven
    known fields, or its lengths do not add up."""
    n = len(data)
    pos = 0
    cuts: list[tuple[int, int]] = []  # whole fields left out of the key: id, parameters, raw
    id_start = id_end = raw_start = raw_end = -1
    params: list[tuple[int, int]] = []
    fixed = _FIXED
    try:
        while pos < n:
            tag = data[pos]
            length = data[pos + 1]
            start = pos + 2
            if length >= 128:  # a longer varint: at most 4 bytes here
                length &= 0x7F
                shift = 7
                while True:
                    byte = data[start]
                    start += 1
                    length |= (byte & 0x7F) << shift
                    if byte < 128:
                        break
                    shift += 7
                    if shift > 28:
                        return None
            end = start + length
            if tag in fixed:
                pos = end
                continue
            if tag == _RAW:
                if raw_start >= 0:
                    return None  # a second tensor: the message path
                raw_start, raw_end = start, end
            elif tag == _ID:
                id_start, id_end = start, end  # the last one counts, as in protobuf
            elif tag == _PARAMS:
                params.append((pos, end))
            else:
                return None
            cuts.append((pos, end))
            pos = end
    except IndexError:  # the data ended inside a tag or a length
        return None
    if pos != n or raw_start < 0:
        return None
    if len(cuts) == 1 and cuts[0][1] == n:  # the common layout: the tensor last, no id, no parameters
        key = data[:cuts[0][0]]
    else:
        parts = []
        last = 0
        for a, b in cuts:
            parts.append(data[last:a])
            last = b
        parts.append(data[last:])
        key = b"".join(parts)
    return key, id_start, id_end, params, raw_start, raw_end


_PARSE_FOR_NAME_MAX = 64 * 1024  # a refused request larger than this, with its name not first: no name


def request_model(data: bytes) -> str:
    """The model a serialized ModelInferRequest names, for the count of a refused request; "" when
    it cannot be read. Clients write model_name (field 1) first, so it is read from the first
    bytes without parsing the tensors; otherwise a small request is parsed."""
    if len(data) > 2 and data[0] == 0x0A and data[1] < 0x80 and 2 + data[1] <= len(data):  # field 1, short
        try:
            return data[2 : 2 + data[1]].decode()
        except UnicodeDecodeError:
            return ""
    if len(data) > _PARSE_FOR_NAME_MAX:
        return ""
    try:
        return pb.ModelInferRequest.FromString(data).model_name
    except DecodeError:
        return ""


def request_id(data: bytes) -> str:
    """The id of a serialized ModelInferRequest, for logs; "" when it has none or cannot be read
    (such a request was refused as INVALID_ARGUMENT, never logged as an internal error)."""
    try:
        return pb.ModelInferRequest.FromString(data).id
    except DecodeError:
        return ""


class _Plan:
    """What a checked key means: read against ``model`` (the served state it was checked with)."""

    __slots__ = ("dtype", "input", "itemsize", "model", "name", "nbytes", "outputs", "rows", "shape", "version")

    def __init__(self, read: Read, request: pb.ModelInferRequest) -> None:
        (name, array), = read.feeds.items()
        self.model = read.model
        self.name = read.model.name
        self.input = name
        self.shape = array.shape
        self.dtype = array.dtype
        self.itemsize = array.dtype.itemsize
        self.nbytes = len(request.raw_input_contents[0])
        self.rows = read.rows
        self.outputs = read.outputs
        self.version = read.version


class RequestReader:
    """Requests from their bytes (see the module docstring); one per servicer."""

    def __init__(self, max_plans: int = _PLANS_MAX) -> None:
        self._plans: dict[bytes, _Plan] = {}
        # By request length: a learnt request's bytes up to its tensor (the tensor last), with its
        # id and routing key. A request of that length that starts with those bytes differs from
        # it in the tensor's bytes alone: a client that sends no id needs no scan at all.
        self._exact: dict[int, tuple[bytes, _Plan, str, str | None]] = {}
        self._max = max_plans

    def read(self, data: bytes, plane: DataPlane) -> Read:
        exact = self._exact.get(len(data))
        if exact is not None and data.startswith(exact[0]):
            prefix, seen, request_id, routing = exact
            if plane.models.get(seen.name) is seen.model:
                start = len(prefix)
                if start % seen.itemsize:
                    tensor = np.ndarray(seen.shape, seen.dtype, data[start:])
                else:
                    tensor = np.ndarray(seen.shape, seen.dtype, data, start)
                return Read(
                    seen.model, {seen.input: tensor}, seen.rows, seen.outputs, seen.version, routing, request_id
                )
        fields = scan(data)
        if fields is not None:
            key, id_start, id_end, params, raw_start, raw_end = fields
            plan = self._plans.get(key)
            if (
                plan is not None
                and plane.models.get(plan.name) is plan.model
                and raw_end - raw_start == plan.nbytes
            ):
                try:
                    return self._read(plan, data, id_start, id_end, params, raw_start)
                except (UnicodeDecodeError, DecodeError):
                    pass  # the message path says what is wrong
        try:
            request = pb.ModelInferRequest.FromString(data)
        except DecodeError as exc:
            raise InvalidRequest(f"the request is not a valid ModelInferRequest: {exc}") from None
        read = read_message(request, plane)
        if fields is not None:
            self._learn(data, fields, request, read)
        return read

    @staticmethod
    def _read(
        plan: _Plan, data: bytes, id_start: int, id_end: int, params: list[tuple[int, int]], raw_start: int
    ) -> Read:
        if raw_start % plan.itemsize:  # a view would be misaligned: copy the tensor's bytes
            tensor = np.ndarray(plan.shape, plan.dtype, data[raw_start:raw_start + plan.nbytes])
        else:  # a read-only view of the request's bytes
            tensor = np.ndarray(plan.shape, plan.dtype, data, raw_start)
        key = None
        if params:
            only = pb.ModelInferRequest.FromString(b"".join([data[a:b] for a, b in params]))
            key = routing_key(only)
        request_id = data[id_start:id_end].decode() if id_start >= 0 else ""
        return Read(plan.model, {plan.input: tensor}, plan.rows, plan.outputs, plan.version, key, request_id)

    def _learn(
        self,
        data: bytes,
        fields: tuple[bytes, int, int, list[tuple[int, int]], int, int],
        request: pb.ModelInferRequest,
        read: Read,
    ) -> None:
        if (
            read.model.codec.plan.single is None  # several inputs, BOOL (its bytes are checked), a variable dimension
            or len(request.inputs) != 1
            or len(request.raw_input_contents) != 1
            or len(read.feeds) != 1
        ):
            return
        if len(self._plans) >= self._max or len(self._exact) >= self._max:
            self._plans.clear()  # stale keys (models reloaded) go with the rest; rebuilt on use
            self._exact.clear()
        plan = self._plans[fields[0]] = _Plan(read, request)
        raw_start, raw_end = fields[4], fields[5]
        if raw_end == len(data):  # the tensor last, as every protobuf library writes it
            self._exact[len(data)] = (data[:raw_start], plan, read.request_id, read.key)
