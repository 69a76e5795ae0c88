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
and the gateway worker used in each run. Each HAProxy runs twice, without and with its per-request log
(DRIFTGATE_LB_LOG=stdout, to HOME/haproxy-*-requests.log; --lb-log on|off for one of them): for the
logged ones, HAProxy's own timing of the admitted and the refused requests of each load (%Ta, %Tr, in the
client's measured window) goes beside the client's. Prints a table; writes
bench/results/admission-balancer-<stamp>.json.

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
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from driftgate.bench.servers import cpu_list, free_address, haproxy_command

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
WARMUP_S = 2.0  # each load's warm-up (not measured by the client, nor in HAProxy's timing below)


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
                "--concurrency", str(concurrency), "--duration", f"{seconds}s",
                "--processes", "1", "--timeout", "30", "--backoff", f"{backoff_ms}ms", "--warmup", f"{WARMUP_S:g}s",
                "--json", "--quiet"], cpus),
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    r = json.loads(out.stdout)
    return {"ok_rps": round(r["ok"] / r["window_s"], 1), "p50_ms": r["latency_us"]["p50"] / 1e3,
            "p99_ms": r["latency_us"]["p99"] / 1e3, "errors": r["errors"],
            "client_cpu_us": r["client_cpu_us_per_request"]}


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _copy(source: IO[bytes], to: Path) -> None:
    """Copy a pipe to a file as it comes (a thread; ends at the pipe's end)."""
    with to.open("wb") as out:
        while chunk := os.read(source.fileno(), 1 << 16):
            out.write(chunk)
            out.flush()


