"""Internal certificate authorities: list what they issued, revoke, and prove the revocation."""

from __future__ import annotations

from collections.abc import AsyncIterator
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
    common_name: str | None = Field(default=None, description="The subject's (first) CN, when the CA kept a copy.")
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
    san_upn: list[str] = Field(
        default_factory=list, description="User principal names (otherName msUPN) in the subject alternative names."
    )
    key_type: str | None = Field(default=None, description="rsa, ec, ed25519, ed448, dsa (when the CA keeps it).")
    key_bits: int | None = Field(default=None, description="Key size in bits (RSA modulus, EC curve order).")
    curve: str | None = Field(default=None, description="EC curve name (secp256r1, ...).")
    is_ca: bool | None = Field(default=None, description="basicConstraints cA (None: no basicConstraints).")
    ekus: list[str] = Field(default_factory=list, description="Extended key usage OIDs, dotted.")
    requester: str | None = Field(default=None, description="Account that requested it, when the CA reports it.")
    template: str | None = Field(default=None, description="Certificate template, when the CA reports it.")
    position: str | None = Field(
        default=None,
        description="The CA's watermark just after this certificate: pass it as iter_issued(since=) to go on after it.",
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

    def iter_issued(self, since: str | None = None) -> AsyncIterator[IssuedCertificate]:
        """Every certificate issued after the watermark ``since`` (a ``position`` this CA gave out; None: from
        the first), in issuance order, read lazily so a CA of any size streams in constant memory.

        The watermark is the CA's own position, not a date: a backdated certificate is still found.
        """
        ...

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
class HoldReleasing(Protocol):
    """A CA that can take back a revocation made with reason certificateHold (RFC 5280 removeFromCRL): the only
    revocation that can be undone."""

    async def release_hold(self, serial: str) -> RevocationStatus:
        """Make the held certificate valid again and publish a CRL that no longer lists it; return the status read
        back. A serial that is not revoked is left as it is; one revoked for another reason is ConnectorRejected."""
        ...


@runtime_checkable
class CrlPublisher(Protocol):
    """A CA whose CRL certsoar can publish anew (the containment sweep renews one near or past its nextUpdate)."""

    async def publish_crl(self) -> None:
        """Sign and publish a new CRL of everything the CA has revoked."""
        ...
