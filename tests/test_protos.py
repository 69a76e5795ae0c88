"""The generated protobuf modules match protos/ (regenerate with scripts/gen_protos.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_modules_are_fresh():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_triton_field_numbers_that_clients_hard_code():
    from driftgate.proto.inference import grpc_service_pb2 as pb

    fields = {f.name: f.number for f in pb.ModelInferRequest.DESCRIPTOR.fields}
    assert fields == {"model_name": 1, "model_version": 2, "id": 3, "parameters": 4, "inputs": 5, "outputs": 6,
                      "raw_input_contents": 7}
    fields = {f.name: f.number for f in pb.ModelInferResponse.DESCRIPTOR.fields}
    assert fields["raw_output_contents"] == 6 and fields["outputs"] == 5
    assert pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name == "inference.GRPCInferenceService"
