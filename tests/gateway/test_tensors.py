"""Decoding V2 requests into numpy against a model's signature, and encoding responses.

Table tests pin every rule and its message; property tests throw malformed requests at decode and
check that it either returns arrays that fit the signature or raises InvalidRequest, nothing else.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftgate.errors import InvalidRequest, InvalidTensor, ScoringError
from driftgate.gateway.codec import ModelCodec
from driftgate.gateway.tensors import (
    SignaturePlan,
    _decode_general,
    decode_inputs,
    encode_outputs,
    requested_outputs,
    routing_key,
)
from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.signature import NUMPY_BY_DATATYPE, Signature, TensorSpec

NUMERIC = sorted(NUMPY_BY_DATATYPE)
TYPED_FIELD = {
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

FRAUD = Signature(
    inputs=(TensorSpec("transaction", "FP32", (-1, 30)),),
    outputs=(TensorSpec("label", "INT64", (-1,)), TensorSpec("probabilities", "FP32", (-1, 2))),
)
TWO = Signature(
    inputs=(TensorSpec("a", "FP32", (-1, 3)), TensorSpec("b", "INT64", (-1, -1, 2))),
    outputs=(TensorSpec("y", "FP32", (-1, 1)),),
)


def sample(datatype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dtype = NUMPY_BY_DATATYPE[datatype]
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    return rng.standard_normal(size=shape).astype(dtype)


def raw_request(*tensors: tuple[str, str, list[int], bytes]) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="m")
    for name, datatype, shape, data in tensors:
        request.inputs.add(name=name, datatype=datatype, shape=shape)
        request.raw_input_contents.append(data)
    return request


def array_request(arrays: dict[str, np.ndarray], signature: Signature) -> pb.ModelInferRequest:
    by_name = {s.name: s for s in signature.inputs}
    return raw_request(*((n, by_name[n].datatype, list(a.shape), a.tobytes()) for n, a in arrays.items()))


def typed_request(name: str, datatype: str, shape: list[int], field: str, values: list[Any]) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="m")
    tensor = request.inputs.add(name=name, datatype=datatype, shape=shape)
    getattr(tensor.contents, field).extend(values)
    return request


def one_input(datatype: str, shape: tuple[int, ...] = (-1, 4)) -> Signature:
    return Signature((TensorSpec("x", datatype, shape),), (TensorSpec("y", "FP32", (-1, 1)),))


def refused(request: pb.ModelInferRequest, signature: Signature = FRAUD, max_batch_size: int = 256) -> str:
    with pytest.raises(InvalidRequest) as info:
        decode_inputs(request, signature, max_batch_size)
    return str(info.value)


# -- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("datatype", NUMERIC)
def test_raw_round_trip_every_datatype(datatype: str) -> None:
    expected = sample(datatype, (3, 4))
    request = raw_request(("x", datatype, [3, 4], expected.tobytes()))
    arrays, batch = decode_inputs(request, one_input(datatype), 8)
    got = arrays["x"]
    assert batch == 3
    assert got.dtype == NUMPY_BY_DATATYPE[datatype]
    np.testing.assert_array_equal(got, expected)
    # zero copy: a read-only view of the request's bytes
    assert not got.flags.writeable
    assert not got.flags.owndata


@pytest.mark.parametrize("datatype", [d for d in NUMERIC if d != "FP16"])
def test_typed_round_trip_every_datatype(datatype: str) -> None:
    expected = sample(datatype, (2, 4), seed=1)
    request = typed_request("x", datatype, [2, 4], TYPED_FIELD[datatype], expected.ravel().tolist())
    arrays, batch = decode_inputs(request, one_input(datatype), 8)
    assert batch == 2
    assert arrays["x"].dtype == NUMPY_BY_DATATYPE[datatype]
    np.testing.assert_array_equal(arrays["x"], expected)


def test_inputs_in_any_order_with_raw_in_request_order() -> None:
    a = sample("FP32", (2, 3))
    b = sample("INT64", (2, 5, 2))
    arrays, batch = decode_inputs(array_request({"b": b, "a": a}, TWO), TWO, 4)
    assert batch == 2
    np.testing.assert_array_equal(arrays["a"], a)
    np.testing.assert_array_equal(arrays["b"], b)


def test_variable_dimension_with_no_elements() -> None:
    b = np.zeros((2, 0, 2), np.int64)
    arrays, _ = decode_inputs(array_request({"a": sample("FP32", (2, 3)), "b": b}, TWO), TWO, 4)
    assert arrays["b"].shape == (2, 0, 2)


# -- names ----------------------------------------------------------------------------------


def test_unknown_input_lists_the_expected_ones() -> None:
    message = refused(raw_request(("txn", "FP32", [1, 30], bytes(120))))
    assert message == "unknown input 'txn': the model takes 'transaction'"


def test_missing_input_is_named() -> None:
    message = refused(array_request({"a": sample("FP32", (1, 3))}, TWO), TWO)
    assert "missing input 'b'" in message


def test_duplicate_input_refused() -> None:
    request = raw_request(("transaction", "FP32", [1, 30], bytes(120)), ("transaction", "FP32", [1, 30], bytes(120)))
    assert "appears more than once" in refused(request)


# -- datatypes ------------------------------------------------------------------------------


def test_datatype_mismatch_message() -> None:
    message = refused(raw_request(("transaction", "FP64", [1, 30], bytes(240))))
    assert message == "input 'transaction': datatype FP64, the model expects FP32"


@pytest.mark.parametrize("datatype", ["BYTES", "BF16"])
def test_bytes_and_bf16_refused_clearly(datatype: str) -> None:
    message = refused(raw_request(("transaction", datatype, [1, 30], bytes(60))))
    assert f"datatype {datatype} is not supported" in message
    assert "FP32" in message


def test_unknown_datatype() -> None:
    assert "unknown datatype 'FLOAT'" in refused(raw_request(("transaction", "FLOAT", [1, 30], bytes(120))))


def test_model_input_driftgate_cannot_decode() -> None:
    signature = one_input("BYTES")
    message = refused(raw_request(("x", "BYTES", [1, 4], bytes(16))), signature)
    assert "driftgate cannot serve" in message


# -- shapes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ([30], "shape [30] has rank 1, the model expects rank 2"),
        ([1, 1, 30], "has rank 3"),
        ([1, 29], "shape [1, 29], the model expects [-1, 30]"),
        ([1, -30], "negative dimension"),
        ([-1, 30], "negative dimension"),
        ([0, 30], "batch 0"),
        ([300, 30], "batch 300 exceeds the model's max_batch_size 256"),
        ([2**62, 2**62], "the model expects [-1, 30]"),
        ([2**62, 30], "exceeds the model's max_batch_size"),
        ([2**63 - 1, 30], "exceeds the model's max_batch_size"),
    ],
)
def test_shape_refused(shape: list[int], expected: str) -> None:
    message = refused(raw_request(("transaction", "FP32", shape, bytes(120))))
    assert expected in message
    assert "'transaction'" in message


def test_batch_must_match_across_inputs() -> None:
    request = array_request({"a": sample("FP32", (2, 3)), "b": sample("INT64", (3, 1, 2))}, TWO)
    assert "input 'b' has batch 3 but input 'a' has batch 2" in refused(request, TWO)


@pytest.mark.parametrize("shape", [[1, 2**62, 2], [1, 2**31, 2**31 + 1], [1, 0, 2], [1, 2**40, 0]])
def test_absurd_shapes_are_refused_before_allocating(shape: list[int]) -> None:
    request = array_request({"a": sample("FP32", (1, 3))}, TWO)
    request.inputs.add(name="b", datatype="INT64", shape=shape)
    request.raw_input_contents.append(bytes(16))
    assert "input 'b'" in refused(request, TWO)


def test_zero_elements_with_a_huge_dimension() -> None:
    request = array_request({"a": sample("FP32", (1, 3))}, TWO)
    request.inputs.add(name="b", datatype="INT64", shape=[1, 0, 2**62])
    request.raw_input_contents.append(b"")
    message = refused(request, TWO)
    assert "too large" in message or "[-1, -1, 2]" in message


# -- raw contents ---------------------------------------------------------------------------


def test_raw_byte_length_message() -> None:
    message = refused(raw_request(("transaction", "FP32", [1, 30], bytes(116))))
    assert message == "input 'transaction': 116 bytes for shape [1, 30] FP32, expected 120"


def test_raw_entry_count_must_match_inputs() -> None:
    request = array_request({"a": sample("FP32", (1, 3)), "b": sample("INT64", (1, 1, 2))}, TWO)
    del request.raw_input_contents[1]
    assert "raw_input_contents has 1 entries for 2 inputs" in refused(request, TWO)


def test_raw_bool_bytes_must_be_0_or_1() -> None:
    message = refused(raw_request(("x", "BOOL", [1, 4], b"\x00\x01\x02\x01")), one_input("BOOL"))
    assert "BOOL bytes must be 0 or 1" in message


def test_raw_and_typed_together_refused() -> None:
    request = array_request({"a": sample("FP32", (1, 3))}, TWO)
    tensor = request.inputs.add(name="b", datatype="INT64", shape=[1, 1, 2])
    tensor.contents.int64_contents.extend([1, 2])
    assert "use either raw_input_contents or typed contents, not both" in refused(request, TWO)


def test_raw_with_an_empty_contents_message_is_fine() -> None:
    request = raw_request(("transaction", "FP32", [1, 30], bytes(120)))
    request.inputs[0].contents.SetInParent()
    arrays, _ = decode_inputs(request, FRAUD, 8)
    assert arrays["transaction"].shape == (1, 30)


# -- typed contents -------------------------------------------------------------------------


def test_input_without_data_is_named() -> None:
    request = pb.ModelInferRequest()
    request.inputs.add(name="transaction", datatype="FP32", shape=[1, 30])
    message = refused(request)
    assert message.startswith("input 'transaction' has no data")
    with pytest.raises(InvalidRequest):
        decode_inputs(request, FRAUD, 8)


def test_typed_count_mismatch() -> None:
    message = refused(typed_request("transaction", "FP32", [1, 30], "fp32_contents", [0.0] * 29))
    assert message == "input 'transaction': 29 values in contents.fp32_contents for shape [1, 30], expected 30"


def test_typed_wrong_field() -> None:
    message = refused(typed_request("transaction", "FP32", [1, 30], "fp64_contents", [0.0] * 30))
    assert "FP32 values belong in contents.fp32_contents, got contents.fp64_contents" in message


def test_typed_extra_field_refused() -> None:
    request = typed_request("x", "FP32", [1, 4], "fp32_contents", [0.0, 1.0, 2.0, 3.0])
    request.inputs[0].contents.int_contents.append(3)
    assert "got contents.int_contents" in refused(request, one_input("FP32"))


def test_fp16_needs_raw() -> None:
    message = refused(typed_request("x", "FP16", [1, 4], "fp32_contents", [0.0] * 4), one_input("FP16"))
    assert "FP16 has no typed contents field; send it in raw_input_contents" in message


@pytest.mark.parametrize(
    ("datatype", "field", "bad"),
    [
        ("INT8", "int_contents", 300),
        ("INT8", "int_contents", -129),
        ("INT16", "int_contents", 40_000),
        ("UINT8", "uint_contents", 256),
        ("UINT16", "uint_contents", 70_000),
    ],
)
def test_typed_value_that_does_not_fit(datatype: str, field: str, bad: int) -> None:
    message = refused(typed_request("x", datatype, [1, 4], field, [1, 2, bad, 3]), one_input(datatype))
    assert f"value {bad} does not fit {datatype}" in message


def test_typed_limits_fit() -> None:
    for datatype, lo, hi in (("INT8", -128, 127), ("UINT16", 0, 65535), ("INT16", -32768, 32767)):
        request = typed_request("x", datatype, [1, 4], TYPED_FIELD[datatype], [lo, hi, 0, 1])
        arrays, _ = decode_inputs(request, one_input(datatype), 8)
        assert arrays["x"].tolist() == [[lo, hi, 0, 1]]


# -- requested outputs ----------------------------------------------------------------------


def test_requested_outputs() -> None:
    request = pb.ModelInferRequest()
    assert requested_outputs(request, FRAUD) == FRAUD.outputs
    request.outputs.add(name="probabilities")
    request.outputs.add(name="label")
    assert [s.name for s in requested_outputs(request, FRAUD)] == ["probabilities", "label"]
    request.outputs.add(name="label")
    with pytest.raises(InvalidRequest, match="more than once"):
        requested_outputs(request, FRAUD)
    unknown = pb.ModelInferRequest()
    unknown.outputs.add(name="score")
    with pytest.raises(InvalidRequest, match="unknown output 'score': the model returns 'label', 'probabilities'"):
        requested_outputs(unknown, FRAUD)


def test_requested_outputs_are_remembered_by_the_codec_and_errors_are_not() -> None:
    codec = ModelCodec(FRAUD)
    assert codec.outputs(pb.ModelInferRequest()) is codec.all and codec.all.specs is FRAUD.outputs
    every = pb.ModelInferRequest()
    every.outputs.add(name="label")
    every.outputs.add(name="probabilities")
    for _ in range(3):  # the model's order: the same as when none is named
        assert codec.outputs(every) is codec.all
    reverse = pb.ModelInferRequest()
    reverse.outputs.add(name="probabilities")
    reverse.outputs.add(name="label")
    first = codec.outputs(reverse)
    assert [s.name for s in first.specs] == ["probabilities", "label"] and codec.outputs(reverse) is first
    assert ModelCodec(FRAUD).outputs(reverse) is not first  # a codec per served model: nothing shared
    twice = pb.ModelInferRequest()
    twice.outputs.add(name="label")
    twice.outputs.add(name="label")
    for _ in range(2):
        with pytest.raises(InvalidRequest, match="more than once"):
            codec.outputs(twice)


def test_classification_extension_refused() -> None:
    request = pb.ModelInferRequest()
    request.outputs.add(name="probabilities").parameters["classification"].int64_param = 1
    with pytest.raises(InvalidRequest, match="classification"):
        requested_outputs(request, FRAUD)


# -- encode ---------------------------------------------------------------------------------


def decode_response(response: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    return {
        out.name: np.frombuffer(raw, NUMPY_BY_DATATYPE[out.datatype]).reshape(tuple(out.shape))
        for out, raw in zip(response.outputs, response.raw_output_contents, strict=True)
    }


@pytest.mark.parametrize("datatype", NUMERIC)
def test_encode_every_datatype(datatype: str) -> None:
    array = sample(datatype, (3, 2))
    response = pb.ModelInferResponse()
    encode_outputs(response, [TensorSpec("y", datatype, (-1, 2))], [array])
    assert response.outputs[0].datatype == datatype
    assert list(response.outputs[0].shape) == [3, 2]
    np.testing.assert_array_equal(decode_response(response)["y"], array)


def test_encode_big_endian_and_non_contiguous() -> None:
    big = np.arange(6, dtype=">f4").reshape(2, 3)
    transposed = np.arange(6, dtype=np.int64).reshape(2, 3).T
    response = pb.ModelInferResponse()
    encode_outputs(response, [TensorSpec("a", "FP32", (-1, 3)), TensorSpec("b", "INT64", (-1, 2))], [big, transposed])
    assert response.raw_output_contents[0] == np.arange(6, dtype="<f4").tobytes()
    assert response.raw_output_contents[1] == np.ascontiguousarray(transposed).astype("<i8").tobytes()
    got = decode_response(response)
    np.testing.assert_array_equal(got["a"], big)
    np.testing.assert_array_equal(got["b"], transposed)


def test_encode_labels_the_actual_dtype() -> None:
    response = pb.ModelInferResponse()
    encode_outputs(response, [TensorSpec("y", "FP32", (-1,))], [np.array([1, 2], np.int64)])
    assert response.outputs[0].datatype == "INT64"
    np.testing.assert_array_equal(decode_response(response)["y"], [1, 2])


def test_encode_bytes_output() -> None:
    response = pb.ModelInferResponse()
    encode_outputs(response, [TensorSpec("label", "BYTES", (-1,))], [np.array(["ok", "fraud"], dtype=object)])
    assert response.outputs[0].datatype == "BYTES"
    assert response.raw_output_contents[0] == b"\x02\x00\x00\x00ok\x05\x00\x00\x00fraud"


def test_encode_refuses_what_v2_cannot_carry() -> None:
    with pytest.raises(ScoringError):
        encode_outputs(pb.ModelInferResponse(), [TensorSpec("y", "FP32", (-1,))], [np.array([1j])])
    with pytest.raises(ScoringError):
        encode_outputs(pb.ModelInferResponse(), FRAUD.outputs, [np.zeros(1)])


# -- routing key ----------------------------------------------------------------------------


def test_routing_key() -> None:
    request = pb.ModelInferRequest()
    assert routing_key(request) is None
    assert "routing_key" not in request.parameters  # reading does not insert it
    request.parameters["routing_key"].string_param = "card-1"
    assert routing_key(request) == "card-1"
    request.parameters["routing_key"].int64_param = -42
    assert routing_key(request) == "-42"
    request.parameters["routing_key"].uint64_param = 2**64 - 1
    assert routing_key(request) == str(2**64 - 1)
    request.parameters["routing_key"].string_param = ""
    assert routing_key(request) is None
    request.parameters["routing_key"].bool_param = True
    with pytest.raises(InvalidRequest, match="routing_key"):
        routing_key(request)
    request.parameters["routing_key"].double_param = 1.5
    with pytest.raises(InvalidRequest, match="routing_key"):
        routing_key(request)


# -- properties -----------------------------------------------------------------------------

DATATYPES = [*NUMERIC, "BYTES", "BF16", "FLOAT", ""]
INT64 = st.integers(-(2**63), 2**63 - 1)
DIM = st.one_of(st.integers(-2, 5), st.sampled_from([2**31, 2**62, 2**63 - 1, -(2**63)]), INT64)

spec_st = st.builds(
    TensorSpec,
    name=st.sampled_from(["a", "b", "c", "transaction"]),
    datatype=st.sampled_from(NUMERIC),
    shape=st.lists(st.one_of(st.just(-1), st.integers(0, 4)), min_size=0, max_size=3).map(lambda s: (-1, *s)),
)
signature_st = st.lists(spec_st, min_size=1, max_size=3, unique_by=lambda s: s.name).map(
    lambda specs: Signature(tuple(specs), (TensorSpec("y", "FP32", (-1, 1)),))
)


def typed_values(field: str, count: int) -> st.SearchStrategy[list[Any]]:
    element = {
        "bool_contents": st.booleans(),
        "int_contents": st.integers(-(2**31), 2**31 - 1),
        "int64_contents": INT64,
        "uint_contents": st.integers(0, 2**32 - 1),
        "uint64_contents": st.integers(0, 2**64 - 1),
        "fp32_contents": st.floats(width=32),
        "fp64_contents": st.floats(),
        "bytes_contents": st.binary(max_size=4),
    }[field]
    return st.lists(element, min_size=count, max_size=count)


FIELDS = [*sorted(set(TYPED_FIELD.values())), "bytes_contents"]


def check_decoded(arrays: dict[str, np.ndarray], batch: int, signature: Signature, max_batch_size: int) -> None:
    assert set(arrays) == {s.name for s in signature.inputs}
    assert 1 <= batch <= max_batch_size
    for spec in signature.inputs:
        array = arrays[spec.name]
        assert array.dtype == NUMPY_BY_DATATYPE[spec.datatype]
        assert array.ndim == len(spec.shape)
        assert array.shape[0] == batch
        assert all(w in (-1, d) for d, w in zip(array.shape[1:], spec.shape[1:], strict=True))


@st.composite
def malformed(draw: st.DrawFn) -> tuple[pb.ModelInferRequest, Signature]:
    """A request built from random pieces, often close to valid so that deep checks are reached."""
    signature = draw(signature_st)
    request = pb.ModelInferRequest()
    names = [s.name for s in signature.inputs]
    specs = list(signature.inputs)
    specs = draw(st.permutations(specs))
    if draw(st.booleans()):
        specs = specs[: draw(st.integers(0, len(specs)))]
    if draw(st.integers(0, 4)) == 0:
        specs.append(draw(st.sampled_from(list(signature.inputs))))  # a duplicate
    mode = draw(st.sampled_from(["raw", "typed", "mixed", "none"]))
    batch = draw(st.integers(1, 3))
    for spec in specs:
        name = spec.name if draw(st.integers(0, 9)) else draw(st.one_of(st.text(max_size=5), st.sampled_from(names)))
        datatype = spec.datatype if draw(st.integers(0, 5)) else draw(st.sampled_from(DATATYPES))
        if draw(st.integers(0, 3)):
            shape = [batch, *(d if d >= 0 else draw(st.integers(0, 3)) for d in spec.shape[1:])]
        else:
            shape = draw(st.lists(DIM, max_size=4))
        tensor = request.inputs.add(name=name, datatype=datatype, shape=shape)
        # the values a shape calls for, when that is a number hypothesis can draw (a few thousand at most)
        count = math.prod(shape) if all(0 <= d < 64 for d in shape) else -1
        count = count if 0 <= count <= 1024 else draw(st.integers(0, 6))
        itemsize = NUMPY_BY_DATATYPE[datatype].itemsize if datatype in NUMPY_BY_DATATYPE else 4
        use_raw = mode == "raw" or (mode == "mixed" and draw(st.booleans()))
        use_typed = mode == "typed" or (mode == "mixed" and draw(st.booleans()))
        if use_raw:
            size = count * itemsize if draw(st.integers(0, 3)) else draw(st.integers(0, 64))
            request.raw_input_contents.append(draw(st.binary(min_size=size, max_size=size)))
        if use_typed:
            field = (
                TYPED_FIELD.get(datatype, "fp32_contents") if draw(st.integers(0, 3)) else draw(st.sampled_from(FIELDS))
            )
            n = count if draw(st.integers(0, 3)) else draw(st.integers(0, 6))
            getattr(tensor.contents, field).extend(draw(typed_values(field, n)))
    if mode == "raw" and not draw(st.integers(0, 5)):
        request.raw_input_contents.append(b"\x00" * draw(st.integers(0, 8)))  # one entry too many
    return request, signature


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=malformed(), max_batch_size=st.integers(1, 4))
def test_decode_returns_matching_arrays_or_invalid_request(
    case: tuple[pb.ModelInferRequest, Signature], max_batch_size: int
) -> None:
    request, signature = case
    try:
        arrays, batch = decode_inputs(request, signature, max_batch_size)
    except InvalidRequest as exc:
        assert str(exc)
        return
    check_decoded(arrays, batch, signature, max_batch_size)


@settings(max_examples=200, deadline=None)
@given(signature=signature_st, data=st.data())
def test_valid_requests_round_trip(signature: Signature, data: st.DataObject) -> None:
    batch = data.draw(st.integers(1, 4))
    expected = {}
    for spec in signature.inputs:
        shape = (batch, *(d if d >= 0 else data.draw(st.integers(0, 3)) for d in spec.shape[1:]))
        expected[spec.name] = sample(spec.datatype, shape, seed=data.draw(st.integers(0, 2**32 - 1)))
    arrays, got_batch = decode_inputs(array_request(expected, signature), signature, 4)
    assert got_batch == batch
    check_decoded(arrays, batch, signature, 4)
    for name, array in expected.items():
        np.testing.assert_array_equal(arrays[name], array)


@settings(max_examples=200, deadline=None)
@given(
    shape=st.lists(DIM, max_size=4),
    datatype=st.sampled_from(DATATYPES),
    size=st.integers(0, 256),
    max_batch_size=st.integers(-1, 1000),
)
def test_any_shape_and_length_against_a_fixed_signature(
    shape: list[int], datatype: str, size: int, max_batch_size: int
) -> None:
    request = raw_request(("transaction", datatype, shape, bytes(size)))
    try:
        arrays, batch = decode_inputs(request, FRAUD, max_batch_size)
    except InvalidTensor:
        return
    check_decoded(arrays, batch, FRAUD, max_batch_size)


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        arrays, batch = call()
    except InvalidRequest as exc:
        return type(exc).__name__, str(exc)
    return "ok", (batch, {n: (a.dtype, a.shape, a.tobytes()) for n, a in arrays.items()})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=malformed(), max_batch_size=st.integers(1, 4))
def test_fast_path_agrees_with_the_general_decoder(
    case: tuple[pb.ModelInferRequest, Signature], max_batch_size: int
) -> None:
    """decode_inputs takes a shortcut for one raw input; it must accept, return and refuse
    exactly what the general decoder does."""
    request, signature = case
    fast = _outcome(lambda: decode_inputs(request, signature, max_batch_size))
    general = _outcome(lambda: _decode_general(request, SignaturePlan(signature), max_batch_size))
    assert fast == general


def test_fast_path_is_taken_for_the_common_request() -> None:
    x = sample("FP32", (2, 30))
    request = array_request({"transaction": x}, FRAUD)
    assert SignaturePlan(FRAUD).single is not None
    arrays, batch = decode_inputs(request, FRAUD, 256)
    assert batch == 2
    assert not arrays["transaction"].flags.writeable  # a view of the request's bytes, not a copy
    np.testing.assert_array_equal(arrays["transaction"], x)
    assert SignaturePlan(TWO).single is None and SignaturePlan(one_input("BOOL")).single is None
    assert SignaturePlan(one_input("FP32", (-1, -1))).single is None  # a variable dimension: general path
