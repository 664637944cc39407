"""The CRL reading every vendor CA connector shares (connectors/ca/evidence.py)."""

from __future__ import annotations

from datetime import timedelta

from ca_vendors import NOW, RealCa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from certsoar.connectors.ca.evidence import crl_finding


def test_a_listed_serial_in_a_crl_signed_by_the_ca_is_proof() -> None:
    ca = RealCa()
    serial = ca.issue("rogue.corp.example").serial_number
    evidence: dict[str, str] = {}
    found = crl_finding(ca.crl_der({serial: NOW}), "test", [ca.cert], serial, evidence)
    assert found.listed and found.revoked_at == NOW and found.number == 1
    assert evidence["crl_check"] == "signature valid; serial listed" and len(evidence["crl_sha256"]) == 64


def test_a_crl_of_the_same_name_signed_by_another_key_lists_nothing() -> None:
    ca, impostor = RealCa(), RealCa()  # same subject, other key
    serial = ca.issue("rogue.corp.example").serial_number
    evidence: dict[str, str] = {}
    assert not crl_finding(impostor.crl_der({serial: NOW}), "test", [ca.cert], serial, evidence).listed
    assert evidence["crl_check"].startswith("signature invalid")


def test_an_expired_crl_says_so_and_garbage_is_unreadable() -> None:
    ca = RealCa()
    serial = ca.issue("rogue.corp.example").serial_number
    stale = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(NOW - timedelta(days=10))
        .next_update(NOW - timedelta(days=3))
        .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW).build())
        .sign(ca.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    evidence: dict[str, str] = {}
    assert crl_finding(stale, "test", [ca.cert], serial, evidence).listed
    assert "; CRL expired at" in evidence["crl_check"]
    assert not crl_finding(b"<html>proxy error</html>", "test", [ca.cert], serial, evidence).listed
    assert evidence["crl_check"].startswith("unreadable CRL: test:")
