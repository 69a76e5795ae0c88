"""Adaptive batching end to end: a real ``driftgate serve``, the operator CLI, gRPC clients.

With batching on, concurrent requests share session runs (ModelStatistics: execution_count <
inference_count) and get the outputs onnxruntime gives each request alone; a request whose
values make the session fail fails alone; a swap under load fails no request; ModelConfig and
the metrics show it; turning it off goes back to direct runs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.proto.inference import grpc_service_pb2_grpc
from tests.conftest import Served, start_served, stop_served
from tests.gateway.test_swap import Load

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = start_served(tmp_path_factory.mktemp("batching") / "home")
    yield s
    assert stop_served(s) == 0, (s.home / "serve.log").read_text()[-4000:]


def _model_config(served: Served, model: str) -> object:
    return served.stub().ModelConfig(pb.ModelConfigRequest(name=model), timeout=10).config


def _wait_config(served: Served, model: str, delay_us: int | None) -> None:
    """Until the gateway has applied the batching setting (None: off) that the CLI just set."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        config = _model_config(served, model)
        on = config.HasField("dynamic_batching")  # type: ignore[attr-defined]
        if (delay_us is None and not on) or (
            on and config.dynamic_batching.max_queue_delay_microseconds == delay_us  # type: ignore[attr-defined]
        ):
            return
        time.sleep(0.1)
    raise AssertionError(f"the gateway did not apply batching {delay_us} for {model}")


def _stats(served: Served, model: str) -> pb.ModelStatistics:
    reply = served.stub().ModelStatistics(pb.ModelStatisticsRequest(name=model), timeout=10)
    (stats,) = [s for s in reply.model_stats if s.name == model]
    return stats


def _request(model: str, name: str, x: np.ndarray) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model)
    request.inputs.add(name=name, datatype="FP32", shape=list(x.shape))
    request.raw_input_contents.append(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    return request


async def _infer_all(address: str, requests: list[pb.ModelInferRequest]) -> list[pb.ModelInferResponse | grpc.RpcError]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        return await asyncio.gather(*(stub.ModelInfer(r, timeout=30) for r in requests), return_exceptions=True)


def _outputs(response: pb.ModelInferResponse, dtypes: dict[str, np.dtype]) -> dict[str, np.ndarray]:
    return {
        o.name: np.frombuffer(raw, dtype=dtypes[o.name]).reshape(tuple(o.shape))
        for o, raw in zip(response.outputs, response.raw_output_contents, strict=True)
    }


def _session(served: Served, model: str) -> object:
    import onnxruntime as ort

    shown = json.loads(served.cli("models", "show", model, "--json").stdout)
    sha = [v for v in shown["versions"] if v["state"] == "active"][-1]["artifact_sha256"]
    data = (served.home / "cache" / "artifacts" / sha[:2] / sha).read_bytes()
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def test_batched_outputs_match_onnxruntime_and_runs_are_shared(served: Served) -> None:
    from driftgate.demo import generate

    served.cli("models", "batching", "fraud", "--max-batch", "32", "--max-delay-us", "20000")
    _wait_config(served, "fraud", 20000)
    config = _model_config(served, "fraud")
    assert list(config.dynamic_batching.preferred_batch_size) == [32]  # type: ignore[attr-defined]

    session = _session(served, "fraud")
    names = [o.name for o in session.get_outputs()]  # type: ignore[attr-defined]
    x = generate(200, seed=5).X.astype(np.float32)
    sizes = [1, 1, 2, 1, 3, 1, 1, 4] * 8  # 64 concurrent requests, 1 to 4 rows each
    offsets = np.cumsum([0, *sizes])
    requests = [_request("fraud", "transaction", x[a:b]) for a, b in itertools.pairwise(offsets)]
    before = _stats(served, "fraud")
    responses = asyncio.run(_infer_all(served.gateway, requests))
    after = _stats(served, "fraud")

    expected_all = session.run(names, {"transaction": x[: offsets[-1]]})  # type: ignore[attr-defined]
    dtypes = {n: e.dtype for n, e in zip(names, expected_all, strict=True)}
    for (a, b), response in zip(itertools.pairwise(offsets), responses, strict=True):
        assert isinstance(response, pb.ModelInferResponse), response
        got = _outputs(response, dtypes)
        alone = session.run(names, {"transaction": x[a:b]})  # type: ignore[attr-defined]
        for name, want in zip(names, alone, strict=True):
            if want.dtype.kind == "f":
                np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-6)
            else:
                np.testing.assert_array_equal(got[name], want)

    rows = int(offsets[-1])
    assert after.inference_count - before.inference_count == rows
    executions = after.execution_count - before.execution_count
    assert 1 <= executions < len(requests)
    st = after.inference_stats
    assert st.success.count == st.queue.count == st.compute_input.count == st.compute_infer.count
    assert st.queue.ns > before.inference_stats.queue.ns

    text = urllib.request.urlopen(served.metrics, timeout=10).read().decode()
    counts = [line for line in text.splitlines() if line.startswith("driftgate_batch_rows_count{")]
    assert counts and float(counts[0].split()[-1]) >= executions


