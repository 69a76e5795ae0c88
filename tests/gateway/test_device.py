"""--device cuda on a machine whose onnxruntime has no CUDA provider fails at once, saying why."""

from __future__ import annotations

import subprocess
import sys

import onnxruntime as ort
import pytest


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="this onnxruntime has CUDA")
def test_cuda_without_the_provider_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "driftgate", "--home", str(tmp_path), "gateway", "--device", "cuda",
         "--host", "127.0.0.1", "--port", "0", "--metrics-port", "-1"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "CUDAExecutionProvider is not available" in result.stderr
    assert "--device cpu" in result.stderr
