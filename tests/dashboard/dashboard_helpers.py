"""A real registry with its dashboard on a free port, on a background thread's event loop, and
two versions of a tiny model; the tests talk to it over HTTP (httpx) or a real browser."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from driftgate.registry.catalogue.records import RegisterRequest
from driftgate.registry.server import RegistryServer
from driftgate.settings import DriftSettings, GatewaySettings, RegistrySettings, Settings, TlsSettings
from tests.registry.registry_helpers import npy, tiny_model


@dataclass(frozen=True)
class Tokens:
    """Real tokens by name, made through the registry's own token store (shown once, stored hashed)."""

    token: dict[str, str]

    @classmethod
    def create(cls, server: RegistryServer, roles: dict[str, str]) -> Tokens:
        return cls({name: server.tokens.create(name, role, actor="test")[1] for name, role in roles.items()})


@dataclass
class Dashboard:
    server: RegistryServer
    loop: asyncio.AbstractEventLoop
    tokens: Tokens
    home: Path

    @property
    def url(self) -> str:
        return self.server.dashboard_url.rstrip("/")

    @contextlib.contextmanager
    def client(self, role: str | None = None) -> Iterator[httpx.Client]:
        """An HTTP client, logged in as the token named ``role`` when given."""
        with httpx.Client(base_url=self.url, follow_redirects=False, timeout=30) as client:
            if role is not None:
                r = client.get("/", params={"token": self.tokens.token[role]})
                assert r.status_code == 303, r.text
            yield client

    def csrf(self, client: httpx.Client, path: str = "/") -> str:
        html = client.get(path).text
        m = re.search(r'name="csrf" value="([^"]+)"', html)
        assert m, html[:2000]
        return m.group(1)


def start_dashboard(
    home: Path, *, gateway_report_s: float = 1.0, tls: TlsSettings | None = None, port: int = 0
) -> Iterator[Dashboard]:
    settings = Settings(
        tls=tls or TlsSettings(),
        home=home,
        registry=RegistrySettings(port=0, demo=False, dashboard_port=port),
        gateway=GatewaySettings(report_interval_s=gateway_report_s),
        drift=DriftSettings(bins=8, window_seconds=10.0, windows=30, min_window_rows=10, alert_windows=1),
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = RegistryServer(settings)  # the dashboard logs in with the registry's real token store
    tokens = Tokens.create(server, {"vera": "viewer", "otto": "operator", "ada": "admin", "gw": "gateway"})
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(60)
    v1, X = tiny_model(4, seed=0)
    v2, _ = tiny_model(4, seed=1)
    for onnx in (v1, v2):
        server.catalogue.register_version(
            RegisterRequest(model="fraud", onnx=onnx, reference=npy(X), actor="ada", source="test")
        )
    try:
        yield Dashboard(server, loop, tokens, home)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(0.5), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
