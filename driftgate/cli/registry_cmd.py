"""``driftgate registry``: the registry sidecar in the foreground; ``driftgate registry migrate``: the schema.

Prints ``registry listening on HOST:PORT (plaintext|TLS|mTLS)`` once it serves and, on an empty
registry with demo on, once the demo model is registered (so that a supervisor waiting for the line
finds the model there). SIGTERM or SIGINT stops it gracefully; exit code 0. SIGHUP re-reads the TLS
certificate files (they are also re-read when they change). A database whose schema it cannot use
(newer than this driftgate, or older with ``registry.migrate_on_start`` off), or settings that cannot
work (a certificate, a plaintext non-loopback bind), stop it at once with the reason on stderr, exit
code 2.

``migrate`` brings the database (``--database-url``, DRIFTGATE_REGISTRY__DATABASE_URL, else SQLite
under --home) to the newest schema this driftgate knows, prints what it was and what it is, exit 0;
exit 2 when the database is newer than this driftgate.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from driftgate.cli._tls import add_server_options
from driftgate.cli.argtypes import integer

if TYPE_CHECKING:
    from driftgate.registry.catalogue.catalogue import Catalogue
    from driftgate.registry.catalogue.records import VersionRecord

__all__ = ["ensure_demo_model", "register"]

STOP_GRACE_S = 5.0


def _settings(args: argparse.Namespace) -> Any:
    from driftgate.cli._tls import tls_settings
    from driftgate.settings import Settings

    settings = Settings(home=args.home)
    updates: dict[str, Any] = {}
    if args.host is not None:
        updates["host"] = args.host
    if args.port is not None:
        updates["port"] = args.port
    if args.metrics_port is not None:
        updates["metrics_port"] = args.metrics_port
    if args.no_demo:
        updates["demo"] = False
    if args.dashboard_port is not None:
        updates["dashboard_port"] = args.dashboard_port
    if args.dashboard_host is not None:
        updates["dashboard_host"] = args.dashboard_host
    if args.database_url is not None:
        updates["database_url"] = args.database_url
    if args.insecure:
        updates["insecure"] = True
    if updates:
        settings.registry = settings.registry.model_copy(update=updates)
    settings.tls = tls_settings(args, settings.tls)
    return settings


def _migrate(settings: Any) -> int:
    import sys

    from driftgate.errors import SchemaError
    from driftgate.registry.store.db import Database

    try:
        db = Database.for_home(settings.home, settings.registry.database_url, upgrade_older=True)
    except SchemaError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        if db.migrated_from is None:
            print(f"database {db.url}: schema at revision {_head()}, the newest this driftgate knows", flush=True)
        else:
            print(f"database {db.url}: migrated from {db.migrated_from} to revision {_head()}", flush=True)
    finally:
        db.dispose()
    return 0


def _head() -> str:
    from driftgate.registry.store.schema import head_revision

    return head_revision()


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal
    import sys

    from driftgate.home import private_umask
    from driftgate.logs import setup_logging

    settings = _settings(args)
    setup_logging(settings.log_level, "registry")
    if args.action == "migrate":
        return _migrate(settings)
    private_umask()  # the database, artifacts and tokens it creates are the user's alone

    async def main() -> int:
        from driftgate.errors import DriftgateError
        from driftgate.registry.server import RegistryServer

        try:
            server = RegistryServer(settings)
        except DriftgateError as exc:  # SchemaError, or settings that cannot work: a certificate, an unsafe bind
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 2
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # SIGHUP: re-read the certificates at the next handshake (a no-op in plaintext, never a stop)
        loop.add_signal_handler(signal.SIGHUP, server.certs.request_reload if server.certs else lambda: None)
        try:
            await server.start()
        except OSError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 1
        try:
            demo = asyncio.ensure_future(ensure_demo_model(server.catalogue, settings.registry.demo))
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({demo, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                demo.cancel()
            else:
                if demo.exception() is not None:  # the registry is still useful without the demo model
                    logging.getLogger("driftgate.registry").error(
                        "the demo model could not be registered", exc_info=demo.exception()
                    )
                print(f"registry listening on {server.address} ({server.transport})", flush=True)
                if server.dashboard_url:
                    print(f"dashboard on {server.dashboard_url}", flush=True)
                if server.metrics_url:
                    print(f"registry Prometheus endpoint {server.metrics_url}", flush=True)
                await stopping
        finally:
            await server.stop(STOP_GRACE_S)
        return 0

    try:
        import uvloop
    except ImportError:  # not on Windows
        return asyncio.run(main())
    return uvloop.run(main())


async def ensure_demo_model(catalogue: Catalogue, enabled: bool) -> VersionRecord | None:
    """Train and register the demo model (driftgate.demo.seed) when ``enabled`` and ``catalogue``
    holds no model; returns its VersionRecord, else None. The registry command composes this with
    the registry server, which knows nothing of the demo."""
    import asyncio
    import logging

    from driftgate.registry.catalogue.records import RegisterRequest

    if not enabled:
        return None
    registered = await asyncio.to_thread(catalogue.list_models)
    if registered:
        return None
    from driftgate.demo.seed import DEMO_MODEL, DEMO_ROWS, train_demo_version

    log = logging.getLogger("driftgate.registry")
    log.info("no model registered: training the demo model %r on %d transactions", DEMO_MODEL, DEMO_ROWS)
    trained = await asyncio.to_thread(train_demo_version)
    request = RegisterRequest(
        model=DEMO_MODEL, onnx=trained.onnx, reference=trained.reference, source="demo", metrics=trained.metrics,
        description=trained.description, actor="driftgate", feature_names=trained.feature_names,
    )
    record = await asyncio.to_thread(catalogue.register_version, request)
    log.info("registered %s version %d", record.model, record.version)
    return record


def register(sub: Any) -> None:
    p = sub.add_parser("registry", help="run the registry sidecar (control plane) in the foreground; "
                                        "`registry migrate`: bring the database's schema up to date")
    p.add_argument("action", nargs="?", choices=["migrate"], default=None,
                   help="migrate: migrate the database to this driftgate's schema, then exit")
    p.add_argument("--database-url", default=None, metavar="URL",
                   help="SQLAlchemy URL (default: DRIFTGATE_REGISTRY__DATABASE_URL, else SQLite under --home)")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=integer(0, 65535), default=None, help="control API port (default 8005; 0 picks one)")
    p.add_argument("--metrics-port", type=integer(-1, 65535), default=None,
                   help="Prometheus /metrics port (default off: -1; 0 picks one; loopback unless "
                        "DRIFTGATE_REGISTRY__METRICS_HOST says otherwise)")
    p.add_argument("--no-demo", action="store_true", help="do not train the demo model on an empty registry")
    p.add_argument("--dashboard-port", type=int, default=None,
                   help="web dashboard port (default 8006; 0 picks one; -1 turns it off)")
    p.add_argument("--dashboard-host", default=None, help="web dashboard address to bind (default 127.0.0.1)")
    add_server_options(p)
    p.add_argument("--insecure", action="store_true",
                   help="allow plaintext on a non-loopback --host (refused otherwise: tokens would cross the network "
                        "in the clear)")
    p.set_defaults(func=_run)
