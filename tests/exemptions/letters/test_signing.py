"""Signed letters: valid in any PDF reader, genuine to the service, and exposed by any change or forgery."""

from __future__ import annotations

import os
import pickle
import re
import stat
import threading
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from exemptions.letters import Signer, render_pdf
from exemptions.letters.samples import sample_content
from exemptions.letters.signing import (
    ADDED_AFTER,
    CHANGED,
    GENUINE,
    NO_SIGNATURE,
    NOT_PDF,
    OTHER_SIGNER,
    SELF_SIGNED_FILE,
    UNREADABLE,
)
from monitor.storage.enums import LetterKind
from tests.exemptions.letters.conftest import Issued, poppler

FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

VALID = "Signature Validation: Signature is Valid."
WHOLE = "  - Total document signed"
PART = "  - Not total document signed"


def signed_ranges(pdf: bytes) -> tuple[int, int, int, int]:
    found = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert found is not None
    a, b, c, d = (int(value) for value in found.groups())
    return a, b, c, d


def flipped(pdf: bytes, position: int, mask: int = 0x01) -> bytes:
    changed = bytearray(pdf)
    changed[position] ^= mask
    return bytes(changed)


# --- what a reader sees ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(LetterKind))
def test_pdfsig_finds_every_kind_of_letter_validly_signed_over_the_whole_document(
    kind: LetterKind, issued: dict[LetterKind, Issued], tmp_path: Path
) -> None:
    report = poppler("pdfsig", issued[kind].signed, tmp_path)
    assert "Signature Field Name: PortalWatch" in report
    assert "Signature Type: ETSI.CAdES.detached" in report  # PAdES
    assert "Signing Hash Algorithm: SHA-256" in report
    assert VALID in report
    assert WHOLE in report
    # A self-signed certificate is nobody's trust anchor: poppler says so, and that is expected.
    assert "Certificate Validation: Certificate issuer is unknown." in report


def test_pyhankos_full_validation_trusting_only_our_certificate_judges_the_signature_valid(
    issued: dict[LetterKind, Issued], signer: Signer
) -> None:
    _, _, der = pem.unarmor(signer.certificate_pem())
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(der)], allow_fetching=False, revocation_mode="soft-fail"
    )
    signature = PdfFileReader(BytesIO(issued[LetterKind.EXTENSION].signed)).embedded_signatures[0]
    status = validate_pdf_signature(signature, context)
    assert (status.intact, status.valid, status.trusted) == (True, True, True)
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.md_algorithm == "sha256"
    assert status.bottom_line


@pytest.mark.parametrize("kind", list(LetterKind))
def test_the_signer_finds_its_own_letters_genuine_and_reads_the_code_they_claim(
    kind: LetterKind, issued: dict[LetterKind, Issued], signer: Signer
) -> None:
    letter = issued[kind]
    assert signer.validate(letter.signed).genuine
    assert signer.validate(letter.signed).reason == GENUINE
    assert signer.validate(letter.signed).claimed_code == letter.content.code
    assert signer.validate(bytearray(letter.signed)).genuine


def test_an_unsigned_letter_has_no_signature(issued: dict[LetterKind, Issued], signer: Signer) -> None:
    letter = issued[LetterKind.EXTENSION]
    assert signer.validate(letter.unsigned) == signer.validate(letter.unsigned).__class__(
        False, NO_SIGNATURE, letter.content.code
    )


# --- changes after signing ------------------------------------------------------------------------


