"""Does grpc core buffer a message over its receive limit before refusing it? (bench/admission.md)

    flock /tmp/driftgate-cpu.lock python bench/grpc_receive_limit.py SIZE_BYTES LIMIT_BYTES

A grpc.aio server with ``grpc.max_receive_message_length`` LIMIT_BYTES (-1: none) in a child
process; a client sends one SIZE_BYTES message; prints the status, the time, and the server's peak
RSS (VmHWM) before and after. This decides where the gateway's own size check can sit
(driftgate.gateway.servicer.grpc_receive_limit).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import re
import sys
import time
from pathlib import Path

import grpc


def _memory_mb() -> tuple[int, int]:
    text = Path("/proc/self/status").read_text()
    hwm = re.search(r"VmHWM:\s+(\d+)", text)
    rss = re.search(r"VmRSS:\s+(\d+)", text)
    assert hwm and rss
    return int(hwm.group(1)) // 1024, int(rss.group(1)) // 1024


def _server(limit: int, ports: mp.Queue, stop: mp.Event) -> None:  # type: ignore[type-arg,valid-type]
    async def main() -> None:
        async def echo(request: bytes, context: object) -> bytes:
            return b"ok"

        handler = grpc.method_handlers_generic_handler("t.S", {"M": grpc.unary_unary_rpc_method_handler(echo)})
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit)])
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        ports.put((port, _memory_mb()))
        while not stop.is_set():  # type: ignore[attr-defined]
            await asyncio.sleep(0.1)
        ports.put(_memory_mb())

    asyncio.run(main())


def main() -> None:
    size, limit = int(sys.argv[1]), int(sys.argv[2])
    ports: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    stop = mp.Event()
    child = mp.Process(target=_server, args=(limit, ports, stop))
    child.start()
    port, before = ports.get()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", -1)])
    data = b"x" * size
    started = time.perf_counter()
    try:
        channel.unary_unary("/t.S/M")(data, timeout=120)
        outcome = "OK"
    except grpc.RpcError as exc:
        outcome = f"{exc.code().name}: {exc.details()}"
    elapsed = time.perf_counter() - started
    stop.set()
    after = ports.get()
    child.join()
    print(f"{outcome}\n{elapsed:.2f} s; server peak/current RSS before {before} MB, after {after} MB "
          f"(message {size:,} bytes, limit {limit:,})")


if __name__ == "__main__":
    main()
