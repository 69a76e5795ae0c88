"""1-row requests beside 1M-row batches: does a large batch stall the event loop? (bench/admission.md)

    flock /tmp/driftgate-cpu.lock python bench/large_batch.py HOME [--rows 1000000] [--rate 200]
        [--phase-s 10] [--rounds 2] [--profile]

Starts ``driftgate serve`` on HOME with the operator's limits raised for large batches (message
size 256 MiB, max_batch_size and max_request_rows 2M). One client process sends 1-row requests
open loop at ``--rate`` a second for the whole run (latency from each request's scheduled send
time, so a stalled loop is not hidden by a client that waits); another process sends ``--rows``-row
batches back to back (one at a time, the request serialized once) during the "with" phases only.
Phases alternate (without, with) ``--rounds`` times, ``--phase-s`` each; the first second of each
phase is not counted. A 1-row request counts as "with" when it was sent while a large batch was in
flight, "without" when none was within 1 s of it. Prints and writes p50/p99/max of each, and the
large batches' count and latency, to bench/results/large-batch-<stamp>.json.

``--profile``: py-spy samples the gateway worker's threads during the first "with" phase (it stops
the process for each sample: take latencies from a run without it); the main thread's (the event
loop's) samples are summed by function (own time and inclusive), written next to the result, to
see what still runs on the loop.

    flock /tmp/driftgate-cpu.lock python bench/large_batch.py HOME --balancer [--rounds 2]
        [--gateway-cpus 1 --client-cpus 0]

The bulk lane of deploy/haproxy/haproxy.cfg, off against on: a second ``driftgate gateway`` on the
same registry (the bulk gateway, same limits) and two HAProxy processes from the shipped file (h2c,
admission out of the way): one with the normal gateway only, one with ``DRIFTGATE_BULK_1`` = the bulk
gateway. Each round runs one (without, with) schedule through each, in turn; records the CPU seconds
the normal gateway worker and the bulk gateway used in each. ``--gateway-cpus``/``--client-cpus``:
``driftgate serve`` (registry and normal gateway) on the first CPUs, everything else (this driver, its
clients, HAProxy, the bulk gateway) on the second, as separate hosts would have them. Writes
bench/results/large-batch-balancer-<stamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing as mp
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np

from driftgate.bench.servers import (
    ServerProcess,
    cpu_list,
    driftgate_cli,
    free_address,
    gateway_worker_pid,
    haproxy_command,
    start_serve,
    tree_cpu_s,
    wait_model_ready,
)
from driftgate.proto.inference import grpc_service_pb2 as pb

ROOT = Path(__file__).resolve().parent.parent
METHOD = "/inference.GRPCInferenceService/ModelInfer"
OPTIONS = [("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)]


def serialized(rows: int, seed: int) -> bytes:
    x = np.random.default_rng(seed).random((rows, 30), dtype=np.float32)
    request = pb.ModelInferRequest(model_name="fraud")
    request.inputs.add(name="transaction", datatype="FP32", shape=[rows, 30])
    request.raw_input_contents.append(x.tobytes())
    return request.SerializeToString()


def large_sender(target: str, rows: int, schedule: list[tuple[float, float]], out: mp.Queue) -> None:  # type: ignore[type-arg]
    """Send ``rows``-row batches back to back inside each (start, end) window of monotonic time."""
    data = serialized(rows, 7)

    async def main() -> list[tuple[float, float, str]]:
        done = []
        async with grpc.aio.insecure_channel(target, options=OPTIONS) as channel:
            call = channel.unary_unary(METHOD)
            for start, end in schedule:
                await asyncio.sleep(max(0.0, start - time.monotonic()))
                while time.monotonic() < end:
                    t = time.monotonic()
                    try:
                        await call(data, timeout=300)
                        code = "OK"
                    except grpc.aio.AioRpcError as exc:
                        code = exc.code().name
                    done.append((t, time.monotonic() - t, code))
        return done

    out.put(asyncio.run(main()))


async def small_load(target: str, rate: float, until: float) -> list[tuple[float, float, str]]:
    """1-row requests open loop: (scheduled send time, latency from it, code)."""
    data = serialized(1, 3)
    results: list[tuple[float, float, str]] = []
    async with grpc.aio.insecure_channel(target, options=OPTIONS) as channel:
        call = channel.unary_unary(METHOD)
        await call(data, timeout=30)

        async def one(at: float) -> None:
            try:
                await call(data, timeout=60)
                code = "OK"
            except grpc.aio.AioRpcError as exc:
                code = exc.code().name
            results.append((at, time.monotonic() - at, code))

        tasks = []
        start = time.monotonic()
        i = 0
        while True:
            at = start + i / rate
            if at >= until:
                break
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            tasks.append(asyncio.create_task(one(at)))
            i += 1
        await asyncio.gather(*tasks)
    return results


def summarize_profile(raw: Path, pid: int) -> dict[str, object]:
    """py-spy's raw (collapsed) stacks: the main thread's samples by function, own and inclusive."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        # py-spy --threads starts a stack with "thread (TID): NAME"; the main thread's TID is the pid
        if not frames or not frames[0].startswith(f"thread ({pid})"):
            continue
        n = int(count_text)
        total += n
        names = [re.sub(r":\d+\)$", ")", f) for f in frames[1:]]
        if names:
            own[names[-1]] += n
        for name in set(names):
            inclusive[name] += n
    return {"main_thread_samples": total, "own_top": own.most_common(25), "inclusive_top": inclusive.most_common(40)}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1e3 if values else float("nan")


