"""Where a server's event loop thread spends its CPU, per request, by shared object: driftgate
next to the bare V2 server (with or without scoring), under the same perf_analyzer load.

    python bench/profile_loop.py HOME [--systems driftgate,score] [--seconds 10] [--concurrency 16]

HOME: a driftgate home with the demo registered (copied; the bare server scores its artifact).
For each system: start it, load it with perf_analyzer (`.perf-venv/bin/pa`, see
scripts/install_perf_analyzer.sh), sample it with `perf record -e cpu-clock -F 1000 -g` for
``--seconds``, and print, for the main thread (the event loop) and for the other threads, CPU us
per request, then the main thread's samples by DSO (libpython, cygrpc, onnxruntime, the kernel...)
in us per request. One sample per system: run it twice before believing a difference under ~10 us.

Why perf and not py-spy: Python-level profilers attribute the grpc and uvloop C code to the last
Python frame ("Runner.run"), and they cannot see context switches (kernel time).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from driftgate.bench.servers import start_bare, start_serve

ROOT = Path(__file__).resolve().parent.parent
HZ = 1000


def _pid_of(home: Path, role: str) -> int:
    out = subprocess.run(["pgrep", "-f", f"driftgate --home {home} {role}"], capture_output=True, text=True).stdout
    return int(out.split()[-1])


def _samples(data: Path) -> list[tuple[str, str, str]]:
    """(thread id, leaf DSO, leaf symbol) for every sample."""
    out = subprocess.run(["perf", "script", "-i", str(data), "-F", "tid,ip,sym,dso"], capture_output=True,
                         text=True).stdout
    samples = []
    for block in out.split("\n\n"):
        lines = [line for line in block.strip().split("\n") if line.strip()]
        if len(lines) < 2:
            continue
        m = re.search(r"\(([^()]*)\)\s*$", lines[1])
        sym = re.sub(r"\+0x[0-9a-f]+$", "", lines[1].split(None, 1)[1].rsplit(" (", 1)[0].strip()) \
            if len(lines[1].split(None, 1)) > 1 else "?"
        samples.append((lines[0].split()[0], m.group(1).rsplit("/", 1)[-1] if m else "?", sym))
    return samples


def profile(system: str, home: Path, work: Path, args: argparse.Namespace) -> dict[str, object]:
    onnx = next(p for p in (home / "artifacts").rglob("*") if p.is_file())
    if system == "driftgate":
        server = start_serve(home, log=work / f"{system}.log")
        pid = _pid_of(home, "gateway")  # the gateway child, not the supervisor
    else:
        server = start_bare(str(onnx) if system == "score" else None, log=work / f"{system}.log")
        pid = server.pid
    address = server.address
    try:
        time.sleep(2)
        window_ms = int(args.seconds * 1000 / 2)
        load = subprocess.Popen(
            [args.pa, "-m", "fraud", "-u", address, "-i", "grpc", "-b", "1", "--concurrency-range",
             str(args.concurrency), "-p", str(window_ms), "-s", "1000", "--max-trials", "3"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        time.sleep(window_ms / 1000)  # past perf_analyzer's start-up, into its measurement
        data = work / f"{system}.perf"
        subprocess.run(["perf", "record", "-e", "cpu-clock", "-F", str(HZ), "-g", "-p", str(pid), "-o", str(data),
                        "--", "sleep", str(args.seconds)], capture_output=True, check=True)
        out = load.communicate(timeout=600)[0]
    finally:
        server.stop()
    rps = float(re.findall(r"Throughput: ([\d.]+)", out)[-1])
    samples = _samples(data)
    threads = collections.Counter(tid for tid, _, _ in samples)
    main = str(pid)
    per_req = 1e6 / HZ / (args.seconds * rps)  # us of CPU per sample, per request
    by_dso = collections.Counter(dso for tid, dso, _ in samples if tid == main)
    by_sym = collections.Counter(f"{dso.split('.')[0]}:{sym}" for tid, dso, sym in samples if tid == main)
    return {
        "rps": rps,
        "main_us": threads[main] * per_req,
        "other_us": (sum(threads.values()) - threads[main]) * per_req,
        "dso_us": {dso: n * per_req for dso, n in by_dso.items()},
        "sym_us": {sym: n * per_req for sym, n in by_sym.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("--systems", default="driftgate,score", help="driftgate, score, bare (comma-separated)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--symbols", type=int, default=0,
                        help="also list the N leaf symbols (any DSO) where the main threads differ most")
    parser.add_argument("--pa", default=str(ROOT / ".perf-venv" / "bin" / "pa"))
    args = parser.parse_args()
    if shutil.which("perf") is None:
        print("perf is not installed (Debian: linux-perf)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="profile-loop-"))
    results = {}
    for system in args.systems.split(","):
        home = work / f"home-{system}"
        shutil.copytree(args.home, home, ignore=shutil.ignore_patterns("registry.addr", "cache", "gateway"))
        results[system] = profile(system, home, work, args)
    names = list(results)
    print(f"{'us per request':42s}" + "".join(f"{n:>12s}" for n in names))
    print(f"{'req/s during the profile':42s}" + "".join(f"{results[n]['rps']:12.0f}" for n in names))
    print(f"{'event loop thread':42s}" + "".join(f"{results[n]['main_us']:12.1f}" for n in names))
    print(f"{'other threads':42s}" + "".join(f"{results[n]['other_us']:12.1f}" for n in names))
    dsos: collections.Counter[str] = collections.Counter()
    for r in results.values():
        dsos.update(r["dso_us"])  # type: ignore[arg-type]
    for dso, _ in dsos.most_common(14):
        print(f"  {dso[:40]:40s}" + "".join(f"{results[n]['dso_us'].get(dso, 0.0):12.1f}"  # type: ignore[attr-defined]
                                            for n in names))
    if args.symbols and len(names) > 1:
        a, b = names[0], names[1]
        syms = set(results[a]["sym_us"]) | set(results[b]["sym_us"])  # type: ignore[arg-type]

        def diff(sym: str) -> float:
            return results[a]["sym_us"].get(sym, 0.0) - results[b]["sym_us"].get(sym, 0.0)  # type: ignore[attr-defined]

        print(f"\nleaf symbols of the event loop thread, largest |{a} - {b}| first (us per request)")
        for sym in sorted(syms, key=lambda s: -abs(diff(s)))[: args.symbols]:
            print(f"  {sym[:60]:60s}" + "".join(f"{results[n]['sym_us'].get(sym, 0.0):10.1f}"  # type: ignore[attr-defined]
                                                for n in names) + f"  {diff(sym):+7.1f}")
    print(f"\nperf data and logs: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
