"""``driftgate bench``: load any Open Inference Protocol gRPC endpoint and report what it did.

    driftgate bench --target 127.0.0.1:8001 --model fraud --concurrency 16 --duration 10s
    driftgate bench --target 127.0.0.1:8001 --model fraud --rate 2000 --duration 10s --json
    driftgate bench --concurrency 1,4,16,64 --duration 5s --plot sweep.png     # a sweep
    driftgate bench scenario NAME [...]                                         # bench/README.md
    driftgate bench floors                                                      # in-process floors

Heavy modules (grpc, numpy) are imported inside the command functions. The load runs and scenarios need the
``bench`` extra (``pip install 'driftgate[bench]'``: HdrHistogram, matplotlib); ``floors`` does not.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from driftgate.cli.argtypes import INT32_MAX, INT64_MAX, integer

__all__ = ["register"]

SCENARIOS = ("steady", "sweep", "compare", "swap", "canary", "drift", "shadow", "batching")


def _duration(text: str) -> float:
    """A duration of 0 or more (driftgate/durations.py); whether 0 fits is BenchConfig.validate's call."""
    from driftgate.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or a comma-separated list of numbers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: use positive whole numbers, e.g. 16 or 1,4,16,64")
    return values


def _float_list(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate or a comma-separated list of rates") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: rates must be positive, e.g. 2000 or 500,1000,2000")
    return values


def _batching_spec(text: str) -> str:
    rows, sep, delay = text.partition(":")
    if not sep or not rows.isdigit() or not delay.isdigit() or int(rows) < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: use MAX_ROWS:MAX_DELAY_US, e.g. 32:200")
    return text


def _add_load_options(p: argparse.ArgumentParser, *, loop_options: bool = True) -> None:
    p.add_argument("--target", default="127.0.0.1:8001", help="HOST:PORT of the V2 gRPC endpoint")
    p.add_argument("--model", default="fraud")
    p.add_argument("--model-version", default="", help="version to ask for (default: the server's choice)")
    if loop_options:
        loop = p.add_mutually_exclusive_group()
        loop.add_argument(
            "--concurrency", type=_int_list, help="closed loop: requests in flight (list: a sweep); default 16"
        )
        loop.add_argument("--rate", type=_float_list, help="open loop: requests/s on a fixed timetable (list: a sweep)")
    p.add_argument("--duration", type=_duration, default=10.0, help="measurement window, e.g. 10s, 500ms, 1m")
    p.add_argument("--warmup", type=_duration, default=2.0, help="load before the window, not counted")
    p.add_argument("--batch-size", type=integer(1, INT32_MAX), default=1, help="rows per request")
    p.add_argument("--routing-key-cardinality", type=integer(0, INT32_MAX), default=0,
                   help="send parameter routing_key from K card ids")
    p.add_argument(
        "--input-data", default="demo", help="demo (driftgate.demo.generate), random, or rows in a .npy file"
    )
    p.add_argument("--drift", default=None, help="drift preset for the demo data")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--raw", dest="raw", action="store_true", default=True, help="raw_input_contents (default)")
    fmt.add_argument("--typed", dest="raw", action="store_false", help="typed InferTensorContents")
    p.add_argument("--processes", type=integer(0, 1024), default=0, help="load processes (0: this one)")
    p.add_argument("--channels", type=integer(0, 65536), default=0,
                   help="connections per process (0: one per 8 in flight)")
    p.add_argument("--max-in-flight", type=integer(1, INT32_MAX), default=1024,
                   help="open loop: cap on outstanding requests")
    p.add_argument("--timeout", type=_duration, default=10.0, help="deadline of each request")
    p.add_argument("--backoff", type=_duration, default=0.0,
                   help="closed loop: after a RESOURCE_EXHAUSTED answer, wait 0.5-1.5 times this before the "
                        "next request, as a client told to back off does (default 0: resend at once)")
    p.add_argument("--seed", type=integer(0, INT64_MAX), default=0)
    p.add_argument("--quiet", action="store_true", help="no live progress line")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench",
        help="load an Open Inference Protocol gRPC endpoint; scenarios and floors",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n")[1],
    )
    _add_load_options(p)
    p.add_argument("--input-spec", action="append", default=[], help="NAME:DATATYPE:DIMS, skip ModelMetadata")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--plot", help="write latency percentiles against throughput to this PNG")
    p.add_argument("--label", default="")
    p.set_defaults(func=_bench)

    sub = p.add_subparsers(dest="bench_command", metavar="{scenario,floors}")
    s = sub.add_parser("scenario", help="run a named comparison (bench/README.md)")
    s.add_argument("name", choices=SCENARIOS)
    _add_load_options(s, loop_options=False)
    loop = s.add_mutually_exclusive_group()
    loop.add_argument("--concurrency", type=_int_list, default=None, help="closed-loop concurrency (list for sweeps)")
    loop.add_argument("--rate", type=_float_list, default=None, help="open-loop rates instead (list for sweeps)")
    s.add_argument("--onnx", help="model for the bare+score server (default: trained on the demo data)")
    s.add_argument("--serve-home", help="use this driftgate home instead of a temporary one")
    s.add_argument("--rounds", type=integer(1, 1000), default=2, help="A/B alternations per comparison")
    s.add_argument(
        "--batching", action="append", default=None, type=_batching_spec, metavar="MAX_ROWS:MAX_DELAY_US",
        help="batching scenario: a setting to compare with batching off (repeatable; default 64:100 and 64:0)",
    )
    s.add_argument("--out", default="bench/results", help="folder for the JSON and PNG results")
    s.set_defaults(func=_scenario, target=None)

    f = sub.add_parser("floors", help="onnxruntime session.run in-process at batch 1 and 64")
    f.add_argument("--onnx", help="model (default: trained on the demo data)")
    f.add_argument("--calls", type=integer(1, INT32_MAX), default=20000)
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=_floors)


