"""Hostile text and certificates whose names carry it, shared by the escaping tests."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import strategies as st

PAYLOADS = [
    "x\n# APPROVED by CISO",
    "\r\n## Approved",
    "ok\u2028# sep",
    "\u0085# nel",
    "[x](javascript:alert(1))",
    "![i](http://evil/x.png)",
    "<http://evil>",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "\x1b[2J\x1b[H",
    "\x1b]8;;http://evil\x07click\x1b]8;;\x07",
    "\x9b31m",
    "\u202egnp.exe",
    "\u2066x\u2069",
    "`code` **bold** _em_",
    "1. item",
    "   ## h",
    "- item",
    "+ item",
    "> quote",
    "---",
    "=====",
    "***",
    "    code",
    "&lt;script&gt;",
    "&#10;# x",
    "\\",
    "| a | b |",
    "~~x~~",
    "{{ 7*7 }}",
    "[ref]: javascript:x",
    "\x00\x7f",
    "@channel <!here>",
    "CN=evil\\, O=x",
    "\ud800",
]
hostile_text = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(),
    st.lists(st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=6)), min_size=1, max_size=5).map("".join),
)

KEY = ec.generate_private_key(ec.SECP256R1())
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
# Text cryptography accepts in a DN attribute (it refuses lone surrogates and the empty string).
dn_value = hostile_text.map(lambda t: t.encode("utf-8", "replace").decode("utf-8", "replace") or "x")


def certificate(subject: dict[str, str], issuer: dict[str, str], sans: list[str]) -> str:
    oids = {"CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME}

    def name(attrs: dict[str, str]) -> x509.Name:
        with warnings.catch_warnings():  # an adversary's CN may well be longer than the 64 characters of RFC 5280
            warnings.simplefilter("ignore", UserWarning)
            return x509.Name([x509.NameAttribute(oids[k], v, _validate=False) for k, v in attrs.items()])

    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(KEY.public_key())
        .serial_number(0x1F2E3D)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=90))
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    return builder.sign(KEY, hashes.SHA256()).public_bytes(Encoding.PEM).decode()
