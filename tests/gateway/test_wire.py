"""The hand-joined ModelInferResponse bytes are exactly what protobuf serializes for the same
response, and anything the writer was not built for goes back to the message path."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf.internal.encoder import _VarintBytes
from hypothesis import given, settings
from hypothesis import strategies as st

from driftgate.gateway.servicer import InferenceServicer, inference_handlers
from driftgate.gateway.tensors import encode_outputs
from driftgate.gateway.wire import ResponseWriter, stream_frame, varint
from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.signature import NUMPY_BY_DATATYPE, TensorSpec

NUMERIC = sorted(NUMPY_BY_DATATYPE)


def _message_bytes(
    name: str, version: str, request_id: str, specs: list[TensorSpec], arrays: list[np.ndarray]
) -> bytes:
    response = pb.ModelInferResponse(model_name=name, model_version=version, id=request_id)
    encode_outputs(response, specs, arrays)
    return response.SerializeToString()


@st.composite
def _outputs(draw: st.DrawFn) -> tuple[list[TensorSpec], list[np.ndarray]]:
    count = draw(st.integers(1, 4))
    batch = draw(st.integers(0, 300))  # 0 rows, and raw lengths past one varint byte
    specs, arrays = [], []
    for i in range(count):
        datatype = draw(st.sampled_from(NUMERIC))
        dims = draw(st.lists(st.integers(0, 40), max_size=2))
        specs.append(TensorSpec(draw(st.text(min_size=1, max_size=12)) + str(i), datatype, (-1, *dims)))
        shape = (batch, *dims)
        dtype = NUMPY_BY_DATATYPE[datatype]
        arrays.append((np.arange(int(np.prod(shape)), dtype=np.int64) % 100).astype(dtype).reshape(shape))
    return specs, arrays


@settings(max_examples=300, deadline=None)
@given(
    name=st.text(max_size=20),
    version=st.sampled_from(["1", "17", "123456"]),
    request_id=st.text(max_size=300),
    outputs=_outputs(),
)
def test_written_bytes_are_protobufs_own(
    name: str, version: str, request_id: str, outputs: tuple[list[TensorSpec], list[np.ndarray]]
) -> None:
    specs, arrays = outputs
    writer = ResponseWriter(name, version, specs)
    data = writer.encode(request_id, arrays)
    assert data == _message_bytes(name, version, request_id, specs, arrays)
    assert writer.encode(request_id, arrays) == data  # from the cached plan as well


def test_a_new_batch_size_gets_its_own_shapes() -> None:
    specs = [TensorSpec("label", "INT64", (-1,)), TensorSpec("probabilities", "FP32", (-1, 2))]
    writer = ResponseWriter("fraud", "3", specs)
    for rows in (1, 64, 1, 200):
        arrays = [np.ones(rows, np.int64), np.full((rows, 2), 0.25, np.float32)]
        data = writer.encode("r", arrays)
        assert data is not None
        parsed = pb.ModelInferResponse.FromString(data)
        assert [list(o.shape) for o in parsed.outputs] == [[rows], [rows, 2]]
        assert np.array_equal(np.frombuffer(parsed.raw_output_contents[1], np.float32).reshape(rows, 2), arrays[1])


@pytest.mark.parametrize(
    "arrays",
    [
        [np.ones(2, np.int32), np.ones((2, 2), np.float32)],  # a dtype the signature does not say
        [np.ones(2, np.int64), np.ones((2, 4), np.float32)[:, ::2]],  # not contiguous
        [np.ones(2, np.int64).astype(">i8"), np.ones((2, 2), np.float32)],  # big-endian
        [np.ones(2, np.int64)],  # one output short
        [[1, 2], np.ones((2, 2), np.float32)],  # not an array
    ],
)
def test_what_it_was_not_built_for_takes_the_message_path(arrays: list[object]) -> None:
    specs = [TensorSpec("label", "INT64", (-1,)), TensorSpec("probabilities", "FP32", (-1, 2))]
    assert ResponseWriter("fraud", "1", specs).encode("", arrays) is None  # type: ignore[arg-type]


def test_bytes_outputs_take_the_message_path() -> None:
    writer = ResponseWriter("m", "1", [TensorSpec("text", "BYTES", (-1,))])
    assert writer.encode("", [np.array([b"a"], dtype=object)]) is None


@given(st.integers(0, 2**63))
def test_varint_is_protobufs(n: int) -> None:
    assert varint(n) == _VarintBytes(n)


def test_stream_frame_is_a_stream_response() -> None:
    inner = pb.ModelInferResponse(model_name="fraud", model_version="1", id="x" * 200)
    inner.raw_output_contents.append(b"\x00" * 300)
    framed = pb.ModelStreamInferResponse.FromString(stream_frame(inner.SerializeToString()))
    assert framed.infer_response == inner and framed.error_message == ""


def test_only_the_infer_handlers_skip_the_serializers() -> None:
    handlers = inference_handlers(InferenceServicer.__new__(InferenceServicer))
    methods = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods_by_name
    assert set(handlers) == set(methods)  # every RPC of the proto is served
    for name, handler in handlers.items():
        assert (handler.response_serializer is None) == (name in ("ModelInfer", "ModelStreamInfer"))
        assert (handler.request_deserializer is None) == (name == "ModelInfer")  # read by the RequestReader
