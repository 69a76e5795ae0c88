"""``driftgate feedback`` and ``driftgate accuracy`` against a running registry (parser + func in-process)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import Files, ThreadedRegistry

from driftgate.cli import accuracy, feedback
from driftgate.cli._client import CliError
from driftgate.cli.feedback import read_labels_csv
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.registry.catalogue.records import RegisterRequest
from tests.auth_helpers import local_channel


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")


def run(capsys: pytest.CaptureFixture[str], home: Path, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="driftgate")
    parser.add_argument("--home", type=Path, default=Path(".driftgate"))
    parser.add_argument("--registry", default="")
    parser.add_argument("--token", default=None)
    sub = parser.add_subparsers(dest="command", required=True)
    feedback.register(sub)
    accuracy.register(sub)
    args = parser.parse_args(["--home", str(home), *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,label\na,1\nb,2\n", "line 3: label must be 0 or 1, got '2'"),
        ("id,label\na,1\n,0\n", "line 3: empty id"),
        ("id,label,labelled_at\na,1,\nb,0,yesterday\n", "line 3: labelled_at must be"),
        ("id,label\na,1,9\n", "line 2: 3 fields, the header has 2"),
        ("ident,label\na,1\n", "line 1: the header needs the columns id and label (missing id)"),
        ("id,label\n", "has no labels"),
        ("", "is empty"),
    ],
)
def test_malformed_csv_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(CliError) as info:
        read_labels_csv(path)
    assert message in str(info.value)


def test_csv_times(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("label,id,labelled_at\n1,a,1700000000\n0,b,2023-11-14T22:13:20Z\n0,c,\n")
    got = read_labels_csv(path)
    assert got.ids == ["a", "b", "c"] and got.labels == [1, 0, 0]
    assert got.labelled_at == [1.7e9, 1.7e9, 0.0]


def test_feedback_then_accuracy(registry: ThreadedRegistry, files: Files, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = registry.server
    server.catalogue.register_version(RegisterRequest(model="fraud", onnx=files.v1.read_bytes(), actor="t"))
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.25).astype(int)
    s = np.clip(0.2 + 0.5 * y + rng.normal(0, 0.2, 400), 0, 1)
    ids = [f"r{i}" for i in range(400)]
    import time

    from driftgate.proto.v1 import control_pb2_grpc

    with local_channel(server.address, registry.home) as channel:  # act as a gateway: ship the scored rows
        control_pb2_grpc.ControlStub(channel).ReportStatus(
            pb.GatewayReport(
                gateway_id="g1",
                scored=[pb.ScoredRecords(model="fraud", version=1, ids=ids, scores=s.tolist(), at=[time.time()] * 400)],
            ),
            timeout=10,
        )
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\nr0,1\nr1,x\n")
    code, out, err = run(capsys, registry.home, "feedback", "fraud", "--file", str(bad))
    assert code == 1 and "line 3" in err
    code, out, _ = run(capsys, registry.home, "accuracy", "fraud", "--json")
    assert json.loads(out)["versions"][0]["labelled"] == 0  # nothing applied

    good = tmp_path / "labels.csv"
    good.write_text("id,label\n" + "".join(f"{i},{v}\n" for i, v in zip(ids, y, strict=True)) + "r0,1\nnope,0\n")
    code, out, _ = run(capsys, registry.home, "feedback", "fraud", "--file", str(good), "--json")
    assert code == 0
    assert {k: json.loads(out)[k] for k in ("joined", "held", "unknown", "duplicates")} == {
        "joined": 400, "held": 1, "unknown": 0, "duplicates": 1
    }
    code, out, _ = run(capsys, registry.home, "accuracy", "fraud", "--window", "1h", "--json")
    (v1,) = json.loads(out)["versions"]
    from sklearn.metrics import roc_auc_score

    assert v1["labelled"] == 400 and v1["status"] in ("ok", "degraded")
    assert v1["auc"] == pytest.approx(roc_auc_score(y, s.astype(np.float32)), rel=1e-6)
    code, out, _ = run(capsys, registry.home, "accuracy", "fraud", "--set", "threshold=0.3", "--set", "min_labels=10")
    assert code == 0 and "threshold 0.3" in out and "fraud" in out
    code, out, err = run(capsys, registry.home, "accuracy", "nope")
    assert code == 1 and "nope" in err
