"""``driftgate registry``: the registry sidecar in the foreground.

Prints ``registry listening on HOST:PORT`` once it serves and, on an empty registry with demo on,
once the demo model is registered (so that a supervisor waiting for the line finds the model
there). SIGTERM or SIGINT stops it gracefully; exit code 0.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]

STOP_GRACE_S = 5.0


def _settings(args: argparse.Namespace) -> Any:
    from driftgate.settings import Settings

    settings = Settings(home=args.home)
    updates: dict[str, Any] = {}
    if args.host is not None:
        updates["host"] = args.host
    if args.port is not None:
        updates["port"] = args.port
    if args.no_demo:
        updates["demo"] = False
    if args.dashboard_port is not None:
        updates["dashboard_port"] = args.dashboard_port
    if args.dashboard_host is not None:
        updates["dashboard_host"] = args.dashboard_host
    if updates:
        settings.registry = settings.registry.model_copy(update=updates)
    return settings


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal
    import sys

    from driftgate.logs import setup_logging

    settings = _settings(args)
    setup_logging(settings.log_level, "registry")

    async def main() -> int:
        from driftgate.registry import RegistryServer

        server = RegistryServer(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await server.start()
        except OSError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 1
        try:
            demo = asyncio.ensure_future(server.ensure_demo_model())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({demo, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                demo.cancel()
            else:
                if demo.exception() is not None:  # the registry is still useful without the demo model
                    logging.getLogger("driftgate.registry").error(
                        "the demo model could not be registered", exc_info=demo.exception()
                    )
                print(f"registry listening on {server.address}", flush=True)
                if server.dashboard_url:
                    print(f"dashboard on {server.dashboard_url}", flush=True)
                await stopping
        finally:
            await server.stop(STOP_GRACE_S)
        return 0

    try:
        import uvloop
    except ImportError:  # not on Windows
        return asyncio.run(main())
    return uvloop.run(main())


def register(sub: Any) -> None:
    p = sub.add_parser("registry", help="run the registry sidecar (control plane) in the foreground")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="control API port (default 8005; 0 picks one)")
    p.add_argument("--no-demo", action="store_true", help="do not train the demo model on an empty registry")
    p.add_argument("--dashboard-port", type=int, default=None,
                   help="web dashboard port (default 8006; 0 picks one; -1 turns it off)")
    p.add_argument("--dashboard-host", default=None, help="web dashboard address to bind (default 127.0.0.1)")
    p.set_defaults(func=_run)
