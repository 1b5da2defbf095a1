"""The TLS probe against TLS servers on 127.0.0.1, with certificates made for each test case."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from probes import run_probe
from probes.result import CheckResult, ErrorClass
from probes.tls import TlsProbeSpec, run_tls_async, run_tls_probe
from tests.probes.loopback import LOCATION, write_pem

pytestmark = pytest.mark.timeout(20)

NOW = dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Issuer:
    name: x509.Name
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Pki:
    """A private CA written to `ca_file`, and a way to issue leaves from it into `directory`."""

    directory: Path
    ca: Issuer
    ca_file: Path

    def leaf(self, label: str, names: list[str], *, days: float = 90, self_signed: bool = False) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
        issuer = Issuer(subject, key) if self_signed else self.ca
        sans: list[x509.GeneralName] = []
        for name in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                sans.append(x509.DNSName(name))
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
            .sign(issuer.key, hashes.SHA256())
        )
        return write_pem(self.directory, label, certificate, key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PortalWatch tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, "PortalWatch test CA"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=2))
        .not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    ca_file, _ = write_pem(directory, "ca", certificate, key)
    return Pki(directory, Issuer(name, key), ca_file)


class TlsServer:
    """Accepts connections on 127.0.0.1 one at a time and makes the TLS handshake with one certificate."""

    def __init__(self, cert_path: Path, key_path: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_path, key_path)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tls-server", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    with self.context.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)  # until the client's close_notify or its hang-up
                except OSError:
                    pass  # the client refused the certificate: that is what some tests want


@pytest.fixture
def serve() -> Iterator[Callable[[tuple[Path, Path]], int]]:
    servers: list[TlsServer] = []

    def start(pair: tuple[Path, Path]) -> int:
        server = TlsServer(*pair)
        servers.append(server)
        return server.port

    yield start
    for server in servers:
        server.close()


def spec(port: int, pki: Pki | None = None, **fields: Any) -> TlsProbeSpec:
    ca = {"ca_file": str(pki.ca_file)} if pki is not None else {}
    return TlsProbeSpec(id="portal-tls", host=fields.pop("host", "127.0.0.1"), port=port, **ca, **fields)


def probe(probe_spec: TlsProbeSpec, **kwargs: Any) -> CheckResult:
    return asyncio.run(run_tls_async(probe_spec, LOCATION, **kwargs))


def test_a_certificate_from_the_trusted_ca_is_up_with_its_details_in_evidence(
    pki: Pki, serve: Callable[[tuple[Path, Path]], int]
) -> None:
    port = serve(pki.leaf("good", ["localhost", "127.0.0.1"]))

    result = probe(spec(port, pki, host="localhost"))

    assert result.ok, result.error
    assert result.latency_ms is not None and 0 < result.latency_ms < 5000
    lines = result.evidence.splitlines()
    assert lines[:2] == [f"TLS handshake with localhost:{port}, server name localhost", f"probed from: {LOCATION}"]
    assert "subject: CN=localhost" in lines
    assert "issuer: O=PortalWatch tests, CN=PortalWatch test CA" in lines
    assert "SANs: DNS:localhost, IP Address:127.0.0.1" in lines
    assert "days left: 89" in lines
    assert any(line.startswith("notAfter: ") and line.endswith(" UTC") for line in lines)
    assert any(line.startswith("protocol: TLSv1.") for line in lines)
    assert any(line.startswith("cipher: ") and "unknown" not in line for line in lines)


def test_an_ip_address_is_checked_against_the_certificate_too(
    pki: Pki, serve: Callable[[tuple[Path, Path]], int]
) -> None:
    port = serve(pki.leaf("good-ip", ["localhost", "127.0.0.1"]))

    result = run_tls_probe(spec(port, pki), LOCATION)

    assert result.ok, result.error


def test_a_self_signed_certificate_is_a_tls_failure(pki: Pki, serve: Callable[[tuple[Path, Path]], int]) -> None:
    port = serve(pki.leaf("self", ["localhost", "127.0.0.1"], self_signed=True))

    result = probe(spec(port, pki))

    assert result.error_class is ErrorClass.TLS
    assert result.error == f"TLS with 127.0.0.1:{port} failed: self-signed certificate"
    assert result.latency_ms is None


def test_a_certificate_from_an_unknown_ca_is_a_tls_failure(pki: Pki, serve: Callable[[tuple[Path, Path]], int]) -> None:
    port = serve(pki.leaf("unknown-ca", ["localhost", "127.0.0.1"]))

    result = probe(spec(port))  # the system's CAs, which never issued it

    assert result.error_class is ErrorClass.TLS
    assert result.error == f"TLS with 127.0.0.1:{port} failed: unable to get local issuer certificate"


def test_a_certificate_for_another_name_is_a_tls_failure_naming_the_name(
    pki: Pki, serve: Callable[[tuple[Path, Path]], int]
) -> None:
    port = serve(pki.leaf("other", ["other.example"]))

    result = probe(spec(port, pki, server_name="portal.example"))

    assert result.error_class is ErrorClass.TLS
    assert result.error == (
        f"TLS with 127.0.0.1:{port} failed: Hostname mismatch, certificate is not valid for 'portal.example'."
    )
    assert "server name portal.example" in result.evidence


def test_an_expired_certificate_is_a_tls_failure(pki: Pki, serve: Callable[[tuple[Path, Path]], int]) -> None:
    port = serve(pki.leaf("expired", ["127.0.0.1"], days=-0.5))

    result = probe(spec(port, pki))

    assert result.error_class is ErrorClass.TLS
    assert result.error == f"TLS with 127.0.0.1:{port} failed: certificate has expired"


def test_a_certificate_expiring_within_the_minimum_is_an_assertion(
    pki: Pki, serve: Callable[[tuple[Path, Path]], int]
) -> None:
    port = serve(pki.leaf("expiring", ["127.0.0.1"], days=3 + 1 / 24))
    expires = (NOW + dt.timedelta(days=3 + 1 / 24)).strftime("%Y-%m-%d")

    result = probe(spec(port, pki, min_days_valid=14))
    relaxed = probe(spec(port, pki, min_days_valid=3))

    assert result.error_class is ErrorClass.ASSERTION
    assert result.error == f"certificate expires in 3 days (on {expires}), under the 14-day minimum"
    assert "days left: 3" in result.evidence.splitlines()
    assert result.latency_ms is not None
    assert relaxed.ok, relaxed.error


def test_days_left_are_counted_from_the_injected_clock(pki: Pki, serve: Callable[[tuple[Path, Path]], int]) -> None:
    port = serve(pki.leaf("clocked", ["127.0.0.1"], days=90))

    result = probe(spec(port, pki), clock=lambda: NOW + dt.timedelta(days=80))

    assert result.error_class is ErrorClass.ASSERTION
    assert result.error is not None and result.error.startswith("certificate expires in 9 days (on ")


def test_a_refused_connection_is_a_connect_failure() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]

    result = run_probe(spec(port), LOCATION)

    assert result.error_class is ErrorClass.CONNECT
    assert result.error == f"connection refused by 127.0.0.1:{port}"


def test_a_server_that_never_answers_the_handshake_is_a_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)  # the kernel accepts the connection; nothing ever reads the ClientHello
        port: int = sock.getsockname()[1]

        result = probe(spec(port, timeout="0.3s"))

    assert result.error_class is ErrorClass.TIMEOUT
    assert result.error == f"TLS handshake with 127.0.0.1:{port} not complete within 300 ms"


def test_a_server_not_speaking_tls_is_a_tls_failure() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        port: int = sock.getsockname()[1]

        def answer_in_plain_http() -> None:
            conn, _ = sock.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        thread = threading.Thread(target=answer_in_plain_http, daemon=True)
        thread.start()
        result = probe(spec(port, timeout="2s"))
        thread.join(timeout=5)

    assert result.error_class is ErrorClass.TLS
    assert result.error is not None and result.error.startswith(f"TLS with 127.0.0.1:{port} failed: ")


def test_an_unreadable_ca_file_is_a_configuration_error_not_an_outage(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"ca_file .* cannot be used"):
        probe(spec(443, ca_file=str(tmp_path / "missing.pem")))
