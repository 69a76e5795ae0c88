"""The Dockerfile's shape, checked without building it (no container registry is reachable here for the
base image; docs/deploy.md): two stages, the runtime stage on python:3.11-slim running as an
unprivileged user, the package installed without its dev extra, and a build context that carries the
package and nothing else."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib

from tests.deploy.manifests import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())  # join continued lines
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for word, rest in instructions():
        if word == "FROM":
            out.append([])
        if out:
            out[-1].append((word, rest))
    return out


def _args() -> dict[str, str]:
    return dict(rest.split("=", 1) for word, rest in instructions() if word == "ARG" and "=" in rest)


def test_multi_stage_on_python_slim() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2, "a build stage and a runtime stage"
    base = _args()["PYTHON_IMAGE"]
    assert base == "python:3.11-slim"
    names = []
    for stage in all_stages:
        image, *alias = stage[0][1].split()
        assert image == "${PYTHON_IMAGE}", f"every stage starts from the slim Python image, not {image}"
        names.append(alias[-1] if alias else "")
    runtime = all_stages[-1]
    copies = [rest for word, rest in runtime if word == "COPY"]
    assert copies and all(c.startswith(f"--from={names[0]} ") for c in copies), \
        "the runtime stage copies only the built environment, never the sources"
    assert not any(word == "RUN" and "pip" in rest for word, rest in runtime), "nothing is installed at run time"


def test_runtime_install_only() -> None:
    """`pip install .`: the project's dependencies, not the dev extra (test and lint tools)."""
    runs = [rest for word, rest in instructions() if word == "RUN" and "pip install" in rest]
    assert runs
    for run in runs:
        words = shlex.split(run.split("&&")[0])
        target = words[-1]
        assert target == ".", f"install the package itself, without extras: {run}"
        assert "-e" not in words and "--editable" not in words
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    assert dev and not any("[dev]" in r or "pytest" in r for r in runs)


def test_runs_as_an_unprivileged_user() -> None:
    runtime = stages()[-1]
    users = [rest for word, rest in runtime if word == "USER"]
    assert users, "the runtime stage sets USER"
    user = users[-1].split(":")[0]
    uid = _args()["UID"] if user == "${UID}" else user
    assert uid not in ("root", "0") and int(uid) >= 1000


def test_entrypoint_is_the_console_script() -> None:
    entry = [rest for word, rest in stages()[-1] if word == "ENTRYPOINT"]
    argv = json.loads(entry[-1])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert argv[0] in scripts
    exposed = {int(p) for word, rest in stages()[-1] if word == "EXPOSE" for p in rest.split()}
    assert exposed == {8001, 8002, 8005}  # the settings' default ports: gateway, metrics, registry


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins; `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes) or fnmatch.fnmatch(path, pattern + "/**"):
            ignored = not negate
    return ignored


def test_build_context_holds_what_the_build_copies_and_no_local_state() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    sources = [s for word, rest in instructions() if word == "COPY" and not rest.startswith("--from")
               for s in rest.split()[:-1]]  # every word but the destination
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not _ignored(source, patterns), f"{source} is copied by the Dockerfile but ignored"
    assert not _ignored("driftgate/gateway/server.py", patterns)
    for local in (".venv/bin/python", ".driftgate/registry.db", ".git/config", "tests/conftest.py",
                  "bench/results/x.json", "driftgate/__pycache__/x.pyc"):
        assert _ignored(local, patterns), f"{local} would be sent to the image build"
