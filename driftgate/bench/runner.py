"""One load run end to end: ask the target for the model's metadata, pre-build requests, run the
shards (here or in child processes started with spawn), merge their results into a Report.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from driftgate.bench.config import BenchConfig, BenchConfigError
from driftgate.bench.loadgen import (
    COMPLETED,
    ERRORS,
    IN_FLIGHT,
    Shard,
    ShardResult,
    open_channels,
    run_shard,
    shard_plan,
)
from driftgate.bench.report import Report, machine_info, merge
from driftgate.bench.requests import build_pool
from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.proto.inference import grpc_service_pb2_grpc as pb_grpc
from driftgate.signature import TensorSpec
from driftgate.tls import aio_channel

__all__ = ["BenchTargetError", "Progress", "fetch_metadata", "parse_input_spec", "run", "run_async"]

Progress = Callable[[dict[str, Any]], None]


class BenchTargetError(RuntimeError):
    """The target could not be asked for the model's metadata."""


def parse_input_spec(text: str) -> TensorSpec:
    """``NAME:DATATYPE:D0,D1,...`` (e.g. ``input:FP32:-1,30``) for servers without ModelMetadata."""
    try:
        name, datatype, dims = text.split(":")
        shape = tuple(int(d) for d in dims.split(","))
    except ValueError:
        raise BenchConfigError(f"bad input spec {text!r}: use NAME:DATATYPE:DIMS, e.g. input:FP32:-1,30") from None
    return TensorSpec(name, datatype.upper(), shape)


async def fetch_metadata(config: BenchConfig) -> pb.ModelMetadataResponse:
    async with aio_channel(config.target, config.tls()) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        try:
            return await stub.ModelMetadata(
                pb.ModelMetadataRequest(name=config.model, version=config.model_version), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            raise BenchTargetError(
                f"ModelMetadata({config.model!r}) at {config.target} failed: {exc.code().name}: {exc.details()}"
            ) from exc


def _metadata_from_specs(model: str, specs: Sequence[TensorSpec]) -> pb.ModelMetadataResponse:
    return pb.ModelMetadataResponse(
        name=model,
        inputs=[
            pb.ModelMetadataResponse.TensorMetadata(name=s.name, datatype=s.datatype, shape=list(s.shape))
            for s in specs
        ],
    )


def _child_main(shard: Shard, conn: Any, counters: Any) -> None:
    import uvloop

    async def main() -> None:
        channels = await open_channels(shard)
        try:
            conn.send("ready")
            start_ns = conn.recv()  # blocks this process until every shard is ready
            conn.send(await run_shard(shard, start_ns, counters, channels))
        finally:
            for c in channels:
                await c.close()

    try:
        uvloop.run(main())
    except Exception as exc:  # reported to the parent, which raises
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


async def _watch(
    counters: Sequence[Sequence[int]],
    start_ns: int,
    config: BenchConfig,
    progress: Progress | None,
    done: Callable[[], bool],
) -> None:
    while not done():
        await asyncio.sleep(0.5)
        if progress is None:
            continue
        elapsed = (time.perf_counter_ns() - start_ns) / 1e9
        phase = (
            "warm-up"
            if elapsed < config.warmup_s
            else "measure"
            if elapsed < config.warmup_s + config.duration_s
            else "drain"
        )
        progress(
            {
                "elapsed_s": elapsed,
                "total_s": config.warmup_s + config.duration_s,
                "phase": phase,
                "completed": sum(c[COMPLETED] for c in counters),
                "errors": sum(c[ERRORS] for c in counters),
                "in_flight": sum(c[IN_FLIGHT] for c in counters),
            }
        )


async def _run_here(shard: Shard, config: BenchConfig, progress: Progress | None) -> list[ShardResult]:
    counters = [0, 0, 0]
    channels = await open_channels(shard)
    try:
        start_ns = time.perf_counter_ns() + 5_000_000
        task = asyncio.ensure_future(run_shard(shard, start_ns, counters, channels))
        await _watch([counters], start_ns, config, progress, task.done)
        return [await task]
    finally:
        for c in channels:
            await c.close()


async def _run_children(shards: list[Shard], config: BenchConfig, progress: Progress | None) -> list[ShardResult]:
    ctx = mp.get_context("spawn")  # never fork a process that has grpc running
    pipes, procs, counters = [], [], []
    try:
        for shard in shards:
            parent, child = ctx.Pipe()
            shared = ctx.Array("q", 3, lock=False)
            proc = ctx.Process(target=_child_main, args=(shard, child, shared), daemon=True)
            proc.start()
            pipes.append(parent)
            procs.append(proc)
            counters.append(shared)

        async def receive(conn: Any, timeout: float) -> Any:
            deadline = time.monotonic() + timeout
            while not conn.poll():
                if time.monotonic() > deadline:
                    raise BenchTargetError("a load process did not answer in time")
                await asyncio.sleep(0.02)
            message = conn.recv()
            if isinstance(message, tuple) and message[:1] == ("error",):
                raise BenchTargetError(f"a load process failed: {message[1]}")
            return message

        for conn in pipes:
            await receive(conn, 60)
        start_ns = time.perf_counter_ns() + 20_000_000  # CLOCK_MONOTONIC: the same in every process
        for conn in pipes:
            conn.send(start_ns)
        results: list[ShardResult | None] = [None] * len(pipes)

        async def collect(i: int) -> None:
            results[i] = await receive(pipes[i], config.warmup_s + config.duration_s + config.timeout_s + 30)

        gathered = asyncio.ensure_future(asyncio.gather(*(collect(i) for i in range(len(pipes)))))
        await _watch(counters, start_ns, config, progress, gathered.done)
        await gathered
        return [r for r in results if r is not None]
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()


async def run_async(
    config: BenchConfig,
    progress: Progress | None = None,
    input_specs: Sequence[TensorSpec] = (),
    label: str = "",
) -> Report:
    """Run ``config`` against its target; raises BenchConfigError or BenchTargetError before any load."""
    config.validate()
    machine = machine_info()
    if input_specs:
        metadata = _metadata_from_specs(config.model, input_specs)
    else:
        metadata = await fetch_metadata(config)
    pool = build_pool(config, metadata)
    shards = shard_plan(
        config.processes,
        target=config.target,
        requests=pool.requests,
        concurrency=config.concurrency,
        rate=config.rate,
        channels=config.channels,
        max_in_flight=config.max_in_flight,
        timeout_s=config.timeout_s,
        backoff_s=config.backoff_s,
        warmup_s=config.warmup_s,
        duration_s=config.duration_s,
        routing_key_cardinality=config.routing_key_cardinality,
        seed=config.seed,
        ca=config.ca,
        cert=config.cert,
        key=config.key,
    )
    if config.processes == 0:
        results = await _run_here(shards[0], config, progress)
    else:
        results = await _run_children(shards, config, progress)
    settings = config.as_dict()
    settings["mode"] = config.mode
    settings["channels_per_process"] = shards[0].channels
    settings["inputs"] = [s.describe() for s in pool.inputs]
    report = merge(results, settings, machine, pool.rows_per_request)
    report.label = label
    return report


def run(
    config: BenchConfig, progress: Progress | None = None, input_specs: Sequence[TensorSpec] = (), label: str = ""
) -> Report:
    """Synchronous run_async on a fresh uvloop event loop."""
    import uvloop

    return uvloop.run(run_async(config, progress, input_specs, label))
