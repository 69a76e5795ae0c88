"""tritonclient's gRPC client works against the gateway unchanged (run in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "clients" / "triton_check.py"


def test_tritonclient_end_to_end(served):
    result = subprocess.run([sys.executable, str(SCRIPT), served.gateway], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["live"] and seen["ready"] and seen["model_ready"]
    assert seen["server"]["name"] == "driftgate"
    assert seen["inputs"] == [["transaction", "FP32", [-1, 30]]]
    assert seen["max_batch_size"] > 0
    assert seen["instance_kinds"] == ["KIND_CPU"]  # served with --device cpu (the default)
    assert seen["infer"] == {"shape": [5, 2], "version": "1", "id": "t1", "rows_sum_to_one": True}
    assert seen["bad_shape"] == "StatusCode.INVALID_ARGUMENT"
    assert seen["stream_ids"] == ["s0", "s1", "s2"]
    assert "1" in seen["stats_versions"]
    assert ["fraud", "1", "READY"] in seen["index"]
