"""Serve the dashboard app with uvicorn inside the registry's own event loop.

uvicorn runs as a task of the running loop (no thread, no second process): the app's handlers only await
and send the core's blocking reads to worker threads, so the gRPC API shares the loop as it shares it
with its own handlers. The socket is bound here (port 0 picks a free one), uvicorn's signal handling is
turned off (the registry owns SIGTERM/SIGINT), and so is its access log (a ``?token=`` URL must never be
written to a log).

With a certificate and key (the registry's own, Settings.tls) it serves HTTPS; a certificate rotated on
disk is picked up at the next TLS handshake (the files' stamps are checked in the SNI callback, which
OpenSSL calls on every handshake), as the gRPC ports do. Browsers authenticate with tokens, not client
certificates, so the dashboard does not ask for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

__all__ = ["DashboardServer"]

log = logging.getLogger("driftgate.dashboard")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the registry handles signals itself
        yield


def _stamp(*paths: Path) -> tuple[tuple[int, int, int], ...]:
    out = []
    for path in paths:
        st = os.stat(path)
        out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class _CertificateReloader:
    """An SNI callback that moves each handshake onto a context loaded from the newest certificate files."""

    def __init__(self, certfile: Path, keyfile: Path, context: ssl.SSLContext) -> None:
        self._cert = certfile
        self._key = keyfile
        self._context = context
        self._stamp = _stamp(certfile, keyfile)
        self._failed: tuple[tuple[int, int, int], ...] | None = None

    def __call__(self, sslobj: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
        try:
            stamp = _stamp(self._cert, self._key)
        except OSError:
            stamp = self._stamp
        if stamp != self._stamp and stamp != self._failed:
            fresh = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                fresh.load_cert_chain(str(self._cert), str(self._key))
            except (OSError, ssl.SSLError) as exc:  # a rotation half written: keep the old pair
                self._failed = stamp
                log.error("dashboard: the new certificate %s could not be loaded (%s); serving the old one",
                          self._cert, exc)
            else:
                self._context, self._stamp = fresh, stamp
                log.info("dashboard: certificate %s reloaded", self._cert)
        if self._context is not context:
            sslobj.context = self._context


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


class DashboardServer:
    def __init__(
        self, app: ASGIApp, host: str, port: int, *, certfile: Path | None = None, keyfile: Path | None = None
    ) -> None:
        self._app = app
        self.host = host
        self.port = port
        self._certfile = certfile
        self._keyfile = keyfile
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def scheme(self) -> str:
        return "https" if self._certfile is not None else "http"

    def url(self, host: str) -> str:
        """The address a browser opens, given the host a local client dials."""
        return f"{self.scheme}://{host}:{self.port}/"

    async def start(self) -> int:
        """Bind and serve; returns the port. OSError when the address is taken."""
        try:
            sock = _bind(self.host, self.port)
        except OSError as exc:
            raise OSError(f"dashboard cannot listen on {self.host}:{self.port}: {exc}") from exc
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            ssl_certfile=str(self._certfile) if self._certfile else None,
            ssl_keyfile=str(self._keyfile) if self._keyfile else None,
            timeout_graceful_shutdown=2,
        )
        config.load()
        if config.ssl is not None and self._certfile is not None and self._keyfile is not None:
            config.ssl.sni_callback = _CertificateReloader(self._certfile, self._keyfile, config.ssl)
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="driftgate-dashboard")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise OSError("the dashboard stopped while starting")
            await asyncio.sleep(0.01)
        return self.port

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(self._task, timeout=5)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()
        except Exception:
            log.exception("the dashboard stopped with an error")
        self._server = None
        self._task = None
