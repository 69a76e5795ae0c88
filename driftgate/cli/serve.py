"""``driftgate serve`` (registry + gateway workers) and ``driftgate gateway`` (gateway workers: one in the
foreground, or ``--workers N`` processes on one port under a supervisor)."""

from __future__ import annotations

import argparse
from typing import Any

from driftgate.cli._tls import add_server_options
from driftgate.cli.argtypes import integer

__all__ = ["register"]


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _gateway_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="inference address to bind (default 0.0.0.0)")
    p.add_argument("--port", type=integer(0, 65535), default=None,
                   help="inference gRPC port (default 8001; 0 picks a free one)")
    p.add_argument("--metrics-port", type=integer(-1, 65535), default=None,
                   help="Prometheus metrics HTTP port (default 8002; 0 picks one; -1 turns it off)")
    p.add_argument("--metrics-host", default=None,
                   help="metrics address to bind (default 127.0.0.1; plain HTTP: 0.0.0.0 for a remote Prometheus)")
    p.add_argument("--workers", type=integer(1, 256), default=None,
                   help="gateway processes sharing the port (default 1)")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="onnxruntime device (default cpu)")
    p.add_argument("--max-inflight", type=_count, default=None, metavar="N",
                   help="inference calls a worker holds at once; beyond, RESOURCE_EXHAUSTED at once "
                        "(default 64; 0: no limit). Calls waiting in grpc's queue are not counted: to bound "
                        "p99 under overload, limit at the balancer (docs/deploy.md)")
    add_server_options(p)


def _settings(args: argparse.Namespace) -> Any:
    from driftgate.cli._tls import tls_settings
    from driftgate.settings import Settings

    settings = Settings(home=args.home)
    updates = {
        k: v
        for k, v in {
            "host": args.host, "port": args.port, "metrics_port": args.metrics_port, "metrics_host": args.metrics_host,
            "workers": args.workers, "device": args.device, "registry": args.registry or None,
            "max_inflight": args.max_inflight,
            "token": getattr(args, "token", None) or None,
        }.items()
        if v is not None
    }
    settings.gateway = settings.gateway.model_copy(update=updates)
    settings.tls = tls_settings(args, settings.tls)
    return settings


