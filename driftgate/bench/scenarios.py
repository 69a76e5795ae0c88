"""Named benchmark scenarios, one command each: ``driftgate bench scenario NAME`` (bench/README.md).

    steady   one closed-loop run against the target
    sweep    concurrency 1, 4, 16, 64 against the target, with a PNG
    compare  bare server, bare server + onnxruntime, and the target, side by side in one run
    swap     register a new version and retire the old one under load; errors and p99 vs steady
    canary   traffic 95/5 over two versions vs one version
    drift    drift sketches on vs off (two gateways, DRIFTGATE_DRIFT__ENABLED)
    shadow   shadow 20% to a second version vs no shadow
    batching adaptive batching off vs on for a heavier model (an MLP), with mean batch sizes

Without ``--target`` a scenario starts ``driftgate serve`` in a temporary home (or ``--serve-home``).
Scenarios that change the registry (swap, canary, shadow) need that home: they call the operator
CLI (``driftgate --home H models register|retire``, ``traffic set|shadow|latest``) as a user would.
A/B scenarios alternate A and B ``--rounds`` times; results are ratios of numbers taken in the same
run. Each scenario writes one JSON file (and a PNG for sweeps) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from driftgate.bench.report import Report, machine_info, render
from driftgate.bench.servers import ServerProcess, driftgate_cli, start_bare, start_serve, wait_model_ready
from driftgate.text_table import TextTable

__all__ = ["SCENARIOS", "run_scenario"]


class ScenarioError(RuntimeError):
    """A scenario cannot run as asked (a missing home, a failing operator command)."""


@dataclass
class Measurement:
    label: str
    report: Report
    server_cpu_us_per_request: float | None = None

    def row(self) -> dict[str, Any]:
        r = self.report
        return {
            "label": self.label,
            "load": _load_name(r.settings),
            "concurrency": r.settings.get("concurrency"),
            "rate": r.settings.get("rate"),
            "throughput_rps": r.throughput_rps,
            "p50_us": r.latency_us.get("p50"),
            "p99_us": r.latency_us.get("p99"),
            "p99.9_us": r.latency_us.get("p99.9"),
            "service_p99_us": r.service_us.get("p99"),
            "schedule_lag_p99_us": r.schedule_lag_us.get("p99"),
            "errors": r.errors,
            "error_examples": r.error_examples,
            "versions": r.versions,
            "client_cpu_us_per_request": r.client_cpu_us_per_request,
            "server_cpu_us_per_request": self.server_cpu_us_per_request,
        }


def _say(text: object) -> None:
    print(text, flush=True)


@dataclass
class Context:
    args: argparse.Namespace
    tmp: Path
    stack: ExitStack
    measurements: list[Measurement] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    # ---- servers -------------------------------------------------------------------------
    def serve(
        self, home: Path | None = None, env: dict[str, str] | None = None, name: str = "driftgate"
    ) -> ServerProcess:
        home = home or Path(self.args.serve_home or self.tmp / name)
        _say(f"starting driftgate serve --home {home} {env or ''}")
        server = self.stack.enter_context(start_serve(home, env, log=self.tmp / f"{name}.log"))
        server.name = name
        wait_model_ready(server.address, self.args.model)
        self.notes.setdefault("servers", {})[name] = {"address": server.address, "home": str(home), "env": env or {}}
        return server

    def target(self) -> tuple[str, Path | None, ServerProcess | None]:
        """The system under test: --target as given, or a driftgate serve started here."""
        if self.args.target:
            home = Path(self.args.serve_home) if self.args.serve_home else None
            return self.args.target, home, None
        server = self.serve()
        return server.address, Path(self.args.serve_home or self.tmp / "driftgate"), server

    def onnx(self, kind: str = "gbt", seed: int = 0) -> tuple[Path, Path]:
        """A demo model file and its reference rows (.npy)."""
        from driftgate.bench.floors import demo_model

        model, reference = demo_model(kind, seed=seed)
        path, ref = self.tmp / f"{kind}-{seed}.onnx", self.tmp / f"{kind}-{seed}-reference.npy"
        path.write_bytes(model)
        np.save(ref, reference)
        return path, ref

    # ---- the operator CLI ------------------------------------------------------------------
    def cli(self, home: Path | None, *argv: str) -> str:
        if home is None:
            raise ScenarioError("this scenario changes the registry: start it without --target, or pass --serve-home")
        _say(f"$ driftgate --home {home} {' '.join(argv)}")
        done = subprocess.run([*driftgate_cli(home), *argv], capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise ScenarioError(f"driftgate {' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-1000:]}")
        return done.stdout.strip()

    # ---- load ----------------------------------------------------------------------------
    def measure(self, label: str, target: str, server: ServerProcess | None = None, **load: Any) -> Measurement:
        """One run; ``load`` overrides the command line's settings (concurrency, rate, duration_s...)."""
        from driftgate.bench.config import config_from_args
        from driftgate.bench.runner import run

        load.setdefault("concurrency", 16)
        config = config_from_args(self.args, target=target, **load)
        cpu0 = server.cpu_s() if server else 0.0
        t0 = time.perf_counter()
        report = run(config, label=label)
        cpu = (server.cpu_s() - cpu0) if server else 0.0
        elapsed = time.perf_counter() - t0
        per_req = None
        if server is not None and report.counted:
            # server CPU over the whole call (warm-up and drain included) per request sent in that time
            sent = report.counted * (elapsed / max(report.window_s, 1e-9))
            per_req = round(cpu / sent * 1e6, 1)
        m = Measurement(label, report, per_req)
        self.measurements.append(m)
        _say(
            f"  {label:<24} {_load_name(config):<7} {report.throughput_rps:>9,.1f} req/s"
            f"  p50 {_ms(report.latency_us.get('p50'))}"
            f"  p99 {_ms(report.latency_us.get('p99'))} ms  errors {report.error_count}  versions {report.versions}"
        )
        return m

    def concurrency(self, default: list[int]) -> list[int]:
        return list(self.args.concurrency or default)

    def loads(self, default: list[int]) -> list[dict[str, Any]]:
        """Sweep points: open-loop rates when --rate is given, else closed-loop concurrencies."""
        if self.args.rate:
            return [{"rate": r} for r in self.args.rate]
        return [{"concurrency": c} for c in self.concurrency(default)]


