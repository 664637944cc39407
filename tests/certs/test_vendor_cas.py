"""Vendors' private CAs (certsoar/certs/data/vendor-private-cas.txt): recognized by bytes or a verified
signature, so a copy of their names with another key is still an imitation."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

from certfactory import custom, pem_of
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certsoar.alert import CertificateAlert, LoggedCertificate
from certsoar.certs import AnalysisContext, analyze_alert

BENIGN = Path(__file__).resolve().parent.parent / "data" / "benign-certs"
ORIGIN_PULL = x509.load_pem_x509_certificate((BENIGN / "cloudflare-origin-pull-ca.pem").read_bytes())


def analyze(pem: bytes, at: datetime) -> object:
    return analyze_alert(CertificateAlert(id="a", time=at, certificate_pem=pem.decode()), AnalysisContext(at=at))


def test_a_vendor_ca_named_like_a_host_signing_itself_is_not_mimicry():
    # CA:TRUE, certificate signing only, CN=origin-pull.cloudflare.net, O=CloudFlare, Inc.: the same shape
    # as Metasploit's default certificate; only its bytes tell it apart
    at = ORIGIN_PULL.not_valid_before_utc + timedelta(days=1)
    facts = analyze(ORIGIN_PULL.public_bytes(Encoding.PEM), at)
    assert facts.self_signed and facts.vendor_ca and "origin-pull" in facts.vendor_ca
    assert facts.mimicry.matched is False and "ca_true_on_leaf" not in facts.anomalies


def test_a_copy_of_a_vendor_ca_with_another_key_is_still_mimicry():
    copy = custom(ORIGIN_PULL.subject, ca=True, lifetime=timedelta(days=365))
    facts = analyze(pem_of(copy), datetime.now(timezone.utc))
    assert facts.vendor_ca is None
    assert facts.self_signed and facts.mimicry.kind == "exact_brand_untrusted"


def test_a_leaf_the_vendor_ca_signed_belongs_to_its_pki():
    pem = (BENIGN / "microsoft-update-api.cdp.microsoft.com.pem").read_bytes()
    leaf = x509.load_pem_x509_certificate(pem)
    facts = analyze(pem, leaf.not_valid_before_utc + timedelta(days=1))
    assert facts.vendor_ca and "Microsoft Update Secure Server CA 2.1" in facts.vendor_ca
    assert facts.public_tls_leaf is False and facts.ioc_reasons == []


def test_a_logged_vendor_ca_is_known_by_its_hash():
    sha256 = hashlib.sha256(ORIGIN_PULL.public_bytes(Encoding.DER)).hexdigest()
    dn = ORIGIN_PULL.subject.rfc4514_string()
    at = ORIGIN_PULL.not_valid_before_utc + timedelta(days=1)
    logged = LoggedCertificate(serial="5791BA9556C22E61", subject=dn, issuer=dn, basic_constraints_ca=True)
    alert = CertificateAlert(id="z", time=at, source_format="zeek-x509", sha256=sha256, logged_certificate=logged)
    facts = analyze_alert(alert, AnalysisContext(at=at))
    assert facts.vendor_ca is not None and facts.mimicry.matched is False
    forged = alert.model_copy(update={"sha256": "ab" * 32})
    assert analyze_alert(forged, AnalysisContext(at=at)).mimicry.kind == "exact_brand_untrusted"