def _run_gateway(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    import sys

    from driftgate.home import private_umask
    from driftgate.logs import setup_logging

    settings = _settings(args)
    if args.worker_index is None and settings.gateway.workers > 1:  # run N workers, each a `gateway` of its own
        return _supervise_gateways(args, settings)
    worker_index = args.worker_index or 0
    setup_logging(settings.log_level, f"gateway[{worker_index}]")
    private_umask()  # its cache and saved config are the user's alone

    async def run() -> int:
        from driftgate.errors import DriftgateError
        from driftgate.gateway.server import GatewayServer

        try:
            server = GatewayServer(settings, worker_index=worker_index)
            port = await server.start()
        except DriftgateError as exc:
            print(f"driftgate gateway: {exc}", file=sys.stderr, flush=True)
            return 2
        gs = settings.gateway
        shown = _shown(gs.host)
        if server.metrics_port:  # before the listening line: serve's table is printed once that one is read
            print(f"metrics on http://{_shown(gs.metrics_host)}:{server.metrics_port}/metrics (plain HTTP)", flush=True)
        print(f"gateway listening on {shown}:{port} ({server.transport})", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # SIGHUP: re-read the certificates at the next handshake (a no-op in plaintext, never a stop)
        loop.add_signal_handler(signal.SIGHUP, server.certs.request_reload if server.certs else lambda: None)
        await stop.wait()
        await server.stop()
        return 0

    return _run(run())


def _shown(host: str) -> str:
    """The address a local client dials for a server bound to ``host``."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _run(coro: Any) -> int:
    import asyncio

    try:
        import uvloop
    except ImportError:  # not on Windows
        return asyncio.run(coro)
    return uvloop.run(coro)


def _tls_env(tls: Any) -> dict[str, str]:
    """The TLS settings as the children's environment (absolute paths: a child may resolve them
    from elsewhere); every key set, so that an empty one overrides an inherited variable."""
    return {
        f"DRIFTGATE_TLS__{name.upper()}": str(path.resolve()) if path is not None else ""
        for name, path in (("cert", tls.cert), ("key", tls.key), ("client_ca", tls.client_ca), ("ca", tls.ca))
    }


def _check_tls(settings: Any, own_registry: bool) -> str:
    """Why these TLS settings cannot work for ``serve`` (empty: they can). Reads the files now, so
    that a bad path is one line here rather than a child that keeps restarting."""
    from driftgate.errors import ConfigError
    from driftgate.tls import channel_credentials, server_certificates

    try:
        certs = server_certificates(settings.tls)
        channel_credentials(settings.tls)
    except ConfigError as exc:
        return str(exc)
    if certs is not None and own_registry and settings.tls.ca is None:
        return ("--tls-cert serves the registry over TLS, so its gateways must verify it: pass the global "
                "--ca FILE, the CA that signed the certificate (driftgate --ca FILE serve ...)")
    return ""


def _check_device(device: str) -> str:
    """Why this onnxruntime cannot serve on ``device`` (empty: it can): one line now, rather than
    gateway workers that exit at start and are restarted over and over."""
    from driftgate.errors import ModelLoadError
    from driftgate.gateway.versions import providers_for

    try:
        providers_for(device)
    except ModelLoadError as exc:
        return str(exc)
    return ""


def _gateway_env(args: argparse.Namespace, settings: Any) -> dict[str, str]:
    """What gateway workers started by a supervisor take from the command line, as their environment."""
    env = {}
    if args.registry:  # an external registry; otherwise gateways follow <home>/registry.addr
        env["DRIFTGATE_GATEWAY__REGISTRY"] = args.registry
    if getattr(args, "token", None):  # the gateways' token for that registry (else <home>/gateway.token)
        env["DRIFTGATE_GATEWAY__TOKEN"] = args.token
    env.update(_tls_env(settings.tls))
    return env


def _start_gateways(sup: Any, gs: Any) -> Any:
    """Start ``gs.workers`` gateway workers on one port (the first one's, which may be picked free);
    worker i serves metrics on metrics_port + i. Returns the first worker's child."""
    common = ["--device", gs.device, "--workers", str(gs.workers), "--host", gs.host,
              "--max-inflight", str(gs.max_inflight), "--metrics-host", gs.metrics_host]
    first = sup.start(
        "gateway-0",
        ["gateway", *common, "--port", str(gs.port), "--metrics-port", str(gs.metrics_port), "--worker-index", "0"],
        timeout=300,
    )
    port = first.address.rsplit(":", 1)[1]
    for i in range(1, gs.workers):
        sup.start(f"gateway-{i}",
                  ["gateway", *common, "--port", port, "--metrics-port", str(gs.metrics_port),
                   "--worker-index", str(i)],
                  timeout=300)
    return first


def _supervise_gateways(args: argparse.Namespace, settings: Any) -> int:
    """``driftgate gateway --workers N``: N worker processes on one port, restarted when they die
    (``serve`` without the registry)."""
    import sys

    from driftgate.home import prepare_home, private_umask
    from driftgate.supervisor import Supervisor

    gs = settings.gateway
    problem = _check_device(gs.device)
    if problem:
        print(f"driftgate gateway: {problem}", file=sys.stderr, flush=True)
        return 2
    private_umask()
    prepare_home(args.home)
    sup = Supervisor(args.home, _gateway_env(args, settings))
    sup.install_signals()
    try:
        first = _start_gateways(sup, gs)
    except RuntimeError as exc:
        print(f"driftgate gateway: {exc}", flush=True)
        sup.stop()
        return 1
    print(f"driftgate gateway: {gs.workers} workers on {first.address}", flush=True)
    return sup.wait()


def _serve(args: argparse.Namespace) -> int:
    from driftgate.home import prepare_home, private_umask
    from driftgate.supervisor import Supervisor

    settings = _settings(args)
    gs = settings.gateway
    problem = _check_tls(settings, own_registry=not args.registry) or _check_device(gs.device)
    if problem:
        print(f"driftgate serve: {problem}", flush=True)
        return 2
    private_umask()
    prepare_home(args.home)
    env = {} if not args.no_demo else {"DRIFTGATE_REGISTRY__DEMO": "false"}
    env.update(_gateway_env(args, settings))
    sup = Supervisor(args.home, env)
    sup.install_signals()
    registry = None
    try:
        if args.registry:
            registry_address = args.registry
        else:
            registry_port = settings.registry.port if args.registry_port is None else args.registry_port
            dashboard = [] if args.dashboard_port is None else ["--dashboard-port", str(args.dashboard_port)]
            metrics = [] if args.registry_metrics_port is None else ["--metrics-port", str(args.registry_metrics_port)]
            registry = sup.start("registry", ["registry", "--port", str(registry_port), *dashboard, *metrics],
                                 timeout=600)
            registry_address = registry.address
        first = _start_gateways(sup, gs)
    except RuntimeError as exc:
        print(f"driftgate serve: {exc}", flush=True)
        sup.stop()
        return 1
    _print_listeners(settings, first, registry, registry_address)
    print(f"driftgate serving: gateway {first.address} ({gs.workers} worker(s)), registry {registry_address}, "
          f"home {args.home}", flush=True)
    return sup.wait()


def _print_listeners(settings: Any, gateway: Any, registry: Any, registry_address: str) -> None:
    """What listens where, and how each port is protected (issue 13: `serve` says it)."""
    gs = settings.gateway
    workers = f", {gs.workers} workers on one port" if gs.workers > 1 else ""
    rows = [("gateway, inference (gRPC)", f"{gs.host}:{gateway.address.rsplit(':', 1)[1]}",
             f"{gateway.transport or 'plaintext'}{workers}")]
    if gateway.metrics:
        more = " (worker i: port + i)" if gs.workers > 1 else ""
        rows.append(("gateway, Prometheus metrics", gateway.metrics, f"plain HTTP{more}"))
    if registry is not None:
        rows.append(("registry, control API (gRPC)", f"{settings.registry.host}:{registry.address.rsplit(':', 1)[1]}",
                     registry.transport or "plaintext"))
        if registry.dashboard:
            rows.append(("registry, web dashboard", registry.dashboard, "HTTP, token login"))
    else:
        rows.append(("registry (external)", registry_address, "TLS" if settings.tls.ca is not None else "plaintext"))
    width = max(len(r[0]) for r in rows)
    where = max(len(r[1]) for r in rows)
    print("driftgate listens on:", flush=True)
    for name, address, how in rows:
        print(f"  {name:<{width}}  {address:<{where}}  {how}", flush=True)


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the registry sidecar and the gateway (demo model when empty)")
    _gateway_options(p)
    p.add_argument("--registry-port", type=integer(0, 65535), default=None,
                   help="control API port (default 8005; 0 picks one)")
    p.add_argument("--registry-metrics-port", type=integer(-1, 65535), default=None,
                   help="the registry's Prometheus /metrics port on loopback (default off; 0 picks one)")
    p.add_argument("--no-demo", action="store_true", help="do not register the demo model on an empty registry")
    p.add_argument("--dashboard-port", type=int, default=None,
                   help="the registry's web dashboard port (default 8006, loopback; 0 picks one; -1 turns it off)")
    p.set_defaults(func=_serve)

    g = sub.add_parser("gateway", help="run one gateway worker (data plane) in the foreground")
    _gateway_options(g)
    # set by a supervisor (serve, or gateway --workers N) for each worker it starts
    g.add_argument("--worker-index", type=integer(0, 255), default=None, help=argparse.SUPPRESS)
    g.set_defaults(func=_run_gateway)