def _load_name(config: Any) -> str:
    get = config.get if isinstance(config, dict) else lambda k: getattr(config, k)
    return f"{get('rate'):g}/s" if get("rate") else f"c{get('concurrency')}"


def _ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.3f}"


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def _ab(
    ctx: Context, name_a: str, name_b: str, run_a: Callable[[], Measurement], run_b: Callable[[], Measurement]
) -> dict[str, Any]:
    """Alternate A and B for --rounds and return B/A ratios of the means."""
    a, b = [], []
    for _ in range(max(1, ctx.args.rounds)):
        a.append(run_a())
        b.append(run_b())

    def stat(ms: list[Measurement], key: str) -> float:
        if key == "throughput":
            return _mean([m.report.throughput_rps for m in ms])
        return _mean([m.report.latency_us.get(key, float("nan")) for m in ms])

    summary: dict[str, Any] = {"a": name_a, "b": name_b}
    for key in ("throughput", "p50", "p99"):
        summary[f"{key}_a"], summary[f"{key}_b"] = stat(a, key), stat(b, key)
        summary[f"{key}_ratio_b_over_a"] = round(stat(b, key) / stat(a, key), 3) if stat(a, key) else None
    summary["errors_a"] = sum(m.report.error_count for m in a)
    summary["errors_b"] = sum(m.report.error_count for m in b)
    _say(
        f"{name_b} / {name_a}: throughput x{summary['throughput_ratio_b_over_a']}, "
        f"p50 x{summary['p50_ratio_b_over_a']}, p99 x{summary['p99_ratio_b_over_a']}; "
        f"errors {summary['errors_a']} vs {summary['errors_b']}"
    )
    return summary


# ---- scenarios ---------------------------------------------------------------------------


def _steady(ctx: Context) -> dict[str, Any]:
    target, _, server = ctx.target()
    m = ctx.measure("steady", target, server, **ctx.loads([16])[0])
    _say(render(m.report))
    return {}


def _sweep(ctx: Context) -> dict[str, Any]:
    from driftgate.bench.plot import plot_sweep

    target, _, server = ctx.target()
    reports = [ctx.measure("target", target, server, **load).report for load in ctx.loads([1, 4, 16, 64])]
    png = ctx.notes["png"] = str(plot_sweep({target: reports}, ctx.args.png_path, title=f"sweep {target}"))
    _say(f"plot: {png}")
    return {}