def _picky_model() -> bytes:
    """x [N, 1] FP32 -> table[int(x)] [N, 1]: a row outside 0..9 makes onnxruntime fail the run."""
    import onnx
    from onnx import TensorProto, helper

    table = helper.make_tensor("table", TensorProto.FLOAT, [10, 1], [float(10 * i + 1) for i in range(10)])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["x"], ["xi"], to=TensorProto.INT64),
            helper.make_node("Squeeze", ["xi", "axes"], ["idx"]),
            helper.make_node("Gather", ["table", "idx"], ["score"], axis=0),
        ],
        "picky",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])],
        initializer=[table, axes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_a_request_that_fails_the_session_fails_alone(served: Served, tmp_path: Path) -> None:
    path = tmp_path / "picky.onnx"
    path.write_bytes(_picky_model())
    served.cli("models", "register", "picky", str(path))
    served.cli("models", "batching", "picky", "--max-batch", "8", "--max-delay-us", "500000")
    _wait_config(served, "picky", 500000)

    values = [3.0, 1.0, 100.0, 0.0, 9.0, 4.0, 7.0, 2.0]  # 8 rows: one full batch; 100 is out of the table
    responses = asyncio.run(_infer_all(served.gateway, [_request("picky", "x", np.array([[v]])) for v in values]))
    for value, response in zip(values, responses, strict=True):
        if value == 100.0:
            assert isinstance(response, grpc.aio.AioRpcError) and response.code() == grpc.StatusCode.INTERNAL
        else:
            assert isinstance(response, pb.ModelInferResponse), response
            got = np.frombuffer(response.raw_output_contents[0], dtype=np.float32)
            assert got.tolist() == [10 * value + 1]
    stats = _stats(served, "picky")
    assert stats.inference_stats.fail.count == 1 and stats.inference_stats.success.count == 7
    # the failed batched run and the eight reruns: more runs than the 7 answers
    assert stats.execution_count >= 8


def test_swap_under_load_with_batching_fails_no_request(served: Served, challenger: tuple[Path, Path]) -> None:
    served.cli("models", "batching", "fraud", "--max-batch", "16", "--max-delay-us", "300")
    _wait_config(served, "fraud", 300)
    before = _stats(served, "fraud")
    with Load(served.gateway) as load:
        load.wait_for(lambda: load.codes["OK"] > 200, 60, "steady traffic on version 1")
        out = served.cli("models", "register", "fraud", str(challenger[0]), "--reference", str(challenger[1]))
        new = out.stdout.strip().split()[-1]
        load.wait_for(lambda: list(load.last_versions)[-50:] == [new] * 50, 60, f"traffic to move to {new}")
        served.cli("models", "retire", "fraud", new, "--reason", "test")
        load.wait_for(lambda: list(load.last_versions)[-50:] == ["1"] * 50, 60, "traffic to move back to 1")
        # turning batching off under load, too
        served.cli("models", "batching", "fraud", "--off")
        _wait_config(served, "fraud", None)
        served_after_off = load.codes["OK"]
        load.wait_for(lambda: load.codes["OK"] > served_after_off + 100, 60, "traffic after batching off")
    assert load.versions[new] > 0
    assert set(load.codes) == {"OK"}, (load.codes, load.details[:5])
    after = _stats(served, "fraud")
    assert after.execution_count - before.execution_count < after.inference_count - before.inference_count
