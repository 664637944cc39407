"""Vendors' private CAs (data/vendor-private-cas.txt): their certificates and the ones they sign are
neither public-CA claims nor imitations of the vendor's brand, though they carry its name and sign
themselves. Recognized by the certificate's bytes or a verified signature, never by name alone."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.resources import files

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certsoar.certs.chain import directly_issued_by, load_certificates_quietly
from certsoar.certs.fingerprints import sha256_hex


@cache
def vendor_cas() -> tuple[x509.Certificate, ...]:
    data = files("certsoar.certs").joinpath("data/vendor-private-cas.txt").read_bytes()
    return tuple(load_certificates_quietly(data))


def vendor_ca_of(cert: x509.Certificate, presented: Sequence[x509.Certificate] = ()) -> x509.Certificate | None:
    """The known vendor CA that ``cert`` is, or that signed it directly or through one presented intermediate."""
    known = vendor_cas()
    for ca in known:
        if cert == ca or directly_issued_by(cert, ca):
            return ca
    for middle in presented:
        if directly_issued_by(cert, middle):
            found = next((ca for ca in known if directly_issued_by(middle, ca)), None)
            if found is not None:
                return found
    return None


@cache
def vendor_ca_sha256s() -> dict[str, x509.Certificate]:
    """The known vendor CAs by SHA-256 of their DER (a log names a certificate by its hash)."""
    return {sha256_hex(ca.public_bytes(Encoding.DER)): ca for ca in vendor_cas()}
