"""How long receiving one large message holds a Python gRPC server's event loop (bench/admission.md).

    flock /tmp/driftgate-cpu.lock python bench/grpc_receive_stall.py [--mb 1,16,120] [--repeat 3]

No driftgate code: a grpc.aio server on uvloop (as the gateway runs) whose handler answers at once,
and a client in another process sending ``--mb`` MB messages of random bytes, one at a time. A probe
task on the server's loop sleeps 1 ms in a loop and records every gap longer than 5 ms: the time the
loop could run nothing else (a 1-row request that arrived then waited that long). The same with
grpc's thread-pool server (grpc.server) in the same process as the probe's loop, to see whether the
time is the loop's or the GIL's (the copy holds the GIL either way). Prints and writes, per size, the
client's round trips and the gaps, to bench/results/grpc-receive-stall-<stamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import time
from concurrent import futures
from pathlib import Path

import grpc
import uvloop

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = [("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)]
METHOD = "/stall.Probe/Receive"


def client(port: int, nbytes: int, repeat: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    data = os.urandom(nbytes)
    rtts = []
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=OPTIONS) as channel:
        call = channel.unary_unary(METHOD)
        call(b"", timeout=30)  # connected
        time.sleep(0.5)
        for _ in range(repeat):
            t = time.perf_counter()
            call(data, timeout=120)
            rtts.append(round((time.perf_counter() - t) * 1e3, 1))
            time.sleep(0.5)  # the gaps of one message apart from the next
    out.put(rtts)


async def one(kind: str, nbytes: int, repeat: int) -> dict[str, object]:
    def answer(request: bytes, context: object) -> bytes:
        return b"ok"

    async def answer_async(request: bytes, context: object) -> bytes:
        return b"ok"

    if kind == "grpc.aio":
        handler = grpc.unary_unary_rpc_method_handler(answer_async)
        server = grpc.aio.server(options=OPTIONS)
    else:
        handler = grpc.unary_unary_rpc_method_handler(answer)
        server = grpc.server(futures.ThreadPoolExecutor(2), options=OPTIONS)  # type: ignore[assignment]
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("stall.Probe", {"Receive": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    if kind == "grpc.aio":
        await server.start()
    else:
        server.start()  # type: ignore[unused-coroutine]
    gaps: list[float] = []

    async def probe() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            if now - last - 0.001 > 0.005:
                gaps.append(round((now - last - 0.001) * 1e3, 1))
            last = now

    ctx = mp.get_context("spawn")  # a fresh process: no grpc state inherited
    queue = ctx.Queue()
    sender = ctx.Process(target=client, args=(port, nbytes, repeat, queue))
    task = asyncio.create_task(probe())
    sender.start()
    while sender.is_alive():
        await asyncio.sleep(0.05)
    task.cancel()
    rtts = queue.get(timeout=10)
    if kind == "grpc.aio":
        await server.stop(None)
    else:
        server.stop(None)  # type: ignore[unused-coroutine]
    return {"server": kind, "mb": nbytes / 1e6, "client_rtt_ms": rtts, "gaps_over_5ms": gaps,
            "longest_gap_ms": max(gaps, default=0.0), "gaps_total_ms": round(sum(gaps), 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", default="1,16,120", help="message sizes in MB (10^6 bytes), comma-separated")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    runs = []
    for mb in (float(x) for x in args.mb.split(",")):
        for kind in ("grpc.aio", "grpc.server (threads)"):
            r = uvloop.run(one(kind, int(mb * 1e6), args.repeat))
            print(json.dumps(r), flush=True)
            runs.append(r)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = ROOT / "bench" / "results" / f"grpc-receive-stall-{stamp}.json"
    path.write_text(json.dumps({"command": "python bench/grpc_receive_stall.py --mb " + args.mb
                                + f" --repeat {args.repeat}", "grpc": grpc.__version__, "runs": runs}, indent=1))
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
