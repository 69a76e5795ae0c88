"""A/B of gateway settings, side by side in one run: one `driftgate gateway` process per variant
(each with its own environment), against one registry, loaded in turn by Triton's perf_analyzer
at one concurrency, rounds interleaved. Reports throughput, p50/p99 and the gateway process's CPU
per request (from /proc), so a setting's cost shows even on a noisy host; and the registry's CPU
per request over the same window (the registry serves every variant, one at a time, so its CPU
during a variant's run is that variant's: reports, drift windows, scored rows).

    python bench/ab_gateway.py HOME "drift=" "nodrift=DRIFTGATE_DRIFT__ENABLED=false" [--rounds 3]
    python bench/ab_gateway.py HOME "bare=BARE=1" "driftgate="      # the bare server that scores, as a floor
    python bench/ab_gateway.py HOME "bare=BARE=noscore" "score=BARE=1" "driftgate="   # issue 2's ratio
    python bench/ab_gateway.py HOME "before=CWD=/path/to/old/checkout" "after="        # two versions of the code
    python bench/ab_gateway.py HOME "before=CWD=..." "after=" --rate 1500 --seconds 20  # open loop: tails

With ``--pause`` each gateway also serves its metrics, and the rows carry the event loop's time in
reports to the registry over the window (driftgate_report_pause_seconds: total per request, count,
and the bucket its longest pause fell in); versions without that metric show nothing there.

With ``--rate`` the load is open loop (`driftgate bench --rate`, from this checkout for every
variant: a fixed timetable, so a pause in the server shows in the latencies of every request due
during it, where a closed loop would wait it out), and the rows carry p99.9 and max as well.

HOME is a driftgate home with a model registered (the registry is started from it). Results
print as a table and go to bench/results/ab-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, thread: bool = False) -> float:
    """CPU time of a process (all its threads), or of its main thread alone (the event loop)."""
    path = f"/proc/{pid}/task/{pid}/stat" if thread else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def start(argv: list[str], env: dict[str, str], pattern: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    out = log.open("wb")
    # CWD=DIR in a variant runs it from another checkout (`python -m` imports from the working
    # directory first): "old=CWD=/path/to/worktree" against "new=" compares two versions of the code.
    env = dict(env)
    cwd = env.pop("CWD", None) or ROOT
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=cwd)
    for _ in range(600):
        m = re.search(pattern + r" (\S+)", log.read_text(errors="replace"))
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"{argv} did not start: {log.read_text()[-2000:]}")


def perf(pa: str, address: str, concurrency: int, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        [pa, "-m", "fraud", "-u", address, "-i", "grpc", "-b", "1", "--concurrency-range", str(concurrency),
         "-p", str(int(seconds * 1000 / 3)), "-s", "1000", "--max-trials", "3", "--percentile=99"],
        capture_output=True, text=True, timeout=seconds * 10 + 60,
    ).stdout
    def num(pattern: str) -> float:
        m = re.search(pattern, out)
        return float(m.group(1)) if m else float("nan")
    return {
        "count": num(r"Request count: (\d+)"),
        "rps": num(r"Throughput: ([\d.]+) infer/sec"),
        "p50_us": num(r"p50 latency: (\d+)"),
        "p99_us": num(r"p99 latency: (\d+)"),
    }


def pauses(log: Path) -> dict[str, tuple[float, float, list[tuple[float, float]]]] | None:
    """driftgate_report_pause_seconds by step: (sum, count, cumulative buckets), from the gateway's
    metrics endpoint (its address read from the gateway's log); None without one."""
    import urllib.request

    m = re.search(r"metrics on (\S+)", log.read_text(errors="replace"))
    if not m:
        return None
    text = urllib.request.urlopen(m.group(1), timeout=5).read().decode()
    out: dict[str, tuple[float, float, list[tuple[float, float]]]] = {}
    for step in ("build", "commit"):
        total = re.search(rf'driftgate_report_pause_seconds_sum{{step="{step}"}} (\S+)', text)
        count = re.search(rf'driftgate_report_pause_seconds_count{{step="{step}"}} (\S+)', text)
        buckets = [(float("inf") if le == "+Inf" else float(le), float(v)) for le, v in re.findall(
            rf'driftgate_report_pause_seconds_bucket{{le="([^"]+)",step="{step}"}} (\S+)', text)]
        if total and count:
            out[step] = (float(total.group(1)), float(count.group(1)), buckets)
    return out or None


def pause_row(before: dict | None, after: dict | None, requests: float) -> dict[str, float]:  # type: ignore[type-arg]
    """The window's pauses: us of event loop per request, how many, and the longest's bucket (ms)."""
    if not before or not after:
        return {}
    row: dict[str, float] = {}
    for step, (total, count, buckets) in after.items():
        total0, count0, buckets0 = before.get(step, (0.0, 0.0, [(le, 0.0) for le, _ in buckets]))
        row[f"pause_{step}_us_per_req"] = (total - total0) / requests * 1e6
        row[f"pause_{step}_count"] = count - count0
        grown = [le for (le, v), (_, v0) in zip(buckets, buckets0, strict=True) if v - v0 >= count - count0]
        row[f"pause_{step}_max_le_ms"] = min(grown) * 1e3 if grown and count > count0 else 0.0
    return row


def open_loop(python: str, address: str, rate: float, seconds: float) -> dict[str, float]:
    """One `driftgate bench` run at a fixed arrival rate; latencies in us, as perf() gives them."""
    out = subprocess.run(
        [python, "-m", "driftgate", "bench", "--target", address, "--model", "fraud", "--rate", f"{rate:g}",
         "--duration", f"{seconds:g}s", "--warmup", "0s", "--json", "--quiet"],
        capture_output=True, text=True, timeout=seconds * 5 + 120, cwd=ROOT, check=True,
    ).stdout
    doc = json.loads(out)
    lat = doc["latency_us"]
    return {
        "count": float(doc["counted"]),
        "rps": float(doc["throughput_rps"]),
        "errors": float(sum(doc["errors"].values())),
        "p50_us": lat.get("p50", float("nan")),
        "p99_us": lat.get("p99", float("nan")),
        "p99.9_us": lat.get("p99.9", float("nan")),
        "max_us": lat.get("max", float("nan")),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("variants", nargs="+", help="LABEL=ENV=VALUE[,ENV=VALUE...] (LABEL= for defaults)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pause", action="store_true", help="read the report pauses from each gateway's metrics")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop at this many requests/s (driftgate bench)")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--pa", default=str(ROOT / ".perf-venv" / "bin" / "pa"))
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ab-"))
    home = work / "home"
    shutil.copytree(args.home, home, ignore=shutil.ignore_patterns("registry.addr", "cache", "gateway"))
    base = [args.python, "-m", "driftgate", "--home", str(home)]
    quiet = {"DRIFTGATE_LOG_LEVEL": "WARNING"}
    registry, _ = start([*base, "registry", "--port", "0"], quiet, "registry listening on", work / "registry.log")
    variants = []
    for spec in args.variants:
        label, _, envs = spec.partition("=")
        env = dict(kv.split("=", 1) for kv in envs.split(",") if kv)
        variants.append((label or "default", env))
    results: dict[str, list[dict[str, float]]] = {label: [] for label, _ in variants}
    try:
        for r in range(args.rounds):
            for label, env in variants:
                if env.get("BARE"):  # the bare V2 server: BARE=1 scores the same artifact, BARE=noscore does not
                    onnx = next(p for p in (home / "artifacts").rglob("*") if p.is_file())
                    score = [] if env["BARE"] == "noscore" else ["--score", "--onnx", str(onnx)]
                    proc, address = start(
                        [args.python, "-m", "driftgate.bench.bare_server", "--port", "0", *score],
                        env, "listening on", work / f"{label}.log",
                    )
                else:
                    proc, address = start(
                        [*base, "gateway", "--host", "127.0.0.1", "--port", "0",
                         "--metrics-port", "0" if args.pause else "-1"],
                        {**quiet, **env}, "gateway listening on", work / f"{label}.log",
                    )
                try:
                    import grpc

                    from driftgate.proto.inference import grpc_service_pb2 as pb
                    from driftgate.proto.inference import grpc_service_pb2_grpc as pbg

                    stub = pbg.GRPCInferenceServiceStub(grpc.insecure_channel(address))
                    for _ in range(300):
                        try:
                            if stub.ServerReady(pb.ServerReadyRequest(), timeout=1).ready:
                                break
                        except grpc.RpcError:
                            pass
                        time.sleep(0.1)
                    perf(args.pa, address, args.concurrency, 2.0)  # warm-up, discarded
                    before, before_main = cpu_seconds(proc.pid), cpu_seconds(proc.pid, thread=True)
                    before_registry = cpu_seconds(registry.pid)
                    pause_before = pauses(work / f"{label}.log") if args.pause else None
                    if args.rate:
                        row = open_loop(args.python, address, args.rate, args.seconds)
                    else:
                        row = perf(args.pa, address, args.concurrency, args.seconds)
                    row["cpu_us_per_req"] = (cpu_seconds(proc.pid) - before) / row["count"] * 1e6
                    row["loop_cpu_us_per_req"] = (cpu_seconds(proc.pid, thread=True) - before_main) / row["count"] * 1e6
                    row["registry_cpu_us_per_req"] = (
                        (cpu_seconds(registry.pid) - before_registry) / row["count"] * 1e6
                    )
                    if args.pause:
                        row.update(pause_row(pause_before, pauses(work / f"{label}.log"), row["count"]))
                    results[label].append(row)
                    print(f"round {r + 1} {label:12s} {row['rps']:8.0f} req/s  p50 {row['p50_us']:6.0f} us  "
                          f"p99 {row['p99_us']:6.0f} us  cpu {row['cpu_us_per_req']:5.0f} us/req "
                          f"(event loop thread {row['loop_cpu_us_per_req']:5.0f})  "
                          f"registry cpu {row['registry_cpu_us_per_req']:5.1f} us/req"
                          + (f"  p99.9 {row['p99.9_us']:6.0f} us  max {row['max_us']:6.0f} us  "
                             f"errors {row['errors']:.0f}" if args.rate else "")
                          + "".join(f"  {step} pauses {row[f'pause_{step}_count']:.0f}, "
                                    f"{row[f'pause_{step}_us_per_req']:.2f} us/req, longest <= "
                                    f"{row[f'pause_{step}_max_le_ms']:g} ms"
                                    for step in ("build", "commit") if f"pause_{step}_count" in row), flush=True)
                finally:
                    proc.terminate()
                    proc.wait(30)
    finally:
        registry.terminate()
        registry.wait(30)
    print("\nvariant        req/s (min-max)    cpu us/req (min-max)  loop thread us/req  registry us/req  "
          "ratio of mean req/s")
    first = None
    for label, rows in results.items():
        rps = [x["rps"] for x in rows]
        cpu = [x["cpu_us_per_req"] for x in rows]
        loop = [x["loop_cpu_us_per_req"] for x in rows]
        reg = [x["registry_cpu_us_per_req"] for x in rows]
        mean = sum(rps) / len(rps)
        first = first or mean
        print(f"{label:12s} {min(rps):8.0f}-{max(rps):<8.0f} {min(cpu):6.0f}-{max(cpu):<6.0f}   "
              f"{min(loop):6.0f}-{max(loop):<6.0f}   {min(reg):5.1f}-{max(reg):<5.1f}   {mean / first:.3f}")
    if args.rate:
        print(f"\nopen loop at {args.rate:g} req/s, latency us (min-max over rounds)")
        print("variant        p50              p99              p99.9            max              errors")
        for label, rows in results.items():
            cells = []
            for key in ("p50_us", "p99_us", "p99.9_us", "max_us"):
                values = [x[key] for x in rows]
                cells.append(f"{min(values):7.0f}-{max(values):<8.0f}")
            print(f"{label:12s}   {' '.join(cells)} {sum(x['errors'] for x in rows):.0f}")
    out = ROOT / "bench" / "results" / f"ab-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"argv": sys.argv, "load": os.getloadavg(), "results": results}, indent=1))
    print(f"\n{out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
