"""TLS and mTLS on both planes, through real clients (issue 13).

One ``driftgate serve`` with mTLS on the gateway and the registry (its gateway follows the registry
over mTLS), one more gateway with TLS only following that registry, and tritonclient (in a
subprocess), the CLI, ``driftgate bench`` and a raw TLS socket (to read the served certificate's
serial) against them. Certificates are made in the test (tests/security/pki.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from driftgate.settings import TlsSettings
from tests.conftest import ROOT, Served, start_served, stop_served, wait_ready
from tests.requirements import require

try:
    from tests.security.pki import Pki, make_pki, serial_of
except ImportError:  # the certificates are made with `cryptography` (the dev extra); the pki fixture says so
    make_pki = None  # type: ignore[assignment]

TRITON_CHECK = ROOT / "tests" / "clients" / "triton_check.py"


def _triton(address: str, *args: str) -> dict[str, object]:
    result = subprocess.run([sys.executable, str(TRITON_CHECK), address, *args],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _driftgate(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "driftgate", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def _served_serial(address: str, pki: Pki, *, client: bool) -> int:
    """The serial of the certificate a server presents on a new connection (a raw TLS handshake,
    verified against the test CA, offering h2 as gRPC clients do)."""
    host, port = address.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(pki.ca.path))
    context.set_alpn_protocols(["h2"])
    if client:
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return serial_of(der)


@dataclass
class Node:
    """A gateway process started on its own (not under serve)."""

    process: subprocess.Popen[str]
    address: str
    lines: list[str]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    require(make_pki is not None, "the TLS tests make their certificates with `cryptography` (pip install -e .[dev])")
    return make_pki(tmp_path_factory.mktemp("pki"))


def _client_args(pki: Pki) -> list[str]:
    return ["--ca", str(pki.ca.path), "--cert", str(pki.client_cert), "--key", str(pki.client_key)]


@pytest.fixture(scope="module")
def mtls_served(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path, Path]]:
    """``driftgate serve`` with mTLS on both planes, on its own copy of the server certificate
    (the SIGHUP test rotates it)."""
    folder = tmp_path_factory.mktemp("served-certs")
    cert, key = folder / "node.pem", folder / "node.key"
    shutil.copy(pki.server_cert, cert)
    shutil.copy(pki.server_key, key)
    tls = TlsSettings(ca=pki.ca.path, cert=pki.client_cert, key=pki.client_key)
    served = start_served(
        tmp_path_factory.mktemp("mtls") / "home",
        "--tls-cert", str(cert), "--tls-key", str(key), "--tls-client-ca", str(pki.ca.path),
        global_args=["--ca", str(pki.ca.path)], tls=tls,
    )
    yield served, cert, key
    code = stop_served(served)
    assert code == 0, (served.home / "serve.log").read_text()[-4000:]


@pytest.fixture(scope="module")
def tls_gateway(pki: Pki, mtls_served: tuple[Served, Path, Path],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Path, Path]]:
    """A second gateway: serves TLS only (no client certificate asked), follows the mTLS registry
    as a client with the node certificate, on its own certificate files (rotated below)."""
    served = mtls_served[0]
    folder = tmp_path_factory.mktemp("gateway-certs")
    cert, key = folder / "gw.pem", folder / "gw.key"
    shutil.copy(pki.server_cert, cert)
    shutil.copy(pki.server_key, key)
    home = tmp_path_factory.mktemp("gw-home")
    argv = [sys.executable, "-m", "driftgate", "--home", str(home), "--registry", served.registry,
            "--token", (served.home / "gateway.token").read_text().strip(),  # its home is not the registry's
            "--ca", str(pki.ca.path), "--cert", str(pki.client_cert), "--key", str(pki.client_key),
            "gateway", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "-1",
            "--tls-cert", str(cert), "--tls-key", str(key)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                               env={**os.environ, "DRIFTGATE_GATEWAY__GATEWAY_ID": "tls-gateway"})
    lines: list[str] = []
    found = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "gateway listening on" in line:
                found.set()
        found.set()

    threading.Thread(target=pump, daemon=True).start()
    assert found.wait(120) and process.poll() is None, "".join(lines)
    match = re.search(r"gateway listening on (\S+) \((\w+)\)", "".join(lines))
    assert match and match.group(2) == "TLS", "".join(lines)
    address = match.group(1)
    # ready means: config from the mTLS registry applied and the artifact fetched over it
    wait_ready(address, 120, TlsSettings(ca=pki.ca.path))
    yield Node(process, address, lines), cert, key
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0, "".join(lines)[-4000:]


# -- the data plane ------------------------------------------------------------------------------


def test_serve_says_what_listens_where_and_how(mtls_served: tuple[Served, Path, Path]) -> None:
    served = mtls_served[0]
    text = "".join(served.lines)
    table = text[text.index("driftgate listens on:"):]
    assert re.search(r"gateway, inference \(gRPC\)\s+127\.0\.0\.1:\d+\s+mTLS", table), table
    assert re.search(r"gateway, Prometheus metrics\s+http://127\.0\.0\.1:\d+/metrics\s+plain HTTP", table), table
    assert re.search(r"registry, control API \(gRPC\)\s+127\.0\.0\.1:\d+\s+mTLS", table), table


def test_home_is_private(mtls_served: tuple[Served, Path, Path]) -> None:
    home = mtls_served[0].home
    assert home.stat().st_mode & 0o777 == 0o700
    for name in ("registry.db", "registry.addr"):
        assert (home / name).stat().st_mode & 0o777 == 0o600, name


def test_tritonclient_over_mtls(pki: Pki, mtls_served: tuple[Served, Path, Path]) -> None:
    out = _triton(mtls_served[0].gateway, "--ssl", "--root-certificates", str(pki.ca.path),
                  "--private-key", str(pki.client_key), "--certificate-chain", str(pki.client_cert))
    assert out["ready"] and out["model_ready"]
    assert out["infer"] == {"shape": [5, 2], "version": "1", "id": "t1", "rows_sum_to_one": True}
    assert out["stream_ids"] == ["s0", "s1", "s2"]


@pytest.mark.parametrize("who", ["no client certificate", "foreign CA", "plaintext", "server not trusted"])
def test_mtls_gateway_refuses(who: str, pki: Pki, mtls_served: tuple[Served, Path, Path]) -> None:
    args = {
        "no client certificate": ["--ssl", "--root-certificates", str(pki.ca.path)],
        "foreign CA": ["--ssl", "--root-certificates", str(pki.ca.path),
                       "--private-key", str(pki.foreign_key), "--certificate-chain", str(pki.foreign_cert)],
        "plaintext": [],
        "server not trusted": ["--ssl", "--root-certificates", str(pki.foreign.path),
                               "--private-key", str(pki.client_key), "--certificate-chain", str(pki.client_cert)],
    }[who]
    out = _triton(mtls_served[0].gateway, *args, "--probe")
    assert out["ok"] is False and out["status"] == "StatusCode.UNAVAILABLE", out


def test_tritonclient_over_tls_and_plaintext_refused(pki: Pki, tls_gateway: tuple[Node, Path, Path]) -> None:
    address = tls_gateway[0].address
    out = _triton(address, "--ssl", "--root-certificates", str(pki.ca.path))
    assert out["ready"] and out["infer"]["rows_sum_to_one"]  # type: ignore[index]
    refused = _triton(address, "--probe")
    assert refused["ok"] is False and refused["status"] == "StatusCode.UNAVAILABLE", refused


def test_bench_over_mtls(pki: Pki, mtls_served: tuple[Served, Path, Path]) -> None:
    served = mtls_served[0]
    result = _driftgate(served.home, *_client_args(pki), "bench", "--target", served.gateway, "--concurrency", "2",
                        "--duration", "1s", "--warmup", "0.2s", "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["ok"] > 0 and not report["errors"], {k: report[k] for k in ("ok", "errors")}


# -- the control plane ---------------------------------------------------------------------------


def test_cli_against_the_mtls_registry(pki: Pki, mtls_served: tuple[Served, Path, Path]) -> None:
    home = mtls_served[0].home
    ok = _driftgate(home, *_client_args(pki), "models", "list", "--json")
    assert ok.returncode == 0, ok.stderr
    assert [m["name"] for m in json.loads(ok.stdout)["models"]] == ["fraud"]

    no_cert = _driftgate(home, "--ca", str(pki.ca.path), "models", "list")
    plaintext = _driftgate(home, "models", "list")
    foreign = _driftgate(home, "--ca", str(pki.ca.path), "--cert", str(pki.foreign_cert),
                         "--key", str(pki.foreign_key), "models", "list")
    for refused in (no_cert, plaintext, foreign):
        assert refused.returncode == 1
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: registry at"), refused.stderr
    assert "pass --ca FILE" in plaintext.stderr


def test_a_gateway_follows_the_registry_over_mtls(pki: Pki, mtls_served: tuple[Served, Path, Path],
                                                  tls_gateway: tuple[Node, Path, Path]) -> None:
    """Both gateways got the demo model through WatchConfig and FetchArtifact over mTLS (fresh
    homes: nothing cached), and their ReportStatus reached the registry."""
    home = mtls_served[0].home
    states: dict[str, str] = {}
    for _ in range(100):  # a gateway reports right after it applies; wait for both reports
        shown = _driftgate(home, *_client_args(pki), "models", "show", "fraud", "--json")
        assert shown.returncode == 0, shown.stderr
        states = {g["gateway_id"]: g["state"] for v in json.loads(shown.stdout)["versions"] for g in v["gateways"]}
        if len(states) >= 2 and set(states.values()) == {"READY"}:
            break
        threading.Event().wait(0.2)
    assert states.get("tls-gateway") == "READY" and len(states) == 2, states


# -- rotation ------------------------------------------------------------------------------------


def test_rotation_without_restart(pki: Pki, tls_gateway: tuple[Node, Path, Path]) -> None:
    node, cert, key = tls_gateway
    before = _served_serial(node.address, pki, client=False)
    assert before == serial_of(cert.read_bytes())

    # replaced files (new serial): the next connection gets the new certificate
    serial = pki.rotate(cert, key)
    assert _served_serial(node.address, pki, client=False) == serial

    # a torn rotation (a new certificate whose key has not been written yet) keeps the last good one
    new_cert, new_key, torn_serial = pki.ca.issue("server")
    cert.write_bytes(new_cert)
    assert _served_serial(node.address, pki, client=False) == serial
    assert node.process.poll() is None
    key.write_bytes(new_key)  # the writer finishes: the pair is whole again
    assert _served_serial(node.address, pki, client=False) == torn_serial
    wait_ready(node.address, 30, TlsSettings(ca=pki.ca.path))  # and gRPC clients still connect
    assert any("certificate rotation refused" in line for line in node.lines), "".join(node.lines)[-3000:]


def _same_stamp_rewrite(path: Path, data: bytes) -> None:
    """Overwrite ``path`` in place with ``data`` padded to the old size, and put its modification
    time back: nothing a stat call sees changes (a copy tool that preserves times does this)."""
    st = path.stat()
    assert len(data) <= st.st_size + 64
    size = max(st.st_size, len(data))
    with path.open("r+b") as f:
        f.write(data + b"\n" * (size - len(data)))
        f.truncate(size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_sighup_forces_a_reload(pki: Pki, mtls_served: tuple[Served, Path, Path]) -> None:
    """serve passes SIGHUP to its children; they re-read files whose change a stat cannot see."""
    served, cert, key = mtls_served
    before = serial_of(cert.read_bytes())
    for path in (cert, key):  # room for the new certificate and key at the same sizes
        path.write_bytes(path.read_bytes() + b"\n" * 128)
    for address in (served.registry, served.gateway):  # both servers take the padded files
        assert _served_serial(address, pki, client=True) == before
    new_cert, new_key, serial = pki.ca.issue("server")
    _same_stamp_rewrite(key, new_key)
    _same_stamp_rewrite(cert, new_cert)
    for address in (served.registry, served.gateway):  # unchanged to a stat call: not re-read
        assert _served_serial(address, pki, client=True) == before
    served.process.send_signal(signal.SIGHUP)
    for address in (served.registry, served.gateway):
        wait = threading.Event()
        for _ in range(200):  # the signal travels through the supervisor; no timing is asserted
            if _served_serial(address, pki, client=True) == serial:
                break
            wait.wait(0.05)
        assert _served_serial(address, pki, client=True) == serial, address
    assert served.process.poll() is None


# -- safe defaults -------------------------------------------------------------------------------


def _non_loopback_address() -> str:
    """An address of this machine that other hosts could reach, else the wildcard."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.254", 9))  # no packet is sent for a UDP connect
            address = str(s.getsockname()[0])
        except OSError:
            return "0.0.0.0"
    return "0.0.0.0" if address.startswith("127.") else address


