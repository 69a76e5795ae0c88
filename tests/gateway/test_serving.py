"""The gateway as a client sees it: a real `driftgate serve`, called over gRPC."""

from __future__ import annotations

import urllib.request

import grpc
import numpy as np
import onnxruntime as ort
import pytest

from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.proto.v1 import control_pb2, control_pb2_grpc
from tests.auth_helpers import local_channel

N_FEATURES = 30


def infer_request(x: np.ndarray, *, model: str = "fraud", version: str = "", typed: bool = False,
                  request_id: str = "") -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model, model_version=version, id=request_id)
    tensor = request.inputs.add(name="transaction", datatype="FP32", shape=list(x.shape))
    if typed:
        tensor.contents.fp32_contents.extend(x.ravel().tolist())
    else:
        request.raw_input_contents.append(np.ascontiguousarray(x, dtype="<f4").tobytes())
    return request


def outputs(response: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    dtypes = {"FP32": "<f4", "INT64": "<i8"}
    return {
        o.name: np.frombuffer(raw, dtype=dtypes[o.datatype]).reshape(tuple(o.shape))
        for o, raw in zip(response.outputs, response.raw_output_contents, strict=True)
    }


@pytest.fixture(scope="module")
def stub(served):
    return served.stub()


@pytest.fixture(scope="module")
def reference_session(served) -> ort.InferenceSession:
    control = control_pb2_grpc.ControlStub(local_channel(served.registry, served.home))
    model = control.GetModel(control_pb2.GetModelRequest(name="fraud"))
    sha = model.versions[0].artifact_sha256
    data = b"".join(c.data for c in control.FetchArtifact(control_pb2.FetchArtifactRequest(sha256=sha)))
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    from driftgate.demo import generate

    return generate(64, seed=7).X


def test_health_and_metadata(stub):
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name="fraud")).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name="fraud", version="1")).ready
    assert not stub.ModelReady(pb.ModelReadyRequest(name="fraud", version="99")).ready
    assert not stub.ModelReady(pb.ModelReadyRequest(name="nope")).ready
    meta = stub.ServerMetadata(pb.ServerMetadataRequest())
    assert meta.name == "driftgate"
    assert set(meta.extensions) == {"model_configuration", "statistics", "parameters"}
    model = stub.ModelMetadata(pb.ModelMetadataRequest(name="fraud"))
    assert model.platform == "onnxruntime_onnx"
    assert "1" in model.versions
    assert [(i.name, i.datatype, list(i.shape)) for i in model.inputs] == [("transaction", "FP32", [-1, N_FEATURES])]
    assert {o.name for o in model.outputs} == {"label", "probabilities"}


def test_model_config_is_enough_for_perf_analyzer(stub):
    config = stub.ModelConfig(pb.ModelConfigRequest(name="fraud")).config
    assert config.platform == "onnxruntime_onnx"
    assert config.max_batch_size > 0
    assert [(i.name, list(i.dims)) for i in config.input] == [("transaction", [N_FEATURES])]
    assert {o.name for o in config.output} == {"label", "probabilities"}


@pytest.mark.parametrize("typed", [False, True], ids=["raw", "typed"])
@pytest.mark.parametrize("batch", [1, 7, 64])
def test_infer_matches_onnxruntime(stub, reference_session, rows, typed, batch):
    x = rows[:batch]
    response = stub.ModelInfer(infer_request(x, typed=typed, request_id=f"r-{batch}"))
    assert response.model_name == "fraud"
    assert response.model_version == "1"
    assert response.id == f"r-{batch}"
    got = outputs(response)
    label, proba = reference_session.run(["label", "probabilities"], {"transaction": x})
    np.testing.assert_array_equal(got["label"], label)
    np.testing.assert_allclose(got["probabilities"], proba, rtol=1e-5, atol=1e-6)


def test_requested_output_only(stub, rows):
    request = infer_request(rows[:2])
    request.outputs.add(name="probabilities")
    response = stub.ModelInfer(request)
    assert [o.name for o in response.outputs] == ["probabilities"]


@pytest.mark.parametrize("names", [["label", "probabilities"], ["probabilities", "label"], ["label"]])
def test_requested_outputs_in_any_order_carry_the_right_bytes(stub, reference_session, rows, names):
    """The written responses (driftgate.gateway.wire) per requested-output list, each asked
    twice (the second from the caches), against onnxruntime; then the other batch size."""
    for batch in (3, 3, 5):
        x = rows[:batch]
        request = infer_request(x, request_id=f"o-{batch}")
        for name in names:
            request.outputs.add(name=name)
        response = stub.ModelInfer(request)
        assert [o.name for o in response.outputs] == names
        assert response.id == f"o-{batch}"
        expected = dict(zip(["label", "probabilities"], reference_session.run(["label", "probabilities"],
                                                                             {"transaction": x}), strict=True))
        got = outputs(response)
        for name in names:
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-6)
            assert got[name].shape == expected[name].shape


