"""The one CRL loader and signature check (certs/revocation.py), used by the analysis and the CA connector."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certsoar.certs.dn import attributes_of
from certsoar.certs.revocation import check_revocation, crl_signer, load_crl, parse_crl
from certsoar.errors import ConfigError, CrlError

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Corp Issuing CA")])


def _ca(name: x509.Name = NAME) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _crl(key: ec.EllipticCurvePrivateKey, revoked: int) -> x509.CertificateRevocationList:
    entry = x509.RevokedCertificateBuilder().serial_number(revoked).revocation_date(NOW - timedelta(days=1)).build()
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(NAME)
        .last_update(NOW - timedelta(days=1))
        .next_update(NOW + timedelta(days=6))
        .add_revoked_certificate(entry)
        .sign(key, hashes.SHA256())
    )


def test_every_issuer_certificate_of_that_name_is_tried() -> None:
    old_key, old = _ca()
    new_key, new = _ca()
    _, stranger = _ca(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Someone Else")]))
    crl = _crl(new_key, 0x1002)
    assert crl_signer(crl, [old, new]) == new  # renewed CA: same name, new key, listed second
    assert crl_signer(crl, [old]) is None
    assert crl_signer(crl, [stranger]) is None
    assert crl_signer(_crl(old_key, 1), [stranger, new, old]) == old


def test_check_revocation_uses_the_verified_crl(tmp_path: Path) -> None:
    old_key, old = _ca()
    new_key, new = _ca()
    path = tmp_path / "ca.crl"
    path.write_bytes(_crl(new_key, 0x1002).public_bytes(serialization.Encoding.DER))
    loaded = load_crl(path)
    found = check_revocation(serial=0x1002, issuer=attributes_of(NAME), crls=[loaded], issuer_certs=[old, new], at=NOW)
    assert found is not None and found.checked and found.revoked
    unverified = check_revocation(serial=0x1002, issuer=attributes_of(NAME), crls=[loaded], issuer_certs=[old], at=NOW)
    assert unverified is not None and not unverified.checked and not unverified.revoked


@pytest.mark.parametrize("data", [b"", b"not a crl", b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"])
def test_a_file_that_is_not_a_crl_is_a_crl_error_in_the_error_tree(data: bytes) -> None:
    with pytest.raises(CrlError, match="ca.crl: not a PEM or DER CRL") as caught:
        parse_crl(data, "ca.crl")
    assert isinstance(caught.value, ConfigError)


def test_pem_and_der_load_alike(tmp_path: Path) -> None:
    key, _ = _ca()
    crl = _crl(key, 7)
    (tmp_path / "a.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "a.der").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    assert load_crl(tmp_path / "a.pem").crl == load_crl(tmp_path / "a.der").crl == crl
