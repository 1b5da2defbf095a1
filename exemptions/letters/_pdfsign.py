"""The pyHanko side of signing: imported only when a letter is first signed or checked (see signing).

Kept apart so that importing the package stays cheap, and so that everything that touches pyHanko's
internals is in one short module to review when pyHanko is upgraded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields
from pyhanko.sign.signers import ExternalSigner, PdfSignatureMetadata, PdfSigner
from pyhanko.sign.validation.generic_cms import validate_sig_integrity
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator.registry import SimpleCertificateStore


def identity(certificate_der: bytes, chain_der: tuple[bytes, ...]) -> ExternalSigner:
    """Who signs, as pyHanko needs to know it to prepare the signature field; it never sees the key."""
    certificate = asn1_x509.Certificate.load(certificate_der)
    chain = [asn1_x509.Certificate.load(der) for der in chain_der]
    return ExternalSigner(certificate, SimpleCertificateStore.from_certs([certificate, *chain]))


def sign(
    signer: ExternalSigner,
    pdf: bytes,
    *,
    field_name: str,
    reason: str,
    location: str | None,
    reserve: int,
    make_cms: Callable[[bytes], bytes],
    run: Callable[[Awaitable[Any]], Any],
) -> bytes:
    """Add the signature field, digest the byte ranges, and fill in the CMS `make_cms` makes of the digest.

    This is pyHanko's "interrupted signing": pyHanko writes the incremental update with room for the
    signature and digests everything but that room; the CMS is made outside pyHanko (see cms).
    """
    meta = PdfSignatureMetadata(
        field_name=field_name,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=reason,
        location=location,
    )
    output = BytesIO()
    pdf_signer = PdfSigner(meta, signer=signer)
    prepared, _document, written = run(
        pdf_signer.async_digest_doc_for_signing(
            IncrementalPdfFileWriter(BytesIO(pdf)), bytes_reserved=reserve, output=output
        )
    )
    prepared.fill_with_cms(written, make_cms(prepared.document_digest))
    return output.getvalue()


class Unreadable(Exception):
    """The bytes are not a PDF pyHanko can read."""


@dataclass(frozen=True)
class Examined:
    """What a file shows about its signatures; signing.Signer.validate draws the conclusion."""

    keywords: str | None
    signatures: int
    readable_signature: bool  # the CMS structure could be read and its certificate found
    intact: bool  # the signed bytes hash to the digest the signature vouches for
    valid: bool  # the signature over that digest verifies with the embedded certificate
    whole_file: bool  # the signed byte range is the entire file, bar the signature itself
    signer_der: bytes | None


def examine(data: bytes) -> Examined:
    """Read the file's signatures; Unreadable if it is not a PDF at all. Other failures become facts."""
    try:
        # Lenient reading: a damaged file is still examined (and found wanting) rather than refused,
        # since whatever parses differently from what was signed fails the digest anyway.
        reader = PdfFileReader(BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except Exception as exc:
        raise Unreadable from exc
    keywords = _keywords(reader)
    if len(signatures) != 1:
        return Examined(keywords, len(signatures), False, False, False, False, None)
    signature = signatures[0]
    try:
        certificate = signature.signer_cert
        # HAZARD: this checks the mathematics only, against whatever certificate the file carries. It says
        # nothing of who signed: the caller compares `signer_der` with its own certificate.
        intact, valid = validate_sig_integrity(
            signature.signer_info,
            certificate,
            expected_content_type="data",
            actual_digest=signature.compute_digest(),
        )
        # The signature covers a byte range; anything outside it (an incremental update appended, a
        # range that skips a region) is not vouched for by it.
        whole_file = signature.evaluate_signature_coverage() == SignatureCoverageLevel.ENTIRE_FILE
        signer_der = certificate.dump()
    except Exception:
        return Examined(keywords, 1, False, False, False, False, None)
    return Examined(keywords, 1, True, bool(intact), bool(valid), whole_file, signer_der)


def _keywords(reader: PdfFileReader) -> str | None:
    try:
        return str(reader.trailer["/Info"]["/Keywords"])
    except Exception:
        return None
