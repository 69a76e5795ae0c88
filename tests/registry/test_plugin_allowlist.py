"""Retrain plugins on an allowlist: a name not in the registry setting ``plugins`` is refused before anything is
imported (a module that writes a marker file when imported never runs), a listed one loads, a module found only in
the working directory is not imported even when listed, and a retrain naming an unlisted plugin is
INVALID_ARGUMENT (one line from the CLI)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from registry_helpers import Running, make_settings, register

from driftgate.errors import InvalidRequest
from driftgate.proto.v1 import rollout_pb2, rollout_pb2_grpc
from driftgate.registry.loop.plugins import TRAINERS, load_plugin
from driftgate.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _write_plugin(where: Path, module: str, marker: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    (where / f"{module}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
        "def fn(X, y, options, seed):\n    return 'trained'\n"
    )


def test_unlisted_plugin_is_refused_before_import_and_listed_one_loads(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "imported.marker"
    _write_plugin(tmp_path / "site", "dg_marker_plugin", marker)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(InvalidRequest, match=r"not allowed.*DRIFTGATE_REGISTRY__PLUGINS"):
        load_plugin("dg_marker_plugin:fn", TRAINERS, ["dg_marker_plugin:other"])
    assert not marker.exists()
    assert "dg_marker_plugin" not in sys.modules
    fn = load_plugin("dg_marker_plugin:fn", TRAINERS, ["dg_marker_plugin:fn"])
    assert marker.exists() and fn(None, None, {}, 0) == "trained"
    sys.modules.pop("dg_marker_plugin", None)
    assert load_plugin("demo", TRAINERS, []) is not None  # the built-ins need no listing


def test_module_only_in_working_directory_is_not_imported(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "cwd.marker"
    _write_plugin(tmp_path / "cwd", "dg_cwd_plugin", marker)
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.syspath_prepend(str(tmp_path / "cwd"))  # as python -m / the interactive '' would put it
    monkeypatch.syspath_prepend("")
    with pytest.raises(InvalidRequest, match="never from the working directory"):
        load_plugin("dg_cwd_plugin:fn", TRAINERS, ["dg_cwd_plugin:fn"])
    assert not marker.exists()
    assert "" in sys.path and str(tmp_path / "cwd") in sys.path  # sys.path is put back as it was


@pytest.fixture
def settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, plugins=["allowed_mod:fn"])


async def test_cli_retrain_with_unlisted_trainer_is_invalid_argument(registry: Running, models, tmp_path) -> None:  # type: ignore[no-untyped-def]
    await register(registry.stub, "fraud", models.v1)
    marker = tmp_path / "evil.marker"
    _write_plugin(tmp_path / "site", "evil", marker)
    home = registry.server.settings.home
    for argv in (["retrain", "fraud", "--trainer", "evil:fn"], ["retrain", "fraud", "--data-source", "evil:fn"],
                 ["retrain-policy", "fraud", "--trainer", "evil:fn"]):
        result = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "driftgate", "--home", str(home), *argv],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": f"{ROOT}:{tmp_path / 'site'}"},
        )
        assert result.returncode != 0, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "not allowed" in lines[0] and "DRIFTGATE_REGISTRY__PLUGINS" in lines[0], lines
    stub = rollout_pb2_grpc.RolloutsStub(registry.channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Retrain(rollout_pb2.RetrainRequest(model="fraud", trainer="evil:fn"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert not marker.exists()