def test_registry_refuses_a_plaintext_non_loopback_bind(tmp_path: Path) -> None:
    host = _non_loopback_address()
    refused = _driftgate(tmp_path / "home", "registry", "--host", host, "--port", "0", "--no-demo")
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to serve" in lines[0] and "--insecure" in lines[0], refused.stderr

    process = subprocess.Popen(
        [sys.executable, "-m", "driftgate", "--home", str(tmp_path / "home"), "registry", "--host", host,
         "--port", "0", "--no-demo", "--insecure"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert re.match(r"registry listening on \S+ \(plaintext\)", line), line
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def test_settings_that_cannot_work_stop_at_start_in_one_line(pki: Pki, tmp_path: Path) -> None:
    """A key that does not match its certificate, and serve's TLS without a CA for its gateways to verify
    their registry: exit 2 with the reason, before anything listens."""
    mismatched = _driftgate(tmp_path / "a", "registry", "--port", "0", "--no-demo",
                            "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.client_key))
    no_ca = _driftgate(tmp_path / "b", "serve", "--port", "0", "--registry-port", "0",
                       "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key))
    assert mismatched.returncode == 2 and no_ca.returncode == 2
    (line,) = mismatched.stderr.strip().splitlines()
    assert "does not match the certificate" in line, mismatched.stderr
    assert "pass the global --ca FILE" in no_ca.stdout, no_ca.stdout
