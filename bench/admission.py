"""Admission on against off, side by side in one run (bench/admission.md).

    flock /tmp/driftgate-cpu.lock python bench/admission.py HOME [--limits 0,8,64] [--rounds 3]

Starts ``driftgate serve`` on HOME (registry, the demo model, and a gateway with the first limit),
then one more ``driftgate gateway`` per other limit on the same registry, each on its own port.
Each round loads every gateway in turn with ``driftgate bench`` (one load process): closed loop at
concurrency 256 (goodput: successes a second; p50/p99 of the admitted requests; errors by code),
then concurrency 1 (the uncontended p99). Scenarios: the demo model unbatched (scored inline), then
with adaptive batching on (--max-batch 32, --max-delay-us 2000), where admitted requests wait
across an await. Writes bench/results/admission-<stamp>.json.

    flock /tmp/driftgate-cpu.lock python bench/admission.py HOME --balancer [--lb-limit 4,8] [--rounds 2]

Admission at the balancer: ``driftgate serve`` (default --max-inflight) and HAProxy processes from
deploy/haproxy/haproxy.cfg (h2c) in front of it: one for each per-gateway limit (DRIFTGATE_GATEWAY_MAXCONN,
--lb-limit) and one without (a limit no load reaches). Each round loads, in turn, the gateway directly,
HAProxy without a limit and HAProxy with each limit: concurrency 256 with clients that resend at once after a
refusal, concurrency 256 with clients that back off (--backoff-ms, 0.5-1.5x), then concurrency 1 (the
uncontended p99 on the same path). The demo model, scored inline. Also records the CPU seconds HAProxy
and the gateway worker used in each run. Writes bench/results/admission-balancer-<stamp>.json.

    flock /tmp/driftgate-cpu.lock python bench/admission.py HOME --balancer --gateway-cpus 1 --client-cpus 0

The same with the cores split as separate hosts would have them: ``driftgate serve`` (its registry
and gateway worker) pinned to --gateway-cpus, HAProxy and every load client to --client-cpus
(``taskset -c``; the affinity each process ended up with is read back and recorded in the result).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def pinned(argv: list[str], cpus: str | None) -> list[str]:
    """``argv`` run on the CPUs ``cpus`` (taskset's list syntax; children inherit it), or as is."""
    return ["taskset", "-c", cpus, *argv] if cpus else argv


def cpus_allowed(pid: int) -> dict[str, str]:
    """The CPUs ``pid`` and each of its descendants may run on, by command line (read from /proc)."""
    seen: dict[str, str] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            cmd = cmd.replace(PY, "python").replace(f"{ROOT}/", "")  # no paths of this machine in results
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        m = re.search(r"^Cpus_allowed_list:\s*(\S+)", status, re.M)
        seen[f"{p} {cmd[:120]}"] = m.group(1) if m else "?"
    return seen


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


def bench(
    target: str, concurrency: int, seconds: int, backoff_ms: int = 0, cpus: str | None = None
) -> dict[str, object]:
    out = subprocess.run(
        pinned([PY, "-m", "driftgate", "bench", "--target", target, "--model", "fraud",
                "--concurrency", str(concurrency), "--duration", f"{seconds}s", "--warmup", "2s",
                "--processes", "1", "--timeout", "30", "--backoff", f"{backoff_ms}ms", "--json", "--quiet"], cpus),
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    r = json.loads(out.stdout)
    return {"ok_rps": round(r["ok"] / r["window_s"], 1), "p50_ms": r["latency_us"]["p50"] / 1e3,
            "p99_ms": r["latency_us"]["p99"] / 1e3, "errors": r["errors"],
            "client_cpu_us": r["client_cpu_us_per_request"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _haproxy(gateway: str, limit: int, log: Path, cpus: str | None) -> tuple[subprocess.Popen[bytes], str]:
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/local/sbin:/usr/sbin:/sbin")
    if haproxy is None:
        raise SystemExit("HAProxy is not installed (Debian package haproxy)")
    address = f"127.0.0.1:{_free_port()}"
    env = {k: v for k, v in os.environ.items() if k not in ("DRIFTGATE_LB_PEM", "DRIFTGATE_LB_CA",
                                                            "DRIFTGATE_GATEWAY_2")}
    env.update(DRIFTGATE_LB_BIND=address, DRIFTGATE_GATEWAY_1=gateway, DRIFTGATE_GATEWAY_MAXCONN=str(limit))
    with log.open("wb") as out:
        p = subprocess.Popen(pinned([haproxy, "-db", "-f", str(ROOT / "deploy" / "haproxy" / "haproxy.cfg")], cpus),
                             env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return p, address


def _cpu_list(cpus: str) -> set[int]:
    out: set[int] = set()
    for part in cpus.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def balancer_main(args: argparse.Namespace) -> None:
    home = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[Any]] = []
    if args.client_cpus:  # this driver too: it only waits, but keep it off the gateway's core
        os.sched_setaffinity(0, _cpu_list(args.client_cpus))
    serve, gw = start(pinned([PY, "-m", "driftgate", "--home", str(home), "serve", "--port", "0", "--metrics-port",
                              "-1", "--registry-port", "0", "--host", "127.0.0.1"], args.gateway_cpus),
                      home / "serve.log", r"gateway listening on (\S+)")
    procs.append(serve)
    off, off_address = _haproxy(gw, 1_000_000, home / "haproxy-off.log", args.client_cpus)  # a limit never reached
    procs.append(off)
    paths: dict[str, tuple[str, subprocess.Popen[bytes] | None]] = {
        "direct": (gw, None), "haproxy, no limit": (off_address, off)}
    limits = [int(x) for x in args.lb_limit.split(",")]
    for n in limits:
        on, on_address = _haproxy(gw, n, home / f"haproxy-{n}.log", args.client_cpus)
        procs.append(on)
        paths[f"haproxy, limit {n}"] = (on_address, on)
    time.sleep(5)  # the gateway READY, HAProxy listening
    affinity = {**cpus_allowed(serve.pid), **{k: v for p in procs[1:] for k, v in cpus_allowed(p.pid).items()}}
    print(json.dumps({"cpus_allowed": affinity}), flush=True)
    worker = next(int(k.split()[0]) for k in affinity if " gateway " in k)  # serve's gateway worker
    runs = []
    try:
        for rnd in range(args.rounds):
            for path, (target, lb) in paths.items():
                for conc, backoff in ((256, 0), (256, args.backoff_ms), (1, 0)):
                    cpu0, gw0 = (_cpu_s(lb.pid) if lb else 0.0), _cpu_s(worker)
                    r = bench(target, conc, args.seconds if conc > 1 else max(4, args.seconds // 2), backoff,
                              args.client_cpus)
                    r.update(round=rnd, path=path, concurrency=conc, backoff_ms=backoff,
                             haproxy_cpu_s=round(_cpu_s(lb.pid) - cpu0, 2) if lb else None,
                             gateway_cpu_s=round(_cpu_s(worker) - gw0, 2))
                    runs.append(r)
                    print(json.dumps(r), flush=True)
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = "admission-balancer-pinned" if args.gateway_cpus or args.client_cpus else "admission-balancer"
    out = ROOT / "bench" / "results" / f"{name}-{stamp}.json"
    out.write_text(json.dumps({"command": " ".join(sys.argv), "lb_limits": limits, "seconds": args.seconds,
                               "backoff_ms": args.backoff_ms, "gateway_cpus": args.gateway_cpus,
                               "client_cpus": args.client_cpus, "cpus_allowed": affinity, "results": runs},
                              indent=1))
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("home", type=Path)
    ap.add_argument("--limits", default="0,8,64")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--balancer", action="store_true", help="admission at HAProxy on against off (see above)")
    ap.add_argument("--lb-limit", default="8", help="--balancer: DRIFTGATE_GATEWAY_MAXCONN (list: one HAProxy each)")
    ap.add_argument("--backoff-ms", type=int, default=100, help="--balancer: the backing-off clients' wait")
    ap.add_argument("--gateway-cpus", help="--balancer: pin driftgate serve (registry, gateway) here (taskset -c)")
    ap.add_argument("--client-cpus", help="--balancer: pin HAProxy and the load clients here (taskset -c)")
    args = ap.parse_args()
    if args.balancer:
        balancer_main(args)
        return
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