def test_pinned_version(stub, rows):
    assert stub.ModelInfer(infer_request(rows[:1], version="1")).model_version == "1"


def _error(stub, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(request)
    return info.value


def test_unknown_model_and_version_are_not_found(stub, rows):
    err = _error(stub, infer_request(rows[:1], model="nope"))
    assert err.code() == grpc.StatusCode.NOT_FOUND and "nope" in err.details()
    err = _error(stub, infer_request(rows[:1], version="42"))
    assert err.code() == grpc.StatusCode.NOT_FOUND and "42" in err.details()
    err = _error(stub, infer_request(rows[:1], version="latest"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_bad_inputs_are_invalid_argument_naming_the_input(stub, rows):
    good = infer_request(rows[:2])

    wrong_name = pb.ModelInferRequest()
    wrong_name.CopyFrom(good)
    wrong_name.inputs[0].name = "features"
    err = _error(stub, wrong_name)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "features" in err.details()

    wrong_type = pb.ModelInferRequest()
    wrong_type.CopyFrom(good)
    wrong_type.inputs[0].datatype = "FP64"
    err = _error(stub, wrong_type)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "transaction" in err.details() and "FP64" in err.details() and "FP32" in err.details()

    wrong_shape = infer_request(rows[:2, :29])
    err = _error(stub, wrong_shape)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "transaction" in err.details()

    short = pb.ModelInferRequest()
    short.CopyFrom(good)
    short.raw_input_contents[0] = short.raw_input_contents[0][:-4]
    err = _error(stub, short)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "bytes" in err.details()

    both = infer_request(rows[:1], typed=True)
    both.raw_input_contents.append(rows[:1].tobytes())
    assert _error(stub, both).code() == grpc.StatusCode.INVALID_ARGUMENT

    neither = pb.ModelInferRequest(model_name="fraud")
    neither.inputs.add(name="transaction", datatype="FP32", shape=[1, N_FEATURES])
    assert _error(stub, neither).code() == grpc.StatusCode.INVALID_ARGUMENT

    too_big = infer_request(np.zeros((10_000, N_FEATURES), dtype=np.float32))
    err = _error(stub, too_big)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "max_batch_size" in err.details()

    # and the server still serves
    assert stub.ModelInfer(good).model_version == "1"


def test_stream_infer_reports_errors_in_band(stub, rows):
    bad = infer_request(rows[:1], model="nope", request_id="bad")
    requests = [infer_request(rows[:1], request_id="a"), bad, infer_request(rows[:3], request_id="b")]
    responses = list(stub.ModelStreamInfer(iter(requests)))
    assert [r.infer_response.id for r in responses] == ["a", "bad", "b"]
    assert responses[0].error_message == "" and responses[2].error_message == ""
    assert responses[1].error_message.startswith("NOT_FOUND")
    assert outputs(responses[2].infer_response)["probabilities"].shape == (3, 2)


def test_statistics_count_requests(stub, rows):
    before = stub.ModelStatistics(pb.ModelStatisticsRequest(name="fraud")).model_stats[0]
    for _ in range(3):
        stub.ModelInfer(infer_request(rows[:4]))
    after = stub.ModelStatistics(pb.ModelStatisticsRequest(name="fraud", version="1")).model_stats[0]
    assert after.version == "1"
    assert after.inference_stats.success.count - before.inference_stats.success.count >= 3
    assert after.inference_count - before.inference_count >= 12
    assert after.last_inference > 0
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelStatistics(pb.ModelStatisticsRequest(name="nope"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_repository_index(stub):
    index = stub.RepositoryIndex(pb.RepositoryIndexRequest(ready=True))
    assert ("fraud", "1", "READY") in {(m.name, m.version, m.state) for m in index.models}


def test_health_service_and_reflection(served):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    channel = grpc.insecure_channel(served.gateway)
    health = health_pb2_grpc.HealthStub(channel)
    status = health.Check(health_pb2.HealthCheckRequest(service="inference.GRPCInferenceService"))
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    refl = reflection_pb2_grpc.ServerReflectionStub(channel)
    reply = next(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in reply.list_services_response.service}
    assert "inference.GRPCInferenceService" in names


def test_prometheus_metrics(served, stub, rows):
    stub.ModelInfer(infer_request(rows[:1]))
    text = urllib.request.urlopen(served.metrics, timeout=5).read().decode()
    assert 'driftgate_requests_total{model="fraud",version="1"}' in text
    assert "driftgate_request_latency_seconds_bucket" in text
    assert "driftgate_in_flight_requests" in text
    assert 'driftgate_version_loads_total{model="fraud",outcome="ok",version="1"}' in text
    assert "driftgate_version_load_seconds" in text
