"""Internal certificate authorities: list what they issued, revoke, and prove the revocation."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class RevocationReason(str, Enum):
    """CRL reason codes of RFC 5280 section 5.3.1 (7 is unused by the RFC)."""

    unspecified = "unspecified"
    key_compromise = "keyCompromise"
    ca_compromise = "CACompromise"
    affiliation_changed = "affiliationChanged"
    superseded = "superseded"
    cessation_of_operation = "cessationOfOperation"
    certificate_hold = "certificateHold"
    remove_from_crl = "removeFromCRL"
    privilege_withdrawn = "privilegeWithdrawn"
    aa_compromise = "AACompromise"


class IssuedCertificate(BaseModel):
    model_config = ConfigDict(frozen=True)

    serial: str = Field(description="Serial number, upper-case hex without separators.")
    subject: str = Field(description="Subject DN in RFC 4514 form.")
    issuer: str | None = Field(default=None, description="Issuer DN in RFC 4514 form.")
    not_before: datetime | None = Field(default=None, description="When the CA keeps the certificate.")
    not_after: datetime
    status: str = Field(description="valid, revoked or expired.")
    revoked_at: datetime | None = None
    sha256: str | None = Field(
        default=None, description="SHA-256 of the DER, lower-case hex, when the CA keeps the certificate."
    )
    sha1: str | None = Field(
        default=None, description="SHA-1 of the DER, lower-case hex, when the CA keeps the certificate."
    )
    san_dns: list[str] = Field(
        default_factory=list, description="DNS subject alternative names, when the CA keeps the certificate."
    )
    san_ip: list[str] = Field(
        default_factory=list, description="IP subject alternative names, when the CA keeps the certificate."
    )


class RevocationStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    serial: str = Field(description="Serial number, upper-case hex without separators.")
    known: bool = Field(description="The CA issued this serial.")
    revoked: bool = Field(description="The CA's database marks it revoked.")
    reason: str | None = None
    revoked_at: datetime | None = None
    in_crl: bool = Field(description="The serial is listed in the current CRL, whose signature checked out.")
    crl_number: int | None = None
    crl_next_update: datetime | None = None
    evidence: dict[str, str] = Field(
        default_factory=dict, description="What was read to decide: paths, command output, CRL digest."
    )


@runtime_checkable
class CertificateAuthority(Protocol):
    # read
    async def ca_certificates(self) -> list[str]:
        """PEM of each CA certificate this connector issues under (to tell what it issued)."""
        ...

    async def list_issued(self, since: datetime | None = None) -> list[IssuedCertificate]: ...

    async def certificate(self, serial: str) -> IssuedCertificate | None:
        """What the CA issued under ``serial`` (None when it issued nothing under it).

        Revocation compares this with what the alert is about before anything is changed.
        """
        ...

    async def status(self, serial: str) -> RevocationStatus: ...

    # write
    async def revoke(self, serial: str, reason: RevocationReason) -> RevocationStatus:
        """Revoke, publish a new CRL and return the status read back afterwards.

        Revoking a serial that is already revoked is not an error: the status is returned.
        """
        ...


@runtime_checkable
class CrlPublisher(Protocol):
    """A CA whose CRL certsoar can publish anew (the containment sweep renews one near or past its nextUpdate)."""

    async def publish_crl(self) -> None:
        """Sign and publish a new CRL of everything the CA has revoked."""
        ...
