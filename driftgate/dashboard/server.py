"""Serve the dashboard app with uvicorn inside the registry's own event loop.

uvicorn runs as a task of the running loop (no thread, no second process): the app's handlers only await
and send the core's blocking reads to worker threads, so the gRPC API shares the loop as it shares it
with its own handlers. The socket is bound here (port 0 picks a free one), uvicorn's signal handling is
turned off (the registry owns SIGTERM/SIGINT), and so is its access log (a ``?token=`` URL must never be
written to a log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
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
