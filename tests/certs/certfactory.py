"""Certificate factory for the analysis tests (keys are EC P-256: fast to generate)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def dn(**attrs: str) -> x509.Name:
    oids = {
        "CN": NameOID.COMMON_NAME,
        "O": NameOID.ORGANIZATION_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
        "C": NameOID.COUNTRY_NAME,
    }
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in attrs.items()])


class Issued:
    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.cert = cert
        self.key = key

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def build(
    subject: x509.Name,
    *,
    issuer_name: x509.Name | None = None,
    signer: Issued | None = None,
    signing_key: ec.EllipticCurvePrivateKey | None = None,
    ca: bool = False,
    sans: list[str] | None = None,
    days: int = 90,
    not_before: datetime | None = None,
) -> Issued:
    """A certificate for ``subject``: self-signed unless ``signer`` is given; ``signing_key`` overrides the key
    that signs (to sign with one's own key under a different issuer name)."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or NOW - timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name or (signer.cert.subject if signer else subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
    if signer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.key.public_key()), critical=False
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    sign_with = signing_key or (signer.key if signer else key)
    return Issued(builder.sign(sign_with, hashes.SHA256()), key)


LABEL_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "emailAddress": NameOID.EMAIL_ADDRESS,
    "postalCode": NameOID.POSTAL_CODE,
}


def name(*attrs: tuple[str, str]) -> x509.Name:
    """Attributes in X.500 order; values are not validated, so tool defaults like C=Earth can be built."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        from cryptography.x509.name import _ASN1Type

        def kind(label: str, value: str) -> _ASN1Type | None:
            return _ASN1Type.UTF8String if label == "C" and len(value) != 2 else None

        return x509.Name([x509.NameAttribute(LABEL_OIDS[k], v, _validate=False, _type=kind(k, v)) for k, v in attrs])


_RSA_KEYS: dict[int, object] = {}


def rsa_key(bits: int = 2048) -> object:
    from cryptography.hazmat.primitives.asymmetric import rsa

    if bits not in _RSA_KEYS:
        _RSA_KEYS[bits] = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return _RSA_KEYS[bits]


def custom(
    subject: x509.Name,
    *,
    issuer: x509.Name | None = None,
    serial: int | None = None,
    not_before: datetime | None = None,
    lifetime: timedelta = timedelta(days=90),
    key: object | None = None,
    sign_key: object | None = None,
    ca: bool | None = None,
    sans: list[str] | None = None,
    ips: list[str] | None = None,
    server_auth: bool = False,
) -> x509.Certificate:
    """One certificate with exactly the given shape (self-signed unless ``sign_key``)."""
    import ipaddress

    key = key or ec.generate_private_key(ec.SECP256R1())
    start = not_before or NOW - timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + lifetime)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    general = [x509.DNSName(s) for s in sans or []] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips or []]
    if general:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    if server_auth:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return builder.sign(sign_key or key, hashes.SHA256())  # type: ignore[arg-type]


def pem_of(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)
