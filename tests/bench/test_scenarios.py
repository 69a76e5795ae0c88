"""Scenario plumbing: subprocess servers on port 0, metering, and the JSON a scenario writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from driftgate.bench.servers import cpu_list, start_bare, tree_cpu_s
from driftgate.cli.main import build_parser


def test_bare_server_subprocess_is_metered() -> None:
    with start_bare() as server:
        assert server.address.startswith("127.0.0.1:")
        assert tree_cpu_s(server.pid) > 0  # importing grpc alone costs CPU
    assert server.process.poll() is not None
    assert tree_cpu_s(os.getpid()) > 0


def test_steady_scenario_writes_its_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    with start_bare() as server:
        args = build_parser().parse_args(
            ["bench", "scenario", "steady", "--target", server.address, "--concurrency", "2", "--duration", "1s",
             "--warmup", "200ms", "--input-data", "random", "--out", str(tmp_path)]
        )  # fmt: skip
        assert args.func(args) == 0
    [path] = tmp_path.glob("steady-*.json")
    doc = json.loads(path.read_text())
    assert doc["scenario"] == "steady" and "error" not in doc["result"]
    [m] = doc["measurements"]
    assert m["label"] == "steady" and m["concurrency"] == 2 and m["throughput_rps"] > 0 and m["errors"] == {}
    assert doc["machine"]["cores"] >= 1


def test_registry_scenarios_explain_a_missing_home(tmp_path: Path) -> None:
    with start_bare() as server:
        args = build_parser().parse_args(
            ["bench", "scenario", "swap", "--target", server.address, "--duration", "1s", "--warmup", "0s",
             "--input-data", "random", "--out", str(tmp_path)]
        )  # fmt: skip
        assert args.func(args) == 1
    [path] = tmp_path.glob("swap-*.json")
    assert "--serve-home" in json.loads(path.read_text())["result"]["error"]


def test_cpu_list_reads_tasksets_list_syntax() -> None:
    assert cpu_list("1") == {1}
    assert cpu_list("0,2-3") == {0, 2, 3}
    assert cpu_list("4-4,1") == {1, 4}
