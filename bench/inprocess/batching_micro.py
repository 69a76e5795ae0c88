"""In-process cost of the adaptive batcher, without gRPC: C coroutines on one uvloop loop each
score one row at a time, inline (``session.run`` on the loop, as the gateway does with batching
off) or through a Batcher; reports requests/s, process CPU per request and mean batch size.

    python bench/inprocess/batching_micro.py [--onnx model.onnx] [--concurrency 16] [--seconds 3]

Without --onnx it trains the batching scenario's MLP (driftgate.bench.scenarios.heavy_model).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import numpy as np


async def _drive(score, x: np.ndarray, concurrency: int, seconds: float) -> int:
    done = 0
    stop = time.perf_counter() + seconds

    async def client(i: int) -> None:
        nonlocal done
        row = {"transaction": x[i % len(x) : i % len(x) + 1]}
        while time.perf_counter() < stop:
            await score(row)
            done += 1

    await asyncio.gather(*(client(i) for i in range(concurrency)))
    return done


async def _measure(label: str, session, x: np.ndarray, concurrency: int, seconds: float, batching) -> dict:
    from driftgate.gateway.batcher import BatchConfig, Batcher
    from driftgate.gateway.stats import VersionCounters

    names = [o.name for o in session.get_outputs()]

    def run(feeds):
        return session.run(names, feeds)

    counters = VersionCounters()
    batcher = None
    if label.startswith("loop"):
        # the alternative measured against the thread: batch what arrives in one loop iteration
        # and run it inline on the loop (no thread hop); max rows only, no delay
        from driftgate.gateway.batcher import concat_feeds, split_outputs

        loop = asyncio.get_running_loop()
        pending: list = []
        max_rows = batching[0]

        def flush() -> None:
            while pending:
                batch = pending[:max_rows]
                del pending[:max_rows]
                feeds, offsets = concat_feeds([f for f, _ in batch])
                for (_, fut), out in zip(batch, split_outputs(run(feeds), offsets), strict=True):
                    fut.set_result(out)
                counters.batch(len(batch), 1, 0, 0)

        async def score(feeds):
            fut = loop.create_future()
            pending.append((feeds, fut))
            if len(pending) == 1:
                loop.call_soon(flush)
            return await fut
    elif batching is None:

        async def score(feeds):
            await asyncio.sleep(0)  # a request yields to the loop at least once, as a gRPC call does
            return run(feeds)
    else:
        batcher = Batcher("micro", run, BatchConfig(*batching), asyncio.get_running_loop(), counters)

        async def score(feeds):
            return await batcher.submit(feeds, 1)

    await _drive(score, x, concurrency, 0.5)  # warm-up
    runs0, rows0 = counters.batch_runs, counters.batch_rows_sum
    cpu0, t0 = time.process_time(), time.perf_counter()
    done = await _drive(score, x, concurrency, seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    if batcher is not None:
        batcher.stop()
    runs, rows = counters.batch_runs - runs0, counters.batch_rows_sum - rows0
    return {
        "variant": label,
        "req_per_s": round(done / wall),
        "cpu_us_per_req": round(cpu / done * 1e6, 1),
        "mean_batch": round(rows / runs, 2) if runs else 1.0,
    }


def main() -> None:
    import onnxruntime as ort
    import uvloop

    from driftgate.bench.scenarios import heavy_model
    from driftgate.demo import generate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batching", action="append", default=None, metavar="MAX_ROWS:DELAY_US")
    parser.add_argument("--loop", action="store_true", help="also: batch per loop iteration, run inline")
    args = parser.parse_args()
    model = Path(args.onnx).read_bytes() if args.onnx else heavy_model()[0]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(generate(1024, seed=1).X, dtype=np.float32)
    variants = [("inline", None)] + [
        (f"batcher {b}", tuple(int(v) for v in b.split(":"))) for b in (args.batching or ["64:0", "64:200"])
    ]
    if args.loop:
        variants.append(("loop 64", (64, 0)))
    for _ in range(args.rounds):
        for label, batching in variants:
            print(uvloop.run(_measure(label, session, x, args.concurrency, args.seconds, batching)), flush=True)


if __name__ == "__main__":
    main()
