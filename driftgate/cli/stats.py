"""``driftgate stats``: a model's live traffic per version over a recent window, summed over
gateways (or one row per gateway): requests, req/s, errors by code, latency percentiles, the share
each version got against the one configured, and a shadow's agreement with the primary."""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

from driftgate.cli.argtypes import duration
from driftgate.text_table import TextTable

__all__ = ["register"]


def _ms(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.2f}"


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:.1f}%"


def _table(report: Any) -> Any:
    by_gateway = any(v.gateway_id for v in report.versions)
    title = (
        f"{report.model} ({report.mode}): {report.requests} requests in the last "
        f"{report.covered_seconds:.0f} s"
        + (f" (of {report.window_seconds:g} s asked: the registry has no older history)"
           if report.covered_seconds < 0.9 * report.window_seconds else "")
    )
    table = TextTable(title=title)
    columns = ["version", *(["gateway"] if by_gateway else []), "role", "requests", "req/s", "errors",
               "p50 ms", "p90 ms", "p99 ms", "share", "configured", "shadow"]
    for col in columns:
        table.add_column(col, right=col not in ("version", "gateway", "role", "errors", "shadow"))
    for v in report.versions:
        errors = ", ".join(f"{code} {n}" for code, n in sorted(v.errors.items())) or "-"
        shadow = "-"
        if v.role == "shadow" or v.shadow_mirrored or v.shadow_dropped:
            shadow = (f"mirrored {v.shadow_mirrored}, dropped {v.shadow_dropped}, agree {_pct(v.shadow_agreement)}, "
                      f"|diff| {'-' if math.isnan(v.shadow_mean_abs_diff) else f'{v.shadow_mean_abs_diff:.4f}'}")
        label = "refused" if v.version == 0 else str(v.version)
        configured = _pct(v.configured_share) if v.role != "refused" else "-"
        if v.role == "shadow":
            configured = f"mirror {_pct(v.shadow_rate)}"
        row = [label, *([v.gateway_id] if by_gateway else []), v.role, str(v.requests),
               f"{v.requests_per_second:.1f}", errors, _ms(v.p50_ms), _ms(v.p90_ms), _ms(v.p99_ms),
               _pct(v.share), configured, shadow]
        table.add_row(*row)
    return table


def _stats(args: argparse.Namespace) -> int:
    from driftgate.cli._client import connect, message_to_dict, print_json
    from driftgate.proto.v1 import control_pb2 as pb

    request = pb.GetStatsRequest(
        model=args.name, window_seconds=args.window, by_gateway=args.by_gateway,
        series_step_seconds=args.series or 0.0,
    )
    shown = 0
    with connect(args) as stub:
        while True:
            report = stub.GetStats(request, timeout=30)
            shown += 1
            if args.json and args.watch:
                print(json.dumps(message_to_dict(report), allow_nan=False), flush=True)  # one line a report
            elif args.json:
                print_json(report)
            else:
                if args.watch:
                    print(time.strftime("%H:%M:%S"), flush=True)
                print(_table(report), flush=True)
            if not args.watch or (args.count and shown >= args.count):
                return 0
            time.sleep(args.interval)


def register(sub: Any) -> None:
    from driftgate.cli._client import command

    p = sub.add_parser("stats", help="live traffic per version: requests, errors, latency, shares, shadow agreement")
    p.add_argument("name")
    p.add_argument("--window", type=duration, default=60.0, metavar="DURATION",
                   help="how far back: 30s, 1m, 5m (default 1m; at most the registry's stats.history_s)")
    p.add_argument("--by-gateway", action="store_true", help="one row per version per gateway")
    p.add_argument("--json", action="store_true", help="the StatsReport message (one line a report with --watch)")
    p.add_argument("--series", type=duration, default=None, metavar="STEP",
                   help="also the time series over the window at this step (with --json)")
    p.add_argument("--watch", action="store_true", help="print again every --interval until interrupted")
    p.add_argument("--interval", type=duration, default=2.0, metavar="DURATION",
                   help="between reports with --watch (default 2s)")
    p.add_argument("--count", type=int, default=0, help="with --watch: stop after this many reports (0: never)")
    p.set_defaults(func=command(_stats))
