"""Traffic through the gateway: weighted canaries, sticky keys, pinned versions, shadows."""

from __future__ import annotations

import json
import math
import re
import time
import urllib.request

import grpc
import numpy as np
import pytest

from driftgate.proto.inference import grpc_service_pb2 as pb
from tests.conftest import Served, start_served, stop_served

pytestmark = pytest.mark.slow


def _generation(served: Served) -> float:
    text = urllib.request.urlopen(served.metrics, timeout=5).read().decode()
    return float(re.search(r"^driftgate_config_generation (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]


def _metric(served: Served, name: str, **labels: str) -> float:
    text = urllib.request.urlopen(served.metrics, timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def change(served: Served, *args: str) -> None:
    """Run a CLI command that changes desired state and wait until the gateway applied it."""
    before = _generation(served)
    served.cli(*args)
    deadline = time.monotonic() + 30
    while _generation(served) <= before:
        assert time.monotonic() < deadline, f"gateway did not apply {args}"
        time.sleep(0.05)


def request(x: np.ndarray, key: str | None = None, version: str = "") -> pb.ModelInferRequest:
    r = pb.ModelInferRequest(model_name="fraud", model_version=version)
    r.inputs.add(name="transaction", datatype="FP32", shape=[1, 30])
    r.raw_input_contents.append(x.tobytes())
    if key is not None:
        r.parameters["routing_key"].string_param = key
    return r


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    from driftgate.demo import generate, train_demo_model

    served = start_served(tmp_path_factory.mktemp("traffic") / "home")
    data = generate(4000, seed=21)
    trained = train_demo_model(data.X, data.y, seed=21, kind="logreg")
    folder = served.home.parent
    (folder / "v2.onnx").write_bytes(trained.onnx)
    np.save(folder / "ref.npy", trained.reference)
    # pin version 1 first so that registering 2 does not move traffic
    change(served, "traffic", "set", "fraud", "1=100")
    change(served, "models", "register", "fraud", str(folder / "v2.onnx"), "--reference", str(folder / "ref.npy"))
    stub = served.stub()
    deadline = time.monotonic() + 60
    while not stub.ModelReady(pb.ModelReadyRequest(name="fraud", version="2")).ready:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1.5)  # one report interval, so the registry knows version 2 is READY here
    yield served, stub
    assert stop_served(served) == 0


X = np.zeros((1, 30), dtype=np.float32)


def _versions(stub, keys):
    return {k: stub.ModelInfer(request(X, key=k)).model_version for k in keys}


def test_weights_sticky_and_monotone(two_versions):
    served, stub = two_versions
    keys = [f"card-{i}" for i in range(1500)]
    change(served, "traffic", "set", "fraud", "1=95", "2=5")
    first = _versions(stub, keys)
    assert _versions(stub, keys[:200]) == {k: first[k] for k in keys[:200]}  # sticky
    share = sum(v == "2" for v in first.values()) / len(keys)
    sigma = math.sqrt(0.05 * 0.95 / len(keys))
    assert abs(share - 0.05) < 5 * sigma, share

    change(served, "traffic", "set", "fraud", "1=75", "2=25")
    second = _versions(stub, keys)
    moved = [(first[k], second[k]) for k in keys if first[k] != second[k]]
    assert moved and all(m == ("1", "2") for m in moved)  # keys only move onto the canary
    share = sum(v == "2" for v in second.values()) / len(keys)
    assert abs(share - 0.25) < 5 * math.sqrt(0.25 * 0.75 / len(keys)), share

    # the routing key also travels as gRPC metadata
    key = keys[0]
    via_header = stub.ModelInfer(request(X), metadata=(("x-routing-key", key),)).model_version
    assert via_header == second[key]


def test_keyless_requests_follow_the_weights(two_versions):
    served, stub = two_versions
    change(served, "traffic", "set", "fraud", "1=70", "2=30")
    n = 1500
    seen = [stub.ModelInfer(request(X)).model_version for _ in range(n)]
    share = seen.count("2") / n
    # 6 standard deviations: a false failure is a one-in-a-billion event
    assert abs(share - 0.3) < 6 * math.sqrt(0.3 * 0.7 / n), share


def test_pinned_version_bypasses_weights(two_versions):
    served, stub = two_versions
    change(served, "traffic", "set", "fraud", "1=100")
    assert {stub.ModelInfer(request(X, version="2")).model_version for _ in range(20)} == {"2"}
    assert {stub.ModelInfer(request(X, key="card-7")).model_version for _ in range(20)} == {"1"}


def test_refused_traffic_changes_nothing(two_versions):
    served, _ = two_versions
    before = json.loads(served.cli("traffic", "show", "fraud", "--json").stdout)
    for args in (("1=0", "2=0"), ("1=50", "9=50")):
        result = served.cli("traffic", "set", "fraud", *args, check=False)
        assert result.returncode == 1 and result.stderr.strip()
    after = json.loads(served.cli("traffic", "show", "fraud", "--json").stdout)
    assert (after["mode"], after["weights"]) == (before["mode"], before["weights"])


def test_shadow_mirrors_without_touching_responses(two_versions):
    served, stub = two_versions
    change(served, "traffic", "set", "fraud", "1=100")
    change(served, "traffic", "shadow", "fraud", "2", "--rate", "0.5")
    before = _metric(served, "driftgate_shadow_requests_total", version="2", outcome="scored")
    versions = {stub.ModelInfer(request(X, key=f"k{i}")).model_version for i in range(400)}
    assert versions == {"1"}
    deadline = time.monotonic() + 10
    while (scored := _metric(served, "driftgate_shadow_requests_total", version="2", outcome="scored")) - before < 100:
        assert time.monotonic() < deadline, scored
        time.sleep(0.1)
    assert scored - before < 400  # a sample, not every request
    # the registry shows what the gateway says it routes (from its next report)
    deadline = time.monotonic() + 10
    while True:
        applied = json.loads(served.cli("traffic", "show", "fraud", "--json").stdout)["applied"]
        if applied and [s["version"] for s in applied[0]["shadows"]] == [2]:
            break
        assert time.monotonic() < deadline, applied
        time.sleep(0.3)
    assert [(w["version"], w["weight"]) for w in applied[0]["weights"]] == [(1, 100)]
    change(served, "traffic", "shadow", "fraud", "2", "--rate", "0")


def test_statistics_per_version(two_versions):
    _, stub = two_versions
    stub.ModelInfer(request(X, version="2"))
    stats = {s.version: s for s in stub.ModelStatistics(pb.ModelStatisticsRequest(name="fraud")).model_stats}
    assert set(stats) == {"1", "2"}
    assert stats["2"].inference_stats.success.count >= 1
    with pytest.raises(grpc.RpcError):
        stub.ModelStatistics(pb.ModelStatisticsRequest(name="fraud", version="7"))
