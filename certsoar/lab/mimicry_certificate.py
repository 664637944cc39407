"""The mimicry story's certificate: self-signed, its issuer imitating DigiCert ("DigiCert lnc")."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from certsoar.lab.paths import LabPaths
from certsoar.lab.story import MIMICRY_CREATED, MIMICRY_HOST, MIMICRY_NAME


def build_mimicry_certificate(paths: LabPaths, now: datetime) -> x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(MIMICRY_NAME)
        .issuer_name(MIMICRY_NAME)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - MIMICRY_CREATED)
        .not_valid_after(now - MIMICRY_CREATED + timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(MIMICRY_HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    paths.certificates["mimicry"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = paths.keys_dir / f"{MIMICRY_HOST}.key"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    return cert
