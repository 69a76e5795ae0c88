"""What TLS costs the data plane: perf_analyzer against one gateway in plaintext, TLS and mTLS,
side by side in one run, at concurrency 1 and 16, rounds interleaved.

    python bench/tls_ab.py HOME [--rounds 3] [--seconds 6] [--concurrency 1,16]

Each round starts one `driftgate gateway` per variant (the same code and settings, only the
transport differs) against one registry (plaintext on loopback: the control plane is not on the
request path), warms it, and measures it at each concurrency with perf_analyzer, which speaks TLS
through its `--ssl-grpc-*` options (one HTTP/2 connection, so the handshake is paid once; what is
measured is the per-request cost of encryption and TLS records). Certificates come from
scripts/make_dev_certs.sh (EC P-256, as docs/security.md issues them).

HOME is a driftgate home with a model "fraud" registered. Results print as a table and go to
bench/results/tls-<time>.json; bench/tls.md has the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from ab_gateway import cpu_seconds, start  # noqa: E402


def perf(pa: str, address: str, concurrency: int, seconds: float, tls: list[str]) -> dict[str, float]:
    import re

    out = subprocess.run(
        [pa, "-m", "fraud", "-u", address, "-i", "grpc", "-b", "1", "--concurrency-range", str(concurrency),
         "-p", str(int(seconds * 1000 / 3)), "-s", "1000", "--max-trials", "3", "--percentile=99", *tls],
        capture_output=True, text=True, timeout=seconds * 10 + 60,
    )

    def num(pattern: str) -> float:
        m = re.search(pattern, out.stdout)
        return float(m.group(1)) if m else float("nan")

    row = {
        "count": num(r"Request count: (\d+)"),
        "rps": num(r"Throughput: ([\d.]+) infer/sec"),
        "p50_us": num(r"p50 latency: (\d+)"),
        "p99_us": num(r"p99 latency: (\d+)"),
    }
    if row["count"] != row["count"]:  # NaN: perf_analyzer failed
        raise RuntimeError(f"perf_analyzer failed against {address}: {out.stdout[-1500:]}{out.stderr[-1500:]}")
    return row


def wait_ready(address: str, certs: Path, variant: str) -> None:
    import grpc

    from driftgate.proto.inference import grpc_service_pb2 as pb
    from driftgate.proto.inference import grpc_service_pb2_grpc as pbg
    from driftgate.settings import TlsSettings
    from driftgate.tls import channel

    tls = TlsSettings() if variant == "plaintext" else TlsSettings(
        ca=certs / "ca.pem", cert=certs / "client.pem", key=certs / "client.key")
    stub = pbg.GRPCInferenceServiceStub(channel(address, tls))
    for _ in range(600):
        try:
            if stub.ServerReady(pb.ServerReadyRequest(), timeout=1).ready:
                return
        except grpc.RpcError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{variant} gateway at {address} not ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--pa", default=str(ROOT / ".perf-venv" / "bin" / "pa"))
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]

    work = Path(tempfile.mkdtemp(prefix="tls-ab-"))
    certs = work / "certs"
    subprocess.run([str(ROOT / "scripts" / "make_dev_certs.sh"), str(certs)], check=True, capture_output=True)
    home = work / "home"
    shutil.copytree(args.home, home, ignore=shutil.ignore_patterns("registry.addr", "cache", "gateway"))
    base = [args.python, "-m", "driftgate", "--home", str(home)]
    quiet = {"DRIFTGATE_LOG_LEVEL": "WARNING"}
    serve_tls = ["--tls-cert", str(certs / "node.pem"), "--tls-key", str(certs / "node.key")]
    pa_tls = ["--ssl-grpc-use-ssl", "true", "--ssl-grpc-root-certifications-file", str(certs / "ca.pem")]
    variants = {
        "plaintext": ([], []),
        "TLS": (serve_tls, pa_tls),
        "mTLS": (
            [*serve_tls, "--tls-client-ca", str(certs / "ca.pem")],
            [*pa_tls, "--ssl-grpc-private-key-file", str(certs / "client.key"),
             "--ssl-grpc-certificate-chain-file", str(certs / "client.pem")],
        ),
    }
    registry, _ = start([*base, "registry", "--port", "0"], quiet, "registry listening on", work / "registry.log")
    results: dict[str, dict[str, list[dict[str, float]]]] = {
        v: {str(c): [] for c in concurrencies} for v in variants
    }
    try:
        for r in range(args.rounds):
            for variant, (server_args, pa_args) in variants.items():
                proc, address = start(
                    [*base, "gateway", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "-1", *server_args],
                    quiet, "gateway listening on", work / f"{variant}.log",
                )
                try:
                    wait_ready(address, certs, variant)
                    perf(args.pa, address, max(concurrencies), 2.0, pa_args)  # warm-up, discarded
                    for c in concurrencies:
                        before = cpu_seconds(proc.pid)
                        row = perf(args.pa, address, c, args.seconds, pa_args)
                        row["cpu_us_per_req"] = (cpu_seconds(proc.pid) - before) / row["count"] * 1e6
                        results[variant][str(c)].append(row)
                        print(f"round {r + 1} {variant:10s} c{c:<3d} {row['rps']:8.0f} req/s  "
                              f"p50 {row['p50_us']:6.0f} us  p99 {row['p99_us']:6.0f} us  "
                              f"gateway cpu {row['cpu_us_per_req']:5.0f} us/req", flush=True)
                finally:
                    proc.terminate()
                    proc.wait(30)
    finally:
        registry.terminate()
        registry.wait(30)

    summary: dict[str, dict[str, dict[str, float]]] = {}
    for c in map(str, concurrencies):
        print(f"\nconcurrency {c}: min-max over {args.rounds} rounds; ratio = mean against plaintext's mean")
        print("variant      req/s               p50 us          p99 us          cpu us/req      req/s ratio  "
              "p50 ratio")
        base_rps = base_p50 = 0.0
        for variant in variants:
            rows = results[variant][c]
            rps = [x["rps"] for x in rows]
            p50 = [x["p50_us"] for x in rows]
            p99 = [x["p99_us"] for x in rows]
            cpu = [x["cpu_us_per_req"] for x in rows]
            mean_rps, mean_p50 = sum(rps) / len(rps), sum(p50) / len(p50)
            base_rps, base_p50 = base_rps or mean_rps, base_p50 or mean_p50
            summary.setdefault(variant, {})[c] = {
                "rps_mean": mean_rps, "p50_us_mean": mean_p50, "p99_us_mean": sum(p99) / len(p99),
                "cpu_us_per_req_mean": sum(cpu) / len(cpu),
                "rps_ratio": mean_rps / base_rps, "p50_ratio": mean_p50 / base_p50,
            }
            print(f"{variant:10s} {min(rps):8.0f}-{max(rps):<8.0f}  {min(p50):6.0f}-{max(p50):<6.0f}  "
                  f"{min(p99):6.0f}-{max(p99):<6.0f}  {min(cpu):6.0f}-{max(cpu):<6.0f}  "
                  f"{mean_rps / base_rps:11.3f}  {mean_p50 / base_p50:9.3f}")
    out = ROOT / "bench" / "results" / f"tls-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"argv": sys.argv, "load": os.getloadavg(), "results": results,
                               "summary": summary}, indent=1))
    print(f"\n{out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
