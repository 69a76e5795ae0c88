"""``driftgate stats`` end to end: two gateway workers and the registry of ``driftgate serve``,
known traffic (an 80/20 split, a shadow, refused requests), then the CLI's numbers are the ones
sent: counts per version, errors by code, shares, the shadow's mirrored rows and agreement."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import grpc
import numpy as np
import pytest

from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.proto.inference import grpc_service_pb2_grpc
from tests.conftest import Served, start_served, stop_served
from tests.deploy.observability import exported_metrics, referenced_metrics

pytestmark = pytest.mark.slow

ENV = {
    "DRIFTGATE_GATEWAY__REPORT_INTERVAL_S": "0.3",
    "DRIFTGATE_STATS__RESOLUTION_S": "1",
    "DRIFTGATE_REGISTRY__METRICS_PORT": "0",
}
N = 240  # unpinned requests
CHANNELS = 16  # connections: SO_REUSEPORT spreads them over both workers


def _until(fn, what: str, timeout: float = 90):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _applied(served: Served, weights: dict[int, int], shadows: dict[int, float]) -> bool:
    info = json.loads(served.cli("traffic", "show", "fraud", "--json").stdout)
    applied = info["applied"]
    return len(applied) == 2 and all(
        {w["version"]: w["weight"] for w in a["weights"]} == weights
        and {s["version"]: s["rate"] for s in a["shadows"]} == shadows
        for a in applied
    )


def _ok(served: Served, *args: str) -> bool:
    return served.cli(*args, check=False).returncode == 0


def _request(x: np.ndarray, key: str = "", version: str = "", model: str = "fraud") -> pb.ModelInferRequest:
    r = pb.ModelInferRequest(model_name=model, model_version=version)
    r.inputs.add(name="transaction", datatype="FP32", shape=list(x.shape))
    r.raw_input_contents.append(np.ascontiguousarray(x).tobytes())
    if key:
        r.parameters["routing_key"].string_param = key
    return r


def _scores(onnx: bytes, x: np.ndarray, output: str, column: int) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    out = session.run([output], {name: x})[0]
    return np.asarray(out[:, column] if column >= 0 else out.reshape(-1), dtype=np.float32)


def _stats(served: Served, *extra: str) -> dict:  # type: ignore[type-arg]
    return json.loads(served.cli("stats", "fraud", "--window", "10m", "--json", *extra).stdout)


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from driftgate.demo import generate, train_demo_model

    served = start_served(tmp_path_factory.mktemp("stats") / "home", "--workers", "2", env=ENV)
    try:
        folder = served.home.parent
        data = generate(3000, seed=5)
        v2 = train_demo_model(data.X, data.y, seed=5, kind="logreg").onnx
        (folder / "v2.onnx").write_bytes(v2)
        np.save(folder / "ref.npy", data.X[:1000])
        model = json.loads(served.cli("models", "show", "fraud", "--json").stdout)
        (v1_info,) = model["versions"]
        sha = v1_info["artifact_sha256"]
        v1 = (served.home / "artifacts" / sha[:2] / sha).read_bytes()
        (folder / "v3.onnx").write_bytes(v1)  # the shadow: the champion's own bytes, so agreement is known
        _until(lambda: _ok(served, "traffic", "set", "fraud", "1=100"), "the pin on version 1")
        served.cli("models", "register", "fraud", str(folder / "v2.onnx"), "--reference", str(folder / "ref.npy"))
        served.cli("models", "register", "fraud", str(folder / "v3.onnx"), "--reference", str(folder / "ref.npy"))
        _until(lambda: _ok(served, "traffic", "set", "fraud", "1=80", "2=20"), "versions 2 and 3 READY everywhere")
        _until(lambda: _ok(served, "traffic", "shadow", "fraud", "3", "--rate", "1"), "the shadow")
        _until(lambda: _applied(served, {1: 80, 2: 20}, {3: 1.0}), "both workers applying the split")

        x = generate(N, seed=11).X.astype(np.float32)
        # one connection each (no shared subchannel), so the kernel spreads them over the workers
        own = [("grpc.use_local_subchannel_pool", 1)]
        stubs = [grpc_service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(served.gateway, options=own))
                 for _ in range(CHANNELS)]
        served_by = [stubs[i % CHANNELS].ModelInfer(_request(x[i : i + 1], key=f"card-{i}")).model_version
                     for i in range(N)]
        codes: Counter[str] = Counter()
        bad = [
            _request(np.zeros((1, 29), np.float32)),  # wrong shape
            _request(np.zeros((1, 29), np.float32)),
            _request(np.zeros((1, 29), np.float32)),
            _request(x[:1], version="9"),  # no such version
            _request(x[:1], version="9"),
            _request(x[:1], model="nope"),  # a model nobody serves: not this model's
        ]
        for i, r in enumerate(bad):
            with pytest.raises(grpc.RpcError) as err:
                stubs[i % CHANNELS].ModelInfer(r)
            codes[err.value.code().name] += 1
        assert codes == {"INVALID_ARGUMENT": 3, "NOT_FOUND": 3}

        output, column = v1_info["profile"]["score_output"], v1_info["profile"]["score_column"]
        s1, s2 = _scores(v1, x, output, column), _scores(v2, x, output, column)
        primary = np.where(np.array(served_by) == "1", s1, s2)
        expected = {
            "served": Counter(served_by),
            "agree": int(np.count_nonzero((s1 >= 0.5) == (primary >= 0.5))),
            "abs_diff": float(np.abs(s1 - primary).sum()),
        }
        # every shadow copy scored and every count reported
        _until(lambda: _by_version(_stats(served)).get(3, {}).get("shadow_mirrored") == N, "the shadow's reports")
        _until(lambda: _stats(served)["requests"] == N + 5, "the refused requests' reports")
        yield served, expected
    finally:
        assert stop_served(served) == 0


def _by_version(report: dict) -> dict[int, dict]:  # type: ignore[type-arg]
    return {v["version"]: v for v in report["versions"]}


def test_counts_errors_shares_and_shadow_match_what_was_sent(traffic) -> None:  # type: ignore[no-untyped-def]
    served, expected = traffic
    report = _stats(served)
    rows = _by_version(report)
    assert set(rows) == {0, 1, 2, 3}
    assert report["mode"] == "weights" and report["requests"] == N + 5
    for version in (1, 2):
        row = rows[version]
        assert row["requests"] == expected["served"][str(version)], (version, row)
        assert row["rows"] == row["requests"]
        assert row["errors"] == {}
        assert row["role"] == "serving"
        assert row["share"] == pytest.approx(expected["served"][str(version)] / N)
        assert row["p50_ms"] > 0 and row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
        assert sum(row["latency_buckets"]) == row["requests"]
    assert rows[1]["configured_share"] == pytest.approx(0.8) and rows[2]["configured_share"] == pytest.approx(0.2)
    refused = rows[0]
    assert refused["role"] == "refused" and refused["requests"] == 5
    assert refused["errors"] == {"INVALID_ARGUMENT": 3, "NOT_FOUND": 2}  # the unknown model is no one's
    shadow = rows[3]
    assert shadow["role"] == "shadow" and shadow["shadow_rate"] == 1.0 and shadow["requests"] == 0
    assert shadow["shadow_mirrored"] == N and shadow["shadow_dropped"] == 0
    assert shadow["shadow_agreement"] == pytest.approx(expected["agree"] / N)
    assert shadow["shadow_mean_abs_diff"] == pytest.approx(expected["abs_diff"] / N, rel=1e-4, abs=1e-6)

    table = subprocess.run(
        [sys.executable, "-m", "driftgate", "--home", str(served.home), "stats", "fraud", "--window", "10m"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "250"},
    ).stdout
    assert "INVALID_ARGUMENT 3" in table and f"mirrored {N}" in table, table


def test_by_gateway_rows_add_up_to_the_totals(traffic) -> None:  # type: ignore[no-untyped-def]
    served, expected = traffic
    report = _stats(served, "--by-gateway")
    gateways = {v["gateway_id"] for v in report["versions"]}
    assert len(gateways) == 2 and "" not in gateways  # both workers served some of the 16 connections
    for version in (1, 2):
        total = sum(v["requests"] for v in report["versions"] if v["version"] == version)
        assert total == expected["served"][str(version)]
    assert sum(v["shadow_mirrored"] for v in report["versions"] if v["version"] == 3) == N


def test_series_and_watch(traffic) -> None:  # type: ignore[no-untyped-def]
    served, expected = traffic
    report = _stats(served, "--series", "30s")
    series = {s["version"]: s["points"] for s in report["series"]}
    assert sum(p["requests"] for p in series[1]) == expected["served"]["1"]
    assert sum(p["errors"] for p in series[0]) == 5
    starts = [p["start"] for p in series[1]]
    assert starts == sorted(starts)

    watch = subprocess.run(
        [sys.executable, "-m", "driftgate", "--home", str(served.home), "stats", "fraud", "--window", "10m",
         "--watch", "--json", "--count", "2", "--interval", "0.1"],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2],
    )
    assert watch.returncode == 0, watch.stderr
    lines = watch.stdout.splitlines()
    assert len(lines) == 2 and all(json.loads(line)["requests"] == N + 5 for line in lines)


def test_unknown_model_and_too_long_a_window_are_refused(traffic) -> None:  # type: ignore[no-untyped-def]
    served, _ = traffic
    result = served.cli("stats", "nope", check=False)
    assert result.returncode == 1 and "nope" in result.stderr
    result = served.cli("stats", "fraud", "--window", "2h", check=False)
    assert result.returncode == 1 and "history" in result.stderr


def test_every_metric_of_the_dashboard_and_the_rules_is_exported(traffic) -> None:  # type: ignore[no-untyped-def]
    served, _ = traffic
    (registry_url,) = {m.group(1) for line in served.lines
                       if (m := re.search(r"registry Prometheus endpoint (\S+)", line))}
    assert registry_url.startswith("http://127.0.0.1:")  # loopback by default
    pages = {url: urllib.request.urlopen(url, timeout=10).read().decode() for url in (served.metrics, registry_url)}
    exported = set().union(*(exported_metrics(text) for text in pages.values()))
    missing = referenced_metrics() - exported
    assert not missing, f"named in deploy/ but exported by no endpoint: {sorted(missing)}"
    registry_page = pages[registry_url]
    # the registry's numbers: both workers' applied generation, and the live drift of version 1
    assert len(re.findall(r"^driftgate_gateway_config_lag\{", registry_page, re.M)) == 2
    assert re.search(r'^driftgate_drift_status\{column="amount",model="fraud",version="1"\}', registry_page, re.M)
