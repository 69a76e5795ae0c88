"""What the control API's auth check costs per call (driftgate.auth.AuthInterceptor).

    PYTHONPATH=. .venv/bin/python bench/inprocess/auth_micro.py [--calls N] [--rounds R]

1. In process: one ``intercept_service`` of the interceptor with the real TokenStore (SQLite under a
   temporary home), the token cached (every call after the first within auth_cache_s), against a
   pass-through interceptor that only awaits the continuation. Best and median of R runs of N calls.
2. Over gRPC: a unary call with a tiny message to a grpc.aio server on loopback, sequential from a
   blocking client (concurrency 1), the same server with the auth interceptor and without it, side by
   side in interleaved rounds. Mean microseconds per call.

Writes bench/results/auth-<timestamp>.json with the command, the machine and every round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc

from driftgate.auth import AuthInterceptor, Role, token_metadata
from driftgate.auth.table import VIEWER
from driftgate.registry.access.tokens import TokenStore
from driftgate.registry.store.db import Database

METHOD = "/bench.Echo/Echo"
TABLE = {METHOD: VIEWER}


class _Details:
    def __init__(self, method: str, metadata: Any) -> None:
        self.method = method
        self.invocation_metadata = metadata


class _PassThrough(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        return await continuation(details)


def _echo_handler() -> grpc.RpcMethodHandler:
    async def echo(request: bytes, context: Any) -> bytes:
        return request

    return grpc.unary_unary_rpc_method_handler(echo)


async def in_process(store: TokenStore, token: str, calls: int, rounds: int) -> dict[str, list[float]]:
    handler = _echo_handler()

    async def continuation(details: Any) -> grpc.RpcMethodHandler:
        return handler

    details = _Details(METHOD, (*token_metadata(token), ("user-agent", "grpc-python")))
    out: dict[str, list[float]] = {"auth": [], "pass-through": []}
    for _ in range(rounds):
        pair = (("auth", AuthInterceptor(store.authenticate, TABLE)), ("pass-through", _PassThrough()))
        for label, interceptor in pair:
            await interceptor.intercept_service(continuation, details)  # warm (fills the cache)
            started = time.perf_counter()
            for _ in range(calls):
                await interceptor.intercept_service(continuation, details)
            out[label].append((time.perf_counter() - started) / calls * 1e6)
    return out


def _serve(interceptors: list[Any]) -> tuple[str, Any, asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[Any, int]:
        server = grpc.aio.server(interceptors=interceptors)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("bench.Echo", {"Echo": _echo_handler()}),)
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    return f"127.0.0.1:{port}", server, loop, thread


def over_grpc(store: TokenStore, token: str, calls: int, rounds: int) -> dict[str, list[float]]:
    servers = {"auth": _serve([AuthInterceptor(store.authenticate, TABLE)]), "none": _serve([])}
    out: dict[str, list[float]] = {"auth": [], "none": []}
    md = token_metadata(token)
    try:
        channels = {k: grpc.insecure_channel(v[0]) for k, v in servers.items()}
        stubs = {k: ch.unary_unary(METHOD) for k, ch in channels.items()}
        for stub in stubs.values():
            for _ in range(200):
                stub(b"x" * 32, metadata=md, timeout=5)
        for _ in range(rounds):
            for label in ("auth", "none"):
                stub = stubs[label]
                started = time.perf_counter()
                for _ in range(calls):
                    stub(b"x" * 32, metadata=md, timeout=5)
                out[label].append((time.perf_counter() - started) / calls * 1e6)
        for ch in channels.values():
            ch.close()
    finally:
        for _, server, loop, thread in servers.values():
            asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000, help="calls per in-process run")
    parser.add_argument("--grpc-calls", type=int, default=2_000, help="calls per gRPC round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Database.for_home(Path(tmp))
        store = TokenStore(db, cache_s=3600)
        _, token = store.create("bench", Role.VIEWER)
        local = asyncio.run(in_process(store, token, args.calls, args.rounds))
        remote = over_grpc(store, token, args.grpc_calls, args.rounds)
        db.dispose()

    def summary(runs: dict[str, list[float]]) -> dict[str, dict[str, float]]:
        return {k: {"best_us": min(v), "median_us": statistics.median(v)} for k, v in runs.items()}

    result = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, python {sys.version.split()[0]}, "
        f"grpcio {grpc.__version__}",
        "loadavg_at_start": os.getloadavg(),
        "in_process_us_per_call": summary(local),
        "in_process_rounds": local,
        "grpc_us_per_call": summary(remote),
        "grpc_rounds": remote,
    }
    print(json.dumps({k: v for k, v in result.items() if not k.endswith("_rounds")}, indent=2))
    out = Path(__file__).parents[1] / "results" / f"auth-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
