"""``driftgate tokens`` and the CLI with each role, against a running registry (parser + func in-process).

The registry wrote ``<home>/admin.token``; the CLI under that --home sends it without a flag. Other
roles come from ``tokens create`` and are sent with --token or DRIFTGATE_TOKEN.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from cli_helpers import Files, ThreadedRegistry, build_parser

from driftgate.cli._client import token_for


def run(capsys: pytest.CaptureFixture[str], home: Path, *argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["--home", str(home), *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def create(capsys: pytest.CaptureFixture[str], home: Path, name: str, role: str) -> str:
    code, out, err = run(capsys, home, "tokens", "create", name, "--role", role, "--json")
    assert code == 0, err
    created = json.loads(out)
    assert (created["name"], created["role"]) == (name, role) and created["token"].startswith("dg_")
    return str(created["token"])


def refused(err: str, status: str) -> bool:
    """One line on stderr naming the status and what to do."""
    return err.startswith(f"error: {status}: ") and err.count("\n") == 1 and "driftgate tokens create" in err


def test_tokens_and_roles(
    registry: ThreadedRegistry, files: Files, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    home = registry.home
    assert run(capsys, home, "models", "register", "fraud", str(files.v1))[0] == 0  # the home's admin token
    viewer = create(capsys, home, "dash", "viewer")
    operator = create(capsys, home, "ops", "operator")

    # list: names and roles, never a token or a hash
    code, out, _ = run(capsys, home, "tokens", "list", "--json")
    listed = json.loads(out)["tokens"]
    assert code == 0 and [(t["name"], t["role"]) for t in listed] == [
        ("dash", "viewer"), ("local-admin", "admin"), ("local-gateway", "gateway"), ("ops", "operator")]
    assert viewer not in out and operator not in out and "sha" not in out
    code, out, _ = run(capsys, home, "tokens", "list")
    assert code == 0 and "local-gateway" in out and viewer not in out
    code, out, err = run(capsys, home, "tokens", "create", "ops", "--role", "viewer")
    assert code == 1 and "exists" in err

    # viewer: reads, but no traffic change
    code, out, _ = run(capsys, home, "--token", viewer, "models", "list", "--json")
    assert code == 0 and json.loads(out)["models"][0]["name"] == "fraud"
    code, _, err = run(capsys, home, "--token", viewer, "traffic", "set", "fraud", "1=100")
    assert code == 1 and refused(err, "PERMISSION_DENIED") and "needs the operator" in err, err
    # operator (through the environment): traffic yes, registering no, tokens no
    registry.report("gw", "fraud", {1: "READY"})  # a gateway (its token) confirms the version is loaded
    monkeypatch.setenv("DRIFTGATE_TOKEN", operator)
    code, _, err = run(capsys, home, "traffic", "set", "fraud", "1=100", "--reason", "pin")
    assert code == 0, err
    code, _, err = run(capsys, home, "models", "register", "fraud", str(files.v2))
    assert code == 1 and refused(err, "PERMISSION_DENIED") and "needs the admin" in err, err
    code, _, err = run(capsys, home, "tokens", "list")
    assert code == 1 and refused(err, "PERMISSION_DENIED")
    monkeypatch.delenv("DRIFTGATE_TOKEN")

    # the audit log names the token; the user name the CLI sends is kept, marked as claimed
    code, out, _ = run(capsys, home, "events", "fraud", "--limit", "1", "--json")
    (event,) = json.loads(out)["events"]
    assert event["kind"] == "traffic_changed" and event["actor"].startswith("ops")
    assert event["actor"] == "ops" or "(claimed: " in event["actor"]
    code, out, _ = run(capsys, home, "events", "--limit", "20", "--json")
    kinds = {(e["kind"], e["actor"]) for e in json.loads(out)["events"]}
    assert ("token_created", "local-admin") in kinds

    # revoked: refused at once
    code, out, err = run(capsys, home, "tokens", "revoke", "ops", "--reason", "left the team")
    assert code == 0 and "revoked" in out, err
    code, _, err = run(capsys, home, "--token", operator, "models", "list")
    assert code == 1 and refused(err, "UNAUTHENTICATED") and "revoked" in err, err
    code, _, err = run(capsys, home, "tokens", "revoke", "ops")
    assert code == 1 and "no token named 'ops'" in err

    # no token at all: a home without admin.token, the registry named explicitly
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, _, err = run(capsys, elsewhere, "--registry", registry.server.address, "models", "list")
    assert code == 1 and refused(err, "UNAUTHENTICATED") and "no token" in err, err
    # a home's admin token is sent only to that home's registry
    admin = (home / "admin.token").read_text().strip()
    assert token_for(argparse.Namespace(home=home, registry="", token=None)) == admin
    assert token_for(argparse.Namespace(home=home, registry=registry.server.address, token=None)) == admin
    assert token_for(argparse.Namespace(home=home, registry="10.1.2.3:8005", token=None)) == ""


def test_admin_token_file_is_private(registry: ThreadedRegistry) -> None:
    home = registry.home
    assert home.stat().st_mode & 0o777 == 0o700
    for name in ("admin.token", "gateway.token", "registry.db"):
        assert (home / name).stat().st_mode & 0o777 == 0o600, name
