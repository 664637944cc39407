"""analyze_alert decision tables: each §1 signal and each false-positive guard of cert-domain.md."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from certfactory import NOW, custom, name, pem_of
from cryptography.hazmat.primitives.asymmetric import ec

from certsoar.alert import CertificateAlert, LoggedCertificate
from certsoar.certs import AnalysisContext, analyze_alert
from certsoar.errors import AlertError

X509 = Path(__file__).resolve().parent.parent / "data" / "x509"
CTX = AnalysisContext(at=NOW, org_domains=["example.com"])


def from_pem(pem: bytes, at: datetime = NOW, **alert) -> object:
    return analyze_alert(
        CertificateAlert(id="a", time=at, certificate_pem=pem.decode(), **alert), AnalysisContext(at=at)
    )


def from_log(at: datetime = NOW, source_format: str = "zeek-x509", sha256: str | None = None, **logged) -> object:
    alert = CertificateAlert(
        id="l",
        time=at,
        source_format=source_format,
        sha256=sha256,
        logged_certificate=LoggedCertificate(serial=logged.pop("serial", "1F"), **logged),
    )
    return analyze_alert(alert, AnalysisContext(at=at))


# --- public-CA lifetime limit (SC-081 schedule) --------------------------------------------------

BRAND_CA = custom(
    name(("C", "US"), ("O", "DigiCert Inc"), ("CN", "DigiCert Global G2 TLS RSA SHA256 2020 CA1")), ca=True
)
BRAND_CA_KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.mark.parametrize(
    ("not_before", "days", "exceeded"),
    [
        (datetime(2025, 6, 1, tzinfo=timezone.utc), 397, False),
        (datetime(2025, 6, 1, tzinfo=timezone.utc), 399, True),
        (datetime(2026, 3, 14, tzinfo=timezone.utc), 397, False),  # day before the 200-day rule
        (datetime(2026, 3, 15, tzinfo=timezone.utc), 201, True),
        (datetime(2026, 3, 15, tzinfo=timezone.utc), 199, False),
        (datetime(2027, 3, 15, tzinfo=timezone.utc), 101, True),
        (datetime(2029, 3, 15, tzinfo=timezone.utc), 48, True),
        (datetime(2029, 3, 15, tzinfo=timezone.utc), 46, False),
        (datetime(2016, 6, 1, tzinfo=timezone.utc), 1000, False),  # 39-month era
        (datetime(2011, 6, 1, tzinfo=timezone.utc), 3000, False),  # before any limit
    ],
)
def test_public_ca_named_leaf_beyond_the_limit_in_force(not_before, days, exceeded):
    leaf = custom(
        name(("CN", "shop.example.org")),
        issuer=BRAND_CA.subject,
        sign_key=BRAND_CA_KEY,
        sans=["shop.example.org"],
        not_before=not_before,
        lifetime=timedelta(days=days),
        ca=False,
    )
    facts = from_pem(pem_of(leaf), at=not_before + timedelta(days=1))
    assert facts.public_ca_named and facts.public_ca_brand == "DigiCert Inc"
    assert facts.lifetime_exceeded is exceeded
    assert bool([r for r in facts.ioc_reasons if "public CA" in r]) is exceeded
    assert ("exceeds_public_max_validity" in facts.anomalies) is exceeded
    # the intermediate is merely absent: a brand name on a leaf is not forgery by itself
    assert facts.mimicry.matched is False


def test_long_lived_leaf_of_an_internal_ca_is_not_a_public_ca_ioc(test_ca, make_cert):
    leaf = make_cert(name(("CN", "app.example.com")), signer=test_ca, sans=["app.example.com"], days=800)
    facts = analyze_alert(
        CertificateAlert(id="i", time=NOW, certificate_pem=leaf.pem.decode()),
        AnalysisContext(at=NOW, internal_roots=[test_ca.cert]),
    )
    assert facts.chain.store == "internal" and facts.validity_days == 800 and not facts.public_ca_named
    assert not facts.public_tls_leaf and not facts.lifetime_exceeded
    assert facts.ioc_reasons == []


# --- false-positive guards ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        name(("CN", "printer01.example.com")),  # self-signed alone
        name(("C", "US"), ("ST", "CA"), ("O", "VMware Installer"), ("CN", "esx01.example.com")),
        name(("O", "pfSense webConfigurator Self-Signed Certificate"), ("CN", "pfSense-5a5e")),
        name(
            ("C", "FR"),
            ("L", "Default City"),
            ("O", "Default Company Ltd"),
            ("OU", "Nessus Certification Authority"),
            ("CN", "Nessus CA"),
        ),
        name(("O", "Bitnami"), ("CN", "example.com")),
    ],
)
def test_self_signed_and_appliance_defaults_are_never_iocs_or_mimicry(subject):
    facts = from_pem(pem_of(custom(subject, sans=["host.example.com"], lifetime=timedelta(days=3650))))
    assert facts.self_signed
    assert facts.ioc_reasons == [] and facts.mimicry.matched is False and facts.sslbl is None
    assert all(m.tool == "openssl" for m in facts.tools)


def test_expired_certificate_alone_is_only_an_anomaly():
    cert = custom(
        name(("CN", "old.example.com")),
        sans=["old.example.com"],
        not_before=NOW - timedelta(days=400),
        lifetime=timedelta(days=90),
    )
    facts = from_pem(pem_of(cert))
    assert "expired" in facts.anomalies
    assert facts.ioc_reasons == [] and facts.tools == [] and facts.mimicry.matched is False


@pytest.mark.parametrize(
    ("vector", "at"),
    [
        ("utf8-dnsname.pem", datetime(2012, 1, 1, tzinfo=timezone.utc)),  # NetLock Tanúsítványkiadó
        ("e-trust.ru.der", datetime(2016, 1, 1, tzinfo=timezone.utc)),  # Cyrillic, GOST key
        ("wosign-bc-invalid.pem", datetime(2016, 1, 1, tzinfo=timezone.utc)),  # Chinese subject, WoSign issuer
        (
            "cryptography-scts.pem",
            datetime(2018, 6, 1, tzinfo=timezone.utc),
        ),  # genuine LE leaf without its intermediate
        ("cryptography.io.chain.pem", datetime(2016, 1, 1, tzinfo=timezone.utc)),  # GeoTrust ≠ Entrust
        ("custom__ian_uri.pem", datetime(2016, 1, 1, tzinfo=timezone.utc)),  # OpenSSL defaults: not an IOC
    ],
)
def test_real_certificates_raise_no_indicator(vector, at):
    from certsoar.certs import analyze_certificate

    facts = analyze_certificate((X509 / vector).read_bytes(), at=at, internal_roots=[], managed_cas=[], org_domains=[])
    assert facts.mimicry.matched is False, facts.mimicry
    assert facts.ioc_reasons == []


def test_genuine_lets_encrypt_leaf_names_a_public_ca_within_its_limit():
    from certsoar.certs import analyze_certificate

    facts = analyze_certificate(
        (X509 / "cryptography-scts.pem").read_bytes(),
        at=datetime(2018, 6, 1, tzinfo=timezone.utc),
        internal_roots=[],
        managed_cas=[],
        org_domains=[],
    )
    assert facts.public_ca_named and facts.public_ca_brand == "Let's Encrypt"
    assert facts.lifetime_exceeded is False and facts.validity_days == 90


# --- log-sourced facts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "issuer", "status", "self_signed", "note"),
    [
        ("CN=host.example.com", "CN=host.example.com", None, True, "self-signed decided from names only"),
        ("/CN=host.example.com", "CN=host.example.com", None, True, "self-signed decided from names only"),
        ("CN=host.example.com", "CN=Other CA,O=Other", "self signed certificate", True, "as the sensor reported it"),
        (
            "CN=host.example.com",
            "CN=Corp Issuing CA,O=Corp",
            "self signed certificate in certificate chain",
            False,
            "private CA",
        ),
        ("CN=host.example.com", "CN=Corp Issuing CA,O=Corp", None, False, "not verifiable from a log"),
    ],
)
def test_log_self_signed_decision(subject, issuer, status, self_signed, note):
    facts = from_log(subject=subject, issuer=issuer, validation_status=status)
    assert facts.source == "log" and facts.parsed is False
    assert facts.self_signed is self_signed
    assert any(note in n for n in facts.notes), facts.notes


@pytest.mark.parametrize(
    ("issuer", "kind"),
    [
        ("CN=Secure Server,O=DigiCert lnc", "homoglyph"),
        ("CN=Secure Server,O=Micr\u043esoft Corporation", "homoglyph"),
        ("C=US, O=Sectlgo Limited, CN=Sectigo RSA DV CA", "fuzzy"),
    ],
)
def test_log_issuer_mimicry(issuer, kind):
    facts = from_log(subject="CN=login.example.org", issuer=issuer, san_dns=["login.example.org"])
    assert facts.mimicry.kind == kind


def test_log_exact_brand_needs_proof():
    # a leaf whose issuer is DigiCert, intermediate absent: no proof
    plain = from_log(
        subject="CN=www.example.org",
        issuer="CN=DigiCert TLS RSA SHA256 2020 CA1,O=DigiCert Inc,C=US",
        san_dns=["www.example.org"],
    )
    assert plain.mimicry.matched is False
    # a leaf naming itself DigiCert (subject = issuer) is proof
    self_named = from_log(
        subject="CN=DigiCert Secure,O=DigiCert Inc",
        issuer="CN=DigiCert Secure,O=DigiCert Inc",
        san_dns=["pay.example.org"],
    )
    assert self_named.mimicry.kind == "exact_brand_untrusted"
    # the sensor validated it: trusted
    validated = from_log(
        subject="CN=DigiCert Secure,O=DigiCert Inc",
        issuer="CN=DigiCert Secure,O=DigiCert Inc",
        san_dns=["pay.example.org"],
        validation_status="ok",
    )
    assert validated.mimicry.matched is False and validated.chain.store == "public"


def test_log_attributes_become_facts():
    facts = from_log(
        subject="C=US/ST=x",
        issuer="CN=Tiny CA",
        serial="-0A",
        version=1,
        key_type="rsa",
        key_length=1024,
        signature_algorithm="md5WithRSAEncryption",
        not_before=NOW - timedelta(days=10),
        not_after=NOW + timedelta(days=3000),
        basic_constraints_ca=True,
        san_ip=["198.51.100.4"],
    )
    assert {
        "x509_v1",
        "weak_key",
        "weak_signature_hash",
        "non_positive_serial",
        "long_validity",
        "ca_true_on_leaf",
        "country_len_ne_2",
    } <= set(facts.anomalies)
    assert facts.serial == "-A" and facts.key_type == "RSA" and facts.ip_addresses == ["198.51.100.4"]
    assert facts.validity_days == 3010


@pytest.mark.parametrize(("source_format", "flagged"), [("zeek-x509", True), ("suricata-tls", False)])
def test_missing_san_from_logs_only_where_the_log_records_sans(source_format, flagged):
    facts = from_log(source_format=source_format, subject="CN=host.example.com", issuer="CN=Corp CA")
    assert ("missing_san" in facts.anomalies) is flagged


# --- alert shapes -------------------------------------------------------------------------------


def test_fingerprint_only_alert():
    facts = analyze_alert(CertificateAlert(id="f", time=NOW, sha256="AB" * 32), CTX)
    assert facts.source == "fingerprint" and facts.parsed is False and facts.sha256 == "ab" * 32
    assert any("only the certificate's hashes" in n for n in facts.notes)


def test_damaged_pem_falls_back_to_what_else_the_alert_carries():
    """Intake refuses such an alert; one that reaches analysis anyway (built without validation, stored by an
    older version) still gets what its hashes allow."""
    bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(ValueError, match="certificate_pem is not a readable X.509 certificate"):
        CertificateAlert(id="d", time=NOW, certificate_pem=bad, sha1="cd" * 20)
    facts = analyze_alert(CertificateAlert.model_construct(id="d", time=NOW, certificate_pem=bad, sha1="cd" * 20), CTX)
    assert facts.source == "fingerprint" and any("unusable" in n for n in facts.notes)
    with pytest.raises(AlertError):
        analyze_alert(CertificateAlert.model_construct(id="d", time=NOW, certificate_pem=bad), CTX)


def test_hash_that_disagrees_with_the_certificate_is_an_error():
    cert = custom(name(("CN", "x.example.com")), sans=["x.example.com"])
    facts = analyze_alert(
        CertificateAlert(id="m", time=NOW, certificate_pem=pem_of(cert).decode(), sha1="00" * 20), CTX
    )
    assert facts.source == "certificate"
    assert any("does not match the certificate" in e for e in facts.errors)
