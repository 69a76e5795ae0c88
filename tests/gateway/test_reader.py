"""The request reader's shortcut (driftgate.gateway.reader) gives what the message path gives, for
every request: well-formed ones it has seen before, and malformed, mutated or truncated bytes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from driftgate.errors import DriftgateError, InvalidRequest
from driftgate.gateway.codec import ModelCodec
from driftgate.gateway.dataplane import DataPlane, ServedModel
from driftgate.gateway.metrics import GatewayMetrics
from driftgate.gateway.reader import RequestReader, read_message, request_id, scan
from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.signature import Signature, TensorSpec

SIGNATURES = {
    "fraud": Signature(
        inputs=(TensorSpec("transaction", "FP32", (-1, 4)),),
        outputs=(TensorSpec("label", "INT64", (-1,)), TensorSpec("probabilities", "FP32", (-1, 2))),
    ),
    "ints": Signature(inputs=(TensorSpec("x", "INT16", (-1, 3)),), outputs=(TensorSpec("y", "FP32", (-1, 1)),)),
    "flags": Signature(inputs=(TensorSpec("x", "BOOL", (-1, 2)),), outputs=(TensorSpec("y", "FP32", (-1, 1)),)),
    "var": Signature(inputs=(TensorSpec("x", "FP32", (-1, -1)),), outputs=(TensorSpec("y", "FP32", (-1, 1)),)),
    "two": Signature(
        inputs=(TensorSpec("a", "FP32", (-1, 3)), TensorSpec("b", "INT64", (-1, 2))),
        outputs=(TensorSpec("y", "FP32", (-1, 1)),),
    ),
}
ITEMSIZE = {"FP32": 4, "INT16": 2, "BOOL": 1, "INT64": 8, "FP64": 8}


def _plane() -> DataPlane:
    plane = DataPlane(GatewayMetrics(CollectorRegistry()), inline_max_rows=64, shadow_queue=4, drift_enabled=False)
    plane.models = {
        name: ServedModel(name=name, signature=signature, max_batch_size=8, ready={}, routes=None,
                          codec=ModelCodec(signature))
        for name, signature in SIGNATURES.items()
    }
    return plane


PLANE = _plane()


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except DriftgateError as exc:
        return type(exc).__name__, str(exc)


def _by_message(data: bytes) -> tuple[str, Any]:
    def run() -> Any:
        try:
            request = pb.ModelInferRequest.FromString(data)
        except DecodeError as exc:
            raise InvalidRequest(f"the request is not a valid ModelInferRequest: {exc}") from None
        return read_message(request, PLANE)

    return _outcome(run)


def _same(a: tuple[str, Any], b: tuple[str, Any]) -> None:
    assert a[0] == b[0], (a, b)
    if a[0] != "ok":
        assert a[1] == b[1]
        return
    x_read, y_read = a[1], b[1]
    assert x_read.model is y_read.model and x_read.rows == y_read.rows
    assert x_read.outputs is y_read.outputs  # one Outputs per requested list, from the model's codec
    assert (x_read.version, x_read.key, x_read.request_id) == (y_read.version, y_read.key, y_read.request_id)
    assert x_read.feeds.keys() == y_read.feeds.keys()
    for name in x_read.feeds:
        x, y = x_read.feeds[name], y_read.feeds[name]
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    model = draw(st.sampled_from([*SIGNATURES, "nope"]))
    signature = SIGNATURES.get(model, SIGNATURES["fraud"])
    request = pb.ModelInferRequest(model_name=model)
    request.model_version = draw(st.sampled_from(["", "", "1", "x"]))
    if draw(st.booleans()):
        request.id = draw(st.text(max_size=40))
    key = draw(st.sampled_from(["none", "none", "str", "int", "bool", "empty"]))
    if key == "str":
        request.parameters["routing_key"].string_param = draw(st.text(min_size=1, max_size=20))
    elif key == "int":
        request.parameters["routing_key"].int64_param = draw(st.integers(-(2**63), 2**63 - 1))
    elif key == "bool":
        request.parameters["routing_key"].bool_param = True
    elif key == "empty":
        request.parameters["other"].string_param = "x"
    rows = draw(st.integers(0, 10))
    for spec in signature.inputs:
        if draw(st.integers(0, 9)) == 0:
            continue  # an input missing
        dims = [rows, *[d if d >= 0 else draw(st.integers(0, 5)) for d in spec.shape[1:]]]
        if draw(st.integers(0, 9)) == 0:
            dims.append(2)  # wrong rank
        datatype = spec.datatype if draw(st.integers(0, 9)) else draw(st.sampled_from(sorted(ITEMSIZE)))
        name = spec.name if draw(st.integers(0, 19)) else "wrong"
        request.inputs.add(name=name, datatype=datatype, shape=dims)
        size = int(np.prod(dims)) * ITEMSIZE[datatype] + draw(st.sampled_from([0, 0, 0, 0, 1, -1]))
        if datatype == "BOOL":
            raw = bytes(draw(st.lists(st.sampled_from([0, 1, 1, 2]), min_size=max(size, 0), max_size=max(size, 0))))
        else:
            raw = bytes(draw(st.binary(min_size=max(size, 0), max_size=max(size, 0))))
        request.raw_input_contents.append(raw)
    for name in draw(st.lists(st.sampled_from([s.name for s in signature.outputs] + ["zz"]), max_size=3)):
        request.outputs.add(name=name)
    data = request.SerializeToString()
    mutation = draw(st.sampled_from(["none"] * 6 + ["flip", "cut", "append", "dup_raw"]))
    if mutation == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1:]
    elif mutation == "cut" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif mutation == "append":
        data += draw(st.binary(min_size=1, max_size=8))
    elif mutation == "dup_raw" and request.raw_input_contents:
        extra = pb.ModelInferRequest(raw_input_contents=[request.raw_input_contents[0]])
        data += extra.SerializeToString()
    return data


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=requests())
def test_the_reader_answers_as_the_message_path(data: bytes) -> None:
    reader = RequestReader()
    expected = _by_message(data)
    _same(_outcome(lambda: reader.read(data, PLANE)), expected)  # learns the key if it may
    _same(_outcome(lambda: reader.read(data, PLANE)), expected)  # from the cache, if learnt


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=requests(), second=requests())
def test_a_learnt_key_never_answers_for_another_request(first: bytes, second: bytes) -> None:
    reader = RequestReader()
    reader.read(first, PLANE) if _by_message(first)[0] == "ok" else None
    _same(_outcome(lambda: reader.read(second, PLANE)), _by_message(second))


def _fraud(rows: int, request_id: str = "", key: str | None = None, version: str = "") -> bytes:
    request = pb.ModelInferRequest(model_name="fraud", model_version=version, id=request_id)
    request.inputs.add(name="transaction", datatype="FP32", shape=[rows, 4])
    request.raw_input_contents.append(np.arange(rows * 4, dtype=np.float32).tobytes())
    request.outputs.add(name="label")
    request.outputs.add(name="probabilities")
    if key is not None:
        request.parameters["routing_key"].string_param = key
    return request.SerializeToString()


def test_the_shortcut_is_taken_for_a_request_seen_before() -> None:
    reader = RequestReader()
    reader.read(_fraud(2, "a"), PLANE)
    assert len(reader._plans) == 1
    read = reader.read(_fraud(2, "b", key="card-7"), PLANE)
    assert read.model is PLANE.models["fraud"]
    assert (read.rows, read.version, read.key, read.request_id) == (2, "", "card-7", "b") and len(reader._plans) == 1
    assert read.outputs is read.model.codec.all  # every output named, in order
    feeds = read.feeds
    np.testing.assert_array_equal(feeds["transaction"], np.arange(8, dtype=np.float32).reshape(2, 4))
    assert not feeds["transaction"].flags.writeable  # a view of the request's bytes, or a copy of them
    reader.read(_fraud(3), PLANE)  # another shape: another key
    assert len(reader._plans) == 2


def test_a_request_that_differs_only_in_its_tensor_is_read_from_its_length() -> None:
    reader = RequestReader()
    first = _fraud(2, "id-1")
    reader.read(first, PLANE)
    assert len(reader._exact) == 1
    second = bytearray(first)
    second[-4:] = np.float32(9.5).tobytes()  # the last value of the tensor
    read = reader.read(bytes(second), PLANE)
    assert read.feeds["transaction"][1, 3] == 9.5 and read.request_id == "id-1" and read.key is None
    other = reader.read(_fraud(2, "id-2"), PLANE)  # same length, another id: not the remembered bytes
    assert other.request_id == "id-2"


def test_a_model_whose_served_state_changed_is_read_again() -> None:
    plane = _plane()
    reader = RequestReader()
    reader.read(_fraud(1), plane)
    old = plane.models["fraud"]
    plane.models = {**plane.models, "fraud": ServedModel("fraud", old.signature, 1, {}, None, codec=old.codec)}
    assert reader.read(_fraud(1), plane).model is plane.models["fraud"]
    # max batch 0
    plane.models = {**plane.models, "fraud": ServedModel("fraud", old.signature, 0, {}, None, codec=old.codec)}
    with pytest.raises(InvalidRequest, match="batch"):
        reader.read(_fraud(1), plane)


def test_scan_splits_the_fields() -> None:
    data = _fraud(2, "rid", key="k")
    key, id_start, id_end, params, raw_start, raw_end = scan(data)  # type: ignore[misc]
    assert data[id_start:id_end] == b"rid" and raw_end - raw_start == 32 and len(params) == 1
    assert pb.ModelInferRequest.FromString(key).model_name == "fraud"
    assert scan(data[:-1]) is None and scan(data + b"\x08\x01") is None  # cut short; a varint field


def test_request_id_for_logs() -> None:
    assert request_id(_fraud(1, "abc")) == "abc"
    assert request_id(b"\xff\xff") == ""


def test_an_internal_error_is_logged_with_the_id_of_a_request_read_from_bytes(caplog: pytest.LogCaptureFixture) -> None:
    from driftgate.gateway.servicer import InferenceServicer
    from driftgate.grpc_edge import _log_unexpected

    with caplog.at_level("ERROR", logger="driftgate.edge"):
        _log_unexpected("ModelInfer", _fraud(1, "card-42"), RuntimeError("boom"), InferenceServicer)
    assert "card-42" in caplog.text and "boom" in caplog.text


def test_the_caches_stay_bounded() -> None:
    reader = RequestReader(max_plans=4)
    for i in range(20):  # ids of growing length: a new remembered length each time
        reader.read(_fraud(1 + i % 3, "x" * i), PLANE)
        assert len(reader._plans) <= 4 and len(reader._exact) <= 4
