"""CRL status: a configured CRL whose issuer signed the certificate, verified with that issuer's key.

The verifier in cryptography does no revocation checking (cert-domain §1.7), so this looks the
serial up in each configured CRL whose issuer name is the certificate's issuer and whose signature a
known issuer certificate (internal roots, managed CAs, presented intermediates) verifies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from pydantic import BaseModel, ConfigDict, Field

from certsoar.certs.dn import Attribute, attributes_of, same_name
from certsoar.errors import CrlError
from certsoar.parsedamage import damage_in_words
from certsoar.timeparse import as_utc


class RevocationFacts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    checked: bool = Field(
        description="The CRL's signature verified with the issuer's key and the serial was looked up."
    )
    revoked: bool = False
    reason: str | None = Field(default=None, description="CRL reason code name, e.g. keyCompromise.")
    crl: str = Field(description="Path of the CRL file used.")
    detail: str = ""


@dataclass(frozen=True)
class LoadedCrl:
    path: str
    crl: x509.CertificateRevocationList


def load_crl(path: Path) -> LoadedCrl:
    """PEM or DER CRL file → LoadedCrl; OSError for unreadable files, CrlError for anything else."""
    return LoadedCrl(path=str(path), crl=parse_crl(path.read_bytes(), str(path)))


def parse_crl(data: bytes, source: str) -> x509.CertificateRevocationList:
    """PEM or DER bytes → CRL (its signature not checked: see ``crl_signer``); CrlError naming ``source``."""
    try:
        return x509.load_pem_x509_crl(data) if b"-----BEGIN X509 CRL-----" in data else x509.load_der_x509_crl(data)
    except ValueError as exc:
        pem = re.search(rb"-----BEGIN ([A-Z0-9 ]+)-----", data)
        if pem is not None and pem.group(1) != b"X509 CRL":
            why = f"it holds a PEM {pem.group(1).decode()} block, not an X509 CRL"
        else:
            why = damage_in_words(str(exc))
        raise CrlError(f"{source}: not a PEM or DER CRL: {why}") from exc


def crl_signer(
    crl: x509.CertificateRevocationList, issuer_certs: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    """The first of ``issuer_certs`` named as the CRL's issuer whose key verifies its signature.

    Every certificate with that name is tried: a CA renewed with a new key keeps its name.
    """
    for cert in issuer_certs:
        if cert.subject != crl.issuer:
            continue
        try:
            if crl.is_signature_valid(cert.public_key()):  # type: ignore[arg-type]
                return cert
        except (UnsupportedAlgorithm, ValueError, TypeError):
            continue
    return None


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return as_utc(value)


def crl_reason(entry: x509.RevokedCertificate) -> str | None:
    """The RFC 5280 reason a CRL entry gives (``keyCompromise``); None when it gives none or a malformed one."""
    try:
        return str(entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value)
    except (x509.ExtensionNotFound, ValueError):
        return None


def check_revocation(
    *,
    serial: int | None,
    issuer: list[Attribute],
    crls: Sequence[LoadedCrl],
    issuer_certs: Sequence[x509.Certificate],
    at: datetime,
) -> RevocationFacts | None:
    """None when no configured CRL names the certificate's issuer."""
    if serial is None or not issuer:
        return None
    candidates = [c for c in crls if same_name(attributes_of(c.crl.issuer), issuer)]
    if not candidates:
        return None
    unverified: RevocationFacts | None = None
    for loaded in candidates:
        signer = crl_signer(loaded.crl, issuer_certs)
        if signer is None:
            unverified = unverified or RevocationFacts(
                checked=False,
                crl=loaded.path,
                detail="the CRL names the issuer, but no known issuer certificate (internal roots, managed CAs, presented chain) verifies its signature",
            )
            continue
        notes = []
        next_update = _aware(loaded.crl.next_update_utc)
        if next_update is not None and next_update < at:
            notes.append(f"the CRL is stale (nextUpdate {next_update.isoformat()})")
        entry = loaded.crl.get_revoked_certificate_by_serial_number(serial)
        if entry is None:
            notes.insert(0, f"serial not listed in the CRL issued {loaded.crl.last_update_utc.isoformat()}")
            return RevocationFacts(checked=True, revoked=False, crl=loaded.path, detail="; ".join(notes))
        reason = crl_reason(entry)
        notes.insert(0, f"revoked on {entry.revocation_date_utc.isoformat()}" + (f" ({reason})" if reason else ""))
        return RevocationFacts(checked=True, revoked=True, reason=reason, crl=loaded.path, detail="; ".join(notes))
    return unverified
