"""RSS of a gateway worker before and after a burst of large requests, with and without handing
freed memory back (bench/admission.md).

    flock /tmp/driftgate-cpu.lock python bench/admission_memory.py HOME [--mb 50] [--burst 8] [--rounds 2]

For each setting of ``gateway.trim_after_bytes`` (16 MiB, the default; 0: never trim), starts
``driftgate serve`` on HOME with the message limit raised to 256 MiB and the row limits raised, reads
the worker's VmRSS (/proc/PID/status) once it serves, sends ``--burst`` concurrent requests of
``--mb`` MB each (twice, one burst after the other), waits 3 s, and reads VmRSS again. Writes
bench/results/admission-memory-<stamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path

import grpc
import numpy as np

from driftgate.bench.servers import gateway_worker_pid, start_serve
from driftgate.proto.inference import grpc_service_pb2 as pb

ROOT = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024  # type: ignore[union-attr]


async def burst(target: str, rows: int, n: int) -> list[str]:
    x = np.random.default_rng(0).random((rows, 30), dtype=np.float32)
    request = pb.ModelInferRequest(model_name="fraud")
    request.inputs.add(name="transaction", datatype="FP32", shape=[rows, 30])
    request.raw_input_contents.append(x.tobytes())
    data = request.SerializeToString()
    del request, x
    options = [("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")

        async def one() -> str:
            try:
                await call(data, timeout=300)
                return "OK"
            except grpc.aio.AioRpcError as exc:
                return exc.code().name

        return await asyncio.gather(*(one() for _ in range(n)))


def run(home: Path, trim: int, mb: int, n: int) -> dict[str, object]:
    rows = mb * 1024 * 1024 // 120
    env = {**os.environ, "DRIFTGATE_GATEWAY__MAX_MESSAGE_BYTES": str(256 << 20),
           "DRIFTGATE_GATEWAY__MAX_BATCH_SIZE": str(4_000_000), "DRIFTGATE_GATEWAY__MAX_REQUEST_ROWS": str(4_000_000),
           "DRIFTGATE_GATEWAY__TRIM_AFTER_BYTES": str(trim), "DRIFTGATE_ACCURACY__BUFFER_ROWS": "100000"}
    env["DRIFTGATE_REGISTRY__DASHBOARD_PORT"] = "-1"
    server = start_serve(home, env=env, log=home / f"memory-{trim}.log")
    target = server.address
    try:
        time.sleep(5)
        pid = gateway_worker_pid(home)
        before = rss_mb(pid)
        codes = asyncio.run(burst(target, rows, n)) + asyncio.run(burst(target, rows, n))
        peak_after = rss_mb(pid)
        time.sleep(3)
        after = rss_mb(pid)
    finally:
        server.stop(120)
    return {"trim_after_bytes": trim, "request_mb": mb, "burst": n, "codes": codes, "rss_before_mb": round(before),
            "rss_right_after_mb": round(peak_after), "rss_3s_after_mb": round(after),
            "retained_mb": round(after - before)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("home", type=Path)
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--burst", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    home = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    results = []
    for _ in range(args.rounds):
        for trim in (16 << 20, 0):
            r = run(home, trim, args.mb, args.burst)
            print(json.dumps(r), flush=True)
            results.append(r)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = ROOT / "bench" / "results" / f"admission-memory-{stamp}.json"
    path.write_text(json.dumps({"command": " ".join(sys.argv), "results": results}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
