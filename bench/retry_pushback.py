"""Does a grpc client with a retry policy wait the balancer's pushback? (bench/admission.md)

    python bench/retry_pushback.py HOME

Starts ``driftgate serve`` on HOME and HAProxy from deploy/haproxy/haproxy.cfg in front of it with its
request log on (DRIFTGATE_LB_LOG), holds every slot of the gateway (DRIFTGATE_GATEWAY_MAXCONN streams
kept open), and sends one ModelInfer from a grpc.aio client whose retry policy retries RESOURCE_EXHAUSTED
(5 attempts, its own backoff 10 ms doubling to at most 100 ms), then one from tritonclient's gRPC client
(tests/clients/triton_check.py, its own process) with the same policy in its channel_args. Every attempt
is refused; the gaps between them, from HAProxy's request dates (ms), show whose delay the client used.
With the shipped refusal (grpc-retry-pushback-ms: 100), then with a copy of the files without that line.
Writes bench/results/retry-pushback-<stamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from driftgate.proto.inference import grpc_service_pb2_grpc as pb_grpc  # noqa: E402
from tests.conftest import start_served, stop_served  # noqa: E402
from tests.gateway import test_balancer_admission as lb  # noqa: E402


def _seconds(stamp: str) -> float:
    return datetime.strptime(stamp, "%d/%b/%Y:%H:%M:%S.%f").timestamp()


async def _attempts(balancer: lb.Balancer, client: str) -> tuple[str, list[float]]:
    """Every slot held, one call with the retry policy from ``client`` (grpc: grpc.aio here; tritonclient:
    its gRPC client in a process of its own, the policy in its channel_args): its final status and the
    gaps (ms) between its attempts in HAProxy's log."""
    plain = grpc.aio.insecure_channel(balancer.address)
    retrying = grpc.aio.insecure_channel(balancer.address, options=[
        ("grpc.enable_retries", 1), ("grpc.service_config", lb.RETRY_ON_RESOURCE_EXHAUSTED)])
    release = asyncio.Event()
    try:
        streams = await lb.hold_every_slot(pb_grpc.GRPCInferenceServiceStub(plain), release)
        before = len(lb._logged(balancer.log, "grpc"))
        if client == "tritonclient":
            seen = await asyncio.to_thread(subprocess.run, [
                sys.executable, str(lb.TRITON_CHECK), balancer.address, "--infer-probe",
                "--service-config", lb.RETRY_ON_RESOURCE_EXHAUSTED], capture_output=True, text=True, timeout=120)
            final = str(json.loads(seen.stdout)["status"]).removeprefix("StatusCode.") if seen.returncode == 0 \
                else f"exit {seen.returncode}: {seen.stderr[-300:]}"
        else:
            try:
                await pb_grpc.GRPCInferenceServiceStub(retrying).ModelInfer(lb._request(3), timeout=30)
                final = "OK"
            except grpc.aio.AioRpcError as exc:
                final = exc.code().name
        release.set()
        for s in streams:
            await s.read()
        dates = [_seconds(f[0]) for f in lb._logged(balancer.log, "grpc")[before:]]
        return final, [round((b - a) * 1e3, 1) for a, b in itertools.pairwise(dates)]
    finally:
        release.set()
        await plain.close()
        await retrying.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("home", type=Path)
    home = ap.parse_args().home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    without = home / "without-pushback"
    without.mkdir(exist_ok=True)
    shipped = ROOT / "deploy" / "haproxy"
    shutil.copy(shipped / "haproxy.cfg", without / "haproxy.cfg")
    (without / "resource-exhausted.http").write_bytes(b"".join(
        line for line in (shipped / "resource-exhausted.http").read_bytes().splitlines(keepends=True)
        if not line.startswith(b"grpc-retry-pushback-ms")))
    served = start_served(home / "home")
    results: list[dict[str, object]] = []
    try:
        for name, cfg in (("shipped (pushback 100 ms)", shipped / "haproxy.cfg"),
                          ("without the pushback line", without / "haproxy.cfg")):
            lb.HAPROXY_CFG = cfg
            balancer = lb.start_balancer(served.gateway, home / f"haproxy-{len(results)}.log", request_log=True)
            try:
                lb.wait_until_ready(balancer)
                for client in ("grpc", "tritonclient"):
                    final, gaps = asyncio.run(_attempts(balancer, client))
                    results.append({"refusal": name, "client": client, "final_status": final,
                                    "attempts": len(gaps) + 1, "gaps_ms": gaps})
                    print(json.dumps(results[-1]), flush=True)
            finally:
                balancer.process.terminate()
                balancer.process.wait(30)
    finally:
        stop_served(served)
    out = ROOT / "bench" / "results" / f"retry-pushback-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"command": " ".join(sys.argv).replace(f"{ROOT}/", ""),
                               "retry_policy": json.loads(lb.RETRY_ON_RESOURCE_EXHAUSTED), "results": results},
                              indent=1))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
