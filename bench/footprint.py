"""What one gateway and one registry need, measured: RSS and CPU at idle and under load.

    python bench/footprint.py [--rates 250,1000] [--seconds 20] [--out bench/results/footprint-TS.json]

Starts ``driftgate registry`` (SQLite, the demo model) and one ``driftgate gateway`` as separate
processes on free loopback ports, then for each rate runs ``driftgate bench --rate R`` (open loop,
routing keys, the demo data) against the gateway and reads, from /proc, each server's CPU time
(user + system) over the measurement window, its RSS after it and its peak RSS (VmHWM), and the
sockets it holds. The load generator runs on the same host (on the 2-core dev box it competes for
the cores), so CPU is reported per 1,000 requests, which is what sizes a pod's request.

Run it under the CPU lock on a shared box: ``flock /tmp/driftgate-cpu.lock python bench/footprint.py``.
docs/deploy.md turns the result into the Kubernetes requests and limits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15 of stat)


def memory_kib(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    return {k: int(re.search(rf"^{k}:\s+(\d+) kB", status, re.M).group(1)) for k in ("VmRSS", "VmHWM")}  # type: ignore[union-attr]


def sockets(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            count += os.readlink(fd).startswith("socket:")
    return count


def threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def snapshot(pid: int) -> dict[str, float | int]:
    mem = memory_kib(pid)
    return {"cpu_s": cpu_seconds(pid), "rss_mib": round(mem["VmRSS"] / 1024, 1),
            "peak_rss_mib": round(mem["VmHWM"] / 1024, 1), "sockets": sockets(pid), "threads": threads(pid)}


def start(argv: list[str], pattern: str, env: dict[str, str], log: Path,
          timeout: float) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-m", "driftgate", *argv], stdout=subprocess.PIPE,
                               stderr=log.open("w"), stdin=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if m := re.search(pattern, line):
            return process, m.group(1)
    process.kill()
    raise RuntimeError(f"{argv} did not start: {log.read_text()[-2000:]}")


def wait_ready(address: str, timeout: float = 120) -> None:
    import grpc

    from driftgate.proto.inference import grpc_service_pb2 as pb
    from driftgate.proto.inference import grpc_service_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if stub.ServerReady(pb.ServerReadyRequest(), timeout=2).ready:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise TimeoutError(address)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="250,1000", help="open-loop request rates, comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window per rate")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = args.out or ROOT / "bench" / "results" / f"footprint-{stamp}.json"
    home = Path(tempfile.mkdtemp(prefix="driftgate-footprint-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs: list[subprocess.Popen[str]] = []
    result: dict[str, object] = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "started": stamp, "loadavg_at_start": os.getloadavg(), "cores": os.cpu_count(),
        "python": platform.python_version(), "rates": [],
    }
    try:
        registry, registry_addr = start(["--home", str(home), "registry", "--port", "0"],
                                        r"registry listening on (\S+)", env, home / "registry.log", 600)
        procs.append(registry)
        gateway, gateway_addr = start(["--home", str(home / "gw"), "--registry", registry_addr, "gateway",
                                       "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0"],
                                      r"gateway listening on (\S+)", env, home / "gateway.log", 300)
        procs.append(gateway)
        wait_ready(gateway_addr)
        time.sleep(5)
        result["idle"] = {"gateway": snapshot(gateway.pid), "registry": snapshot(registry.pid)}
        for rate in [int(r) for r in args.rates.split(",")]:
            warmup = 3.0
            bench = subprocess.Popen(
                [sys.executable, "-m", "driftgate", "bench", "--target", gateway_addr, "--model", "fraud",
                 "--rate", str(rate), "--duration", f"{args.seconds}s", "--warmup", f"{warmup}s",
                 "--routing-key-cardinality", "100000", "--json", "--quiet"],
                stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
            time.sleep(warmup)
            before = {"gateway": snapshot(gateway.pid), "registry": snapshot(registry.pid)}
            t0 = time.monotonic()
            time.sleep(args.seconds)
            after = {"gateway": snapshot(gateway.pid), "registry": snapshot(registry.pid)}
            elapsed = time.monotonic() - t0
            report = json.loads(bench.communicate(timeout=120)[0])
            served = float(report["throughput_rps"])
            row: dict[str, object] = {"rate": rate, "window_s": round(elapsed, 2), "bench": {
                k: report.get(k) for k in ("throughput_rps", "latency_us", "errors", "counted", "ok")}}
            for name in ("gateway", "registry"):
                cpu = after[name]["cpu_s"] - before[name]["cpu_s"]
                row[name] = {**after[name], "cpu_cores": round(cpu / elapsed, 3),
                             "cpu_ms_per_1000_req": round(1e6 * cpu / (served * elapsed), 1) if served else None}
            row["served_rps"] = served
            result["rates"].append(row)  # type: ignore[union-attr]
            print(json.dumps(row), flush=True)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(home, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
