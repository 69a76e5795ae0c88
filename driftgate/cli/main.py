"""``driftgate``: one console command, a subcommand per job.

    driftgate serve                    registry sidecar + gateway with the demo model
    driftgate gateway | registry       one process of either kind
    driftgate models | traffic | drift | stats | events    operate the registry
    driftgate tokens                   API tokens and their roles (admin)
    driftgate bench                    load-test any Open Inference Protocol endpoint

The global options (--home, --registry, --token, --ca, --cert, --key) go before or after the
command: ``driftgate --home H serve`` and ``driftgate serve --home H`` are the same. Given in both
places, the one after the command wins, as a later option wins over an earlier one anywhere on a
command line. A command that has an option of the same name keeps its own (``demo --home``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from driftgate.cli._tls import add_client_options
from driftgate.cli.extras import MissingExtra
from driftgate.home import DEFAULT_HOME

__all__ = ["DEFAULT_HOME", "build_parser", "main"]

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


def _add_global_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, subcommand: bool) -> None:
    """The options every command takes; a subcommand's copies default to SUPPRESS, so that one
    not given after the command leaves what was given before it (or the default) in place."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if subcommand else value

    parser.add_argument("--home", type=Path, default=default(DEFAULT_HOME),
                        help="state directory: database, artifacts, addresses (default ./.driftgate)")
    parser.add_argument("--registry", default=default(""), metavar="HOST:PORT",
                        help="registry control API; A,B,...: replicas, failed over in turn "
                             "(default: the one running under --home)")
    parser.add_argument("--token", default=default(None), metavar="TOKEN",
                        help="API token for the registry (default: $DRIFTGATE_TOKEN, else <home>/admin.token; "
                             "`driftgate gateway`: its gateway token)")
    add_client_options(parser, default=default(None))


def _subcommand_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser below ``parser`` (commands and their subcommands), depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield child
                yield from _subcommand_parsers(child)


def _accept_global_options(parser: argparse.ArgumentParser) -> None:
    """Let every command take the global options after its name too, listed in its --help under
    their own heading. The actions are shared, as argparse's ``parents=`` shares them; a command
    with an option of the same name (``demo --home``) keeps its own."""
    copies = argparse.ArgumentParser(add_help=False)
    _add_global_options(copies, subcommand=True)
    for child in _subcommand_parsers(parser):
        group = child.add_argument_group("global options (also accepted before the command)")
        for action in copies._actions:
            if not any(name in child._option_string_actions for name in action.option_strings):
                group._add_action(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="driftgate", description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="The options above are accepted after the command too (there, the later one wins).",
    )
    _add_global_options(parser, subcommand=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    _accept_global_options(parser)
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
