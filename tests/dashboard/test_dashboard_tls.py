"""With the registry's certificate (Settings.tls) the dashboard serves HTTPS, its session cookie is Secure,
and a certificate rotated on disk is served at the next handshake."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import httpx
import pytest

from driftgate.settings import TlsSettings
from tests.dashboard.dashboard_helpers import start_dashboard
from tests.security.pki import make_pki


def _serial(port: int, ca: Path) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        cert = tls.getpeercert()
    assert cert is not None
    return int(str(cert["serialNumber"]), 16)


def test_https_with_the_registry_certificate_and_rotation(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    tls = TlsSettings(cert=pki.server_cert, key=pki.server_key)
    for dash in start_dashboard(tmp_path / "home", tls=tls):
        assert dash.url.startswith("https://")
        port = dash.server.dashboard.port  # type: ignore[union-attr]
        verify = ssl.create_default_context(cafile=str(pki.ca.path))
        base = dash.url.replace("127.0.0.1", "localhost")
        with httpx.Client(base_url=base, verify=verify, follow_redirects=False, timeout=30) as c:
            r = c.get("/", params={"token": dash.tokens.token["vera"]})
            assert r.status_code == 303
            assert "secure" in r.headers["set-cookie"].lower()
            assert c.get("/").status_code == 200
        with httpx.Client(timeout=10) as plain, pytest.raises(httpx.HTTPError):
            plain.get(f"http://127.0.0.1:{port}/login")  # no plaintext on the TLS port

        first = _serial(port, pki.ca.path)
        rotated = pki.rotate(pki.server_cert, pki.server_key)
        assert rotated != first
        assert _serial(port, pki.ca.path) == rotated