def test_a_byte_flipped_in_the_middle_of_the_signed_file_is_caught_by_pdfsig_and_by_the_signer(
    issued: dict[LetterKind, Issued], signer: Signer, tmp_path: Path
) -> None:
    letter = issued[LetterKind.EXTENSION].signed
    _, first, _, _ = signed_ranges(letter)
    changed = flipped(letter, first // 2)
    report = poppler("pdfsig", changed, tmp_path)
    assert VALID not in report
    assert "Signature Validation: Digest Mismatch." in report
    assert signer.validate(changed).reason == CHANGED


def test_a_byte_changed_inside_the_page_content_is_caught_by_pdfsig_and_by_the_signer(
    issued: dict[LetterKind, Issued], signer: Signer, tmp_path: Path
) -> None:
    letter = issued[LetterKind.EXTENSION].signed
    reader = PdfFileReader(BytesIO(letter))
    page = reader.root["/Pages"]["/Kids"][0].get_object()
    contents = page.raw_get("/Contents")
    stream_start = letter.index(b"stream", letter.index(f"\n{contents.idnum} 0 obj".encode())) + len(b"stream\n")
    changed = flipped(letter, stream_start + 20, 0x10)
    report = poppler("pdfsig", changed, tmp_path)
    assert VALID not in report
    assert not signer.validate(changed).genuine
    assert signer.validate(changed).reason == CHANGED


def test_a_changed_title_of_the_same_length_is_caught(issued: dict[LetterKind, Issued], signer: Signer) -> None:
    letter = issued[LetterKind.EXTENSION].signed
    changed = letter.replace(b"PW-EXT-CASE-2026-004217-v3", b"PW-EXT-CASE-2026-004218-v3")
    assert changed != letter
    assert signer.validate(changed).reason == CHANGED


def test_bytes_appended_after_the_signature_make_the_letter_not_genuine(
    issued: dict[LetterKind, Issued], signer: Signer, tmp_path: Path
) -> None:
    changed = issued[LetterKind.PAPER_FILING].signed + b"\n% appended\n"
    report = poppler("pdfsig", changed, tmp_path)
    assert PART in report  # the signature itself still verifies: it just no longer covers everything
    assert signer.validate(changed).reason == ADDED_AFTER


def test_an_annotation_added_in_an_incremental_update_makes_the_letter_not_genuine(
    issued: dict[LetterKind, Issued], signer: Signer, tmp_path: Path
) -> None:
    writer = IncrementalPdfFileWriter(BytesIO(issued[LetterKind.EXTENSION].signed))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    note = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/FreeText"),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.FloatObject(v) for v in (300, 400, 560, 430)]),
            generic.NameObject("/Contents"): generic.TextStringObject("New deadline: 2027-12-31 23:59:59"),
            generic.NameObject("/DA"): generic.pdf_string("/Helv 12 Tf 0 g"),
        }
    )
    page[generic.NameObject("/Annots")] = generic.ArrayObject([writer.add_object(note)])
    writer.update_container(page)
    output = BytesIO()
    writer.write(output)
    changed = output.getvalue()
    report = poppler("pdfsig", changed, tmp_path)
    assert PART in report
    assert WHOLE not in report
    assert signer.validate(changed).reason == ADDED_AFTER


def test_a_signed_letter_cannot_be_signed_over_again(issued: dict[LetterKind, Issued], signer: Signer) -> None:
    with pytest.raises(SigningError, match="filled already"):
        signer.sign(issued[LetterKind.ATTESTATION].signed, reason="again")


@FUZZ
@given(st.data())
def test_any_single_byte_changed_outside_the_signature_value_makes_the_letter_not_genuine(
    issued: dict[LetterKind, Issued], signer: Signer, data: st.DataObject
) -> None:
    letter = issued[LetterKind.EXTENSION].signed
    _, first, second, length = signed_ranges(letter)
    position = data.draw(st.integers(0, first - 1) | st.integers(second, second + length - 1))
    mask = data.draw(st.integers(1, 255))
    assert not signer.validate(flipped(letter, position, mask)).genuine


# --- somebody else's key ---------------------------------------------------------------------------


def test_a_letter_signed_with_another_certificate_is_not_genuine_though_its_signature_is_valid(
    other_signer: Signer, signer: Signer, tmp_path: Path
) -> None:
    forged = other_signer.sign(render_pdf(sample_content(LetterKind.EXTENSION)), reason="forged")
    assert other_signer.validate(forged).genuine
    assert signer.validate(forged).reason == OTHER_SIGNER
    assert VALID in poppler("pdfsig", forged, tmp_path)  # a reader alone cannot tell: hence the published fingerprint
    assert other_signer.certificate_sha256() != signer.certificate_sha256()


# --- where keys come from --------------------------------------------------------------------------


