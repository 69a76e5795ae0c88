"""The load generator: closed loop (N requests always in flight) or open loop (a fixed timetable).

Open loop: request k is due at ``start + phase + k / rate``; its latency is measured from that
intended time, not from when it was actually sent, so a server (or a client) that falls behind
shows its queueing in the percentiles instead of hiding it (no coordinated omission). How late
each request actually left is reported separately as the schedule lag.

A run is cut into shards, one per process (``processes=0``: one shard in this process). Every shard
gets pre-serialised requests, its own channels (each one HTTP/2 connection: the subchannel pool is
local) and an equal share of the concurrency or the rate; shards start together on a shared
CLOCK_MONOTONIC instant. Per request the loop does: pick bytes, await the call, read the clock, append
two integers. Results are recorded into HdrHistograms after the run, not per request.

Counted in a run: requests whose start (closed) or due time (open) falls in the measurement window
after the warm-up; the run waits for them to finish (each has a deadline). Throughput counts
completions inside the window.
"""

from __future__ import annotations

import array
import asyncio
import math
import random
import time
from collections.abc import Callable, MutableSequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from driftgate.bench.config import tls_of
from driftgate.tls import aio_channel

__all__ = ["Shard", "ShardResult", "run_shard", "shard_plan"]

_INFER = "/inference.GRPCInferenceService/ModelInfer"
_CHANNEL_OPTIONS = [
    ("grpc.use_local_subchannel_pool", 1),  # one connection per channel, not one shared
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
]

# counters shared with the parent for the live progress line
COMPLETED, ERRORS, IN_FLIGHT = 0, 1, 2


@dataclass
class Shard:
    """One process's share of a run (picklable)."""

    index: int
    target: str
    requests: list[bytes]
    concurrency: int  # closed loop; 0 in open loop
    rate: float  # open loop, requests/s of this shard; 0 in closed loop
    phase_s: float  # open loop: offset of this shard's timetable
    channels: int
    max_in_flight: int
    timeout_s: float
    warmup_s: float
    duration_s: float
    routing_key_cardinality: int = 0
    backoff_s: float = 0.0  # closed loop: mean wait after RESOURCE_EXHAUSTED
    seed: int = 0
    ca: str = ""  # TLS when set (driftgate/tls.py); files, so that a shard stays picklable
    cert: str = ""
    key: str = ""


@dataclass
class ShardResult:
    latency_us: bytes = b""  # array('q'): successes counted in the window
    done_ms: bytes = b""  # array('q'): their completion times, ms after the window opened
    lag_us: bytes = b""  # array('q'): open loop, actual send minus due time
    service_us: bytes = b""  # array('q'): open loop, successes timed from the actual send
    errors: dict[str, int] = field(default_factory=dict)
    error_ms: bytes = b""  # array('q'): completion times of the errors
    error_examples: dict[str, str] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    counted: int = 0
    completed_in_window: int = 0
    max_in_flight_seen: int = 0
    cpu_s: float = 0.0  # this process's CPU time during the window


def default_channels(concurrency: int, rate: float) -> int:
    if concurrency:
        return max(1, math.ceil(concurrency / 8))
    return max(1, min(8, math.ceil(rate / 2000)))


def shard_plan(
    processes: int,
    *,
    target: str,
    requests: list[bytes],
    concurrency: int,
    rate: float | None,
    channels: int,
    max_in_flight: int,
    timeout_s: float,
    warmup_s: float,
    duration_s: float,
    routing_key_cardinality: int,
    seed: int,
    ca: str = "",
    cert: str = "",
    key: str = "",
    backoff_s: float = 0.0,
) -> list[Shard]:
    n = max(1, processes)
    shards = []
    for i in range(n):
        if rate is None:
            conc = concurrency // n + (1 if i < concurrency % n else 0)
            shard_rate, phase = 0.0, 0.0
        else:
            conc, shard_rate, phase = 0, rate / n, i / rate
        shards.append(
            Shard(
                index=i,
                target=target,
                requests=requests,
                concurrency=conc,
                rate=shard_rate,
                phase_s=phase,
                channels=channels or default_channels(conc, shard_rate),
                max_in_flight=max(1, math.ceil(max_in_flight / n)),
                timeout_s=timeout_s,
                warmup_s=warmup_s,
                duration_s=duration_s,
                routing_key_cardinality=routing_key_cardinality,
                backoff_s=backoff_s,
                seed=seed * 1000 + i,
                ca=ca,
                cert=cert,
                key=key,
            )
        )
    return shards