def _compare(ctx: Context) -> dict[str, Any]:
    """bare, bare+score and the target at each load point, interleaved round by round."""
    from driftgate.bench.plot import plot_sweep

    onnx = Path(ctx.args.onnx) if ctx.args.onnx else ctx.onnx("gbt")[0]
    bare = ctx.stack.enter_context(start_bare(None, log=ctx.tmp / "bare.log"))
    scored = ctx.stack.enter_context(start_bare(str(onnx), log=ctx.tmp / "bare-score.log"))
    target, _, server = ctx.target()
    systems = [("bare", bare.address, bare), ("bare+score", scored.address, scored), ("target", target, server)]
    table: list[dict[str, Any]] = []
    series: dict[str, list[Report]] = {name: [] for name, _, _ in systems}
    for load in ctx.loads([1, 16, 64]):
        runs: dict[str, list[Measurement]] = {name: [] for name, _, _ in systems}
        for _ in range(max(1, ctx.args.rounds)):
            for name, address, proc in systems:
                runs[name].append(ctx.measure(name, address, proc, **load))
        for name, ms in runs.items():
            series[name].append(max(ms, key=lambda m: m.report.throughput_rps).report)
            rps = [m.report.throughput_rps for m in ms]
            table.append(
                {
                    "system": name,
                    "load": _load_name(runs[name][0].report.settings),
                    "throughput_rps": [min(rps), max(rps)],
                    "p50_us": sorted(m.report.latency_us.get("p50", 0) for m in ms),
                    "p99_us": sorted(m.report.latency_us.get("p99", 0) for m in ms),
                    "errors": sum(m.report.error_count for m in ms),
                    "server_cpu_us_per_request": [m.server_cpu_us_per_request for m in ms],
                    "client_cpu_us_per_request": [m.report.client_cpu_us_per_request for m in ms],
                    "throughput_vs_bare": round(_mean(rps) / _mean([m.report.throughput_rps for m in runs["bare"]]), 3),
                }
            )
    t = TextTable(title="bare vs bare+score vs target (ranges over rounds)")
    for col in ("system", "load", "req/s", "p50 ms", "p99 ms", "errors", "vs bare", "server CPU us/req"):
        t.add_column(col, right=col != "system")
    for row in table:
        t.add_row(
            row["system"], row["load"],
            "-".join(f"{v:,.0f}" for v in row["throughput_rps"]),
            "-".join(_ms(v) for v in row["p50_us"]), "-".join(_ms(v) for v in row["p99_us"]),
            str(row["errors"]), f"{row['throughput_vs_bare']:.2f}",
            ", ".join("-" if v is None else f"{v:.0f}" for v in row["server_cpu_us_per_request"]),
        )  # fmt: skip
    _say(t)
    ctx.notes["png"] = str(plot_sweep(series, ctx.args.png_path, title="bare vs bare+score vs target"))
    return {"table": table, "onnx": str(onnx)}


def _new_version(ctx: Context, home: Path | None, seed: int = 1) -> int:
    model, reference = ctx.onnx("gbt", seed=seed)
    out = ctx.cli(home, "models", "register", ctx.args.model, str(model), "--reference", str(reference))
    return int(out.split()[-1])


def _current_version(ctx: Context, target: str) -> str:
    probe = ctx.measure("probe", target, None, concurrency=1, duration_s=0.5, warmup_s=0.2)
    if not probe.report.versions:
        raise ScenarioError(f"no successful request to {target}: {probe.report.errors}")
    return max(probe.report.versions.items(), key=lambda kv: kv[1])[0]


