"""--device cuda is honest: on an onnxruntime without a working CUDA provider the gateway and ``serve``
refuse at once, saying why, and a session that onnxruntime quietly put on the CPU when CUDA was asked for
is a load error naming what was asked and what the session got (the version is FAILED with that reason),
never a version that claims the GPU while it runs on the CPU. ModelConfig's instance group reports the
device the session really runs on (KIND_CPU here: tests/gateway/test_tritonclient.py reads it through
tritonclient)."""

from __future__ import annotations

import subprocess
import sys

import onnxruntime as ort
import pytest

from driftgate.errors import ModelLoadError
from driftgate.gateway.stats import VersionCounters
from driftgate.gateway.versions import load_version
from tests.gateway.live import tiny_onnx

no_cuda = pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(),
                             reason="this onnxruntime has CUDA")


@no_cuda
def test_cuda_without_the_provider_is_a_clear_error(tmp_path):  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, "-m", "driftgate", "--home", str(tmp_path), "gateway", "--device", "cuda",
         "--host", "127.0.0.1", "--port", "0", "--metrics-port", "-1"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "CUDAExecutionProvider is not available" in result.stderr
    assert "--device cpu" in result.stderr


@no_cuda
def test_serve_with_cuda_says_so_before_starting_anything(tmp_path):  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    result = subprocess.run(
        [sys.executable, "-m", "driftgate", "--home", str(home), "serve", "--device", "cuda", "--port", "0",
         "--registry-port", "0", "--metrics-port", "-1", "--dashboard-port", "-1"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.startswith("driftgate serve: --device cuda: onnxruntime's CUDAExecutionProvider is not "
                                    "available"), result.stdout
    assert "use --device cpu" in result.stdout
    assert not (home / "registry.db").exists()  # no registry started, no demo model trained


@no_cuda
# onnxruntime warns, then falls back to the CPU: that fall-back is what is under test
@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider' is not in available provider names")
def test_a_session_that_fell_back_to_the_cpu_is_a_load_error_naming_the_providers() -> None:
    with pytest.raises(ModelLoadError) as refused:
        load_version("m", 3, "sha", tiny_onnx(4), device="cuda", intra_op_threads=1, counters=VersionCounters())
    assert str(refused.value) == (
        "--device cuda: m version 3 asked onnxruntime for CUDAExecutionProvider, CPUExecutionProvider but the "
        "session's providers are CPUExecutionProvider (CUDAExecutionProvider did not start; onnxruntime's log "
        "says why)")


def test_a_cpu_session_is_on_the_cpu() -> None:
    lv = load_version("m", 1, "sha", tiny_onnx(4), device="cpu", intra_op_threads=1, counters=VersionCounters())
    assert lv.providers == ("CPUExecutionProvider",) and not lv.on_gpu
    lv.release()
