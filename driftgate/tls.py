"""Transport security for every gRPC port and channel: TLS, mTLS, certificates rotated in place.

One module builds both ends from :class:`~driftgate.settings.TlsSettings`, so the gateway, the
registry, the gateway's registry link, the CLI and ``driftgate bench`` agree on what the settings
mean:

    server   certs = server_certificates(settings.tls)        None: plaintext
             port = add_port(server, "host:port", certs)       TLS with cert/key, mTLS with client_ca
             loop.add_signal_handler(SIGHUP, certs.request_reload)
    client   channel(target, settings.tls, options)           TLS when tls.ca is set (aio_channel: same)

Rotation: gRPC asks :meth:`ServerCertificates.fetch` for the current configuration at every TLS
handshake (a new connection; requests on an open connection never call it). It re-reads the files
only when their modification time, size or inode changed, or after SIGHUP, and hands gRPC the new
configuration only when it is whole: the certificate parses, the key matches it, the client CA
parses, and no file changed while it was being read. Anything else (a rotation caught half-written,
a key that does not match) keeps the configuration in use, logged once per state of the files.
Open connections keep the certificate they were made with; new ones get the new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import os
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc

from driftgate.errors import ConfigError
from driftgate.settings import TlsSettings

__all__ = [
    "ServerCertificates",
    "add_port",
    "aio_channel",
    "channel",
    "channel_credentials",
    "check_bind",
    "is_loopback",
    "server_certificates",
    "transport_name",
]

log = logging.getLogger("driftgate.tls")

ChannelOptions = Sequence[tuple[str, Any]]
_Stamp = tuple[tuple[int, int, int] | None, ...]


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc
    if b"-----BEGIN " not in data:
        raise ConfigError(f"the {what} {path} is not PEM (no -----BEGIN line)")
    return data


@contextlib.contextmanager
def _as_file(data: bytes) -> Iterator[str]:
    """A path ``ssl`` can read holding ``data``: an anonymous in-memory file where the OS has them
    (the key never touches a disk), else a 0600 temporary file removed at once."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("driftgate-tls", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.NamedTemporaryFile() as f:  # created 0600
        f.write(data)
        f.flush()
        yield f.name


def _fingerprint(cert_pem: bytes) -> str:
    """sha256 of the first certificate's DER, as ``openssl x509 -fingerprint -sha256`` prints it."""
    text = cert_pem.decode("ascii", "replace")
    start = text.index("-----BEGIN CERTIFICATE-----")
    end = text.index("-----END CERTIFICATE-----", start) + len("-----END CERTIFICATE-----")
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(text[start:end])).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


class ServerCertificates:
    """A server's certificate chain, key and (for mTLS) client CA, re-read while it serves.

    Raises :class:`ConfigError` at construction when the files cannot make a working
    configuration; after that a bad rotation only logs (the server keeps its last good one)."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None = None) -> None:
        self.cert, self.key, self.client_ca = cert, key, client_ca
        self._lock = threading.Lock()
        self._reload_requested = False
        self._stamp = self._stamps()
        self._refused: _Stamp | None = None  # files whose state was refused last (logged once)
        self._config, self.fingerprint = self._load()
        if self._stamps() != self._stamp:
            raise ConfigError(f"the certificate files changed while they were read at start-up ({cert}); try again")
        self.reloads = 0

    @property
    def mutual(self) -> bool:
        """True when clients must present a certificate signed by ``client_ca`` (mTLS)."""
        return self.client_ca is not None

    def credentials(self) -> grpc.ServerCredentials:
        """gRPC server credentials that ask :meth:`fetch` at each handshake."""
        return grpc.dynamic_ssl_server_credentials(
            self._config, self.fetch, require_client_authentication=self.mutual
        )

    def request_reload(self) -> None:
        """Re-read the files at the next handshake even if they look unchanged (SIGHUP). One
        assignment: safe from a signal handler."""
        self._reload_requested = True

    def _stamps(self) -> _Stamp:
        out: list[tuple[int, int, int] | None] = []
        for path in (self.cert, self.key, self.client_ca):
            if path is None:
                out.append(None)
                continue
            try:
                st = os.stat(path)
            except OSError:
                out.append(None)
                continue
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(out)

    def _load(self) -> tuple[grpc.ServerCertificateConfiguration, str]:
        cert = _read(self.cert, "certificate")
        key = _read(self.key, "private key")
        ca = _read(self.client_ca, "client CA") if self.client_ca is not None else None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with _as_file(cert) as cert_file, _as_file(key) as key_file:
            try:
                context.load_cert_chain(cert_file, key_file)
            except ssl.SSLError as exc:
                raise ConfigError(
                    f"the private key {self.key} does not match the certificate {self.cert}, or one of them "
                    f"is not valid PEM ({exc.reason or exc})"
                ) from exc
        if ca is not None:
            try:
                context.load_verify_locations(cadata=ca.decode("ascii"))
            except (ssl.SSLError, UnicodeDecodeError) as exc:
                raise ConfigError(f"the client CA {self.client_ca} holds no valid certificate ({exc})") from exc
        config = grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)
        return config, _fingerprint(cert)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's callback, at each new TLS connection: a new configuration, or None to keep the
        current one. Cheap when nothing changed (three stat calls)."""
        try:
            with self._lock:
                return self._fetch_locked()
        except Exception:  # never let a rotation problem fail the handshake machinery
            log.exception("reading the rotated certificates failed; keeping the current ones")
            return None

    def _fetch_locked(self) -> grpc.ServerCertificateConfiguration | None:
        forced = self._reload_requested
        stamp = self._stamps()
        if not forced and (stamp == self._stamp or stamp == self._refused):
            return None
        self._reload_requested = False
        try:
            config, fingerprint = self._load()
        except ConfigError as exc:
            if stamp != self._refused:
                log.error("certificate rotation refused, still serving the current certificate: %s", exc)
            self._refused = stamp
            return None
        if self._stamps() != stamp:  # written while we read: wait for the writer to finish
            return None
        self._stamp, self._refused = stamp, None
        self.reloads += 1
        if fingerprint != self.fingerprint:
            log.info("certificate reloaded from %s (sha256 %s)", self.cert, fingerprint)
        self.fingerprint = fingerprint
        return config


