"""Identifiers of a certificate in the forms every log source can be matched against (cert-domain §0)."""

from __future__ import annotations

import hashlib
import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization

_HEX = re.compile(r"^[0-9a-fA-F]+$")


def sha256_hex(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def sha1_hex(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest()  # noqa: S324 - SHA-1 is the identifier proxies and Suricata use


def spki_sha256(cert: x509.Certificate) -> str | None:
    """SHA-256 of the DER SubjectPublicKeyInfo; None when the key type is not supported (e.g. GOST)."""
    try:
        spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except Exception:  # noqa: BLE001 - unsupported key types raise several exception classes
        return None
    return hashlib.sha256(spki).hexdigest()


def serial_hex(serial: int) -> str:
    """Upper-case hex without separators; negative serials keep a leading '-' as Zeek prints them."""
    sign = "-" if serial < 0 else ""
    return f"{sign}{abs(serial):X}"


def normalize_serial(value: str) -> str | None:
    """``00:C7:D4``, ``c7d4``, ``C7 D4`` → ``C7D4`` (leading zero bytes dropped, '-' kept); None if not hex."""
    text = value.strip()
    sign = "-" if text.startswith("-") else ""
    digits = re.sub(r"[\s:\-]", "", text.removeprefix("-"))
    if not digits or not _HEX.match(digits):
        return None
    return sign + (digits.upper().lstrip("0") or "0")


def normalize_digest(value: str) -> str | None:
    """Hash in any of the usual spellings → lower hex without separators; None if not hex."""
    text = re.sub(r"[\s:\-]", "", value).lower()
    if not text or not re.fullmatch(r"[0-9a-f]+", text):
        return None
    return text
