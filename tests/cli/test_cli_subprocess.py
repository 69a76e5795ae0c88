"""`driftgate registry` and the operator commands as real processes, the way an operator runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from cli_helpers import Files

ROOT = Path(__file__).resolve().parents[2]


def driftgate(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftgate", "--home", str(home), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_registry_process_and_cli(tmp_path: Path, files: Files) -> None:
    home = tmp_path / "home"
    process = subprocess.Popen(
        [sys.executable, "-m", "driftgate", "--home", str(home), "registry", "--port", "0", "--no-demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("registry listening on 127.0.0.1:"), line + (
            process.stderr.read() if process.stderr else ""
        )
        address = line.split()[3]  # "registry listening on HOST:PORT (plaintext)"
        assert (home / "registry.addr").read_text() == address

        registered = driftgate(home, "models", "register", "fraud", str(files.v1), "--reference", str(files.reference))
        assert (registered.returncode, registered.stdout) == (0, "1\n"), registered.stderr
        listed = driftgate(home, "--registry", address, "models", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [m["name"] for m in json.loads(listed.stdout)["models"]] == ["fraud"]
        refused = driftgate(home, "traffic", "set", "fraud", "1=100")
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr.strip().startswith("error: no gateway has reported")
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    assert code == 0, process.stderr.read() if process.stderr else ""
    assert not (home / "registry.addr").exists()
