"""Per-call CPU cost of admission and of the request limits, in process (bench/admission.md).

    python bench/inprocess/admission_micro.py

1. grpc's own step that finds a call's handler (``_find_method_handler``, run in the call's task
   before the request is received), each call in its own task as grpc runs it: without
   interceptors (admission off, --max-inflight 0) and with driftgate's Admission interceptor
   (count, done callback on the task, release when the task ends).
2. The checks ModelInfer adds on its path: rows, id and routing key lengths against the limits,
   and the deadline (grpc's ``time_remaining()`` on a real servicer context is a C method; here a
   Python method returning None, as for a caller with no deadline, which costs more).

Prints microseconds of this thread's CPU per call, min and median over chunks taken in turn.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import grpc
import uvloop
from grpc._cython import cygrpc

from driftgate.gateway.admission import Admission

METHOD = "/inference.GRPCInferenceService/ModelInfer"


async def _handler(request: bytes, context: object) -> bytes:
    return request


def main() -> None:
    handler = grpc.unary_unary_rpc_method_handler(_handler)
    resolver = cygrpc._MethodResolver([], {METHOD: handler})
    admission = Admission(1 << 30)
    admission.guard(METHOD, handler)

    class Context:
        def time_remaining(self) -> None:
            return None

    context = Context()
    read = (None, None, 1, None, "", None, "req-123456")
    max_rows, max_id, max_key = 100_000, 256, 256

    async def checks() -> None:  # the lines ModelInfer runs (servicer._infer)
        _, _, rows, _, _, key, request_id = read
        if rows > max_rows or len(request_id) > max_id:
            raise AssertionError
        if key is not None and len(key) > max_key:
            raise AssertionError
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise AssertionError

    async def nothing() -> None:
        return None

    async def run() -> None:
        loop = asyncio.get_running_loop()
        fns = {
            "find handler, no interceptor": lambda: cygrpc._find_method_handler(METHOD, (), resolver, ()),
            "find handler, admission": lambda: cygrpc._find_method_handler(METHOD, (), resolver, (admission,)),
            "empty coroutine": nothing,
            "limit + deadline checks": checks,
        }
        for fn in fns.values():
            for _ in range(2000):
                await loop.create_task(fn())
        times: dict[str, list[float]] = {name: [] for name in fns}
        calls = 500
        for _ in range(40):
            for name, fn in fns.items():
                started = time.thread_time_ns()
                for _ in range(calls):
                    await loop.create_task(fn())  # a task per call, as grpc runs each call
                times[name].append((time.thread_time_ns() - started) / calls / 1e3)
        assert admission.active == 0
        for name, t in times.items():
            print(f"{name:32s} min {min(t):6.2f} us  median {statistics.median(t):6.2f} us")
        base = statistics.median(times["find handler, no interceptor"])
        adm = statistics.median(times["find handler, admission"])
        chk = statistics.median(times["limit + deadline checks"]) - statistics.median(times["empty coroutine"])
        print(f"admission adds {adm - base:.2f} us a call (medians); the checks {chk * 1e3:.0f} ns")

    uvloop.run(run())


if __name__ == "__main__":
    main()