def measure(target: str, args: argparse.Namespace, rounds: int, profile_pid: int | None = None) -> dict[str, object]:
    """One schedule of phases (without, with) x ``rounds`` against ``target``: 1-row requests all
    along, large batches in the "with" phases; latencies by kind, the large batches' outcome."""
    start = time.monotonic() + 5  # the large sender serializes its request first
    phases = []
    for r in range(2 * rounds):
        a = start + r * args.phase_s
        phases.append(("with" if r % 2 else "without", a, a + args.phase_s))
    until = phases[-1][2]
    with_windows = [(a, b) for kind, a, b in phases if kind == "with"]
    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    sender = mp.get_context("fork").Process(target=large_sender, args=(target, args.rows, with_windows, queue))
    sender.start()
    spy = None
    raw = ROOT / "bench" / "results" / f"large-batch-profile-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    if profile_pid is not None:
        delay = with_windows[0][0] + 1 - time.monotonic()
        spy = subprocess.Popen(
            ["sh", "-c", f"sleep {delay:.2f}; exec py-spy record --pid {profile_pid} --threads --rate 250 "
             f"--format raw --duration {int(args.phase_s - 2)} -o {raw}"],
            stdout=subprocess.DEVNULL, stderr=(args.home / "py-spy.log").open("w"),
        )
    small = asyncio.run(small_load(target, args.rate, until))
    large = queue.get(timeout=600)
    sender.join()
    if spy is not None:
        spy.wait(60)

    busy = [(t, t + d) for t, d, _ in large]  # when a large batch was in flight

    def kind_of(t: float) -> str | None:
        """"with": sent while a large batch was in flight; "without": sent at least 1 s away from
        any (a batch started late in a "with" phase runs on into the next phase)."""
        if any(a <= t < b for a, b in busy):
            return "with"
        if any(a - 1 <= t < b + 1 for a, b in busy):
            return None
        return "without" if any(a + 1 <= t < b for _, a, b in phases) else None

    lat: dict[str, list[float]] = {"without": [], "with": []}
    errors: collections.Counter[str] = collections.Counter()
    for at, latency, code in small:
        kind = kind_of(at)
        if kind is None:
            continue
        if code == "OK":
            lat[kind].append(latency)
        else:
            errors[f"{kind}:{code}"] += 1
    result: dict[str, object] = {
        "small": {k: {"n": len(v), "p50_ms": round(pct(v, 50), 2), "p99_ms": round(pct(v, 99), 2),
                      "max_ms": round(max(v) * 1e3, 2) if v else None} for k, v in lat.items()},
        "small_errors": dict(errors),
        "large": {"n": len(large), "codes": dict(collections.Counter(c for _, _, c in large)),
                  "latency_s": [round(d, 2) for _, d, _ in large]},
    }
    if profile_pid is not None and raw.exists():
        result["profile"] = summarize_profile(raw, profile_pid)
        result["profile_raw"] = str(raw.relative_to(ROOT))
    return result


