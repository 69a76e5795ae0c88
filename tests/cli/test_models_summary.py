"""`models list` is a summary (versions and their states, traffic, gateways), as a table and in
--json; the full model (signature, reference profile, settings) stays in `models show --json`."""

from __future__ import annotations

import json

import pytest
from cli_helpers import Files, ThreadedRegistry

from driftgate.cli.main import main


def run(capsys: pytest.CaptureFixture[str], registry: ThreadedRegistry, *argv: str) -> tuple[int, str]:
    code = main(["--home", str(registry.home), *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return code, out


def test_list_summarises_and_show_has_everything(
    registry: ThreadedRegistry, files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in (files.v1, files.v2, files.v2):
        run(capsys, registry, "models", "register", "fraud", str(path), "--reference", str(files.reference),
            "--metric", "auc=0.9")
    run(capsys, registry, "models", "retire", "fraud", "1")
    registry.report("gw-a", "fraud", {2: "READY", 3: "READY"})
    run(capsys, registry, "traffic", "set", "fraud", "2=90", "3=10")
    run(capsys, registry, "traffic", "shadow", "fraud", "2", "--rate", "0.5")

    _, out = run(capsys, registry, "models", "list", "--json")
    listed = json.loads(out)
    assert len(out.splitlines()) < 80, "a summary, not every profile edge"
    (model,) = listed["models"]
    assert set(model) == {"name", "versions", "traffic", "lagging"}
    assert [(v["version"], v["state"]) for v in model["versions"]] == [(1, "retired"), (2, "active"), (3, "active")]
    v3 = model["versions"][2]
    assert set(v3) == {"version", "state", "created_at", "artifact_sha256", "metrics", "gateways"}
    assert v3["gateways"] == {"gw-a": "READY"} and v3["metrics"] == {"auc": 0.9} and len(v3["artifact_sha256"]) == 64
    assert model["traffic"] == {
        "mode": "weights",
        "weights": [{"version": 2, "weight": 90}, {"version": 3, "weight": 10}],
        "shadows": [{"version": 2, "rate": 0.5}],
    }
    assert model["lagging"] == ["gw-a"]  # it reported before the traffic changed the config's generation

    _, out = run(capsys, registry, "models", "list")
    lines = out.splitlines()
    assert lines[0] == "models" and lines[1].split() == ["model", "versions", "traffic", "loaded", "on", "lagging"]
    (row,) = lines[3:]
    for cell in ("fraud", "v2,v3 active; 1 retired", "v2=90% v3=10% shadow v2@50%", "v3: gw-a:READY"):
        assert cell in row, (cell, row)
    assert row.endswith("  gw-a"), row

    _, out = run(capsys, registry, "models", "show", "fraud", "--json")
    shown = json.loads(out)
    profile = shown["versions"][2]["profile"]
    assert profile and json.dumps(profile).count("edges") >= 4, "the reference profile is in show --json"
    assert shown["versions"][2]["signature"]["inputs"] and shown["settings"]["psi_major"] > 0
