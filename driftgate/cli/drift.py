"""``driftgate drift``: live drift against the reference profile, per version, summed over gateways."""

from __future__ import annotations

import argparse
from typing import Any

from driftgate.cli.argtypes import INT64_MAX, duration, integer
from driftgate.text_table import TextTable

__all__ = ["register"]


def _fmt(x: float) -> str:
    return "-" if x != x else f"{x:.3f}"  # NaN: no data


def _drift(args: argparse.Namespace) -> int:
    from driftgate.cli._client import connect, print_json
    from driftgate.proto.v1 import control_pb2 as pb

    with connect(args) as stub:
        report = stub.GetDrift(
            pb.GetDriftRequest(model=args.name, version=args.version, window_seconds=args.window), timeout=30
        )
    if args.json:
        print_json(report)
        return 0
    if not report.versions:
        print(f"{report.model}: no drift data in the last {report.window_seconds:g} s")
        return 0
    for v in report.versions:
        table = TextTable(
            title=f"{report.model} version {v.version}: {v.rows} rows in the last {report.window_seconds:g} s"
        )
        for col in ("column", "psi", "js", "ks", "mean shift", "nan rate", "out of range", "rows", "status"):
            table.add_column(col, right=col not in ("column", "status"))
        columns = [*v.features, v.score] if v.HasField("score") else list(v.features)
        for c in columns:
            status = c.status + (" ALERT" if c.alert else "")
            table.add_row(
                c.name,
                _fmt(c.psi),
                _fmt(c.js),
                _fmt(c.ks),
                _fmt(c.mean_shift),
                _fmt(c.nan_rate),
                _fmt(c.out_of_range_rate),
                str(c.rows),
                status,
            )
        print(table)
    return 0


def register(sub: Any) -> None:
    from driftgate.cli._client import command

    p = sub.add_parser("drift", help="drift of a model's inputs and score against its reference profile")
    p.add_argument("name")
    p.add_argument("--version", type=integer(0, INT64_MAX), default=0,
                   help="one version (default: every version with data)")
    p.add_argument(
        "--window",
        type=duration,
        default=300.0,
        metavar="DURATION",
        help="how far back: 30s, 5m, 1h, 7d (default 5m)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=command(_drift))
