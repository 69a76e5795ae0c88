"""Certificates for the TLS tests, made in the test with ``cryptography``: a CA, server and client
certificates it signs, and a foreign CA with a client certificate of its own.

Server and client certificates name ``localhost`` and ``127.0.0.1`` (plus any extra IPs asked
for) and allow both server and client authentication, like one node certificate a gateway serves
and presents to its registry. Keys are EC P-256 (fast to make), files PEM, keys 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Authority", "Pki", "make_pki", "serial_of"]

_NOW = datetime.datetime.now(datetime.UTC)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` atomically (a rotation never shows a half-written file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def serial_of(pem_or_der: bytes) -> int:
    if pem_or_der.lstrip().startswith(b"-----"):
        return x509.load_pem_x509_certificate(pem_or_der).serial_number
    return x509.load_der_x509_certificate(pem_or_der).serial_number


@dataclass
class Authority:
    name: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    path: Path

    @classmethod
    def create(cls, name: str, folder: Path) -> Authority:
        key = _key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_NOW - datetime.timedelta(hours=1)).not_valid_after(_NOW + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256())
        )
        path = folder / f"{name}.pem"
        _write(path, cert.public_bytes(serialization.Encoding.PEM))
        return cls(name, key, cert, path)

    def issue(self, cn: str, ips: tuple[str, ...] = ()) -> tuple[bytes, bytes, int]:
        """(certificate PEM, key PEM, serial) of a new leaf certificate."""
        key = _key()
        serial = x509.random_serial_number()
        names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.cert.subject).public_key(key.public_key()).serial_number(serial)
            .not_valid_before(_NOW - datetime.timedelta(hours=1)).not_valid_after(_NOW + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key), serial

    def issue_files(self, cn: str, folder: Path, ips: tuple[str, ...] = ()) -> tuple[Path, Path]:
        cert, key, _ = self.issue(cn, ips)
        _write(folder / f"{cn}.pem", cert)
        _write(folder / f"{cn}.key", key, 0o600)
        return folder / f"{cn}.pem", folder / f"{cn}.key"


@dataclass
class Pki:
    folder: Path
    ca: Authority
    foreign: Authority
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    foreign_cert: Path
    foreign_key: Path
    serials: dict[str, int] = field(default_factory=dict)

    def rotate(self, cert_path: Path, key_path: Path, cn: str = "server") -> int:
        """Write a new certificate and key (new serial) over ``cert_path``/``key_path``; the serial."""
        cert, key, serial = self.ca.issue(cn)
        _write(key_path, key, 0o600)
        _write(cert_path, cert)
        return serial


def make_pki(folder: Path, server_ips: tuple[str, ...] = ()) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    ca = Authority.create("ca", folder)
    foreign = Authority.create("foreign-ca", folder)
    server_cert, server_key = ca.issue_files("server", folder, server_ips)
    client_cert, client_key = ca.issue_files("client", folder)
    foreign_cert, foreign_key = foreign.issue_files("foreign-client", folder)
    return Pki(folder, ca, foreign, server_cert, server_key, client_cert, client_key, foreign_cert, foreign_key)
