"""What a vendor CA connector reads from its vendor's answers, the same way for every vendor: a JSON object, and
as proof of a revocation a CRL whose signature checks out against the CA's certificates (with the evidence
strings the run record keeps)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

from cryptography import x509

from certsoar.certs.fingerprints import serial_number, sha256_hex
from certsoar.certs.revocation import crl_reason, crl_signer, parse_crl
from certsoar.errors import ConnectorRejected, CrlError


def parse_serial(text: str) -> int:
    """A vendor CA's serial in any spelling ``serial_number`` accepts → its number; ConnectorRejected unless positive."""
    number = serial_number(text) if isinstance(text, str) else None
    if number is None or number <= 0:
        raise ConnectorRejected(f"{text!r} is not a positive hexadecimal serial number")
    return number


@dataclass(frozen=True)
class CrlFinding:
    listed: bool = False
    reason: str | None = None
    revoked_at: datetime | None = None
    number: int | None = None
    next_update: datetime | None = None


def crl_finding(
    data: bytes, source: str, ca_certs: Sequence[x509.Certificate], serial: int, evidence: dict[str, str]
) -> CrlFinding:
    """Is ``serial`` in the CRL ``data`` (PEM or DER) signed by one of ``ca_certs``? Notes what was read in
    ``evidence`` (``crl_sha256``, ``crl_check``); a CRL that cannot be read or whose signature fails lists nothing."""
    evidence["crl_sha256"] = sha256_hex(data)
    try:
        crl = parse_crl(data, source)
    except CrlError as exc:
        evidence["crl_check"] = f"unreadable CRL: {exc}"
        return CrlFinding()
    if crl_signer(crl, ca_certs) is None:
        evidence["crl_check"] = "signature invalid: the CRL was not signed by this CA's certificate"
        return CrlFinding()
    try:
        number: int | None = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        number = None
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    evidence["crl_check"] = "signature valid; serial " + ("listed" if entry is not None else "not listed")
    next_update = crl.next_update_utc
    if next_update is not None and next_update < datetime.now(timezone.utc):
        evidence["crl_check"] += f"; CRL expired at {next_update.isoformat()}"
    return CrlFinding(
        listed=entry is not None,
        reason=crl_reason(entry) if entry is not None else None,
        revoked_at=entry.revocation_date_utc if entry is not None else None,
        number=number,
        next_update=next_update,
    )


def issued_state(cert: x509.Certificate, revoked: bool) -> str:
    """valid, revoked or expired: the ``status`` of IssuedCertificate."""
    if revoked:
        return "revoked"
    return "expired" if cert.not_valid_after_utc <= datetime.now(timezone.utc) else "valid"


__all__ = ["CrlFinding", "crl_finding", "issued_state", "parse_serial"]
