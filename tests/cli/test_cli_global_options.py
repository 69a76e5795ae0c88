"""The global options (--home, --registry, --token, --ca/--cert/--key) before or after the command,
and the later one winning when both are given; through the CLI's own main()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import Files, ThreadedRegistry

from driftgate.cli.main import build_parser, main
from tests.auth_helpers import admin_token


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_command_takes_them_after_its_name() -> None:
    parser = build_parser()
    for argv in (["serve", "--home", "H"], ["registry", "--home", "H"], ["gateway", "--home", "H"],
                 ["bench", "floors", "--home", "H"], ["tokens", "list", "--home", "H"]):
        assert parser.parse_args(argv).home == Path("H"), argv
    args = parser.parse_args(["models", "list", "--registry", "a:1", "--token", "T", "--json", "--ca", "ca.pem",
                              "--cert", "c.pem", "--key", "k.pem"])
    assert (args.registry, args.token, args.json) == ("a:1", "T", True)
    assert (args.ca, args.cert, args.key) == (Path("ca.pem"), Path("c.pem"), Path("k.pem"))
    # before, after, both (the later wins), neither
    assert parser.parse_args(["--home", "A", "serve"]).home == Path("A")
    assert parser.parse_args(["--home", "A", "serve", "--home", "B"]).home == Path("B")
    assert parser.parse_args(["serve"]).home == Path(".driftgate")
    assert parser.parse_args(["--token", "A", "traffic", "show", "fraud", "--token", "B"]).token == "B"
    assert parser.parse_args(["--token", "A", "traffic", "show", "fraud"]).token == "A"


def test_help_lists_them_once_under_their_own_heading(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["models", "list", "--help"])
    out = capsys.readouterr().out
    assert "global options (also accepted before the command):" in out
    for option in ("--home", "--registry HOST:PORT", "--token TOKEN", "--ca FILE", "--cert FILE", "--key FILE"):
        assert out.count(f"  {option}") == 1, (option, out)


def test_they_reach_the_registry_from_after_the_command(
    registry: ThreadedRegistry, files: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home, address = registry.home, registry.server.address
    elsewhere = tmp_path / "elsewhere"  # no registry.addr, no admin.token: everything comes from the options
    code, out, err = run(capsys, "models", "register", "fraud", str(files.v1), "--home", str(home))
    assert (code, out, err) == (0, "1\n", "")

    code, out, err = run(capsys, "models", "list", "--json", "--home", str(elsewhere), "--registry", address,
                         "--token", admin_token(home))
    assert code == 0, err
    assert [m["name"] for m in json.loads(out)["models"]] == ["fraud"]

    # the other services' commands too (one connect() for the Control, Rollouts and Feedback stubs)
    code, out, err = run(capsys, "rollout", "status", "fraud", "--json", "--home", str(home))
    assert code == 0 and json.loads(out)["model"] == "fraud", err
    code, out, err = run(capsys, "accuracy", "fraud", "--json", "--home", str(home))
    assert code == 0 and json.loads(out)["model"] == "fraud", err

    # given in both places, the one after the command wins
    code, out, err = run(capsys, "--registry", "127.0.0.1:1", "--home", str(home), "models", "list",
                         "--registry", address)
    assert code == 0 and "fraud" in out, err
    code, out, err = run(capsys, "--registry", address, "--home", str(home), "models", "list",
                         "--registry", "127.0.0.1:1")
    assert code == 1 and "127.0.0.1:1 is not reachable" in err
    code, out, err = run(capsys, "--token", "not-a-token", "--home", str(home), "models", "list",
                         "--token", admin_token(home))
    assert code == 0, err
    code, out, err = run(capsys, "--token", admin_token(home), "--home", str(home), "models", "list",
                         "--token", "not-a-token")
    assert code == 1 and err.startswith("error: UNAUTHENTICATED"), err

    # TLS options after the command are the ones used (this CA file does not exist)
    code, out, err = run(capsys, "--home", str(home), "models", "list", "--ca", str(tmp_path / "no-ca.pem"))
    assert code == 1 and out == "" and "no-ca.pem" in err and err.count("\n") == 1, err
