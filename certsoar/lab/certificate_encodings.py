"""A certificate's bytes and numbers as the sensors and logs write them."""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def raw_serial(cert: x509.Certificate) -> bytes:
    n = cert.serial_number
    return n.to_bytes(n.bit_length() // 8 + 1, "big")


def adcs_serial(cert: x509.Certificate) -> str:
    """The serial as AD CS events write it: lower-case hex, an even number of digits, no separators."""
    digits = format(cert.serial_number, "x")
    return digits.zfill(len(digits) + len(digits) % 2)


def spki_sha256(cert: x509.Certificate) -> str:
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()
