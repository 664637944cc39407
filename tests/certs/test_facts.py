from __future__ import annotations

import hashlib

import pytest
from certfactory import NOW, dn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certsoar.certs import facts_from_fingerprints
from certsoar.errors import AlertError


def test_identifiers_match_the_der(analyze, make_cert):
    leaf = make_cert(dn(CN="www.example.com"), sans=["www.example.com"])
    facts = analyze(leaf.pem)
    der = leaf.cert.public_bytes(serialization.Encoding.DER)
    assert facts.parsed
    assert facts.sha256 == hashlib.sha256(der).hexdigest()
    assert facts.sha1 == hashlib.sha1(der).hexdigest()
    spki = leaf.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert facts.spki_sha256 == hashlib.sha256(spki).hexdigest()
    assert facts.serial == f"{leaf.cert.serial_number:X}"
    assert facts.subject == "CN=www.example.com"
    assert facts.key_type == "EC" and facts.key_size == 256
    assert facts.signature_algorithm == "ecdsa-with-SHA256"
    assert facts.validity_days == 90


def test_self_signed_is_decided_by_signature_not_by_name(analyze):
    # Old Metasploit: issuer != subject, yet signed with the certificate's own key.
    own_key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(dn(CN="host.example.com"))
        .issuer_name(dn(CN="Someone Else", O="Other"))
        .public_key(own_key.public_key())
        .serial_number(7)
        .not_valid_before(NOW)
        .not_valid_after(NOW.replace(year=2027))
        .sign(own_key, hashes.SHA256())
    )
    facts = analyze(cert.public_bytes(serialization.Encoding.PEM))
    assert facts.self_signed is True
    assert facts.self_signed_name is False


def test_same_names_signed_by_a_foreign_key_is_not_self_signed(analyze, make_cert):
    foreign = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert(dn(CN="twin.example.com"), signing_key=foreign, sans=["twin.example.com"])
    facts = analyze(cert.pem)
    assert facts.self_signed_name is True
    assert facts.self_signed is False


def test_issued_by_test_ca_is_not_self_signed_and_chains_internally(analyze, make_cert, test_ca):
    leaf = make_cert(dn(CN="app.example.com"), signer=test_ca, sans=["app.example.com"])
    facts = analyze(leaf.pem, internal_roots=[test_ca.cert])
    assert facts.self_signed is False and facts.self_signed_name is False
    assert facts.chain.store == "internal"
    assert facts.issuer_cn == "Example Internal Root CA" and facts.issuer_org == "Example Corp"
    without_roots = analyze(leaf.pem)
    assert without_roots.chain.store == "none"
    assert "public:" in (without_roots.chain.reason or "")


def test_internal_leaf_without_san_validates_and_says_what_was_relaxed(analyze, make_cert, test_ca):
    leaf = make_cert(dn(CN="mtls-client"), signer=test_ca)
    facts = analyze(leaf.pem, internal_roots=[test_ca.cert])
    assert facts.chain.store == "internal"
    assert facts.chain.reason and "subjectAltName" in facts.chain.reason
    assert "missing_san" in facts.anomalies


def test_managed_ca_detected_by_signature_and_impostor_rejected(analyze, make_cert, test_ca):
    genuine = make_cert(dn(CN="vpn.example.com"), signer=test_ca, sans=["vpn.example.com"])
    impostor_ca = make_cert(test_ca.cert.subject, ca=True, days=3650)  # same name, other key
    forged = make_cert(dn(CN="vpn.example.com"), signer=impostor_ca, sans=["vpn.example.com"])
    ok = analyze(genuine.pem, managed_cas=[test_ca.cert])
    assert ok.issued_by_managed_ca and ok.managed_ca == test_ca.cert.subject.rfc4514_string()
    bad = analyze(forged.pem, managed_cas=[test_ca.cert])
    assert bad.issued_by_managed_ca is False and bad.managed_ca is None
    # the forged leaf copies the managed CA's name, which the CA's own certificate disproves
    assert bad.mimicry.matched and bad.mimicry.kind == "exact_brand_untrusted"
    assert ok.mimicry.matched is False


def test_names_and_outside_domains(analyze, make_cert):
    leaf = make_cert(
        dn(CN="portal.example.com"),
        sans=["portal.example.com", "Example.COM", "evil-example.com", "*.cdn.example.net", "xn--bcher-kva.example"],
    )
    facts = analyze(leaf.pem, org_domains=["example.com", "Example.NET"])
    assert facts.names == [
        "portal.example.com",
        "example.com",
        "evil-example.com",
        "*.cdn.example.net",
        "bücher.example",
    ]
    assert facts.outside_domains == ["evil-example.com", "bücher.example"]


def test_validity_and_structure_anomalies(analyze, make_cert):
    future = make_cert(dn(CN="later.example.com"), sans=["later.example.com"], not_before=NOW.replace(year=2027))
    assert "not_yet_valid" in analyze(future.pem).anomalies
    old = make_cert(dn(CN="old.example.com"), sans=["old.example.com"], not_before=NOW.replace(year=2020), days=30)
    assert "expired" in analyze(old.pem).anomalies
    long_ = make_cert(dn(CN="long.example.com", O="Corp"), ca=True, days=3650)
    anomalies = analyze(long_.pem).anomalies
    assert {"long_validity", "missing_san", "ca_true_on_leaf"} <= set(anomalies)
    clean = make_cert(dn(CN="ok.example.com"), sans=["ok.example.com"])
    assert analyze(clean.pem).anomalies == []


def test_der_input_is_accepted(analyze, make_cert):
    leaf = make_cert(dn(CN="der.example.com"), sans=["der.example.com"])
    facts = analyze(leaf.cert.public_bytes(serialization.Encoding.DER))
    assert facts.names == ["der.example.com"]


@pytest.mark.parametrize(
    "junk", [b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
)
def test_unparseable_input_raises_alert_error(analyze, junk):
    with pytest.raises(AlertError, match="certificate"):
        analyze(junk)


def test_facts_from_fingerprints_only():
    facts = facts_from_fingerprints("AB" * 32, None)
    assert facts.parsed is False
    assert facts.sha256 == "ab" * 32 and facts.sha1 is None
    assert facts.names == [] and facts.subject is None and facts.mimicry.matched is False
    assert facts.chain.store == "none"


def test_ip_common_name_goes_to_addresses_not_names(analyze, make_cert):
    covenant_like = make_cert(dn(CN="192.0.2.10"))
    facts = analyze(covenant_like.pem)
    assert facts.ip_addresses == ["192.0.2.10"]
    assert facts.names == [] and facts.outside_domains == []
    assert facts.self_signed and "missing_san" in facts.anomalies