def test_the_self_signed_key_is_made_once_kept_private_and_loaded_again_after_a_restart(tmp_path: Path) -> None:
    directory = tmp_path / "data" / "letters"
    first = Signer.self_signed(directory, "Test portal status")
    again = Signer.self_signed(directory, "Another name entirely")
    assert again.certificate_pem() == first.certificate_pem()
    assert again.certificate_sha256() == first.certificate_sha256()
    assert stat.S_IMODE((directory / SELF_SIGNED_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) & 0o077 == 0
    assert sorted(os.listdir(directory)) == [SELF_SIGNED_FILE]  # no temporary file left behind
    letter = first.sign(render_pdf(sample_content(LetterKind.ATTESTATION)), reason="test")
    assert again.validate(letter).genuine


def test_processes_starting_together_all_end_up_with_the_same_key(tmp_path: Path) -> None:
    directory = tmp_path / "letters"
    fingerprints: list[str] = []
    start = threading.Barrier(6)

    def start_up() -> None:
        start.wait()
        fingerprints.append(Signer.self_signed(directory, "Test portal status").certificate_sha256())

    threads = [threading.Thread(target=start_up) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fingerprints) == 6 and len(set(fingerprints)) == 1
    assert sorted(os.listdir(directory)) == [SELF_SIGNED_FILE]


def test_the_self_signed_certificate_is_for_signing_documents_for_ten_years(signer: Signer) -> None:
    certificate = x509.load_pem_x509_certificate(signer.certificate_pem())
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert timedelta(days=3650) <= lifetime <= timedelta(days=3655)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Test portal status"


def test_a_signer_never_shows_or_pickles_its_key(signer: Signer) -> None:
    shown = repr(signer) + str(signer)
    assert "Test portal status" in shown
    assert signer.certificate_sha256()[:16] in shown
    assert "PRIVATE" not in shown and "key=" not in shown.lower()
    with pytest.raises(TypeError):
        pickle.dumps(signer)


def _rsa_credentials(tmp_path: Path, passphrase: bytes) -> tuple[Path, Path, rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Deployment letters key")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = tmp_path / "key.pem", tmp_path / "cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path, key, certificate


def test_a_deployments_rsa_key_in_pem_signs_letters_pdfsig_and_the_signer_accept(tmp_path: Path) -> None:
    key_path, cert_path, _, _ = _rsa_credentials(tmp_path, b"correct horse")
    signer = Signer.from_pem(key_path, cert_path, b"correct horse")
    letter = signer.sign(render_pdf(sample_content(LetterKind.EXTENSION)), reason="RSA", location="Ottawa")
    assert signer.validate(letter).genuine
    report = poppler("pdfsig", letter, tmp_path)
    assert VALID in report and WHOLE in report


def test_a_wrong_passphrase_is_refused_without_repeating_it(tmp_path: Path) -> None:
    key_path, cert_path, _, _ = _rsa_credentials(tmp_path, b"correct horse")
    with pytest.raises(ValueError, match="wrong passphrase") as refused:
        Signer.from_pem(key_path, cert_path, b"battery staple")
    assert "battery" not in str(refused.value) and "horse" not in str(refused.value)


def test_a_pkcs12_file_with_a_passphrase_gives_the_same_signer_as_its_pem_pair(tmp_path: Path) -> None:
    key_path, cert_path, key, certificate = _rsa_credentials(tmp_path, b"pw")
    bundle = tmp_path / "bundle.p12"
    bundle.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"letters", key, certificate, None, serialization.BestAvailableEncryption(b"p12 secret")
        )
    )
    from_bundle = Signer.from_pkcs12(bundle, b"p12 secret")
    assert from_bundle.certificate_sha256() == Signer.from_pem(key_path, cert_path, b"pw").certificate_sha256()
    with pytest.raises(ValueError, match="wrong passphrase"):
        Signer.from_pkcs12(bundle, None)


def test_a_key_that_does_not_match_its_certificate_is_refused(tmp_path: Path) -> None:
    _, _, _, certificate = _rsa_credentials(tmp_path, b"pw")
    with pytest.raises(ValueError, match="does not belong"):
        Signer(ec.generate_private_key(ec.SECP256R1()), certificate)


# --- whatever is brought back ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", NOT_PDF),
        (b"hello", NOT_PDF),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), NOT_PDF),
        (b"%PDF-1.7\n", UNREADABLE),
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF", UNREADABLE),
    ],
)
def test_what_is_not_a_signed_pdf_is_classified_not_raised(body: bytes, reason: str, signer: Signer) -> None:
    assert signer.validate(body).reason == reason
    assert not signer.validate(body).genuine


def test_a_truncated_letter_is_not_genuine_and_a_damaged_one_still_tells_which_code_it_claims(
    issued: dict[LetterKind, Issued], signer: Signer
) -> None:
    letter = issued[LetterKind.EXTENSION]
    for size in (10, 1_000, len(letter.signed) // 2, len(letter.signed) - 10):
        assert not signer.validate(letter.signed[:size]).genuine
    damaged = letter.signed[: len(letter.signed) - 300]  # the keywords survive, the cross-reference does not
    assert signer.validate(damaged).claimed_code == letter.content.code


@FUZZ
@given(st.binary(max_size=4096) | st.binary(max_size=2048).map(lambda tail: b"%PDF-1.4\n" + tail))
def test_validate_never_raises_on_arbitrary_bytes(signer: Signer, body: bytes) -> None:
    result = signer.validate(body)
    assert not result.genuine and result.reason


@FUZZ
@given(st.data())
def test_validate_never_raises_on_a_letter_cut_or_spliced_anywhere(
    issued: dict[LetterKind, Issued], signer: Signer, data: st.DataObject
) -> None:
    letter = issued[LetterKind.ATTESTATION].signed
    cut = data.draw(st.integers(0, len(letter)))
    inserted = data.draw(st.binary(max_size=64))
    end = data.draw(st.integers(cut, min(len(letter), cut + 64)))
    result = signer.validate(letter[:cut] + inserted + letter[end:])
    assert result.genuine == (inserted == letter[cut:end])


def test_letters_are_signed_inside_a_running_event_loop_and_side_by_side_as_a_gevent_worker_does(
    signer: Signer,
) -> None:
    # Under gevent, requests share one OS thread and so asyncio's one running loop: signing must not need one.
    import asyncio

    unsigned = render_pdf(sample_content(LetterKind.PAPER_FILING))

    async def two_at_once() -> list[bytes]:
        return [signer.sign(unsigned, reason="inside a loop") for _ in range(2)]

    signed = asyncio.run(two_at_once())
    assert all(signer.validate(pdf).genuine for pdf in signed)