def _swap(ctx: Context) -> dict[str, Any]:
    target, home, server = ctx.target()
    if home is None:
        raise ScenarioError("swap registers and retires versions: start it without --target, or pass --serve-home")
    load = ctx.loads([16])[0]
    old = _current_version(ctx, target)
    model, reference = ctx.onnx("gbt", seed=1)
    steady = ctx.measure("steady", target, server, **load)
    events: dict[str, Any] = {"old_version": old}
    window = ctx.args.duration
    warmup = ctx.args.warmup

    def operate() -> None:
        t0 = time.monotonic()
        try:
            time.sleep(warmup + window / 4)
            events["register_at_s"] = round(time.monotonic() - t0 - warmup, 2)
            out = ctx.cli(home, "models", "register", ctx.args.model, str(model), "--reference", str(reference))
            events["new_version"] = int(out.split()[-1])
            events["registered_at_s"] = round(time.monotonic() - t0 - warmup, 2)
            time.sleep(max(0.0, warmup + window / 2 - (time.monotonic() - t0)))
            events["retire_at_s"] = round(time.monotonic() - t0 - warmup, 2)
            ctx.cli(home, "models", "retire", ctx.args.model, old, "--reason", "bench swap")
            events["retired_at_s"] = round(time.monotonic() - t0 - warmup, 2)
        except Exception as exc:  # reported in the result; the load run finishes regardless
            events["error"] = str(exc)

    worker = threading.Thread(target=operate, daemon=True)
    worker.start()
    swap = ctx.measure("during swap", target, server, **load)
    worker.join(timeout=300)
    _say(render(swap.report))
    result: dict[str, Any] = {
        "events": events,
        "steady": {"p99_us": steady.report.latency_us.get("p99"), "errors": steady.report.errors},
        "swap": {
            "p99_us": swap.report.latency_us.get("p99"),
            "errors": swap.report.errors,
            "versions": swap.report.versions,
        },
        "p99_ratio_swap_over_steady": round(swap.report.latency_us.get("p99", 0) / steady.report.latency_us["p99"], 3)
        if steady.report.latency_us.get("p99")
        else None,
        "failed_requests_during_swap": swap.report.error_count,
        "timeline": swap.report.timeline,
    }
    _say(
        f"swap: {result['failed_requests_during_swap']} failed requests; p99 {_ms(result['swap']['p99_us'])} ms "
        f"vs steady {_ms(result['steady']['p99_us'])} ms; events {events}"
    )
    return result


def _canary(ctx: Context) -> dict[str, Any]:
    target, home, server = ctx.target()
    load = ctx.loads([16])[0]
    old = _current_version(ctx, target)
    new = _new_version(ctx, home)
    model = ctx.args.model

    def single() -> Measurement:
        ctx.cli(home, "traffic", "set", model, f"{old}=100")
        time.sleep(2)  # the gateway applies a config within its report interval
        return ctx.measure("single", target, server, **load)

    def canary() -> Measurement:
        ctx.cli(home, "traffic", "set", model, f"{old}=95", f"{new}=5")
        time.sleep(2)
        return ctx.measure("canary 95/5", target, server, **load)

    try:
        summary = _ab(ctx, "single", "canary 95/5", single, canary)
    finally:
        ctx.cli(home, "traffic", "latest", model)
    shares: dict[str, int] = {}
    for m in ctx.measurements:
        if m.label == "canary 95/5":
            for v, n in m.report.versions.items():
                shares[v] = shares.get(v, 0) + n
    total = sum(shares.values()) or 1
    summary["canary_share"] = {v: round(n / total, 4) for v, n in shares.items()}
    summary["versions"] = {"old": old, "new": new}
    return summary


def _drift(ctx: Context) -> dict[str, Any]:
    if ctx.args.target:
        raise ScenarioError("drift on vs off starts its own two gateways; run it without --target")
    load = ctx.loads([16])[0]
    on = ctx.serve(ctx.tmp / "drift-on", {"DRIFTGATE_DRIFT__ENABLED": "true"}, name="drift-on")
    off = ctx.serve(ctx.tmp / "drift-off", {"DRIFTGATE_DRIFT__ENABLED": "false"}, name="drift-off")
    return _ab(
        ctx, "drift off", "drift on",
        lambda: ctx.measure("drift off", off.address, off, **load),
        lambda: ctx.measure("drift on", on.address, on, **load),
    )  # fmt: skip


def _shadow(ctx: Context) -> dict[str, Any]:
    target, home, server = ctx.target()
    load = ctx.loads([16])[0]
    old = _current_version(ctx, target)
    new = _new_version(ctx, home)
    model = ctx.args.model
    ctx.cli(home, "traffic", "set", model, f"{old}=100")

    def shadow(rate: float, label: str) -> Callable[[], Measurement]:
        def run() -> Measurement:
            ctx.cli(home, "traffic", "shadow", model, str(new), "--rate", f"{rate:g}")
            time.sleep(2)
            return ctx.measure(label, target, server, **load)

        return run

    try:
        summary = _ab(ctx, "no shadow", "shadow 20%", shadow(0, "no shadow"), shadow(0.2, "shadow 20%"))
    finally:
        ctx.cli(home, "traffic", "shadow", model, str(new), "--rate", "0")
        ctx.cli(home, "traffic", "latest", model)
    summary["versions"] = {"served": old, "shadow": new}
    return summary


