"""Every ``driftgate bench scenario`` runs at a tiny scale (one round, concurrency 2, one-second runs) and writes
its report: the JSON with the scenario's result and measurements. Their numbers are not checked (a test
asserts behaviour, a benchmark reports numbers): only that each one runs as bench/README.md says, against a
real ``driftgate serve`` (the scenarios that change the registry get its home), and that the requests it sent
did not fail. ``drift`` starts two servers of its own, so it is the slow one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftgate.cli.main import build_parser
from tests.conftest import Served, start_served, stop_served

TINY = ["--concurrency", "2", "--duration", "1s", "--warmup", "200ms", "--rounds", "1"]


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_served(tmp_path_factory.mktemp("bench-serve") / "home")
    yield served
    assert stop_served(served) == 0


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo-compatible logistic regression: the bare+score server's model and the batching scenario's."""
    from driftgate.demo import generate, train_demo_model

    data = generate(2000, seed=2)
    path = tmp_path_factory.mktemp("model") / "small.onnx"
    path.write_bytes(train_demo_model(data.X, data.y, seed=2, kind="logreg").onnx)
    return path


def _run(name: str, out: Path, *argv: str) -> dict:  # type: ignore[type-arg]
    args = build_parser().parse_args(["bench", "scenario", name, *TINY, "--out", str(out), *argv])
    code = args.func(args)
    [path] = out.glob(f"{name}-*.json")
    doc = json.loads(path.read_text())
    assert code == 0, doc["result"]
    assert doc["scenario"] == name and "error" not in doc["result"], doc["result"]
    assert doc["measurements"], doc
    for m in doc["measurements"]:
        assert m["throughput_rps"] > 0 and m["errors"] == {}, m
    return doc


@pytest.mark.parametrize("name", ["sweep", "compare"])
def test_load_scenarios_against_a_target(name: str, serving: Served, small_onnx: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    doc = _run(name, tmp_path, "--target", serving.gateway, "--onnx", str(small_onnx))
    assert Path(doc["notes"]["png"]).is_file()  # both plot what they measured
    if name == "compare":
        assert {row["system"] for row in doc["result"]["table"]} == {"bare", "bare+score", "target"}


@pytest.mark.parametrize("name", ["swap", "canary", "shadow", "batching"])
def test_registry_scenarios_against_a_served_home(name: str, serving: Served, small_onnx: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    extra = ["--onnx", str(small_onnx), "--batching", "8:100"] if name == "batching" else []
    doc = _run(name, tmp_path, "--target", serving.gateway, "--serve-home", str(serving.home), *extra)
    result = doc["result"]
    if name == "swap":
        assert result["failed_requests_during_swap"] == 0
        events = result["events"]
        assert "error" not in events and events["new_version"] > int(events["old_version"]), events
    elif name == "batching":
        assert result["variants"] == ["off", "on 8 rows 100 us"]
    else:
        assert set(result["versions"]) in ({"old", "new"}, {"served", "shadow"})


@pytest.mark.slow
def test_drift_scenario_starts_its_own_two_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    doc = _run("drift", tmp_path)
    assert set(doc["notes"]["servers"]) == {"drift-on", "drift-off"}
    assert doc["result"]["a"] == "drift off" and doc["result"]["b"] == "drift on"
