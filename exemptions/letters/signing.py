"""Signing letters, and telling a genuine letter from a changed or forged one.

A letter is worth something only if whoever receives it can tell it came from the service and says what
the service wrote. Each PDF carries a PAdES signature (an invisible signature field, SHA-256) that any PDF
reader can check, and `Signer.validate` checks a file brought back to the service against the service's
own certificate, without the host's certificate store: the question is never "is this signed by someone
trusted?" but "is this signed by us, and unchanged since?".

The key comes from the deployment (a PEM key and certificate, or a PKCS#12 file), or, when none is
configured, is made once and kept: a self-signed EC P-256 certificate. EC P-256 because letters are signed
by the thousand: an ECDSA P-256 signature costs under 0.1 ms where RSA-2048 costs about 1 ms, the key is
made in a millisecond rather than a second, and the signature is 72 bytes rather than 256. It is verified
by every PDF reader that verifies signatures, poppler's `pdfsig` included. Readers do not trust a
self-signed certificate: they report "unknown issuer" and still show that the document is intact and
validly signed. Publishing `certificate_sha256()` lets anyone check the signer by hand.

The self-signed key is kept as an unencrypted PKCS#12 file, mode 0600, in a directory made 0700. A
passphrase would have to be generated and stored beside it with the same permissions, so it would protect
nothing the file mode does not, and the pair of files could get out of step (a crash between two writes
leaves a key nobody can open, and making a new one changes the certificate every earlier letter is
checked against). A deployment that wants its key protected at rest configures its own key, with a
passphrase from its secret store.

Speed: pyHanko writes the signature field and digests the file; the CMS signature itself is encoded by
`cms` (pyHanko's asn1crypto encoding of it cost more than the rest of a letter). pyHanko takes most of a
second to import and every process imports this package (the runtime names `Signer`), so it is imported
when a letter is first signed or checked, not with this module.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import stat
import tempfile
import threading
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from exemptions.letters.cms import SignedDataEncoder
from exemptions.letters.codes import normalise

if TYPE_CHECKING:
    from pyhanko.sign.signers import ExternalSigner

T = TypeVar("T")

log = logging.getLogger(__name__)

FIELD_NAME = "PortalWatch"
SELF_SIGNED_FILE = "letters-signing.p12"
SELF_SIGNED_YEARS = 10
KEYWORD = re.compile(rb"portalwatch-letter:([0-9A-Za-z]{13})")
MAX_PDF_BYTES = 20 * 1024 * 1024  # a letter is tens of kilobytes; more is not worth parsing

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Validation:
    """What a file brought back to the service is: `genuine` only if signed by this signer and unchanged."""

    genuine: bool
    reason: str  # plain words, for the person who brought the file
    claimed_code: str | None  # the code the file says it is (its metadata), genuine or not


GENUINE = "signed by this service and unchanged since it was signed"
NOT_PDF = "not a PDF"
UNREADABLE = "the file is damaged or incomplete: it cannot be read as a PDF"
NO_SIGNATURE = "no signature"
CHANGED = "the file was changed after it was signed"
ADDED_AFTER = "the file was changed after it was signed: something was added after the signature"
BAD_SIGNATURE = "the signature is not valid"
OTHER_SIGNER = "signed by a different certificate"
TOO_LARGE = "the file is too large to be a letter"


class Signer:
    """One signing key and its certificate, ready to sign letters quickly and check them back."""

    def __init__(self, key: SigningKey, certificate: x509.Certificate, chain: tuple[x509.Certificate, ...] = ()):
        spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if key.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
            raise ValueError("the key does not belong to the certificate")
        self._certificate = certificate
        self._chain = chain
        self._cert_der = certificate.public_bytes(serialization.Encoding.DER)
        self._fingerprint = hashlib.sha256(self._cert_der).hexdigest()
        self._encoder = SignedDataEncoder(key, certificate, chain)
        # Room kept in the file for the CMS, in hex digits (two per byte, and pyHanko wants an even count).
        # Sized from the largest CMS this signer can make, so pyHanko need not make a dry-run signature
        # to measure it before each real one.
        self._reserve = 2 * self._encoder.max_size + 64
        self._identity: ExternalSigner | None = None
        self._build_lock = threading.Lock()

    # --- where keys come from ----------------------------------------------------------------------

    @classmethod
    def from_pem(cls, key_path: Path, cert_path: Path, passphrase: bytes | None = None) -> Signer:
        """A PEM private key and its PEM certificate (followed, optionally, by its chain)."""
        try:
            key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=passphrase)
        except (TypeError, ValueError) as exc:
            # The library's message never contains key material, but be explicit about what went wrong.
            raise ValueError(f"cannot read the private key in {key_path}: wrong passphrase or not a PEM key") from exc
        certificates = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())
        return cls(_signing_key(key), certificates[0], tuple(certificates[1:]))

    @classmethod
    def from_pkcs12(cls, path: Path, passphrase: bytes | None = None) -> Signer:
        """A PKCS#12 file holding the key, its certificate, and optionally the chain."""
        try:
            key, certificate, chain = pkcs12.load_key_and_certificates(Path(path).read_bytes(), passphrase)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cannot read {path}: wrong passphrase or not a PKCS#12 file") from exc
        if key is None or certificate is None:
            raise ValueError(f"{path} must hold a private key and its certificate")
        return cls(_signing_key(key), certificate, tuple(chain))

    @classmethod
    def self_signed(cls, directory: Path, common_name: str) -> Signer:
        """The kept self-signed key in `directory`, made the first time.

        Later calls, and restarts, load the same key: letters already issued keep validating. Keep the
        directory in backups; a lost key cannot be made again, and earlier letters would then validate as
        signed by a different certificate.
        """
        directory = Path(directory)
        path = directory / SELF_SIGNED_FILE
        if not path.exists():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_once(path, _new_self_signed(common_name))
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s can be read by other users (mode %o); it holds the letters' signing key", path, mode)
        # Never silently make a new key when this one cannot be read: that would change the certificate
        # every earlier letter is validated against. A broken file is an error for a person to look at.
        return cls.from_pkcs12(path, None)

    # --- what may be published -------------------------------------------------------------------

    def certificate_pem(self) -> bytes:
        return self._certificate.public_bytes(serialization.Encoding.PEM)

    def certificate_sha256(self) -> str:
        """Hex SHA-256 of the certificate (DER): what to publish so people can recognise the signer."""
        return self._fingerprint

    def __repr__(self) -> str:
        # Never the key: only what the certificate says publicly.
        return f"Signer(subject={self._certificate.subject.rfc4514_string()!r}, sha256={self._fingerprint[:16]}…)"

    def __reduce__(self) -> Any:
        raise TypeError("a Signer holds a private key and is not pickled")

    # --- signing ----------------------------------------------------------------------------------

    def sign(self, pdf: bytes, *, reason: str, location: str | None = None) -> bytes:
        """The PDF with a PAdES signature over all of it (an incremental update with an invisible field)."""
        from exemptions.letters import _pdfsign

        return _pdfsign.sign(
            self._pyhanko_identity(),
            pdf,
            field_name=FIELD_NAME,
            reason=reason,
            location=location,
            reserve=self._reserve,
            make_cms=self._encoder.encode,
            run=self._run,
        )

    def _pyhanko_identity(self) -> ExternalSigner:
        if self._identity is None:
            with self._build_lock:
                if self._identity is None:
                    from exemptions.letters import _pdfsign

                    der = serialization.Encoding.DER
                    self._identity = _pdfsign.identity(self._cert_der, tuple(c.public_bytes(der) for c in self._chain))
        return self._identity

    @staticmethod
    def _run(coroutine: Awaitable[T]) -> T:
        """Run one of pyHanko's signing coroutines to completion, with no event loop.

        The key is in memory and no timestamp or revocation server is asked, so these coroutines never
        wait on anything: they are stepped through directly. An event loop would be wrong here: asyncio
        allows one running loop per OS thread, and under gevent every request's greenlet shares the
        thread, so two letters signed at once in one web worker made the second fail ("Cannot run the
        event loop while another loop is running"). A coroutine that did suspend is a bug: refused.
        """
        step = coroutine.__await__()
        try:
            step.send(None)
        except StopIteration as done:
            result: T = done.value
            return result
        step.close()
        raise RuntimeError("signing tried to wait on I/O, which signing a letter never does")

    # --- checking a file brought back -------------------------------------------------------------

    def validate(self, pdf: bytes | bytearray | memoryview) -> Validation:
        """Whether `pdf` is a letter signed by this signer and unchanged since. Never raises."""
        if not isinstance(pdf, bytes | bytearray | memoryview):
            return Validation(False, NOT_PDF, None)
        data = bytes(pdf)
        claimed = _claimed_code_raw(data)
        try:
            return self._validate(data, claimed)
        except Exception:  # anything at all in an untrusted file: classify, never crash the caller
            log.debug("a file brought for validation could not be read", exc_info=True)
            return Validation(False, UNREADABLE, claimed)

    def _validate(self, data: bytes, claimed: str | None) -> Validation:
        if b"%PDF-" not in data[:1024]:
            return Validation(False, NOT_PDF, claimed)
        if len(data) > MAX_PDF_BYTES:
            return Validation(False, TOO_LARGE, claimed)

        from exemptions.letters import _pdfsign

        try:
            found = _pdfsign.examine(data)
        except _pdfsign.Unreadable:
            return Validation(False, UNREADABLE, claimed)
        claimed = _code_in(found.keywords) or claimed
        if found.signatures == 0:
            return Validation(False, NO_SIGNATURE, claimed)
        if found.signatures > 1:  # a letter is signed once; a later signature came with a later change
            return Validation(False, ADDED_AFTER, claimed)
        if not found.readable_signature or not found.valid:
            return Validation(False, BAD_SIGNATURE, claimed)
        if not found.intact:
            return Validation(False, CHANGED, claimed)
        if not found.whole_file:
            return Validation(False, ADDED_AFTER, claimed)
        if found.signer_der != self._cert_der:
            return Validation(False, OTHER_SIGNER, claimed)
        return Validation(True, GENUINE, claimed)