HEAVY_MODEL = "heavy"
DEFAULT_BATCHING = ("64:100", "64:0")  # MAX_ROWS:MAX_DELAY_US variants of the batching scenario


def heavy_model(
    rows: int = 5_000, seed: int = 0, hidden: tuple[int, ...] = (512, 512, 512)
) -> tuple[bytes, np.ndarray]:
    """A heavier fraud model for batching: an MLP on the demo data (scaler + 30-512-512-512-2),
    exported with skl2onnx. Its session.run costs ~97 us at batch 1, ~330 us at 16 and ~1,030 us
    at 64 on the 2-core dev box (bench/batching.md), where the demo gbt costs ~25 and ~330 us at
    1 and 64: a dense layer reads all its weights for one row or for many, so batching pays."""
    import warnings

    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from driftgate.demo import generate

    data = generate(rows, seed=seed)
    mlp = MLPClassifier(hidden, max_iter=20, random_state=seed)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a benchmark model, not a good one
        clf = make_pipeline(StandardScaler(), mlp).fit(data.X, data.y)
    onx = convert_sklearn(
        clf,
        initial_types=[("transaction", FloatTensorType([None, data.X.shape[1]]))],
        options={id(mlp): {"zipmap": False}},
        target_opset=17,
    )
    return onx.SerializeToString(), np.ascontiguousarray(data.X[:5000], dtype=np.float32)


def _model_stats(target: str, model: str) -> tuple[int, int, int]:
    """(rows, session runs, successful requests) of every version of ``model``, from ModelStatistics."""
    import grpc

    from driftgate.proto.inference import grpc_service_pb2 as pb
    from driftgate.proto.inference import grpc_service_pb2_grpc as pb_grpc

    with grpc.insecure_channel(target) as channel:
        reply = pb_grpc.GRPCInferenceServiceStub(channel).ModelStatistics(
            pb.ModelStatisticsRequest(name=model), timeout=10
        )
    stats = list(reply.model_stats)
    return (
        sum(s.inference_count for s in stats),
        sum(s.execution_count for s in stats),
        sum(s.inference_stats.success.count for s in stats),
    )


def _wait_batching(target: str, model: str, delay_us: int | None, timeout: float = 60) -> None:
    """Until the gateway's ModelConfig shows the batching setting just made (None: off)."""
    import grpc

    from driftgate.proto.inference import grpc_service_pb2 as pb
    from driftgate.proto.inference import grpc_service_pb2_grpc as pb_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        while time.monotonic() < deadline:
            config = stub.ModelConfig(pb.ModelConfigRequest(name=model), timeout=5).config
            on = config.HasField("dynamic_batching")
            if on and config.dynamic_batching.max_queue_delay_microseconds == delay_us:
                return
            if delay_us is None and not on:
                return
            time.sleep(0.1)
    raise ScenarioError(f"the gateway at {target} did not apply batching {delay_us} to {model} in {timeout:.0f} s")


