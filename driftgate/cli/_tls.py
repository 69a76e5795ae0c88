"""The command line's TLS options, merged over ``DRIFTGATE_TLS__*`` into one TlsSettings.

    driftgate --ca FILE --cert FILE --key FILE COMMAND ...      any command that dials a server
    driftgate serve|gateway|registry --tls-cert FILE --tls-key FILE [--tls-client-ca FILE]

``--cert``/``--key`` and ``--tls-cert``/``--tls-key`` name the same thing, this process's identity:
served by its servers and presented to the servers it dials (driftgate/tls.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from driftgate.settings import TlsSettings

__all__ = ["add_client_options", "add_server_options", "tls_settings"]


def add_client_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, default: object = None) -> None:
    """``--ca``, ``--cert``, ``--key``; ``default`` argparse.SUPPRESS for a subcommand's copy of them."""
    parser.add_argument("--ca", type=Path, default=default, metavar="FILE",
                        help="CA certificate(s) to verify the servers dialled; turns TLS on (env DRIFTGATE_TLS__CA)")
    parser.add_argument("--cert", type=Path, default=default, metavar="FILE",
                        help="this client's certificate, for servers that ask for one (mTLS; DRIFTGATE_TLS__CERT)")
    parser.add_argument("--key", type=Path, default=default, metavar="FILE",
                        help="the private key of --cert (DRIFTGATE_TLS__KEY)")


def add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tls-cert", type=Path, default=None, metavar="FILE",
                        help="serve TLS with this certificate chain (PEM; re-read when it changes or on SIGHUP)")
    parser.add_argument("--tls-key", type=Path, default=None, metavar="FILE", help="the private key of --tls-cert")
    parser.add_argument("--tls-client-ca", type=Path, default=None, metavar="FILE",
                        help="require client certificates signed by this CA (mTLS)")


def tls_settings(args: argparse.Namespace, base: TlsSettings | None = None) -> TlsSettings:
    """``base`` (default: from the environment) with the command line's TLS options over it."""
    from driftgate.settings import Settings

    tls = base if base is not None else Settings(home=getattr(args, "home", Path(".driftgate"))).tls
    updates = {
        "ca": getattr(args, "ca", None),
        "cert": getattr(args, "tls_cert", None) or getattr(args, "cert", None),
        "key": getattr(args, "tls_key", None) or getattr(args, "key", None),
        "client_ca": getattr(args, "tls_client_ca", None),
    }
    return tls.model_copy(update={k: v for k, v in updates.items() if v is not None})
