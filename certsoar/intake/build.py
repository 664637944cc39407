"""Assembling the normalized fields of one format into a CertificateAlert."""

from __future__ import annotations

import base64
import binascii
import hashlib
import warnings
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning
from pydantic import ValidationError

from certsoar.alert import CertificateAlert, LoggedCertificate
from certsoar.errors import AlertError
from certsoar.intake.values import Fields

_IDENTITY = ("certificate_pem", "sha256", "sha1")


def build_alert(
    fmt: str, fields: dict[str, Any], logged: dict[str, Any] | None, *, identity_hint: str, label: str | None = None
) -> CertificateAlert:
    """``identity_hint`` names, in the source's own field names, what would have identified the
    certificate; it is the error when the record identifies none. ``label`` prefixes errors (default
    the format)."""
    label = label or fmt
    logged_fields = {k: v for k, v in (logged or {}).items() if v not in (None, [], "")}
    identified = any(fields.get(k) for k in _IDENTITY) or logged_fields.get("serial") or logged_fields.get("request_id")
    if not identified:
        raise AlertError(f"{label}: the record names no certificate: it has no {identity_hint}")
    try:
        logged_model = LoggedCertificate.model_validate(logged_fields) if logged_fields else None
        return CertificateAlert.model_validate(
            {
                **{k: v for k, v in fields.items() if v is not None},
                "source_format": fmt,
                "logged_certificate": logged_model,
            }
        )
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "alert"
            parts.append(f"{loc}: {err['msg']}")
        raise AlertError(f"{label}: bad alert: " + "; ".join(parts)) from exc


def load_der(der: bytes) -> x509.Certificate:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(der)


def load_pem_chain(pem: bytes) -> list[x509.Certificate]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_pem_x509_certificates(pem)


def to_pem(certs: list[x509.Certificate]) -> str:
    return "".join(cert.public_bytes(serialization.Encoding.PEM).decode("ascii") for cert in certs)


def identifiers(cert: x509.Certificate) -> dict[str, str]:
    der = cert.public_bytes(serialization.Encoding.DER)
    return {"sha256": hashlib.sha256(der).hexdigest(), "sha1": hashlib.sha1(der).hexdigest()}  # noqa: S324


def certificate_from_base64(fmt: str, name: str, value: str) -> x509.Certificate:
    """A certificate logged as base64 DER (Suricata tls.certificate) or as PEM text (ECS)."""
    try:
        if "-----BEGIN CERTIFICATE-----" in value:
            return load_pem_chain(value.encode("ascii", "strict"))[0]
        return load_der(base64.b64decode("".join(value.split()), validate=True))
    except (ValueError, x509.InvalidVersion, binascii.Error, UnicodeEncodeError, IndexError) as exc:
        raise AlertError(f"{fmt}: {name}: does not hold a certificate (base64 DER or PEM): {exc}") from exc


def logged_chain(f: Fields, leaf_key: str, chain_key: str) -> tuple[str, dict[str, str]] | None:
    """(PEM of the logged leaf followed by the other logged chain certificates, the leaf's sha256/sha1);
    None when the record logs no certificate."""
    leaf_text = f.text(leaf_key, max_len=1024 * 1024)
    if not leaf_text:
        return None
    leaf = certificate_from_base64(f.fmt, leaf_key, leaf_text)
    chain = [leaf]
    for index, item in enumerate(f.texts(chain_key)):
        cert = certificate_from_base64(f.fmt, f"{chain_key}[{index}]", item)
        if cert != leaf:
            chain.append(cert)
    return to_pem(chain), identifiers(leaf)
