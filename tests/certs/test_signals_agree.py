"""The certificate path (facts.analyze_certificate) and the logged-attributes path (analysis.facts_from_log)
derive the same signals for the same certificate, for every signal a Zeek x509.log record carries.

Each certificate is written as Zeek would log it (an independent writer here, from cryptography's view of
the certificate), read back through certsoar.intake.load_alert, and analyzed without its DER."""

from __future__ import annotations

import hashlib
import json
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from certfactory import NOW, custom, name, rsa_key
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import SignatureAlgorithmOID

from certsoar.certs import AnalysisContext, CertificateFacts, analyze_alert, analyze_certificate
from certsoar.certs.dn import comparison_key, parse_dn
from certsoar.intake import load_alert

X509 = Path(__file__).resolve().parent.parent / "data" / "x509"
DOMAINS = ["example.com", "corp.example"]
# What a Zeek x509 record carries, and so what both paths must agree on.
SHARED_FIELDS = (
    "serial",
    "subject_cn",
    "issuer_cn",
    "issuer_org",
    "names",
    "ip_addresses",
    "not_before",
    "not_after",
    "validity_days",
    "public_ca_named",
    "public_ca_brand",
    "lifetime_exceeded",
    "outside_domains",
    "mimicry",
)
# Anomalies decided from recorded attributes alone. Not here, by design: ca_true_on_leaf (the certificate
# path knows the trust store and our CAs, a log does not) and the structure anomalies a log cannot show.
# empty_subject neither: intake reads a logged empty string as an absent subject.
LOG_DECIDABLE = {
    "x509_v1",
    "non_positive_serial",
    "country_len_ne_2",
    "packed_country_dn",
    "weak_key",
    "weak_signature_hash",
    "not_yet_valid",
    "expired",
    "long_validity",
    "short_validity",
    "exceeds_public_max_validity",
    "missing_san",
}
_ZEEK_SIG = {
    SignatureAlgorithmOID.RSA_WITH_MD5: "md5WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA1: "sha1WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
    SignatureAlgorithmOID.DSA_WITH_SHA1: "dsa-with-SHA1",
    SignatureAlgorithmOID.DSA_WITH_SHA256: "dsa_with_SHA256",
}


