"""``driftgate tokens``: API tokens for the registry's control API (admin only).

    driftgate tokens create NAME --role viewer|operator|admin|gateway [--json]   prints the token once
    driftgate tokens list [--json]                                               names and roles, never tokens
    driftgate tokens revoke NAME [--reason TEXT]                                 stops working at once
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from driftgate.text_table import TextTable

__all__ = ["register"]

ROLES = ("viewer", "operator", "admin", "gateway")


def _create(args: argparse.Namespace) -> int:
    from driftgate.cli._client import connect, print_json
    from driftgate.proto.v1 import control_pb2 as pb

    with connect(args) as stub:
        reply = stub.CreateToken(pb.CreateTokenRequest(name=args.name, role=args.role), timeout=30)
    if args.json:
        print_json({"name": reply.info.name, "role": reply.info.role, "token": reply.token})
        return 0
    print(reply.token, flush=True)
    print(f"token {reply.info.name!r} ({reply.info.role}): shown this once, keep it secret "
          f"(send it with --token or DRIFTGATE_TOKEN)", file=sys.stderr, flush=True)
    return 0


def _list(args: argparse.Namespace) -> int:
    from driftgate.cli._client import connect, print_json
    from driftgate.proto.v1 import control_pb2 as pb

    with connect(args) as stub:
        reply = stub.ListTokens(pb.ListTokensRequest(), timeout=30)
    if args.json:
        print_json(reply)
        return 0
    table = TextTable(title="API tokens")
    for col in ("name", "role", "created", "created by"):
        table.add_column(col)
    for t in reply.tokens:
        table.add_row(t.name, t.role, t.created_at[:19].replace("T", " "), t.created_by or "-")
    print(table)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from driftgate.cli._client import connect
    from driftgate.proto.v1 import control_pb2 as pb

    with connect(args) as stub:
        reply = stub.RevokeToken(pb.RevokeTokenRequest(name=args.name, reason=args.reason), timeout=30)
    print(f"token {reply.name!r} ({reply.role}) revoked", flush=True)
    return 0


def register(sub: Any) -> None:
    from driftgate.cli._client import command

    p = sub.add_parser("tokens", help="API tokens and their roles (admin)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = actions.add_parser("create", help="create a token; prints it once")
    c.add_argument("name", help="the token's name (the audit log records it as who acted)")
    c.add_argument("--role", required=True, choices=ROLES)
    c.add_argument("--json", action="store_true", help='print {"name", "role", "token"}')
    c.set_defaults(func=command(_create))
    ls = actions.add_parser("list", help="tokens by name and role (never the tokens themselves)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=command(_list))
    r = actions.add_parser("revoke", help="revoke a token: it stops working at once")
    r.add_argument("name")
    r.add_argument("--reason", default="", help="why, for the audit log")
    r.set_defaults(func=command(_revoke))
