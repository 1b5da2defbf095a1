"""The CMS encoded by hand is exactly the DER a standard library would write, and says what PAdES asks."""

from __future__ import annotations

import datetime as dt
import hashlib

from asn1crypto import cms, core, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from exemptions.letters import Signer
from exemptions.letters.cms import SignedDataEncoder, integer, oid, set_of, tlv

FUZZ = settings(max_examples=300, deadline=None, database=None)

CONTENT_TYPE = "1.2.840.113549.1.9.3"
MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"


@FUZZ
@given(st.integers(min_value=0, max_value=2**1024))
def test_integers_are_encoded_as_asn1crypto_encodes_them(value: int) -> None:
    assert integer(value) == core.Integer(value).dump()


@FUZZ
@given(st.integers(0, 2), st.integers(0, 39), st.lists(st.integers(0, 2**40), max_size=8))
def test_object_identifiers_are_encoded_as_asn1crypto_encodes_them(first: int, second: int, rest: list[int]) -> None:
    dotted = ".".join(str(arc) for arc in [first, second, *rest])
    assert oid(dotted) == core.ObjectIdentifier(dotted).dump()


@FUZZ
@given(st.binary(max_size=70_000))
def test_lengths_use_the_short_form_below_128_and_the_minimal_long_form_above(content: bytes) -> None:
    assert tlv(0x04, content) == core.OctetString(content).dump()


@FUZZ
@given(st.lists(st.binary(max_size=6), min_size=1, max_size=8))
def test_set_of_orders_its_elements_as_der_requires(items: list[bytes]) -> None:
    ours = set_of(core.OctetString(item).dump() for item in items)
    # asn1crypto sorts a SET OF when it re-encodes one: the same bytes mean ours were already in order.
    assert core.SetOf.load(ours, spec=core.OctetString).dump(force=True) == ours


def test_the_signature_is_a_detached_pades_signeddata_over_three_attributes(signer: Signer) -> None:
    digest = hashlib.sha256(b"the signed byte ranges").digest()
    certificate = x509.load_pem_x509_certificate(signer.certificate_pem())
    encoded = signer._encoder.encode(digest)
    info = cms.ContentInfo.load(encoded)
    assert info.dump(force=True) == encoded  # strict DER: re-encoding changes nothing
    assert info["content_type"].native == "signed_data"
    signed_data = info["content"]
    assert signed_data["encap_content_info"]["content_type"].native == "data"
    assert signed_data["encap_content_info"]["content"].native is None  # detached
    assert [c.chosen.sha256 for c in signed_data["certificates"]] == [bytes.fromhex(signer.certificate_sha256())]
    (signer_info,) = signed_data["signer_infos"]
    assert signer_info["digest_algorithm"]["algorithm"].native == "sha256"
    assert signer_info["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    attributes = {a["type"].dotted: a["values"] for a in signer_info["signed_attrs"]}
    assert set(attributes) == {CONTENT_TYPE, MESSAGE_DIGEST, SIGNING_CERTIFICATE_V2}
    assert all(len(values) == 1 for values in attributes.values())
    assert attributes[CONTENT_TYPE][0].native == "data"
    assert attributes[MESSAGE_DIGEST][0].native == digest
    (ess,) = tsp.SigningCertificateV2.load(attributes[SIGNING_CERTIFICATE_V2][0].dump())["certs"]
    assert ess["hash_algorithm"]["algorithm"].native == "sha256"  # the default, so not encoded
    assert ess["cert_hash"].native == bytes.fromhex(signer.certificate_sha256())
    assert ess["issuer_serial"]["serial_number"].native == certificate.serial_number
    signed = signer_info["signed_attrs"].untag().dump()
    assert signed[0] == 0x31
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signer_info["signature"].native, signed, ec.ECDSA(hashes.SHA256()))


def test_the_room_kept_in_the_file_fits_the_largest_signature() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(2**159 - 1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    encoder = SignedDataEncoder(key, certificate)
    sizes = {len(encoder.encode(hashlib.sha256(bytes([n])).digest())) for n in range(200)}
    assert max(sizes) <= encoder.max_size
