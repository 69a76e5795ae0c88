"""Benchmarking for any Open Inference Protocol gRPC endpoint.

    config       BenchConfig: what one load run is asked to do
    requests     pre-serialised ModelInfer requests built from the target's ModelMetadata
    loadgen      the closed and open loops (one shard per process)
    runner       run / run_async: metadata, shards, merge
    report       Report, machine_info, render (a text table) and JSON
    plot         plot_sweep: latency percentiles against throughput (PNG)
    bare_server  the minimal V2 server, the floor a gateway is compared with
    floors       onnxruntime session.run in-process
    scenarios    the named comparisons of bench/README.md

Names other than the config's are loaded on first use, so ``driftgate --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from driftgate.bench.config import BenchConfig, BenchConfigError

__all__ = [
    "BenchConfig",
    "BenchConfigError",
    "BenchTargetError",
    "Report",
    "machine_info",
    "plot_sweep",
    "run",
    "run_async",
]

_LAZY = {
    "BenchTargetError": "driftgate.bench.runner",
    "run": "driftgate.bench.runner",
    "run_async": "driftgate.bench.runner",
    "Report": "driftgate.bench.report",
    "machine_info": "driftgate.bench.report",
    "plot_sweep": "driftgate.bench.plot",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'driftgate.bench' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
