"""``driftgate events``: the audit log, newest first."""

from __future__ import annotations

import argparse
from typing import Any

from driftgate.cli.argtypes import INT32_MAX, integer
from driftgate.text_table import TextTable

__all__ = ["register"]


def _events(args: argparse.Namespace) -> int:
    from driftgate.cli._client import connect, print_json
    from driftgate.proto.v1 import control_pb2 as pb

    with connect(args) as stub:
        reply = stub.ListEvents(pb.ListEventsRequest(model=args.name or "", limit=args.limit), timeout=30)
    if args.json:
        print_json(reply)
        return 0
    table = TextTable(title=f"events{' of ' + args.name if args.name else ''}")
    for col in ("id", "at", "model", "version", "kind", "actor", "message"):
        table.add_column(col)
    for e in reply.events:
        table.add_row(
            str(e.id),
            e.at[:19].replace("T", " "),
            e.model or "-",
            str(e.version or "-"),
            e.kind,
            e.actor or "-",
            e.message,
        )
    print(table)
    return 0


def register(sub: Any) -> None:
    from driftgate.cli._client import command

    p = sub.add_parser("events", help="the registry's audit log, newest first")
    p.add_argument("name", nargs="?", default="", help="only this model's events")
    p.add_argument("--limit", type=integer(1, INT32_MAX), default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=command(_events))
