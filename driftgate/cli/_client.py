"""What the operator subcommands share: finding the registry, calling it, and printing.

The registry address is ``--registry HOST:PORT`` (or ``A,B``: replicas, the first that answers),
else ``<home>/registry.addr`` (written by a running ``driftgate registry``). Every call carries a
bearer token: ``--token``, else the environment's DRIFTGATE_TOKEN, else ``<home>/admin.token``
(which the registry writes into its home; read only when the registry is the one of that home).
Every command body runs under :func:`command`, which turns a failure into one line on stderr and
exit code 1: the gRPC status details for a refused call (the registry's messages are written for
people), a plain sentence for a registry that cannot be found.
Output: plain-text tables for people (driftgate/text_table.py), ``--json`` (the message, field names
as in the .proto, 64-bit integers as numbers) for scripts.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "CONNECT_TIMEOUT_S",
    "CliError",
    "actor",
    "command",
    "connect",
    "message_to_dict",
    "print_json",
    "registry_channel",
    "resolve_address",
    "token_for",
]

TOKEN_ENV = "DRIFTGATE_TOKEN"
# what to do, for the two refusals of the auth check (the status name comes first on the line)
_AUTH_HINTS = {
    "UNAUTHENTICATED": "pass --token TOKEN or set DRIFTGATE_TOKEN (an admin creates one: "
                       "driftgate tokens create NAME --role ROLE), or run under the registry's --home",
    "PERMISSION_DENIED": "use a token with that role (an admin creates one: driftgate tokens create NAME --role ROLE)",
}

CONNECT_TIMEOUT_S = 3.0


class CliError(Exception):
    """A problem to report in one line (exit code 1)."""


def resolve_address(args: argparse.Namespace) -> str:
    explicit = getattr(args, "registry", "") or ""
    if explicit:
        return explicit
    path = args.home / "registry.addr"
    try:
        address = path.read_text().strip()
    except FileNotFoundError:
        address = ""
    if not address:
        raise CliError(
            f"no registry: pass --registry HOST:PORT, or start one with `driftgate registry` ({path} does not exist)"
        )
    return address


def _home_address(args: argparse.Namespace) -> str:
    try:
        return (args.home / "registry.addr").read_text().strip()
    except (FileNotFoundError, PermissionError):
        return ""


def token_for(args: argparse.Namespace) -> str:
    """The token to send: --token, else DRIFTGATE_TOKEN, else ``<home>/admin.token`` when the
    registry called is the one that home names (a home's admin token never goes to another host)."""
    from driftgate.home import read_private

    explicit = getattr(args, "token", None) or os.environ.get(TOKEN_ENV, "")
    if explicit:
        return str(explicit).strip()
    registry = getattr(args, "registry", "") or ""
    if registry and registry != _home_address(args):
        return ""
    return read_private(args.home / "admin.token")


@contextmanager
def registry_channel(args: argparse.Namespace) -> Iterator[Any]:
    """A channel to the registry (TLS as the options say), which must answer within CONNECT_TIMEOUT_S;
    with ``A,B`` (replicas of one registry) the first that answers."""
    import grpc

    from driftgate.auth import with_token
    from driftgate.cli._tls import tls_settings
    from driftgate.control_channel import grpc_options
    from driftgate.errors import ConfigError
    from driftgate.tls import channel as tls_channel

    address = resolve_address(args)
    tls = tls_settings(args)
    channel = None
    for candidate in [a.strip() for a in address.split(",") if a.strip()]:
        try:
            channel = tls_channel(candidate, tls, grpc_options())
        except ConfigError as exc:
            raise CliError(str(exc)) from None
        try:
            grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT_S)
            break
        except grpc.FutureTimeoutError:
            channel.close()
            channel = None
    if channel is None:
        hint = ("is `driftgate registry` running, and is --ca the CA that signed its certificate "
                "(with --cert/--key if it asks for a client certificate)?" if tls.ca is not None else
                "is `driftgate registry` running? If it serves TLS, pass --ca FILE")
        raise CliError(f"registry at {address} is not reachable ({hint})")
    try:
        yield with_token(channel, token_for(args))
    finally:
        channel.close()


@contextmanager
def connect(args: argparse.Namespace, stub: Callable[[Any], Any] | None = None) -> Iterator[Any]:
    """A stub on a channel to the registry (registry_channel): the Control service's, or that of
    ``stub`` (a generated stub class: RolloutsStub, FeedbackStub)."""
    from driftgate.proto.v1.control_pb2_grpc import ControlStub

    make = stub or ControlStub
    with registry_channel(args) as channel:
        yield make(channel)


def command(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a subcommand body; its errors become one line on stderr and exit code 1."""

    @functools.wraps(fn)
    def run(args: argparse.Namespace) -> int:
        import grpc

        try:
            return fn(args)
        except CliError as exc:
            message = str(exc)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            if code == grpc.StatusCode.UNAVAILABLE:
                message = f"registry unavailable: {details}"
            elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
                message = "the registry did not answer in time"
            elif code is not None and code.name in _AUTH_HINTS:
                message = f"{code.name}: {details}; {_AUTH_HINTS[code.name]}"
            else:
                message = details or (code.name if code else "the call failed")
        print(f"error: {message}", file=sys.stderr, flush=True)
        return 1

    return run


def actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (containers without passwd entries)
        return "unknown"


def _value(field: Any, value: Any) -> Any:
    if field.message_type is not None:
        return message_to_dict(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if isinstance(value, bytes):
        return value.hex()
    return value


def message_to_dict(msg: Any) -> dict[str, Any]:
    """Every field of a message (defaults included), named as in the .proto; int64 stay numbers."""
    out: dict[str, Any] = {}
    for field in msg.DESCRIPTOR.fields:
        value = getattr(msg, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {k: _value(value_field, v) for k, v in sorted(value.items())}
        elif field.is_repeated:
            out[field.name] = [_value(field, v) for v in value]
        elif field.message_type is not None and not msg.HasField(field.name):
            out[field.name] = None
        else:
            out[field.name] = _value(field, value)
    return out


def print_json(data: Any) -> None:
    if hasattr(data, "DESCRIPTOR"):
        data = message_to_dict(data)
    print(json.dumps(data, indent=2, sort_keys=False, allow_nan=False), flush=True)
