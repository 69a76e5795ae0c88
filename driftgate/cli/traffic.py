"""``driftgate traffic``: the split between versions, shadows, and what each gateway applied."""

from __future__ import annotations

import argparse
from typing import Any

from driftgate.cli.argtypes import INT64_MAX, integer, number
from driftgate.text_table import TextTable

__all__ = ["register"]

CALL_TIMEOUT_S = 30.0


def _weights(items: list[str]) -> list[tuple[int, int]]:
    from driftgate.cli._client import CliError

    out = []
    for item in items:
        version, sep, weight = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out.append((int(version), int(weight)))
        except ValueError:
            raise CliError(f"{item!r} must be VERSION=WEIGHT, e.g. 1=95 2=5") from None
        if out[-1][1] < 0:
            raise CliError(f"weight of version {version} must not be negative")
    return out


def _print_traffic(info: Any, as_json: bool) -> None:
    from driftgate.cli._client import print_json

    if as_json:
        print_json(info)
        return
    total = sum(w.weight for w in info.weights) or 1
    table = TextTable(title=f"{info.model}: mode {info.mode}")
    for col in ("version", "weight", "share", "shadow rate"):
        table.add_column(col)
    shadows = {s.version: s.rate for s in info.shadows}
    for w in info.weights:
        shadow = shadows.pop(w.version, None)
        table.add_row(
            str(w.version), str(w.weight), f"{w.weight / total:.1%}", "-" if shadow is None else f"{shadow:g}"
        )
    for version, rate in sorted(shadows.items()):
        table.add_row(str(version), "-", "-", f"{rate:g}")
    print(table)
    if info.applied:
        applied = TextTable(title="applied by gateways")
        for col in ("gateway", "generation", "routes", "shadows"):
            applied.add_column(col)
        for g in info.applied:
            applied.add_row(
                g.gateway_id,
                str(g.generation),
                " ".join(f"v{w.version}={w.weight}" for w in g.weights) or "-",
                " ".join(f"v{s.version}@{s.rate:g}" for s in g.shadows) or "-",
            )
        print(applied)
    else:
        print("no live gateway")


def _set(args: argparse.Namespace) -> int:
    from driftgate.cli._client import actor, connect
    from driftgate.proto.v1 import control_pb2 as pb

    weights = [pb.RouteWeight(version=v, weight=w) for v, w in _weights(args.weights)]
    with connect(args) as stub:
        info = stub.SetTraffic(
            pb.SetTrafficRequest(model=args.name, weights=weights, actor=actor(), reason=args.reason),
            timeout=CALL_TIMEOUT_S,
        )
    _print_traffic(info, args.json)
    return 0


def _latest(args: argparse.Namespace) -> int:
    from driftgate.cli._client import actor, connect
    from driftgate.proto.v1 import control_pb2 as pb

    with connect(args) as stub:
        info = stub.SetTraffic(
            pb.SetTrafficRequest(model=args.name, latest=True, actor=actor(), reason=args.reason),
            timeout=CALL_TIMEOUT_S,
        )
    _print_traffic(info, args.json)
    return 0


def _shadow(args: argparse.Namespace) -> int:
    from driftgate.cli._client import actor, connect
    from driftgate.proto.v1 import control_pb2 as pb

    with connect(args) as stub:
        info = stub.SetShadow(
            pb.SetShadowRequest(
                model=args.name, version=args.version, rate=args.rate, actor=actor(), reason=args.reason
            ),
            timeout=CALL_TIMEOUT_S,
        )
    _print_traffic(info, args.json)
    return 0


def _show(args: argparse.Namespace) -> int:
    from driftgate.cli._client import connect
    from driftgate.proto.v1 import control_pb2 as pb

    with connect(args) as stub:
        info = stub.GetTraffic(pb.GetTrafficRequest(model=args.name), timeout=CALL_TIMEOUT_S)
    _print_traffic(info, args.json)
    return 0


def register(sub: Any) -> None:
    from driftgate.cli._client import command

    p = sub.add_parser("traffic", help="split traffic between versions, shadow, or follow the latest")
    tsub = p.add_subparsers(dest="traffic_command", required=True, metavar="ACTION")

    s = tsub.add_parser("set", help="split unpinned requests by weight, e.g. 1=95 2=5")
    s.add_argument("name")
    s.add_argument("weights", nargs="+", metavar="VERSION=WEIGHT")
    s.add_argument("--reason", default="")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=command(_set))

    latest = tsub.add_parser("latest", help="route to the newest active version READY on each gateway")
    latest.add_argument("name")
    latest.add_argument("--reason", default="")
    latest.add_argument("--json", action="store_true")
    latest.set_defaults(func=command(_latest))

    sh = tsub.add_parser("shadow", help="mirror a share of requests to a version (rate 0 removes)")
    sh.add_argument("name")
    sh.add_argument("version", type=integer(1, INT64_MAX))
    sh.add_argument("--rate", type=number(0, 1), required=True, help="share of requests in (0, 1]; 0 removes")
    sh.add_argument("--reason", default="")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=command(_shadow))

    show = tsub.add_parser("show", help="the split, the shadows, and what each gateway applied")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=command(_show))
