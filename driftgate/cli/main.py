"""``driftgate``: one console command, a subcommand per job.

    driftgate serve                    registry sidecar + gateway with the demo model
    driftgate gateway | registry       one process of either kind
    driftgate models | traffic | drift | stats | events    operate the registry
    driftgate tokens                   API tokens and their roles (admin)
    driftgate bench                    load-test any Open Inference Protocol endpoint
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from driftgate.cli._tls import add_client_options
from driftgate.cli.extras import MissingExtra

__all__ = ["build_parser", "main"]

# Each module exposes register(subparsers); a subcommand sets args.func(args) -> int.
SUBCOMMAND_MODULES = (
    "driftgate.cli.serve",
    "driftgate.cli.registry_cmd",
    "driftgate.cli.models",
    "driftgate.cli.traffic",
    "driftgate.cli.drift",
    "driftgate.cli.stats",
    "driftgate.cli.events",
    "driftgate.cli.bench",
    "driftgate.cli.feedback",
    "driftgate.cli.accuracy",
    "driftgate.cli.rollout",
    "driftgate.cli.demo_cmd",
    "driftgate.cli.tokens",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="driftgate", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--home", type=Path, default=Path(".driftgate"),
                        help="state directory: database, artifacts, addresses (default ./.driftgate)")
    parser.add_argument("--registry", default="", metavar="HOST:PORT",
                        help="registry control API; A,B,...: replicas, failed over in turn "
                             "(default: the one running under --home)")
    parser.add_argument("--token", default=None, metavar="TOKEN",
                        help="API token for the registry (default: $DRIFTGATE_TOKEN, else <home>/admin.token; "
                             "`driftgate gateway`: its gateway token)")
    add_client_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MissingExtra as exc:  # a command of an extra that is not installed: one line, no traceback
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