def _batching(ctx: Context) -> dict[str, Any]:
    """Batching off vs each --batching MAX:DELAY_US variant on a heavier model, at each concurrency,
    interleaved round by round; mean batch size from ModelStatistics (rows / session runs)."""
    target, home, server = ctx.target()
    if home is None:
        raise ScenarioError(
            "batching registers a model and changes its settings: run it without --target, or pass --serve-home"
        )
    if ctx.args.onnx:
        model_path, reference = Path(ctx.args.onnx), None
    else:
        onnx_bytes, ref_rows = heavy_model()
        model_path, reference = ctx.tmp / "heavy-mlp.onnx", ctx.tmp / "heavy-mlp-reference.npy"
        model_path.write_bytes(onnx_bytes)
        np.save(reference, ref_rows)
    name = HEAVY_MODEL
    ctx.cli(home, "models", "register", name, str(model_path), *(["--reference", str(reference)] if reference else []))
    wait_model_ready(target, name)
    variants: list[tuple[str, tuple[int, int] | None]] = [("off", None)]
    for spec in ctx.args.batching or DEFAULT_BATCHING:
        rows_text, _, delay_text = spec.partition(":")
        variants.append((f"on {rows_text} rows {delay_text} us", (int(rows_text), int(delay_text))))

    def switch(setting: tuple[int, int] | None) -> None:
        if setting is None:
            ctx.cli(home, "models", "batching", name, "--off")
            _wait_batching(target, name, None)
        else:
            ctx.cli(home, "models", "batching", name, "--max-batch", str(setting[0]), "--max-delay-us", str(setting[1]))
            _wait_batching(target, name, setting[1])

    table: list[dict[str, Any]] = []

    def mean_rps(ms: list[tuple[Measurement, float]]) -> float:
        return _mean([m.report.throughput_rps for m, _ in ms])

    try:
        for load in ctx.loads([16, 64]):
            runs: dict[str, list[tuple[Measurement, float]]] = {label: [] for label, _ in variants}
            for _ in range(max(1, ctx.args.rounds)):
                for label, setting in variants:
                    switch(setting)
                    rows0, execs0, _ = _model_stats(target, name)
                    m = ctx.measure(label, target, server, model=name, **load)
                    rows1, execs1, _ = _model_stats(target, name)
                    mean_batch = (rows1 - rows0) / max(1, execs1 - execs0)
                    _say(f"    mean batch {mean_batch:.2f} rows ({execs1 - execs0} session runs)")
                    runs[label].append((m, mean_batch))
            for label, ms in runs.items():
                rps = [m.report.throughput_rps for m, _ in ms]
                table.append(
                    {
                        "variant": label,
                        "load": _load_name(ms[0][0].report.settings),
                        "throughput_rps": sorted(rps),
                        "p50_us": sorted(m.report.latency_us.get("p50", 0) for m, _ in ms),
                        "p99_us": sorted(m.report.latency_us.get("p99", 0) for m, _ in ms),
                        "mean_batch_rows": sorted(round(b, 2) for _, b in ms),
                        "errors": sum(m.report.error_count for m, _ in ms),
                        "server_cpu_us_per_request": [m.server_cpu_us_per_request for m, _ in ms],
                        "throughput_vs_off": round(mean_rps(ms) / mean_rps(runs["off"]), 3),
                    }
                )
    finally:
        switch(None)
    t = TextTable(title=f"adaptive batching on {name} (ranges over {max(1, ctx.args.rounds)} rounds)")
    for col in ("variant", "load", "req/s", "p50 ms", "p99 ms", "mean batch", "errors", "vs off", "server CPU us/req"):
        t.add_column(col, right=col != "variant")
    for row in table:
        t.add_row(
            row["variant"], row["load"],
            "-".join(f"{v:,.0f}" for v in (row["throughput_rps"][0], row["throughput_rps"][-1])),
            "-".join(_ms(v) for v in (row["p50_us"][0], row["p50_us"][-1])),
            "-".join(_ms(v) for v in (row["p99_us"][0], row["p99_us"][-1])),
            "-".join(f"{v:.1f}" for v in (row["mean_batch_rows"][0], row["mean_batch_rows"][-1])),
            str(row["errors"]), f"{row['throughput_vs_off']:.2f}",
            ", ".join("-" if v is None else f"{v:.0f}" for v in row["server_cpu_us_per_request"]),
        )  # fmt: skip
    _say(t)
    return {"model": str(model_path), "variants": [label for label, _ in variants], "table": table}


SCENARIOS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "steady": _steady,
    "sweep": _sweep,
    "compare": _compare,
    "swap": _swap,
    "canary": _canary,
    "drift": _drift,
    "shadow": _shadow,
    "batching": _batching,
}


def run_scenario(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.png_path = out / f"{args.name}-{stamp}.png"
    started = time.time()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="driftgate-bench-") as tmp:
        ctx = Context(args, Path(tmp), stack)
        status = 0
        try:
            result = SCENARIOS[args.name](ctx)
        except Exception as exc:  # the scenario's own failure, written down with what was measured
            _say(f"scenario {args.name} failed: {exc}")
            result, status = {"error": f"{type(exc).__name__}: {exc}"}, 1
    doc = {
        "scenario": args.name,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "command": "driftgate " + " ".join(sys.argv[1:]),
        "machine": machine_info(),
        "result": result,
        "notes": ctx.notes,
        "measurements": [m.row() for m in ctx.measurements],
    }
    path = out / f"{args.name}-{stamp}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    _say(f"results: {path}")
    return status
