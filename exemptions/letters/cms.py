"""The CMS SignedData a PAdES signature carries, encoded directly in DER for one fixed signer.

Why not let pyHanko build it: pyHanko assembles the CMS through asn1crypto, in pure Python, rebuilding
the same certificate structures for every signature; that took about 25 ms of the 30 ms a signature cost,
more than the whole budget of a letter. For one signer almost everything in the structure is constant,
so it is encoded once, and per letter only the document digest, the signed attributes around it and
the signature value are new: well under a millisecond.

The structure is exactly what PAdES baseline B-B asks of a CMS signature (ETSI EN 319 142-1, RFC 5652):
a detached SignedData whose one SignerInfo signs three attributes, content-type (id-data),
message-digest (the PDF's byte-range digest) and ESS signing-certificate-v2 (SHA-256 of the signer's
certificate and its issuer and serial), with the signer's certificate (and chain) embedded. The signing
time is not a CMS attribute in PAdES; it is the signature dictionary's /M. The tests check the result
with pyHanko's own validator and with poppler's `pdfsig`.

HAZARD: DER is exact. Every length is computed, and SET OF elements are sorted by their encoding as
DER requires; a change here must keep both validators' tests passing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
CONTEXT_0 = 0xA0  # [0], constructed
CONTEXT_4 = 0xA4  # [4], constructed: GeneralName's directoryName

ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
ID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
ID_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"
ID_SHA256 = "2.16.840.1.101.3.4.2.1"
ID_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
ID_SHA256_WITH_RSA = "1.2.840.113549.1.1.11"


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def oid(dotted: str) -> bytes:
    arcs = [int(part) for part in dotted.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(OID, bytes(body))


def integer(value: int) -> bytes:
    if value < 0:
        raise ValueError("only non-negative integers occur here")
    # Minimal two's complement: a leading zero octet when the high bit would read as a sign.
    return tlv(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def sequence(*parts: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(parts))


def set_of(parts: Iterable[bytes], tag: int = SET) -> bytes:
    """DER SET OF: elements in ascending order of their encodings, shorter ones padded with zeros."""
    items = list(parts)
    width = max((len(item) for item in items), default=0)

    def padded(item: bytes) -> bytes:
        return item.ljust(width, b"\0")

    ordered: list[bytes] = sorted(items, key=padded)
    return tlv(tag, b"".join(ordered))


def _attribute(kind: str, value: bytes) -> bytes:
    return sequence(oid(kind), set_of([value]))


SHA256_ALGORITHM = sequence(oid(ID_SHA256))


class SignedDataEncoder:
    """Everything constant about one signer's CMS, encoded once; `encode(digest)` makes a signature."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
        certificate: x509.Certificate,
        chain: tuple[x509.Certificate, ...] = (),
    ) -> None:
        self._key = key
        der = certificate.public_bytes(serialization.Encoding.DER)
        issuer = certificate.issuer.public_bytes()
        serial = integer(certificate.serial_number)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            self._signature_algorithm = sequence(oid(ID_ECDSA_WITH_SHA256))
        else:
            self._signature_algorithm = sequence(oid(ID_SHA256_WITH_RSA), tlv(NULL, b""))
        self._sid = sequence(issuer, serial)  # IssuerAndSerialNumber
        # ESSCertIDv2 with the default hash algorithm (SHA-256, so omitted), its hash, and IssuerSerial,
        # whose issuer is GeneralNames holding one directoryName.
        ess_cert_id = sequence(
            tlv(OCTET_STRING, hashlib.sha256(der).digest()),
            sequence(sequence(tlv(CONTEXT_4, issuer)), serial),
        )
        self._fixed_attributes = [
            _attribute(ID_CONTENT_TYPE, oid(ID_DATA)),
            _attribute(ID_SIGNING_CERTIFICATE_V2, sequence(sequence(ess_cert_id))),
        ]
        certificates = [der, *(c.public_bytes(serialization.Encoding.DER) for c in chain)]
        self._certificates = set_of(certificates, tag=CONTEXT_0)  # [0] IMPLICIT SET OF Certificate
        self.max_size = len(self.encode(bytes(32), _probe=True))

    def encode(self, document_digest: bytes, *, _probe: bool = False) -> bytes:
        """The DER ContentInfo signing `document_digest` (the SHA-256 of the PDF's signed byte ranges)."""
        if len(document_digest) != 32:
            raise ValueError("the document digest must be a SHA-256 digest")
        attributes = [*self._fixed_attributes, _attribute(ID_MESSAGE_DIGEST, tlv(OCTET_STRING, document_digest))]
        signed = set_of(attributes)  # what the signature covers: the attributes as a universal SET
        if _probe:
            signature = bytes(self._longest_signature())
        elif isinstance(self._key, ec.EllipticCurvePrivateKey):
            signature = self._key.sign(signed, ec.ECDSA(hashes.SHA256()))
        else:
            signature = self._key.sign(signed, PKCS1v15(), hashes.SHA256())
        signer_info = sequence(
            integer(1),
            self._sid,
            SHA256_ALGORITHM,
            bytes([CONTEXT_0]) + signed[1:],  # the same SET, tagged [0] IMPLICIT inside SignerInfo
            self._signature_algorithm,
            tlv(OCTET_STRING, signature),
        )
        signed_data = sequence(
            integer(1),
            set_of([SHA256_ALGORITHM]),
            sequence(oid(ID_DATA)),  # detached: no content
            self._certificates,
            set_of([signer_info]),
        )
        return sequence(oid(ID_SIGNED_DATA), tlv(CONTEXT_0, signed_data))

    def _longest_signature(self) -> int:
        size = (self._key.key_size + 7) // 8
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return 2 * size + 9  # ECDSA-Sig-Value: a SEQUENCE of two INTEGERs, each with a possible zero octet
        return size
