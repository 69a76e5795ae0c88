"""``driftgate models batching``: set, show, turn off, refuse bad values; the registry stores the
setting with an audit event and hands it to gateways in WatchConfig."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import grpc
import pytest
from cli_helpers import Files, ThreadedRegistry, build_parser

from driftgate.proto.v1 import control_pb2 as pb
from driftgate.proto.v1 import control_pb2_grpc
from tests.auth_helpers import local_channel


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")


def run(capsys: pytest.CaptureFixture[str], home: Path, *argv: str) -> tuple[int, str, str]:
    args: argparse.Namespace = build_parser().parse_args(["--home", str(home), *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def _deployed(registry: ThreadedRegistry, model: str) -> pb.DeployedModel:
    with local_channel(registry.server.address, registry.home) as channel:
        stream = control_pb2_grpc.ControlStub(channel).WatchConfig(
            pb.WatchConfigRequest(gateway_id="gw-test"), timeout=10
        )
        config = next(iter(stream))
        stream.cancel()
    return next(m for m in config.models if m.name == model)


def test_set_show_and_turn_off(registry: ThreadedRegistry, files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    home = registry.home
    run(capsys, home, "models", "register", "fraud", str(files.v1), "--max-batch-size", "64")
    assert run(capsys, home, "models", "batching", "fraud") == (0, "fraud: batching off\n", "")
    assert not _deployed(registry, "fraud").settings.batching.enabled

    code, out, err = run(capsys, home, "models", "batching", "fraud", "--max-batch", "32", "--max-delay-us", "200")
    assert (code, out, err) == (0, "fraud: batching on(max_batch=32,max_delay_us=200)\n", "")
    code, out, _ = run(capsys, home, "models", "batching", "fraud", "--json")
    assert code == 0 and json.loads(out) == {"enabled": True, "max_batch_rows": 32, "max_queue_delay_us": 200}
    code, out, _ = run(capsys, home, "models", "show", "fraud")
    assert code == 0 and "batching=on(max_batch=32,max_delay_us=200)" in out
    code, out, _ = run(capsys, home, "models", "show", "fraud", "--json")
    assert json.loads(out)["settings"]["batching"]["max_batch_rows"] == 32
    deployed = _deployed(registry, "fraud")
    assert (deployed.settings.batching.enabled, deployed.settings.batching.max_batch_rows) == (True, 32)
    assert deployed.settings.batching.max_queue_delay_us == 200

    # A zero delay is a real setting (batch only what queued while the session ran).
    code, out, _ = run(capsys, home, "models", "batching", "fraud", "--max-batch", "64", "--max-delay-us", "0")
    assert code == 0 and "max_delay_us=0" in out
    # Other settings leave batching as it is.
    with local_channel(registry.server.address, registry.home) as channel:
        info = control_pb2_grpc.ControlStub(channel).UpdateModelSettings(
            pb.UpdateModelSettingsRequest(model="fraud", settings=pb.ModelSettings(alert_windows=5)), timeout=10
        )
    assert info.settings.batching.enabled and info.settings.batching.max_batch_rows == 64

    code, out, _ = run(capsys, home, "models", "batching", "fraud", "--off", "--json")
    assert code == 0 and json.loads(out) == {"enabled": False, "max_batch_rows": 0, "max_queue_delay_us": 0}
    assert not _deployed(registry, "fraud").settings.batching.enabled

    code, out, _ = run(capsys, home, "events", "fraud", "--limit", "5", "--json")
    events = [e for e in json.loads(out)["events"] if e["kind"] == "settings_updated"]
    messages = [e["message"] for e in events]
    assert any("batching off" in m for m in messages)
    assert any("batching max 32 rows, 200 us" in m for m in messages)
    details = json.loads(events[0]["details_json"])
    assert details["old"]["batching"]["enabled"] and not details["new"]["batching"]["enabled"]


def test_bad_values_are_refused(registry: ThreadedRegistry, files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    home = registry.home
    run(capsys, home, "models", "register", "fraud", str(files.v1), "--max-batch-size", "64")
    cases = [
        (("--max-batch", "128"), "above the model's max_batch_size 64"),
        (("--max-batch", "1"), "at least 2"),
        (("--max-batch", "32", "--max-delay-us", "-5"), "0 or more microseconds"),
        (("--max-batch", "32", "--max-delay-us", "5000000"), "between 0 and 1000000 microseconds"),
        (("--max-delay-us", "100"), "--max-batch is required"),
        (("--off", "--max-batch", "8"), "--off takes no"),
    ]
    for extra, expect in cases:
        code, out, err = run(capsys, home, "models", "batching", "fraud", *extra)
        assert code == 1 and out == "", extra
        assert err.startswith("error: ") and err.count("\n") == 1 and expect in err, (extra, err)
    code, _, err = run(capsys, home, "models", "batching", "nope", "--max-batch", "8")
    assert code == 1 and "'nope' is not registered" in err
    # Lowering max_batch_size under the batching limit is refused too.
    run(capsys, home, "models", "batching", "fraud", "--max-batch", "32")
    with local_channel(registry.server.address, registry.home) as channel, pytest.raises(grpc.RpcError) as refused:
        control_pb2_grpc.ControlStub(channel).UpdateModelSettings(
            pb.UpdateModelSettingsRequest(model="fraud", settings=pb.ModelSettings(max_batch_size=16)), timeout=10
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "above the model's max_batch_size 16" in (refused.value.details() or "")
    assert run(capsys, home, "models", "batching", "fraud")[1] == "fraud: batching on(max_batch=32,max_delay_us=100)\n"
