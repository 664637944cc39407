"""Issue 9 item 1: the CA/B Forum lifetime limit judges publicly trusted TLS server leaves only (CA:FALSE,
serverAuth/anyEKU or no EKU, claiming public trust); a CA certificate is judged as a CA, and a vendor's
private PKI leaf by other means. Real certificates from tests/data/benign-certs, shapes from certfactory."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from certfactory import custom, name, pem_of
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from certsoar.alert import CertificateAlert, LoggedCertificate
from certsoar.certs import AnalysisContext, analyze_alert

BENIGN = Path(__file__).resolve().parent.parent / "data" / "benign-certs"
ISSUED = datetime(2026, 6, 1, tzinfo=timezone.utc)  # the 200-day limit is in force
MS_UPDATE_CA = x509.load_pem_x509_certificate((BENIGN / "microsoft-update-secure-server-ca-2.1.pem").read_bytes())
DIGICERT_CA = name(("C", "US"), ("O", "DigiCert Inc"), ("CN", "DigiCert Global G2 TLS RSA SHA256 2020 CA1"))


def analyze(pem: bytes, at: datetime) -> object:
    return analyze_alert(CertificateAlert(id="a", time=at, certificate_pem=pem.decode()), AnalysisContext(at=at))


def real(name_: str) -> tuple[bytes, datetime]:
    cert = x509.load_pem_x509_certificate((BENIGN / name_).read_bytes())
    return (BENIGN / name_).read_bytes(), cert.not_valid_before_utc + timedelta(days=1)


@pytest.mark.parametrize(
    "file",
    [
        "azure-ecc-tls-issuing-ca-03.pem",
        "gogetssl-rsa-dv-ca.pem",
        "microsoft-update-secure-server-ca-2.1.pem",
        "vectors/rapidssl_sha256_ca_g3.pem",
        "vectors/letsencryptx3.pem",
    ],
)
def test_a_public_or_vendor_intermediate_is_judged_as_a_ca(file):
    facts = analyze(*real(file))
    assert facts.validity_days > 398
    assert not facts.public_tls_leaf and not facts.lifetime_exceeded and facts.ioc_reasons == []
    assert not {"ca_true_on_leaf", "missing_san", "exceeds_public_max_validity"} & set(facts.anomalies)


@pytest.mark.parametrize("file", ["geotrust-global-ca-root.pem", "addtrust-external-ca-root.pem"])
def test_a_retired_public_root_signing_itself_is_not_mimicry(file):
    facts = analyze(*real(file))
    assert facts.self_signed and facts.chain.store == "none"
    assert facts.mimicry.matched is False and facts.ioc_reasons == []


def test_a_root_copying_a_public_roots_name_with_another_key_is_still_mimicry():
    # spelled anew (UTF8String where DigiCert wrote PrintableString): compared by value, not by encoding
    digicert_root = name(
        ("C", "US"), ("O", "DigiCert Inc"), ("OU", "www.digicert.com"), ("CN", "DigiCert Global Root G3")
    )
    fake = custom(digicert_root, ca=True, lifetime=timedelta(days=3650))
    facts = analyze(pem_of(fake), datetime.now(timezone.utc))
    assert facts.self_signed and facts.mimicry.kind == "exact_brand_untrusted"


def test_a_real_vendor_update_leaf_is_not_an_ioc():
    pem, at = real("microsoft-update-api.cdp.microsoft.com.pem")
    chain = pem + (BENIGN / "microsoft-update-secure-server-ca-2.1.pem").read_bytes()
    for presented in (pem, chain):
        facts = analyze(presented, at)
        assert facts.public_ca_brand == "Microsoft Corporation" and facts.ioc_reasons == []


def _leaf(issuer: x509.Name, *, days: int, eku: list[x509.ObjectIdentifier] | None = None) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(("CN", "update.example.org")))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(ISSUED)
        .not_valid_after(ISSUED + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("update.example.org")]), critical=False)
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())


SERVER = [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]
CLIENT = [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
ANY = [x509.oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]


@pytest.mark.parametrize(
    ("issuer", "eku", "ioc"),
    [
        (DIGICERT_CA, SERVER, True),  # a public CA operator's name on a 366-day leaf: no public CA issues that
        (DIGICERT_CA, None, True),  # no EKU is in scope (Mozilla Root Store Policy 1.1)
        (DIGICERT_CA, ANY, True),
        (DIGICERT_CA, CLIENT, False),  # not a TLS server certificate: out of the Baseline Requirements' scope
        (MS_UPDATE_CA.subject, SERVER, False),  # a vendor's private update PKI, same shape as the real leaf
    ],
)
def test_lifetime_limit_scope(issuer, eku, ioc):
    facts = analyze(pem_of(_leaf(issuer, days=366, eku=eku)), ISSUED + timedelta(days=1))
    assert facts.validity_days == 366
    assert facts.public_tls_leaf is ioc and facts.lifetime_exceeded is ioc
    assert bool(facts.ioc_reasons) is ioc
    assert any("the limit does not apply" in n for n in facts.notes) is (not ioc)  # the analyst sees why


def test_a_chain_ending_at_a_private_root_is_a_private_pki():
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = custom(name(("O", "Example Corp"), ("CN", "Example Private Root")), key=root_key, ca=True)
    leaf = custom(
        name(("CN", "app.example.org")),
        issuer=root.subject,
        sign_key=root_key,
        sans=["app.example.org"],
        not_before=ISSUED,
        lifetime=timedelta(days=800),
        ca=False,
    )
    facts = analyze(pem_of(leaf) + pem_of(root), ISSUED + timedelta(days=1))
    assert facts.public_tls_leaf is False and facts.ioc_reasons == []


def test_a_forged_public_root_in_the_chain_does_not_make_it_private():
    root_key = ec.generate_private_key(ec.SECP256R1())
    fake_root = custom(
        name(("C", "US"), ("O", "DigiCert Inc"), ("OU", "www.digicert.com"), ("CN", "DigiCert Global Root G3")),
        key=root_key,
        ca=True,
    )
    leaf = custom(
        name(("CN", "shop.example.org")),
        issuer=fake_root.subject,
        sign_key=root_key,
        sans=["shop.example.org"],
        not_before=ISSUED,
        lifetime=timedelta(days=366),
        ca=False,
    )
    facts = analyze(pem_of(leaf) + pem_of(fake_root), ISSUED + timedelta(days=1))
    assert facts.public_tls_leaf and facts.lifetime_exceeded and facts.ioc_reasons


def _logged(issuer: str, *, ca: bool | None, subject: str, sans: list[str]) -> object:
    alert = CertificateAlert(
        id="z",
        time=ISSUED + timedelta(days=1),
        source_format="zeek-x509",
        logged_certificate=LoggedCertificate(
            serial="1F",
            subject=subject,
            issuer=issuer,
            not_before=ISSUED,
            not_after=ISSUED + timedelta(days=366),
            basic_constraints_ca=ca,
            san_dns=sans,
        ),
    )
    return analyze_alert(alert, AnalysisContext(at=ISSUED + timedelta(days=1)))


LEAF = ("CN=update.example.org", ["update.example.org"])
INTERMEDIATE = ("CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1,O=DigiCert Inc,C=US", [])
MS_UPDATE = "CN=Microsoft Update Secure Server CA 2.1,O=Microsoft Corporation,L=Redmond,ST=Washington,C=US"


@pytest.mark.parametrize(
    ("issuer", "ca", "subject", "ioc"),
    [
        ("CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1,O=DigiCert Inc,C=US", False, LEAF, True),
        (MS_UPDATE, False, LEAF, False),
        ("CN=DigiCert Global Root G2,OU=www.digicert.com,O=DigiCert Inc,C=US", True, INTERMEDIATE, False),
    ],
)
def test_logged_certificates_follow_the_same_scope(issuer, ca, subject, ioc):
    facts = _logged(issuer, ca=ca, subject=subject[0], sans=subject[1])
    assert bool(facts.ioc_reasons) is ioc
    assert ("ca_true_on_leaf" in facts.anomalies) is False