def _haproxy(
    gateway: str, limit: int, log: Path, cpus: str | None, requests_log: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """HAProxy from the shipped file in front of ``gateway``; with ``requests_log``, its per-request log
    (DRIFTGATE_LB_LOG=stdout) is copied to that file and its own messages go to ``log``. Its stdout is a
    pipe, as under a container runtime: written straight to a file on this box's ext4, the log raised
    HAProxy's uncontended p99 by ~3.5 ms (bench/admission.md), writes that block now and then."""
    address = free_address()
    env = {k: v for k, v in os.environ.items() if k not in ("DRIFTGATE_LB_PEM", "DRIFTGATE_LB_CA",
                                                            "DRIFTGATE_GATEWAY_2", "DRIFTGATE_LB_LOG",
                                                            "DRIFTGATE_LB_LOG_FORMAT")}
    env.update(DRIFTGATE_LB_BIND=address, DRIFTGATE_GATEWAY_1=gateway, DRIFTGATE_GATEWAY_MAXCONN=str(limit))
    if requests_log is not None:
        env["DRIFTGATE_LB_LOG"] = "stdout"
    argv = pinned(haproxy_command(ROOT / "deploy" / "haproxy" / "haproxy.cfg"), cpus)
    with log.open("wb") as err:
        if requests_log is None:
            p = subprocess.Popen(argv, env=env, stdout=err, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        else:
            p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
            assert p.stdout is not None
            threading.Thread(target=_copy, args=(p.stdout, requests_log), daemon=True).start()
    return p, address


def _lb_line(line: str, seconds: dict[str, float]) -> tuple[float, str, int, int, str] | None:
    """(request date in s, backend, %Tr, %Ta, path) of one line of the shipped log-format, or None."""
    f = line.split()
    if len(f) != 14:
        return None
    stamp = f[0]  # 30/Nov/2026:07:52:13.102 (HAProxy's local time; only differences are used)
    base = seconds.get(stamp[:20])
    if base is None:
        base = seconds[stamp[:20]] = datetime.strptime(stamp[:20], "%d/%b/%Y:%H:%M:%S").timestamp()
    return base + int(stamp[21:24]) / 1e3, f[1], int(f[7]), int(f[8]), f[13]


def _pct(values: list[int], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return float(values[min(len(values) - 1, int(q * len(values)))])


def lb_timing(text: str, warmup_s: float, seconds: float) -> dict[str, object]:
    """HAProxy's view of one load (the lines it logged during it): ModelInfer requests whose request date
    falls in the client's measured window (the first logged request + ``warmup_s``, for ``seconds``),
    split into admitted (answered by the gateways backend) and refused (answered by HAProxy itself: the
    frontend ``grpc``, no server). %Ta: HAProxy's time from the request to the end of the response; %Tr:
    from sending it to the gateway to the gateway's response headers (ms, HAProxy's resolution)."""
    cache: dict[str, float] = {}
    lines = [x for x in (_lb_line(line, cache) for line in text.splitlines()) if x and x[4].endswith("/ModelInfer")]
    if not lines:
        return {"logged": 0}
    t0 = min(x[0] for x in lines) + warmup_s
    window = [x for x in lines if t0 <= x[0] < t0 + seconds]
    out: dict[str, object] = {"logged": len(lines)}
    for kind, rows in (("admitted", [x for x in window if x[1] == "gateways"]),
                       ("refused", [x for x in window if x[1] == "grpc"])):
        ta, tr = [x[3] for x in rows], [x[2] for x in rows if x[2] >= 0]
        out[kind] = {"n": len(rows), "ta_p50_ms": _pct(ta, 0.5), "ta_p99_ms": _pct(ta, 0.99),
                     "tr_p50_ms": _pct(tr, 0.5), "tr_p99_ms": _pct(tr, 0.99)}
    return out


def balancer_main(args: argparse.Namespace) -> None:
    home = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[Any]] = []
    if args.client_cpus:  # this driver too: it only waits, but keep it off the gateway's core
        os.sched_setaffinity(0, cpu_list(args.client_cpus))
    serve, gw = start(pinned([PY, "-m", "driftgate", "--home", str(home), "serve", "--port", "0", "--metrics-port",
                              "-1", "--registry-port", "0", "--host", "127.0.0.1"], args.gateway_cpus),
                      home / "serve.log", r"gateway listening on (\S+)")
    procs.append(serve)
    paths: dict[str, tuple[str, subprocess.Popen[bytes] | None, Path | None]] = {"direct": (gw, None, None)}
    limits = [int(x) for x in args.lb_limit.split(",")]
    logged = {"off": [False], "on": [True], "both": [False, True]}[args.lb_log]
    for n in [0, *limits]:  # 0: a limit never reached
        for log in logged:
            name = f"haproxy-{n or 'off'}{'-logged' if log else ''}"
            proxy, proxy_address = _haproxy(gw, n or 1_000_000, home / f"{name}.log", args.client_cpus,
                                            home / f"{name}-requests.log" if log else None)
            procs.append(proxy)
            paths[f"haproxy, {f'limit {n}' if n else 'no limit'}{', logged' if log else ''}"] = (
                proxy_address, proxy, home / f"{name}-requests.log" if log else None)
    time.sleep(5)  # the gateway READY, HAProxy listening
    affinity = {**cpus_allowed(serve.pid), **{k: v for p in procs[1:] for k, v in cpus_allowed(p.pid).items()}}
    print(json.dumps({"cpus_allowed": affinity}), flush=True)
    worker = next(int(k.split()[0]) for k in affinity if " gateway " in k)  # serve's gateway worker
    runs = []
    try:
        for rnd in range(args.rounds):
            for path, (target, lb, requests_log) in paths.items():
                for conc, backoff in ((256, 0), (256, args.backoff_ms), (1, 0)):
                    cpu0, gw0 = (_cpu_s(lb.pid) if lb else 0.0), _cpu_s(worker)
                    offset = requests_log.stat().st_size if requests_log else 0
                    seconds = args.seconds if conc > 1 else max(4, args.seconds // 2)
                    r = bench(target, conc, seconds, backoff, args.client_cpus)
                    r.update(round=rnd, path=path, concurrency=conc, backoff_ms=backoff,
                             haproxy_cpu_s=round(_cpu_s(lb.pid) - cpu0, 2) if lb else None,
                             gateway_cpu_s=round(_cpu_s(worker) - gw0, 2))
                    if requests_log:  # HAProxy writes a request's line when it ends; give the copy a moment
                        time.sleep(0.5)
                        with requests_log.open("rb") as f:
                            f.seek(offset)
                            r["haproxy_log"] = lb_timing(f.read().decode(), WARMUP_S, seconds)
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
    out.write_text(json.dumps({"command": " ".join(sys.argv).replace(f"{ROOT}/", ""), "lb_limits": limits,
                               "seconds": args.seconds, "backoff_ms": args.backoff_ms, "lb_log": args.lb_log,
                               "gateway_cpus": args.gateway_cpus, "client_cpus": args.client_cpus,
                               "cpus_allowed": affinity, "results": runs},
                              indent=1))
    print(balancer_table(runs))
    print(f"wrote {out.relative_to(ROOT)}")


def _ms(v: object) -> str:
    return "-" if v is None else f"{v:g}"


def balancer_table(runs: list[dict[str, Any]]) -> str:
    """The runs as a markdown table: the client's view beside HAProxy's (where it logged)."""
    rows = ["| round | path | clients | backoff (ms) | goodput (req/s) | client p50 / p99 (ms) | refused (client) "
            "| HAProxy: admitted | %Ta p50 / p99 | %Tr p50 / p99 | HAProxy: refused | %Ta p50 / p99 "
            "| HAProxy CPU (s) | gateway CPU (s) |", "|" + "---|" * 14]
    for r in runs:
        lb = r.get("haproxy_log") or {}
        a, x = lb.get("admitted") or {}, lb.get("refused") or {}
        rows.append(
            f"| {r['round']} | {r['path']} | {r['concurrency']} | {r['backoff_ms']} | {r['ok_rps']:,.0f} "
            f"| {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | {r['errors'].get('RESOURCE_EXHAUSTED', 0):,} "
            f"| {a.get('n', '-')} | {_ms(a.get('ta_p50_ms'))} / {_ms(a.get('ta_p99_ms'))} "
            f"| {_ms(a.get('tr_p50_ms'))} / {_ms(a.get('tr_p99_ms'))} | {x.get('n', '-')} "
            f"| {_ms(x.get('ta_p50_ms'))} / {_ms(x.get('ta_p99_ms'))} | {_ms(r['haproxy_cpu_s'])} "
            f"| {_ms(r['gateway_cpu_s'])} |")
    return "\n".join(rows)


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
    ap.add_argument("--lb-log", choices=("both", "on", "off"), default="both",
                    help="--balancer: HAProxy's per-request log (DRIFTGATE_LB_LOG): each HAProxy twice, without "
                         "and with it (both), or only one way")
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
