"""Admission on against off, side by side in one run (bench/admission.md).

    flock /tmp/driftgate-cpu.lock python bench/admission.py HOME [--limits 0,8,64] [--rounds 3]

Starts ``driftgate serve`` on HOME (registry, the demo model, and a gateway with the first limit),
then one more ``driftgate gateway`` per other limit on the same registry, each on its own port.
Each round loads every gateway in turn with ``driftgate bench`` (one load process): closed loop at
concurrency 256 (goodput: successes a second; p50/p99 of the admitted requests; errors by code),
then concurrency 1 (the uncontended p99). Scenarios: the demo model unbatched (scored inline), then
with adaptive batching on (--max-batch 32, --max-delay-us 2000), where admitted requests wait
across an await. Writes bench/results/admission-<stamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def start(
    argv: list[str], log: Path, pattern: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    out = log.open("w")
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=out, text=True, cwd=ROOT,
                         env={**os.environ, **(env or {})})
    assert p.stdout is not None
    address = ""
    for line in p.stdout:
        m = re.search(pattern, line)
        if m and not address:
            address = m.group(1)
        if line.startswith(("driftgate serving:", "gateway listening")) and address:
            break
    if not address:
        raise RuntimeError(f"{argv} did not start; see {log}")
    return p, address


def bench(target: str, concurrency: int, seconds: int) -> dict[str, object]:
    out = subprocess.run(
        [PY, "-m", "driftgate", "bench", "--target", target, "--model", "fraud", "--concurrency", str(concurrency),
         "--duration", f"{seconds}s", "--warmup", "2s", "--processes", "1", "--timeout", "30", "--json", "--quiet"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    r = json.loads(out.stdout)
    return {"ok_rps": round(r["ok"] / r["window_s"], 1), "p50_ms": r["latency_us"]["p50"] / 1e3,
            "p99_ms": r["latency_us"]["p99"] / 1e3, "errors": r["errors"],
            "client_cpu_us": r["client_cpu_us_per_request"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("home", type=Path)
    ap.add_argument("--limits", default="0,8,64")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    args = ap.parse_args()
    limits = [int(x) for x in args.limits.split(",")]
    home = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    procs = []
    gateways: dict[int, str] = {}
    serve, gw = start([PY, "-m", "driftgate", "--home", str(home), "serve", "--port", "0", "--metrics-port", "-1",
                       "--registry-port", "0", "--host", "127.0.0.1", "--max-inflight", str(limits[0])],
                      home / "serve.log", r"gateway listening on (\S+)")
    procs.append(serve)
    gateways[limits[0]] = gw
    for n in limits[1:]:
        p, gw = start([PY, "-m", "driftgate", "--home", str(home), "gateway", "--port", "0", "--metrics-port", "-1",
                       "--host", "127.0.0.1", "--max-inflight", str(n)], home / f"gateway-{n}.log",
                      r"gateway listening on (\S+)")
        procs.append(p)
        gateways[n] = gw
    time.sleep(5)  # every gateway READY (the demo model is loaded from the shared cache)
    results: dict[str, list[dict[str, object]]] = {}
    try:
        for scenario in ("inline", "batching"):
            if scenario == "batching":
                subprocess.run([PY, "-m", "driftgate", "--home", str(home), "models", "batching", "fraud",
                                "--max-batch", "32", "--max-delay-us", "2000"], check=True, cwd=ROOT)
                time.sleep(3)
            for rnd in range(args.rounds):
                for n, target in gateways.items():
                    for conc in (256, 1):
                        r = bench(target, conc, args.seconds if conc > 1 else max(4, args.seconds // 2))
                        r.update(scenario=scenario, round=rnd, max_inflight=n, concurrency=conc)
                        results.setdefault(scenario, []).append(r)
                        print(json.dumps(r), flush=True)
    finally:
        subprocess.run([PY, "-m", "driftgate", "--home", str(home), "models", "batching", "fraud", "--off"], cwd=ROOT,
                       capture_output=True)
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = ROOT / "bench" / "results" / f"admission-{stamp}.json"
    path.write_text(json.dumps({"command": " ".join(sys.argv), "limits": limits, "results": results}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