def start_haproxy(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """deploy/haproxy/haproxy.cfg (h2c) on a free local port, with ``env``; returns once it answers."""
    argv = haproxy_command(ROOT / "deploy" / "haproxy" / "haproxy.cfg")
    address = free_address()
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DRIFTGATE_LB_", "DRIFTGATE_GATEWAY_",
                                                                    "DRIFTGATE_BULK_"))}
    with log.open("wb") as out:
        p = subprocess.Popen(argv, env={**keep, "DRIFTGATE_LB_BIND": address, **env}, stdout=out,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    wait_model_ready(address, "fraud", 60)
    return p, address


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("home", type=Path)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--phase-s", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--balancer", action="store_true",
                    help="through HAProxy (deploy/haproxy/haproxy.cfg), without and with the bulk lane, interleaved")
    ap.add_argument("--gateway-cpus", help="pin driftgate serve (registry, normal gateway) here (taskset -c)")
    ap.add_argument("--client-cpus", help="pin this driver, the load clients, HAProxy and the bulk gateway here")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    args.home = home = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DRIFTGATE_GATEWAY__MAX_MESSAGE_BYTES": str(256 << 20),
           "DRIFTGATE_GATEWAY__MAX_BATCH_SIZE": "2000000", "DRIFTGATE_GATEWAY__MAX_REQUEST_ROWS": "2000000"}
    env["DRIFTGATE_REGISTRY__DASHBOARD_PORT"] = "-1"
    if args.gateway_cpus:
        server = ServerProcess(
            "driftgate", ["taskset", "-c", args.gateway_cpus, *driftgate_cli(home), "serve", "--host", "127.0.0.1",
                          "--port", "0", "--metrics-port", "0", "--registry-port", "0"],
            r"gateway listening on (\S+)", env=env, ready="driftgate serving:", log=home / "large-batch.log",
            timeout=300)
    else:
        server = start_serve(home, env=env, log=home / "large-batch.log")
    if args.client_cpus:  # everything started from here on inherits it
        os.sched_setaffinity(0, cpu_list(args.client_cpus))
    result: dict[str, object] = {"command": " ".join(sys.argv).replace(str(ROOT) + "/", ""), "label": args.label,
                                 "rows": args.rows, "rate": args.rate, "phase_s": args.phase_s, "rounds": args.rounds,
                                 "gateway_cpus": args.gateway_cpus, "client_cpus": args.client_cpus}
    extra: list[object] = []
    try:
        time.sleep(3)
        pid = gateway_worker_pid(home)
        if not args.balancer:
            result.update(measure(server.address, args, args.rounds, pid if args.profile else None))
        else:
            bulk = ServerProcess(
                "bulk gateway", [*driftgate_cli(home), "gateway", "--host", "127.0.0.1", "--port", "0",
                                 "--metrics-port", "-1"],
                r"gateway listening on (\S+)", env={**env, "DRIFTGATE_GATEWAY__GATEWAY_ID": "bulk"},
                log=home / "bulk-gateway.log")
            extra.append(bulk)
            wait_model_ready(bulk.address, "fraud", 120)
            lanes = {"bulk lane off": {"DRIFTGATE_GATEWAY_1": server.address},
                     "bulk lane on": {"DRIFTGATE_GATEWAY_1": server.address, "DRIFTGATE_BULK_1": bulk.address}}
            balancers = {}
            for name, lane_env in lanes.items():
                lane_env["DRIFTGATE_GATEWAY_MAXCONN"] = "1000"  # admission is not what this measures
                p, address = start_haproxy(lane_env, home / f"haproxy-{name.replace(' ', '-')}.log")
                extra.append(p)
                balancers[name] = address
            runs = []
            for r in range(args.rounds):
                for name, address in balancers.items():
                    gw0, bulk0 = tree_cpu_s(pid), bulk.cpu_s()
                    one = measure(address, args, 1)
                    one.update(round=r + 1, path=name, gateway_cpu_s=round(tree_cpu_s(pid) - gw0, 2),
                               bulk_gateway_cpu_s=round(bulk.cpu_s() - bulk0, 2))
                    print(json.dumps(one), flush=True)
                    runs.append(one)
            result["runs"] = runs
    finally:
        for thing in reversed(extra):
            if isinstance(thing, ServerProcess):
                thing.stop(120)
            else:
                thing.terminate()  # type: ignore[attr-defined]
                thing.wait(30)  # type: ignore[attr-defined]
        server.stop(120)

    print(json.dumps({k: v for k, v in result.items() if k != "profile"}, indent=1))
    if "profile" in result:
        prof = result["profile"]
        print("main thread samples:", prof["main_thread_samples"])  # type: ignore[index]
        for name, n in prof["inclusive_top"]:  # type: ignore[index]
            print(f"  {n:6d}  {name}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kind = "large-batch-balancer" if args.balancer else "large-batch"
    path = ROOT / "bench" / "results" / f"{kind}-{stamp}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
