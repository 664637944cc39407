"""What a CA connector reports of a certificate it holds, read from the certificate itself: one reading
for every CA connector, so the revocation sweep judges every CA on the same facts.

``CertificateReading`` computes each fact the first time it is asked for, so a sweep that judges 100 000
certificates against a policy of three rules reads three facts of each; ``describe_issued`` asks for all
of them. Both are the same code, so the two can never disagree.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Generic, NamedTuple, Protocol, TypeVar, overload, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID, PublicKeyAlgorithmOID

from certsoar.certs.fingerprints import serial_hex, sha1_hex, sha256_hex
from certsoar.connectors.ca import IssuedCertificate

_UPN = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")  # Microsoft user principal name (otherName)
_KEY_ALGORITHMS = {
    "rsa": {PublicKeyAlgorithmOID.RSAES_PKCS1_v1_5, PublicKeyAlgorithmOID.RSASSA_PSS},
    "ec": {
        PublicKeyAlgorithmOID.EC_PUBLIC_KEY,
        x509.ObjectIdentifier("1.3.132.1.12"),  # id-ecDH
        x509.ObjectIdentifier("1.3.132.1.13"),  # id-ecMQV
    },
}
"""The SubjectPublicKeyInfo algorithms whose key cryptography may load as each key type (a superset)."""
_T = TypeVar("_T")


class IssuedFacts(Protocol):
    """The facts of an issued certificate, as IssuedCertificate holds them (read-only)."""

    @property
    def serial(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def common_name(self) -> str | None: ...
    @property
    def issuer(self) -> str | None: ...
    @property
    def not_before(self) -> datetime | None: ...
    @property
    def not_after(self) -> datetime: ...
    @property
    def status(self) -> str: ...
    @property
    def revoked_at(self) -> datetime | None: ...
    @property
    def sha256(self) -> str | None: ...
    @property
    def sha1(self) -> str | None: ...
    @property
    def san_dns(self) -> list[str]: ...
    @property
    def san_ip(self) -> list[str]: ...
    @property
    def san_upn(self) -> list[str]: ...
    @property
    def key_type(self) -> str | None: ...
    @property
    def key_bits(self) -> int | None: ...
    @property
    def curve(self) -> str | None: ...
    @property
    def is_ca(self) -> bool | None: ...
    @property
    def ekus(self) -> list[str]: ...
    @property
    def requester(self) -> str | None: ...
    @property
    def template(self) -> str | None: ...
    @property
    def position(self) -> str | None: ...


class Listed(NamedTuple):
    """One certificate in a CA's listing: what the listing itself says, and how to read the rest."""

    status: str
    """valid, revoked or expired."""
    position: str | None
    """The CA's watermark just after it."""
    read: Callable[[], IssuedFacts]
    """Its facts; a CA that keeps the certificate reads it only when this is called."""


@runtime_checkable
class ListsLazily(Protocol):
    """A CA that can list what it issued without reading each certificate (``openssl-ca``: index.txt first)."""

    def iter_listed(self, since: str | None = None) -> AsyncIterator[Listed]:
        """What ``iter_issued(since)`` yields, in the same order, each read only when asked."""
        ...


async def listed_from(issued: AsyncIterator[IssuedCertificate]) -> AsyncIterator[Listed]:
    """A CA's ``iter_issued`` as a listing (every certificate is already read)."""
    async for cert in issued:
        yield Listed(cert.status, cert.position, functools.partial(_given, cert))


def _given(cert: IssuedCertificate) -> IssuedFacts:
    return cert


class _Once(Generic[_T]):
    """functools.cached_property without the lock Python 3.11 takes on each first read (a sweep makes
    several first reads of each of 100 000 certificates)."""

    def __init__(self, compute: Callable[[Any], _T]) -> None:
        self.compute = compute
        self.name = compute.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Once[_T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> _Once[_T] | _T:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.compute(obj)  # later reads find it before the descriptor
        return value


class CertificateReading:
    """A certificate's facts (IssuedFacts), each read from ``cert`` when first asked for."""

    requester: str | None = None
    template: str | None = None

    def __init__(
        self,
        cert: x509.Certificate,
        *,
        status: str,
        revoked_at: datetime | None = None,
        issuer: str | None = None,
        not_after: datetime | None = None,
        position: str | None = None,
    ) -> None:
        self.cert = cert
        self.status = status
        self.revoked_at = revoked_at
        self.position = position
        self._issuer = issuer
        self._not_after = not_after

    @_Once
    def serial(self) -> str:
        return serial_hex(self.cert.serial_number)

    @_Once
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()

    @_Once
    def common_name(self) -> str | None:
        cn = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(cn[0].value) if cn else None

    @_Once
    def issuer(self) -> str | None:
        return self._issuer if self._issuer is not None else self.cert.issuer.rfc4514_string()

    @_Once
    def not_before(self) -> datetime | None:
        return self.cert.not_valid_before_utc

    @_Once
    def not_after(self) -> datetime:
        return self._not_after if self._not_after is not None else self.cert.not_valid_after_utc

    @_Once
    def _der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @_Once
    def sha256(self) -> str | None:
        return sha256_hex(self._der)

    @_Once
    def sha1(self) -> str | None:
        return sha1_hex(self._der)

    @_Once
    def _san(self) -> x509.SubjectAlternativeName | None:
        try:
            return self.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (x509.ExtensionNotFound, ValueError):
            return None

    @_Once
    def san_dns(self) -> list[str]:
        return [] if self._san is None else self._san.get_values_for_type(x509.DNSName)

    @_Once
    def san_ip(self) -> list[str]:
        return [] if self._san is None else [str(ip) for ip in self._san.get_values_for_type(x509.IPAddress)]

    @_Once
    def san_upn(self) -> list[str]:
        if self._san is None:
            return []
        upns = [_upn_text(o.value) for o in self._san.get_values_for_type(x509.OtherName) if o.type_id == _UPN]
        return [u for u in upns if u is not None]

    @_Once
    def _key_facts(self) -> tuple[str | None, int | None, str | None]:
        return _key_facts(self.cert)

    @property
    def key_type(self) -> str | None:
        return self._key_facts[0]

    def key_may_be(self, key_type: str) -> bool:
        """False when the key's algorithm rules ``key_type`` out: told without loading the key."""
        algorithms = _KEY_ALGORITHMS.get(key_type)
        return algorithms is None or self.cert.public_key_algorithm_oid in algorithms

    @property
    def key_bits(self) -> int | None:
        return self._key_facts[1]

    @property
    def curve(self) -> str | None:
        return self._key_facts[2]

    @_Once
    def is_ca(self) -> bool | None:
        return _is_ca(self.cert)

    @_Once
    def ekus(self) -> list[str]:
        return _ekus(self.cert)

    def described(self) -> IssuedCertificate:
        """Every fact, as the CA Protocol reports them."""
        return IssuedCertificate(
            serial=self.serial,
            subject=self.subject,
            common_name=self.common_name,
            issuer=self.issuer,
            not_before=self.not_before,
            not_after=self.not_after,
            status=self.status,
            revoked_at=self.revoked_at,
            sha256=self.sha256,
            sha1=self.sha1,
            san_dns=self.san_dns,
            san_ip=self.san_ip,
            san_upn=self.san_upn,
            key_type=self.key_type,
            key_bits=self.key_bits,
            curve=self.curve,
            is_ca=self.is_ca,
            ekus=self.ekus,
            position=self.position,
        )


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
    reading = CertificateReading(
        cert, status=status, revoked_at=revoked_at, issuer=issuer, not_after=not_after, position=position
    )
    return reading.described()


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