class ProgressLine:
    """One status line on a terminal's stderr, rewritten in place and cleared at the end."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def update(self, p: dict[str, Any]) -> None:
        text = (
            f"{p['phase']:<8} {p['elapsed_s']:5.1f}/{p['total_s']:.0f}s  completed {p['completed']:,}  "
            f"errors {p['errors']:,}  in flight {p['in_flight']:,}"
        )
        self._stream.write(f"\r{text}\x1b[K")
        self._stream.flush()

    def clear(self) -> None:
        self._stream.write("\r\x1b[K")
        self._stream.flush()


def _bench(args: argparse.Namespace) -> int:
    import json

    from driftgate.cli.extras import require

    require("bench", "driftgate bench", "hdrh", *(["matplotlib"] if args.plot else []))

    from driftgate.bench.config import BenchConfigError, config_from_args
    from driftgate.bench.report import machine_info, render
    from driftgate.bench.runner import BenchTargetError, parse_input_spec, run
    from driftgate.cli._tls import tls_settings
    from driftgate.errors import DriftgateError

    def fail(exc: Exception) -> int:
        print(f"driftgate bench: {exc}", file=sys.stderr, flush=True)
        return 2

    tls = tls_settings(args)  # --ca/--cert/--key or DRIFTGATE_TLS__*: the target is dialled over TLS
    files = {name: str(getattr(tls, name) or "") for name in ("ca", "cert", "key")}
    try:
        specs = [parse_input_spec(t) for t in args.input_spec]
        if args.rate:
            configs = [config_from_args(args, rate=r, **files) for r in args.rate]
        else:
            configs = [config_from_args(args, concurrency=c, **files) for c in (args.concurrency or [16])]
    except BenchConfigError as exc:
        return fail(exc)
    reports = []
    for config in configs:
        progress = ProgressLine(sys.stderr) if not args.quiet and sys.stderr.isatty() else None
        try:
            report = run(config, progress.update if progress else None, specs, args.label)
        except (BenchConfigError, BenchTargetError, DriftgateError) as exc:
            return fail(exc)
        finally:
            if progress is not None:
                progress.clear()
        reports.append(report)
        if not args.json:
            print(render(report), flush=True)
    if args.plot:
        from driftgate.bench.plot import plot_sweep

        name = args.label or f"{args.model} @ {args.target}"
        path = plot_sweep({name: reports}, args.plot, title=name)
        if not args.json:
            print(f"plot: {path}", flush=True)
    if args.json:
        if len(reports) == 1:
            doc = reports[0].to_dict()
        else:
            doc = {"kind": "sweep", "machine": machine_info(), "runs": [r.to_dict() for r in reports]}
        sys.stdout.write(json.dumps(doc) + "\n")
    return 1 if any(r.counted == 0 for r in reports) else 0


def _scenario(args: argparse.Namespace) -> int:
    from driftgate.cli.extras import require

    require("bench", "driftgate bench scenario", "hdrh", "matplotlib")
    from driftgate.bench.scenarios import run_scenario

    return run_scenario(args)


def _floors(args: argparse.Namespace) -> int:
    import json

    from driftgate.bench.floors import measure_floors, render_floors

    result = measure_floors(args.onnx, calls=args.calls)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        print(render_floors(result), flush=True)
    return 0
