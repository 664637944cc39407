"""NIST PKITS paths (tests/data/pkits/SOURCE.txt): chain validation and CRL status agree with PKITS."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certsoar.alert import CertificateAlert, LoggedCertificate
from certsoar.certs import AnalysisContext, analyze_alert, analyze_certificate, load_crl

DATA = Path(__file__).resolve().parent.parent / "data" / "pkits"
AT = datetime(2020, 1, 1, tzinfo=timezone.utc)


def cert(stem: str) -> x509.Certificate:
    return x509.load_der_x509_certificate((DATA / f"{stem}.crt").read_bytes())


def pem(*stems: str) -> bytes:
    return b"".join(cert(s).public_bytes(Encoding.PEM) for s in stems)


ANCHOR = cert("TrustAnchorRootCertificate")


@pytest.mark.parametrize(
    ("leaf", "ca", "valid", "why"),
    [
        ("ValidCertificatePathTest1EE", "GoodCACert", True, None),
        ("InvalidCASignatureTest2EE", "BadSignedCACert", False, "signature"),
        ("InvalidEESignatureTest3EE", "GoodCACert", False, "signature"),
        ("InvalidCAnotBeforeDateTest1EE", "BadnotBeforeDateCACert", False, "not valid at validation time"),
        ("InvalidEEnotAfterDateTest6EE", "GoodCACert", False, "not valid at validation time"),
        ("InvalidMissingbasicConstraintsTest1EE", "MissingbasicConstraintsCACert", False, "basicConstraints"),
    ],
)
def test_chain_validation_agrees_with_pkits(leaf, ca, valid, why):
    facts = analyze_certificate(pem(leaf, ca), at=AT, internal_roots=[ANCHOR], managed_cas=[], org_domains=[])
    if valid:
        assert facts.chain.store == "internal", facts.chain.reason
    else:
        assert facts.chain.store == "none"
        assert why in (facts.chain.reason or ""), facts.chain.reason
    assert facts.self_signed is False


def test_without_the_internal_anchor_nothing_validates():
    facts = analyze_certificate(
        pem("ValidCertificatePathTest1EE", "GoodCACert"), at=AT, internal_roots=[], managed_cas=[], org_domains=[]
    )
    assert facts.chain.store == "none" and "no internal roots configured" in (facts.chain.reason or "")


GOOD_CRL = load_crl(DATA / "GoodCACRL.crl")
ROOT_CRL = load_crl(DATA / "TrustAnchorRootCRL.crl")


@pytest.mark.parametrize(
    ("leaf", "presented", "checked", "revoked", "reason"),
    [
        ("InvalidRevokedEETest3EE", ["GoodCACert"], True, True, "keyCompromise"),
        ("ValidCertificatePathTest1EE", ["GoodCACert"], True, False, None),
        # the issuer certificate is not known: the CRL's signature cannot be verified
        ("InvalidRevokedEETest3EE", [], False, False, None),
    ],
)
def test_crl_status(leaf, presented, checked, revoked, reason):
    facts = analyze_certificate(
        pem(leaf, *presented), at=AT, internal_roots=[ANCHOR], managed_cas=[], org_domains=[], crls=[ROOT_CRL, GOOD_CRL]
    )
    assert facts.revocation is not None
    assert facts.revocation.crl.endswith("GoodCACRL.crl")
    assert (facts.revocation.checked, facts.revocation.revoked, facts.revocation.reason) == (checked, revoked, reason)
    if revoked:
        assert "revoked on 2010-01-01" in facts.revocation.detail


def test_a_same_named_ca_with_another_key_cannot_vouch_for_the_crl():
    from certfactory import custom

    impostor = custom(cert("GoodCACert").subject, ca=True)  # "Good CA" by name, another key
    facts = analyze_certificate(
        pem("InvalidRevokedEETest3EE"),
        at=AT,
        internal_roots=[ANCHOR],
        managed_cas=[impostor],
        org_domains=[],
        crls=[GOOD_CRL],
    )
    assert facts.revocation is not None and facts.revocation.checked is False


def test_no_crl_for_the_issuer_means_no_revocation_facts():
    facts = analyze_certificate(
        pem("InvalidRevokedEETest3EE", "GoodCACert"),
        at=AT,
        internal_roots=[ANCHOR],
        managed_cas=[],
        org_domains=[],
        crls=[ROOT_CRL],
    )
    assert facts.revocation is None


def test_stale_crl_is_said():
    later = datetime(2031, 6, 1, tzinfo=timezone.utc)
    facts = analyze_certificate(
        pem("InvalidRevokedEETest3EE", "GoodCACert"),
        at=later,
        internal_roots=[ANCHOR],
        managed_cas=[],
        org_domains=[],
        crls=[GOOD_CRL],
    )
    assert facts.revocation.revoked and "stale" in facts.revocation.detail


def test_crl_applies_to_a_logged_certificate_issued_by_a_managed_ca():
    logged = LoggedCertificate(
        subject="CN=Invalid Revoked EE Certificate Test3,O=Test Certificates 2011,C=US",
        issuer="CN=Good CA,O=Test Certificates 2011,C=US",
        serial="0F",
    )
    alert = CertificateAlert(id="adcs", time=AT, source_format="adcs-4887", logged_certificate=logged)
    ctx = AnalysisContext(at=AT, internal_roots=[ANCHOR], managed_cas=[cert("GoodCACert")], crls=[GOOD_CRL])
    facts = analyze_alert(alert, ctx)
    assert facts.source == "log" and facts.issued_by_managed_ca
    assert facts.revocation is not None and facts.revocation.revoked and facts.revocation.reason == "keyCompromise"
