"""The plain ``pip install driftgate`` is the serving runtime: what left it for the ``bench`` extra
(matplotlib, HdrHistogram) and what left the project (rich) is never imported by ``driftgate serve``
(supervisor, registry with its dashboard, gateway) nor by the operator CLI, and ``driftgate bench``
without the extra says how to install it in one line.

"Not installed" is made real in child processes: a ``sitecustomize`` on PYTHONPATH puts a finder in
front of ``sys.meta_path`` that refuses those modules with ImportError and writes down every attempt,
with its importer, so an import of ours hidden behind ``try/except ImportError`` is caught as well.
Libraries may probe for them (scikit-learn tries ``rich`` for progress bars and carries on
without it): only imports from driftgate's own modules fail the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np

from driftgate.proto.inference import grpc_service_pb2 as pb
from tests.conftest import ROOT, Served, start_served, stop_served

NOT_IN_RUNTIME = ("matplotlib", "hdrh", "rich")

SITECUSTOMIZE = f'''
import os
import sys

_BLOCKED = {NOT_IN_RUNTIME!r}
_LOG = os.environ.get("SLIM_TEST_IMPORT_LOG", "")


class _NotInstalled:
    """Modules of an extra that this environment pretends not to have."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in _BLOCKED:
            return None
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename.startswith("<frozen"):
            frame = frame.f_back  # importlib's own frames: the importer is the first one outside them
        if _LOG and frame is not None:
            with open(_LOG, "a") as log:
                log.write(f"{{name}} imported by {{frame.f_code.co_filename}}:{{frame.f_lineno}}\\n")
        raise ImportError(f"No module named {{name!r}} (hidden by tests/test_slim_runtime.py)")


sys.meta_path.insert(0, _NotInstalled())
'''


def _env(blocker: Path, log: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(blocker), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "SLIM_TEST_IMPORT_LOG": str(log)}


def _driftgate(served: Served, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "driftgate", "--home", str(served.home), *argv],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


def test_the_extras_are_not_runtime_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"]).lower()
    for name in ("matplotlib", "hdrhistogram", "rich"):
        assert name not in runtime, f"{name} is back in the plain install"
    extras = project["optional-dependencies"]
    assert any(d.startswith("hdrhistogram") for d in extras["bench"])
    assert any(d.startswith("matplotlib") for d in extras["bench"])
    assert "driftgate[bench]" in extras["dev"], "make test installs .[dev]: it must bring the bench extra"


def test_serve_and_the_cli_run_without_the_extras(tmp_path: Path) -> None:
    blocker = tmp_path / "not-installed"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(SITECUSTOMIZE)
    serve_log, cli_log, bench_log = tmp_path / "serve.imports", tmp_path / "cli.imports", tmp_path / "bench.imports"

    # the blocker works (else this test would prove nothing)
    probe = subprocess.run([sys.executable, "-c", "import matplotlib"], capture_output=True, text=True,
                           env=_env(blocker, tmp_path / "probe.imports"), timeout=60)
    assert probe.returncode == 1 and "hidden by tests/test_slim_runtime.py" in probe.stderr, probe.stderr

    # serve with its dashboard on (--dashboard-port 0): registry, gateway and demo model in child processes
    served = start_served(tmp_path / "home", env={k: v for k, v in _env(blocker, serve_log).items()
                                                  if k in ("PYTHONPATH", "SLIM_TEST_IMPORT_LOG")})
    try:
        x = np.random.default_rng(3).standard_normal((1, 30)).astype("<f4")
        request = pb.ModelInferRequest(model_name="fraud")
        request.inputs.add(name="transaction", datatype="FP32", shape=[1, 30])
        request.raw_input_contents.append(x.tobytes())
        response = served.stub().ModelInfer(request, timeout=30)
        assert response.model_version == "1" and response.outputs

        listed = _driftgate(served, _env(blocker, cli_log), "models", "list")
        assert listed.returncode == 0, listed.stderr
        assert "fraud" in listed.stdout and "latest" in listed.stdout

        bench = _driftgate(served, _env(blocker, bench_log), "bench", "--target", served.gateway,
                           "--duration", "1s", "--warmup", "0s")
        assert bench.returncode == 2, (bench.stdout, bench.stderr)
        assert bench.stderr.strip().splitlines() == [
            "error: driftgate bench needs the bench extra (hdrh is not installed): pip install 'driftgate[bench]'"
        ], bench.stderr
        assert bench.stdout == ""
    finally:
        code = stop_served(served)
    assert code == 0, (served.home / "serve.log").read_text()[-3000:]
    for log in (serve_log, cli_log):
        tried = log.read_text().splitlines() if log.exists() else []
        ours = [line for line in tried if f"{os.sep}driftgate{os.sep}" in line.partition(" imported by ")[2]]
        assert ours == [], f"the plain runtime imported an extra's module: {ours}"
