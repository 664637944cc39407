"""Identifiers of a certificate in the forms every log source can be matched against (cert-domain §0)."""

from __future__ import annotations

import hashlib
import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization

# hex digits, optionally grouped by colons, spaces or dashes; a separator never starts or ends it
_GROUPED_HEX = re.compile(r"[0-9a-fA-F]+(?:[\s:\-]+[0-9a-fA-F]+)*")
_SEPARATORS = re.compile(r"[\s:\-]")
# RFC 5280 allows 20 octets; logs and hostile input get some room, never an unbounded int().
MAX_SERIAL_DIGITS = 200
SHA1_DIGITS = 40
SHA256_DIGITS = 64


def sha256_hex(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def sha1_hex(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest()  # noqa: S324 - SHA-1 is the identifier proxies and Suricata use


def spki_sha256(cert: x509.Certificate) -> str | None:
    """SHA-256 of the DER SubjectPublicKeyInfo; None when the key type is not supported (e.g. GOST)."""
    try:
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except Exception:  # noqa: BLE001 - unsupported key types raise several exception classes
        return None
    return hashlib.sha256(spki).hexdigest()


def serial_hex(serial: int) -> str:
    """Upper-case hex without separators or leading zeros; a negative serial keeps a leading '-' as Zeek prints it."""
    sign = "-" if serial < 0 else ""
    return f"{sign}{abs(serial):X}"


def serial_number(value: str | int) -> int | None:
    """The integer a serial spells, or None when it is not hexadecimal.

    Accepted: ``00:C7:D4``, ``c7d4``, ``C7 D4``, ``c7-d4``, ``0xC7D4``; a leading ``-`` (before any
    ``0x``) is a sign, as Zeek prints negative serials, never a separator.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = value.strip()
    negative = text.startswith("-")
    body = text.removeprefix("-")
    if body[:2] in ("0x", "0X"):
        body = body[2:]
    digits = _hex_digits(body)
    if digits is None or len(digits) > MAX_SERIAL_DIGITS:
        return None
    number = int(digits, 16)
    return -number if negative else number


def checked_serial(value: str | None) -> str | None:
    """A serial field of a model: None when absent or empty, the ``serial_hex`` form, ValueError when not hex."""
    if value is None or value == "":
        return None
    serial = normalize_serial(value)
    if serial is None:
        raise ValueError(f"{value[:80]!r} is not a hexadecimal serial number")
    return serial


def normalize_serial(value: str | int) -> str | None:
    """A serial in any spelling (see ``serial_number``) → ``serial_hex`` form; None if not hex."""
    number = serial_number(value)
    return None if number is None else serial_hex(number)


def normalize_digest(value: str, length: int | tuple[int, ...] | None = None) -> str | None:
    """A hash in any usual spelling (``AB:CD``, ``ab cd``, ``AB-CD``) → lower hex without separators.

    None when it is not hex or, with ``length`` (hex digits, one or several), has another length.
    """
    digits = _hex_digits(value.strip())
    if digits is None:
        return None
    text = digits.lower()
    allowed = (length,) if isinstance(length, int) else length
    if allowed is not None and len(text) not in allowed:
        return None
    return text


def _hex_digits(text: str) -> str | None:
    return _SEPARATORS.sub("", text) if _GROUPED_HEX.fullmatch(text) else None