def zeek_x509_record(cert: x509.Certificate, ts: datetime) -> dict[str, object]:
    """A Zeek x509.log record (JSON writer) for ``cert``: what Zeek's X509 analyzer logs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # negative serials, odd attribute lengths: cryptography warns, Zeek logs them
        return _zeek_x509_record(cert, ts)


def _zeek_x509_record(cert: x509.Certificate, ts: datetime) -> dict[str, object]:
    serial = cert.serial_number
    record: dict[str, object] = {
        "ts": ts.timestamp(),
        "fingerprint": hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest(),
        "certificate.version": cert.version.value + 1,
        "certificate.serial": format(serial, "X") if serial >= 0 else "-" + format(-serial, "X"),
        "certificate.subject": cert.subject.rfc4514_string(),
        "certificate.issuer": cert.issuer.rfc4514_string(),
        "certificate.not_valid_before": cert.not_valid_before_utc.timestamp(),
        "certificate.not_valid_after": cert.not_valid_after_utc.timestamp(),
        "certificate.sig_alg": _ZEEK_SIG.get(cert.signature_algorithm_oid, cert.signature_algorithm_oid.dotted_string),
    }
    try:
        key = cert.public_key()
    except UnsupportedAlgorithm:  # GOST: Zeek logs no key type either
        key = None
    if isinstance(key, rsa.RSAPublicKey):
        record.update({"certificate.key_type": "rsa", "certificate.key_length": key.key_size})
    elif isinstance(key, ec.EllipticCurvePublicKey):
        record.update({"certificate.key_type": "ecdsa", "certificate.key_length": key.curve.key_size})
    elif isinstance(key, dsa.DSAPublicKey):
        record.update({"certificate.key_type": "dsa", "certificate.key_length": key.key_size})
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns, ips = san.get_values_for_type(x509.DNSName), [str(i) for i in san.get_values_for_type(x509.IPAddress)]
        if dns:
            record["san.dns"] = dns
        if ips:
            record["san.ip"] = ips
    except x509.ExtensionNotFound:
        pass
    try:
        record["basic_constraints.ca"] = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        pass
    return record


def _real(file: str) -> x509.Certificate:
    data = (X509 / file).read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (
            x509.load_pem_x509_certificate(data) if data.startswith(b"-----") else x509.load_der_x509_certificate(data)
        )


_DIGICERT = name(("C", "US"), ("O", "DigiCert Inc"), ("CN", "DigiCert Global G2 TLS RSA SHA256 2020 CA1"))
CERTIFICATES = {
    # real certificates (tests/data/x509, see its SOURCE.txt)
    **{
        file: (lambda file=file: _real(file))
        for file in (
            "letsencryptx3.pem",
            "rapidssl_sha256_ca_g3.pem",
            "wildcard_san.pem",
            "custom__no_sans.pem",
            "v1_cert.pem",
            "custom__negative_serial.pem",
            "ecdsa_root.pem",
            "e-trust.ru.der",
            "custom__dsa_selfsigned_ca.pem",
            "utf8-dnsname.pem",
            "cryptography-scts.pem",
        )
    },
    # the shapes the rules care about
    "mimicry, self-signed": lambda: custom(
        name(("C", "US"), ("O", "DigiCert lnc"), ("CN", "DigiCert Global Root G2")), sans=["cdn-update.net"]
    ),
    "brand-named leaf, over the limit": lambda: custom(
        name(("CN", "shop.example.org")),
        issuer=_DIGICERT,
        sign_key=rsa_key(),
        sans=["shop.example.org"],
        not_before=datetime(2026, 3, 20, tzinfo=timezone.utc),
        lifetime=timedelta(days=398),
        ca=False,
    ),
    "Covenant: IP address CN": lambda: custom(
        name(("CN", "192.0.2.10")), ips=["192.0.2.10", "192.0.2.11"], lifetime=timedelta(days=3650)
    ),
    "weak RSA, internal names": lambda: custom(
        name(("CN", "wiki.corp.example")), key=rsa_key(1024), sans=["wiki.corp.example", "x.evil.test"]
    ),
    "packed country (old Metasploit)": lambda: custom(name(("C", "US/ST=TX/O=x/CN=y"), ("CN", "a.example.net"))),
    "empty subject": lambda: custom(name(), sans=["a.example.net"]),
    "expired and short": lambda: custom(
        name(("CN", "old.example.net")), not_before=NOW - timedelta(days=10), lifetime=timedelta(hours=1)
    ),
    "not yet valid": lambda: custom(name(("CN", "new.example.net")), not_before=NOW + timedelta(days=10)),
    "escaped DN characters": lambda: custom(
        name(("O", 'Acme, Inc. + "Co"'), ("OU", "#1 <dev>"), ("CN", "a.example.net "))
    ),
}


def _both(cert: x509.Certificate) -> tuple[CertificateFacts, CertificateFacts]:
    at = NOW
    from_cert = analyze_certificate(
        cert.public_bytes(Encoding.PEM), at=at, internal_roots=[], managed_cas=[], org_domains=DOMAINS
    )
    alert = load_alert(json.dumps(zeek_x509_record(cert, at)).encode(), format="zeek-x509")
    assert alert.certificate_pem is None and alert.logged_certificate is not None
    from_log = analyze_alert(alert, AnalysisContext(at=at, org_domains=DOMAINS))
    assert from_log.source == "log"
    return from_cert, from_log


@pytest.mark.parametrize("label", sorted(CERTIFICATES))
def test_the_log_path_gives_the_certificate_paths_signals(label: str) -> None:
    from_cert, from_log = _both(CERTIFICATES[label]())
    for field in SHARED_FIELDS:
        assert getattr(from_log, field) == getattr(from_cert, field), field
    if from_log.key_type is not None or not from_cert.key_type.startswith("unsupported"):  # Zeek logs no GOST key
        assert (from_log.key_type, from_log.key_size) == (from_cert.key_type, from_cert.key_size)
    # a name's RDN order is a guess in comma-separated text, and an empty subject is logged as absent
    for field in ("subject", "issuer"):
        assert comparison_key(parse_dn(getattr(from_log, field))) == comparison_key(
            parse_dn(getattr(from_cert, field))
        ), field
    assert set(from_log.anomalies) & LOG_DECIDABLE == set(from_cert.anomalies) & LOG_DECIDABLE
    if from_cert.subject and from_cert.subject == from_cert.issuer:
        assert from_log.self_signed_name == from_cert.self_signed_name
    assert [m.tool for m in from_log.tools if m.exact] == [m.tool for m in from_cert.tools if m.exact]
