"""The operator CLI end to end against a running registry: parser + func in-process, output via capsys."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path

import pytest
from cli_helpers import Files, ThreadedRegistry, build_parser

from driftgate.cli.argtypes import duration
from tests.auth_helpers import local_channel


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")


def run(capsys: pytest.CaptureFixture[str], home: Path, *argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["--home", str(home), *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_register_list_show_retire(
    registry: ThreadedRegistry, files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    home = registry.home
    code, out, err = run(
        capsys,
        home,
        "models",
        "register",
        "fraud",
        str(files.v1),
        "--reference",
        str(files.reference),
        "--source",
        "notebook",
        "--metric",
        "auc=0.91",
        "--feature-names",
        "a,b,c,d",
    )
    assert (code, out, err) == (0, "1\n", "")
    code, out, _ = run(capsys, home, "models", "register", "fraud", str(files.v2), "--parent", "1", "--json")
    info = json.loads(out)
    assert code == 0 and info["version"] == 2 and info["parent"] == 1 and info["state"] == "active"
    assert info["signature"]["inputs"][0]["shape"] == [-1, 4]

    code, out, _ = run(capsys, home, "models", "list", "--json")
    listed = json.loads(out)
    assert [(m["name"], [v["version"] for v in m["versions"]]) for m in listed["models"]] == [("fraud", [1, 2])]
    code, out, _ = run(capsys, home, "models", "list")
    assert code == 0 and "fraud" in out and "latest" in out

    registry.report("gw-a", "fraud", {1: "READY", 2: "LOADING"})
    code, out, _ = run(capsys, home, "models", "show", "fraud")
    assert code == 0
    assert "notebook" in out and "auc=0.91" in out and "gw-a:READY" in out and "gw-a:LOADING" in out
    assert info["artifact_sha256"][:12] in out
    code, out, _ = run(capsys, home, "models", "show", "fraud", "--json")
    shown = json.loads(out)
    assert shown["versions"][0]["gateways"][0]["state"] == "READY"
    assert shown["settings"]["feature_names"] == ["a", "b", "c", "d"]

    code, out, _ = run(capsys, home, "models", "retire", "fraud", "1", "--reason", "superseded")
    assert (code, out) == (0, "fraud version 1 is retired\n")


def test_errors_are_one_line(
    registry: ThreadedRegistry, files: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = registry.home
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    cases = [
        (("models", "register", "fraud", str(bad)), "onnx"),
        (("models", "register", "fraud", str(tmp_path / "missing.onnx")), "cannot read model"),
        (("models", "register", "fraud", str(files.v1), "--metric", "auc"), "NAME=NUMBER"),
        (("models", "show", "nope"), "'nope' is not registered"),
        (("traffic", "set", "fraud", "1:5"), "VERSION=WEIGHT"),
    ]
    for argv, expect in cases:
        code, out, err = run(capsys, home, *argv)
        assert code == 1 and out == "", argv
        assert err.count("\n") == 1 and err.startswith("error: ") and expect in err, (argv, err)

    run(capsys, home, "models", "register", "fraud", str(files.v1))
    code, _, err = run(capsys, home, "models", "register", "fraud", str(files.wide))
    assert code == 1 and "signature does not match" in err and err.count("\n") == 1

    code, _, err = run(capsys, tmp_path / "elsewhere", "models", "list")
    assert code == 1 and "no registry" in err and "driftgate registry" in err
    code, _, err = run(capsys, home, "--registry", "127.0.0.1:1", "models", "list")
    assert code == 1 and "127.0.0.1:1 is not reachable" in err


def test_traffic_commands(registry: ThreadedRegistry, files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    home = registry.home
    run(capsys, home, "models", "register", "fraud", str(files.v1))
    run(capsys, home, "models", "register", "fraud", str(files.v2))
    code, out, err = run(capsys, home, "traffic", "set", "fraud", "1=95", "2=5")
    assert code == 1 and "no gateway has reported" in err

    registry.report("gw-a", "fraud", {1: "READY", 2: "LOADING"})
    code, _, err = run(capsys, home, "traffic", "set", "fraud", "1=95", "2=5")
    assert code == 1 and "version 2 is not READY on gateway gw-a" in err

    registry.report("gw-a", "fraud", {1: "READY", 2: "READY"})
    code, out, _ = run(capsys, home, "traffic", "set", "fraud", "1=95", "2=5", "--reason", "canary")
    assert code == 0 and "weights" in out and "95.0%" in out and "gw-a" in out
    code, out, _ = run(capsys, home, "traffic", "shadow", "fraud", "2", "--rate", "0.2", "--json")
    assert json.loads(out)["shadows"] == [{"version": 2, "rate": 0.2}]
    code, out, _ = run(capsys, home, "traffic", "show", "fraud", "--json")
    shown = json.loads(out)
    assert shown["mode"] == "weights" and [w["weight"] for w in shown["weights"]] == [95, 5]
    assert shown["applied"][0]["gateway_id"] == "gw-a"
    code, out, _ = run(capsys, home, "traffic", "shadow", "fraud", "2", "--rate", "0", "--json")
    assert json.loads(out)["shadows"] == []
    code, out, _ = run(capsys, home, "traffic", "latest", "fraud", "--json")
    assert json.loads(out)["mode"] == "latest"

    code, out, _ = run(capsys, home, "events", "fraud", "--limit", "4", "--json")
    events = json.loads(out)["events"]
    assert [e["kind"] for e in events] == ["traffic_changed", "shadow_removed", "shadow_set", "traffic_changed"]
    assert {e["actor"] for e in events} == {f"local-admin (claimed: {getpass.getuser()})"}
    assert json.loads(events[-1]["details_json"])["reason"] == "canary"
    code, out, _ = run(capsys, home, "events")
    assert code == 0 and "version_registered" in out


def test_drift_command(registry: ThreadedRegistry, files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    home = registry.home
    run(capsys, home, "models", "register", "fraud", str(files.v1), "--reference", str(files.reference))
    code, out, _ = run(capsys, home, "drift", "fraud", "--window", "5m", "--json")
    assert code == 0 and json.loads(out) == {"model": "fraud", "window_seconds": 300.0, "versions": []}
    code, out, _ = run(capsys, home, "drift", "fraud")
    assert code == 0 and "no drift data" in out
    code, _, err = run(capsys, home, "drift", "nope")
    assert code == 1 and "not registered" in err

    # a gateway reports one window: 40 rows, every column in its first inner bin
    import time

    import numpy as np

    from driftgate.proto.v1 import control_pb2 as pb
    from driftgate.proto.v1 import control_pb2_grpc

    counts = np.zeros((5, 11), np.int64)
    counts[:, 2] = 40
    window = pb.DriftWindow(
        model="fraud",
        version=1,
        window_id=int(time.time() // 10),
        window_seconds=10.0,
        rows=40,
        columns=5,
        bins=11,
        counts=counts.ravel().tolist(),
        sums=[0.0] * 5,
        sumsq=[0.0] * 5,
    )
    with local_channel(registry.server.address, registry.home) as channel:
        control_pb2_grpc.ControlStub(channel).ReportStatus(pb.GatewayReport(gateway_id="gw", drift=[window]))
    code, out, _ = run(capsys, home, "drift", "fraud", "--window", "1h")
    assert code == 0 and "fraud version 1: 40 rows in the last 3600 s" in out
    assert all(name in out for name in ("f0", "f3", "score", "psi", "out of range"))
    code, out, _ = run(capsys, home, "drift", "fraud", "--version", "1", "--json")
    (version,) = json.loads(out)["versions"]
    assert version["rows"] == 40 and [c["name"] for c in version["features"]] == ["f0", "f1", "f2", "f3"]
    assert version["score"]["psi"] > 0


def test_duration_argument() -> None:
    assert [duration(x) for x in ("30s", "5m", "1h", "7d", "90", "500ms")] == [30, 300, 3600, 7 * 86400, 90, 0.5]
    for bad in ("5x", "", "-1m", "0s"):
        with pytest.raises(argparse.ArgumentTypeError):
            duration(bad)
