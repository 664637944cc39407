"""What a CA connector reports of a certificate it holds, read from the certificate itself: one reading
for every CA connector, so the revocation sweep judges every CA on the same facts."""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from certsoar.certs.fingerprints import serial_hex, sha1_hex, sha256_hex
from certsoar.connectors.ca import IssuedCertificate

_UPN = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")  # Microsoft user principal name (otherName)


def describe_issued(
    cert: x509.Certificate,
    *,
    status: str,
    revoked_at: datetime | None = None,
    issuer: str | None = None,
    not_after: datetime | None = None,
    position: str | None = None,
) -> IssuedCertificate:
    """``cert`` as the CA Protocol reports it. ``issuer`` and ``not_after`` default to the certificate's own
    (a connector may pass what its database says); ``position`` is the CA's watermark after it."""
    der = cert.public_bytes(serialization.Encoding.DER)
    dns, ips, upns = _alternative_names(cert)
    key_type, key_bits, curve = _key_facts(cert)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return IssuedCertificate(
        serial=serial_hex(cert.serial_number),
        subject=cert.subject.rfc4514_string(),
        common_name=str(cn[0].value) if cn else None,
        issuer=issuer if issuer is not None else cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=not_after if not_after is not None else cert.not_valid_after_utc,
        status=status,
        revoked_at=revoked_at,
        sha256=sha256_hex(der),
        sha1=sha1_hex(der),
        san_dns=dns,
        san_ip=ips,
        san_upn=upns,
        key_type=key_type,
        key_bits=key_bits,
        curve=curve,
        is_ca=_is_ca(cert),
        ekus=_ekus(cert),
        position=position,
    )


def _alternative_names(cert: x509.Certificate) -> tuple[list[str], list[str], list[str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return [], [], []
    upns = [_upn_text(other.value) for other in san.get_values_for_type(x509.OtherName) if other.type_id == _UPN]
    return (
        san.get_values_for_type(x509.DNSName),
        [str(ip) for ip in san.get_values_for_type(x509.IPAddress)],
        [u for u in upns if u is not None],
    )


def _upn_text(der: bytes) -> str | None:
    """The UTF8String inside an msUPN otherName value (DER: tag 0x0C, short or long length)."""
    if len(der) < 2 or der[0] != 0x0C:
        return None
    length, start = der[1], 2
    if length & 0x80:
        octets = length & 0x7F
        length, start = int.from_bytes(der[2 : 2 + octets], "big"), 2 + octets
    return der[start : start + length].decode("utf-8", errors="replace")


def _key_facts(cert: x509.Certificate) -> tuple[str | None, int | None, str | None]:
    try:
        key = cert.public_key()
    except (ValueError, TypeError):  # a key type cryptography does not know
        return None, None, None
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec", key.curve.key_size, key.curve.name
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519", 256, None
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448", 456, None
    if isinstance(key, dsa.DSAPublicKey):
        return "dsa", key.key_size, None
    return None, None, None


def _is_ca(cert: x509.Certificate) -> bool | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError):
        return None


def _ekus(cert: x509.Certificate) -> list[str]:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [oid.dotted_string for oid in usages]
