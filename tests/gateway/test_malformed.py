"""No bad request crashes or wedges the gateway: hypothesis sends malformed ModelInfer requests to
a live server; each gets a client error (never INTERNAL), and good requests keep working."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftgate.proto.inference import grpc_service_pb2 as pb

DATATYPES = ["FP32", "FP64", "FP16", "INT64", "INT32", "INT8", "UINT8", "BOOL", "BYTES", "BF16", "", "fp32", "??"]
CLIENT_ERRORS = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE}

dims = st.one_of(st.integers(-3, 40), st.sampled_from([2**31, 2**62, 2**63 - 1]))


@st.composite
def malformed(draw: st.DrawFn) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(
        model_name=draw(st.sampled_from(["fraud", "fraud", "", "FRAUD", "x" * 300])),
        model_version=draw(st.sampled_from(["", "", "1", "0", "-1", "99", "1.0", "abc", "9" * 30])),
        id=draw(st.text(max_size=8)),
    )
    use_raw = draw(st.booleans())
    for _ in range(draw(st.integers(0, 3))):
        tensor = request.inputs.add(
            name=draw(st.sampled_from(["transaction", "transaction", "", "features", "TRANSACTION"])),
            datatype=draw(st.sampled_from(DATATYPES)),
            shape=draw(st.lists(dims, max_size=4)),
        )
        if use_raw:
            request.raw_input_contents.append(draw(st.binary(max_size=400)))
        elif draw(st.booleans()):
            kind = draw(st.sampled_from(["fp32", "fp64", "int", "int64", "bool", "bytes"]))
            values = draw(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=70))
            if kind == "fp32":
                tensor.contents.fp32_contents.extend(float(v) for v in values)
            elif kind == "fp64":
                tensor.contents.fp64_contents.extend(float(v) for v in values)
            elif kind == "int":
                tensor.contents.int_contents.extend(values)
            elif kind == "int64":
                tensor.contents.int64_contents.extend(values)
            elif kind == "bool":
                tensor.contents.bool_contents.extend(bool(v) for v in values)
            else:
                tensor.contents.bytes_contents.extend(str(v).encode() for v in values)
    if draw(st.booleans()):
        request.raw_input_contents.append(draw(st.binary(max_size=130)))  # stray or mixed raw data
    if draw(st.booleans()):
        request.outputs.add(name=draw(st.sampled_from(["probabilities", "label", "nope", ""])))
    if draw(st.booleans()):
        param = request.parameters["routing_key"]
        choice = draw(st.integers(0, 3))
        if choice == 0:
            param.string_param = draw(st.text(max_size=20))
        elif choice == 1:
            param.int64_param = draw(st.integers(-(2**63), 2**63 - 1))
        elif choice == 2:
            param.bool_param = True
        else:
            param.double_param = 1.5
    return request


@pytest.fixture(scope="module")
def stub(served):
    return served.stub()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.too_slow])
@given(request=malformed())
def test_malformed_requests_get_client_errors(stub, request):
    try:
        stub.ModelInfer(request, timeout=10)
    except grpc.RpcError as exc:
        assert exc.code() in CLIENT_ERRORS, (exc.code(), exc.details(), request)
        assert exc.details()


@pytest.fixture(scope="module")
def raw_infer(served):
    """ModelInfer with the request's bytes as they are: the gateway reads them itself."""
    channel = grpc.insecure_channel(served.gateway)
    return channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")  # bytes in, bytes out


def _good(rows: int) -> bytes:
    request = pb.ModelInferRequest(model_name="fraud")
    request.inputs.add(name="transaction", datatype="FP32", shape=[rows, 30])
    request.raw_input_contents.append(np.ones((rows, 30), dtype=np.float32).tobytes())
    request.outputs.add(name="label")
    request.outputs.add(name="probabilities")
    return request.SerializeToString()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.too_slow])
@given(
    rows=st.integers(1, 3),
    cut=st.integers(0, 400),
    flip=st.integers(0, 400),
    bit=st.integers(0, 7),
    tail=st.binary(max_size=6),
    garbage=st.booleans(),
)
def test_mangled_bytes_get_client_errors(raw_infer, rows, cut, flip, bit, tail, garbage):
    """Bytes off the wire, mangled after a good request taught the reader its layout."""
    good = _good(rows)
    assert pb.ModelInferResponse.FromString(raw_infer(good, timeout=10)).model_name == "fraud"
    data = bytearray(good)
    if garbage:
        data = bytearray(tail or b"\xff")
    else:
        data[flip % len(data)] ^= 1 << bit
        data = data[: len(data) - cut % 8] + tail
    try:
        pb.ModelInferResponse.FromString(raw_infer(bytes(data), timeout=10))  # some mangles are still valid
    except grpc.RpcError as exc:
        assert exc.code() in CLIENT_ERRORS, (exc.code(), exc.details(), bytes(data))
        assert exc.details()


def test_bytes_that_are_no_request_are_invalid_argument(raw_infer):
    with pytest.raises(grpc.RpcError) as info:
        raw_infer(b"\x0a\xff\xff", timeout=10)  # a length past the end
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid ModelInferRequest" in info.value.details()


def test_still_serving_after_the_fuzzing(served):
    stub = served.stub()
    request = pb.ModelInferRequest(model_name="fraud")
    request.inputs.add(name="transaction", datatype="FP32", shape=[2, 30])
    request.raw_input_contents.append(np.ones((2, 30), dtype=np.float32).tobytes())
    assert stub.ModelInfer(request, timeout=10).model_version == "1"
    stream = list(stub.ModelStreamInfer(iter([request, pb.ModelInferRequest(model_name="fraud"), request])))
    assert [bool(r.error_message) for r in stream] == [False, True, False]