# --- helpers --------------------------------------------------------------------------------------


def _signing_key(key: Any) -> SigningKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError("the signing key must be an EC or RSA private key")
    return key


def _new_self_signed(common_name: str) -> bytes:
    """A new EC P-256 key and its self-signed certificate (10 years, for signing documents), as PKCS#12."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "PortalWatch letters"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "PortalWatch letters"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # a verifier whose clock is a little behind
        .not_valid_after(now + dt.timedelta(days=365 * SELF_SIGNED_YEARS + SELF_SIGNED_YEARS // 4))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # nonRepudiation
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return pkcs12.serialize_key_and_certificates(
        b"PortalWatch letters", key, certificate, None, serialization.NoEncryption()
    )


def _write_once(path: Path, data: bytes) -> None:
    """Create `path` with `data`, mode 0600, atomically; if another process got there first, keep theirs.

    The data goes to a private temporary file that is then hard-linked into place: a reader never sees a
    half-written key, and of two processes starting at once exactly one key wins (a rename would let the
    second silently replace the first's, after the first may have signed with it).
    """
    fd, temporary = tempfile.mkstemp(prefix=".letters-signing-", suffix=".tmp", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        os.unlink(temporary)


def _claimed_code_raw(data: bytes) -> str | None:
    """The code in the file's keywords, found in its raw bytes: works on files too damaged to parse."""
    matches = KEYWORD.findall(data[:MAX_PDF_BYTES])
    return normalise(matches[-1].decode("ascii")) if matches else None


def _code_in(keywords: str | None) -> str | None:
    found = KEYWORD.search(keywords.encode("ascii", "ignore")) if keywords else None
    return normalise(found.group(1).decode("ascii")) if found else None