def server_certificates(tls: TlsSettings) -> ServerCertificates | None:
    """The server side of ``tls``: None for plaintext (no cert and key); ConfigError when half set."""
    if tls.cert is None and tls.key is None:
        if tls.client_ca is not None:
            raise ConfigError(
                "a client CA (--tls-client-ca) needs a server certificate and key (--tls-cert, --tls-key)"
            )
        return None
    if tls.cert is None or tls.key is None:
        raise ConfigError("TLS needs both a certificate (--tls-cert) and its private key (--tls-key)")
    return ServerCertificates(tls.cert, tls.key, tls.client_ca)


def add_port(server: Any, address: str, certs: ServerCertificates | None) -> int:
    """Bind ``address`` on a grpc (or grpc.aio) server: TLS when ``certs`` is given, else plaintext."""
    if certs is None:
        return int(server.add_insecure_port(address))
    return int(server.add_secure_port(address, certs.credentials()))


def transport_name(certs: ServerCertificates | None) -> str:
    """How a port is protected, in one word: ``plaintext``, ``TLS`` or ``mTLS``."""
    if certs is None:
        return "plaintext"
    return "mTLS" if certs.mutual else "TLS"


def channel_credentials(tls: TlsSettings) -> grpc.ChannelCredentials | None:
    """Client credentials: None (plaintext) unless ``tls.ca`` is set; then TLS verifying the server
    against ``ca``, presenting ``cert``/``key`` when set (for servers that ask: mTLS).

    Files are read now: a long-lived client picks up a rotated client certificate when it opens
    its next channel (the gateway does on every reconnect)."""
    if tls.ca is None:
        return None
    if (tls.cert is None) != (tls.key is None):
        raise ConfigError("a client certificate needs its key and the key its certificate (--cert with --key)")
    ca = _read(tls.ca, "CA certificate")
    cert = _read(tls.cert, "certificate") if tls.cert is not None else None
    key = _read(tls.key, "private key") if tls.key is not None else None
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def channel(target: str, tls: TlsSettings, options: ChannelOptions = ()) -> grpc.Channel:
    """A blocking channel to ``target``, over TLS when ``tls.ca`` is set."""
    creds = channel_credentials(tls)
    if creds is None:
        return grpc.insecure_channel(target, options=list(options))
    return grpc.secure_channel(target, creds, options=list(options))


def aio_channel(target: str, tls: TlsSettings, options: ChannelOptions = ()) -> grpc.aio.Channel:
    """An asyncio channel to ``target``, over TLS when ``tls.ca`` is set."""
    creds = channel_credentials(tls)
    if creds is None:
        return grpc.aio.insecure_channel(target, options=list(options))
    return grpc.aio.secure_channel(target, creds, options=list(options))


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback address (wildcards are not)."""
    name = host.strip("[]")
    if name in ("", "0.0.0.0", "::"):
        return False
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def check_bind(host: str, certs: ServerCertificates | None, *, insecure: bool, what: str) -> None:
    """Refuse to serve ``what`` in plaintext on a non-loopback ``host`` unless ``insecure``."""
    if certs is None and not insecure and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve the {what} in plaintext on {host}, which is reachable from other hosts: "
            f"pass --tls-cert/--tls-key (and --tls-client-ca for mTLS), or --insecure to accept it"
        )