class _Recorder:
    """Per-shard accumulation; the hot path only appends integers and bumps dict counts."""

    def __init__(self, measure_ns: int, end_ns: int, counters: MutableSequence[int]) -> None:
        self.measure_ns = measure_ns
        self.end_ns = end_ns
        self.counters = counters
        self.latency = array.array("q")
        self.done = array.array("q")
        self.lag = array.array("q")
        self.service = array.array("q")
        self.error_ms = array.array("q")
        self.errors: dict[str, int] = {}
        self.examples: dict[str, str] = {}
        self.versions: dict[str, int] = {}
        self.counted = 0
        self.in_window = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def ok(self, start_ns: int, done_ns: int, version: str) -> None:
        self.counters[COMPLETED] += 1
        if self.measure_ns <= done_ns < self.end_ns:
            self.in_window += 1
        if start_ns < self.measure_ns:
            return
        self.counted += 1
        self.latency.append((done_ns - start_ns) // 1000)
        self.done.append((done_ns - self.measure_ns) // 1_000_000)
        self.versions[version] = self.versions.get(version, 0) + 1

    def error(self, start_ns: int, done_ns: int, exc: grpc.aio.AioRpcError) -> None:
        self.counters[ERRORS] += 1
        if self.measure_ns <= done_ns < self.end_ns:
            self.in_window += 1
        if start_ns < self.measure_ns:
            return
        self.counted += 1
        name = exc.code().name
        self.errors[name] = self.errors.get(name, 0) + 1
        self.examples.setdefault(name, (exc.details() or "")[:200])
        self.error_ms.append((done_ns - self.measure_ns) // 1_000_000)

    def result(self, cpu_s: float) -> ShardResult:
        return ShardResult(
            latency_us=self.latency.tobytes(),
            done_ms=self.done.tobytes(),
            lag_us=self.lag.tobytes(),
            service_us=self.service.tobytes(),
            errors=self.errors,
            error_ms=self.error_ms.tobytes(),
            error_examples=self.examples,
            versions=self.versions,
            counted=self.counted,
            completed_in_window=self.in_window,
            max_in_flight_seen=self.max_in_flight,
            cpu_s=cpu_s,
        )


def _version_of(raw: bytes) -> str:
    from driftgate.proto.inference.grpc_service_pb2 import ModelInferResponse

    return ModelInferResponse.FromString(raw).model_version


def _request_source(shard: Shard) -> Callable[[int], bytes]:
    requests = shard.requests
    mask = len(requests) - 1
    if not shard.routing_key_cardinality:
        return lambda i: requests[i & mask]
    from driftgate.bench.requests import RoutingKeys

    keys = RoutingKeys()
    draw = random.Random(shard.seed).randrange
    k = shard.routing_key_cardinality
    entry = keys.entry
    return lambda i: requests[i & mask] + entry(draw(k))


async def open_channels(shard: Shard) -> list[grpc.aio.Channel]:
    tls = tls_of(shard.ca, shard.cert, shard.key)
    channels = [aio_channel(shard.target, tls, _CHANNEL_OPTIONS) for _ in range(shard.channels)]
    await asyncio.wait_for(asyncio.gather(*(c.channel_ready() for c in channels)), timeout=15)
    return channels


async def _closed_loop(shard: Shard, calls: list[Any], rec: _Recorder, start_ns: int) -> None:
    request = _request_source(shard)
    timeout = shard.timeout_s
    end_ns = rec.end_ns
    counters = rec.counters
    clock = time.perf_counter_ns
    version_of = _version_of
    backoff = shard.backoff_s
    exhausted = grpc.StatusCode.RESOURCE_EXHAUSTED
    jitter = random.Random(shard.seed).uniform

    async def worker(w: int) -> None:
        call = calls[w % len(calls)]
        i = w * 7919
        while True:
            t0 = clock()
            if t0 >= end_ns:
                return
            counters[IN_FLIGHT] += 1
            try:
                raw = await call(request(i), timeout=timeout)
            except grpc.aio.AioRpcError as exc:
                counters[IN_FLIGHT] -= 1
                rec.error(t0, clock(), exc)
                if backoff and exc.code() == exhausted:
                    await asyncio.sleep(backoff * jitter(0.5, 1.5))
            else:
                t1 = clock()
                counters[IN_FLIGHT] -= 1
                rec.ok(t0, t1, version_of(raw))
            i += 1

    delay = (start_ns - clock()) / 1e9
    if delay > 0:
        await asyncio.sleep(delay)
    rec.max_in_flight = shard.concurrency
    await asyncio.gather(*(worker(w) for w in range(shard.concurrency)))


async def _open_loop(shard: Shard, calls: list[Any], rec: _Recorder, start_ns: int) -> None:
    request = _request_source(shard)
    timeout = shard.timeout_s
    counters = rec.counters
    clock = time.perf_counter_ns
    version_of = _version_of
    interval_ns = 1e9 / shard.rate
    origin = start_ns + shard.phase_s * 1e9
    end_ns = rec.end_ns
    cap = shard.max_in_flight
    slot_free = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()
    n_calls = len(calls)
    loop = asyncio.get_running_loop()

    async def one(k: int, due: int) -> None:
        sent = clock()
        if due >= rec.measure_ns:
            rec.lag.append((sent - due) // 1000)
        try:
            raw = await calls[k % n_calls](request(k), timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            rec.error(due, clock(), exc)
        else:
            done = clock()
            rec.ok(due, done, version_of(raw))
            if due >= rec.measure_ns:
                rec.service.append((done - sent) // 1000)
        finally:
            rec.in_flight -= 1
            counters[IN_FLIGHT] = rec.in_flight
            slot_free.set()

    k = 0
    while True:
        due = int(origin + k * interval_ns)
        if due >= end_ns:
            break
        now = clock()
        if due > now:
            # timers tick in whole milliseconds: a shorter sleep would spin the loop and burn the
            # CPU the server needs; the lateness this costs is reported as the schedule lag
            await asyncio.sleep(max((due - now) / 1e9, 0.001))
            continue
        while rec.in_flight >= cap:  # the wait counts: latency runs from `due`
            slot_free.clear()
            await slot_free.wait()
        rec.in_flight += 1
        rec.max_in_flight = max(rec.max_in_flight, rec.in_flight)
        counters[IN_FLIGHT] = rec.in_flight
        task = loop.create_task(one(k, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        k += 1
    if tasks:
        await asyncio.gather(*list(tasks))


async def run_shard(
    shard: Shard,
    start_ns: int,
    counters: MutableSequence[int],
    channels: list[grpc.aio.Channel] | None = None,
) -> ShardResult:
    """Run one shard from ``start_ns`` (perf_counter_ns clock); channels are opened if not given."""
    own = channels is None
    if channels is None:
        channels = await open_channels(shard)
    try:
        calls = [c.unary_unary(_INFER, request_serializer=None, response_deserializer=None) for c in channels]
        measure_ns = start_ns + int(shard.warmup_s * 1e9)
        end_ns = measure_ns + int(shard.duration_s * 1e9)
        rec = _Recorder(measure_ns, end_ns, counters)
        cpu: list[float] = []

        async def cpu_window() -> None:
            await asyncio.sleep(max(0.0, (measure_ns - time.perf_counter_ns()) / 1e9))
            cpu.append(time.process_time())
            await asyncio.sleep(max(0.0, (end_ns - time.perf_counter_ns()) / 1e9))
            cpu.append(time.process_time())

        meter = asyncio.ensure_future(cpu_window())
        if shard.rate:
            await _open_loop(shard, calls, rec, start_ns)
        else:
            await _closed_loop(shard, calls, rec, start_ns)
        await meter
        return rec.result(cpu[1] - cpu[0])
    finally:
        if own:
            for c in channels:
                await c.close()
