"""What the balancer tests share (test_balancer_admission.py, test_balancer_bulk_lane.py): a free local
port for HAProxy, the demo model's requests, and waiting until HAProxy passes a call on."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.proto.inference import grpc_service_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fraud_request(rows: int, seed: int) -> pb.ModelInferRequest:
    """A ModelInferRequest for the demo model: ``rows`` rows of 30 random float32 features."""
    x = np.random.default_rng(seed).random((rows, 30), dtype=np.float32)
    r = pb.ModelInferRequest(model_name="fraud")
    r.inputs.add(name="transaction", datatype="FP32", shape=[rows, 30])
    r.raw_input_contents.append(x.tobytes())
    return r


def wait_ready_through(address: str, process: subprocess.Popen[Any], log: Path, what: str = "HAProxy",
                       attempts: int = 600) -> None:
    """Until ``what`` (``process``) at ``address`` says the demo model is ready: HAProxy listens and passes
    a call on, or a gateway has the model from its registry (bounded, not a timing claim)."""
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for _ in range(attempts):
            assert process.poll() is None, f"{what} exited {process.returncode}:\n{log.read_text()[-4000:]}"
            try:
                if stub.ModelReady(pb.ModelReadyRequest(name="fraud"), timeout=2).ready:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise AssertionError(f"no ready answer from {what}:\n{log.read_text()[-4000:]}")
