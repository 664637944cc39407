"""ca.lookup and ca.revoke: what the managed CA holds under a serial, and revoking it once it is proven
to be the certificate the alert is about."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from certsoar.certs.dn import parse_dn, same_name
from certsoar.certs.fingerprints import SHA1_DIGITS, SHA256_DIGITS, normalize_digest, normalize_serial
from certsoar.connectors.ca import IssuedCertificate, RevocationReason, RevocationStatus
from certsoar.context import ActionContext
from certsoar.errors import ActionError
from certsoar.ledger import Effect
from certsoar.registry import action


def _ca_serial(value: str) -> str:
    serial = normalize_serial(value) if isinstance(value, str) else None
    if serial is None or serial.startswith("-"):
        raise ValueError(f"{value!r} is not a hexadecimal serial number a CA can have issued")
    return serial


class ExpectedCertificate(BaseModel):
    """The certificate the alert is about: a fingerprint, or else its subject and issuer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str | None = Field(default=None, description="SHA-256 of the DER (any hex form).")
    sha1: str | None = Field(default=None, description="SHA-1 of the DER (any hex form).")
    subject: str | None = Field(default=None, max_length=4096, description="Subject DN (RFC 4514 or a log's form).")
    issuer: str | None = Field(default=None, max_length=4096, description="Issuer DN (RFC 4514 or a log's form).")

    @field_validator("sha256", "sha1", "subject", "issuer", mode="before")
    @classmethod
    def _empty_is_unknown(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, v: str | None) -> str | None:
        return None if v is None else _digest(v, SHA256_DIGITS)

    @field_validator("sha1")
    @classmethod
    def _sha1(cls, v: str | None) -> str | None:
        return None if v is None else _digest(v, SHA1_DIGITS)

    @model_validator(mode="after")
    def _identifies(self) -> "ExpectedCertificate":
        if not (self.sha256 or self.sha1 or (self.subject and self.issuer)):
            raise ValueError("name the expected certificate: sha256 or sha1, or subject and issuer")
        return self


def _digest(value: str, digits: int) -> str:
    digest = normalize_digest(value, digits)
    if digest is None:
        raise ValueError(f"must be {digits} hex digits")
    return digest


def identity_mismatch(expected: ExpectedCertificate, held: IssuedCertificate) -> str | None:
    """None when ``held`` is the expected certificate; else what the alert claims against what the CA holds.

    The fingerprint decides when both sides know it; otherwise subject and issuer must both be the
    same names (compared attribute by attribute, whatever DN spelling the log used).
    """
    for kind in ("sha256", "sha1"):
        claimed, holds = getattr(expected, kind), getattr(held, kind)
        if claimed and holds:
            if claimed == holds:
                return None
            return (
                f"the alert's certificate has {kind.upper()} {claimed}, but the CA holds serial {held.serial} "
                f"as {kind.upper()} {holds} (subject {held.subject})"
            )
    if not (expected.subject and expected.issuer):
        return (
            f"the alert names the certificate only by fingerprint and the CA kept no copy of serial {held.serial} "
            "to compare it with"
        )
    claimed_subject, claimed_issuer = parse_dn(expected.subject), parse_dn(expected.issuer)
    subject_same = bool(claimed_subject) and same_name(claimed_subject, parse_dn(held.subject))
    issuer_same = bool(claimed_issuer) and held.issuer is not None and same_name(claimed_issuer, parse_dn(held.issuer))
    if subject_same and issuer_same:
        return None
    return (
        f"the alert claims serial {held.serial} is subject {expected.subject!r} issued by {expected.issuer!r}; "
        f"the CA holds serial {held.serial} as subject {held.subject!r} issued by {held.issuer!r}"
    )


class LookupInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    serial: str = Field(description="Serial number in hex (any case, colons allowed).")
    expect: ExpectedCertificate = Field(description="What the alert says the certificate is.")

    _serial = field_validator("serial")(_ca_serial)


class LookupOutput(BaseModel):
    serial: str = Field(description="The serial looked up, upper-case hex.")
    found: bool = Field(description="The CA issued a certificate under this serial.")
    certificate: IssuedCertificate | None = Field(description="What the CA holds under the serial.")
    claimed: ExpectedCertificate = Field(description="What the alert claims, as given.")
    matches_alert: bool = Field(description="The CA's certificate is the one the alert is about.")
    mismatch: str | None = Field(description="What the alert claims against what the CA holds, when they differ.")


@action("ca.lookup")
async def lookup(inp: LookupInput, ctx: ActionContext) -> LookupOutput:
    """Read what the managed CA holds under a serial and whether it is the certificate the alert is about."""
    held = await ctx.connectors.ca.certificate(inp.serial)
    if held is None:
        mismatch: str | None = f"the CA issued no certificate under serial {inp.serial}"
    else:
        mismatch = identity_mismatch(inp.expect, held)
    return LookupOutput(
        serial=inp.serial,
        found=held is not None,
        certificate=held,
        claimed=inp.expect,
        matches_alert=mismatch is None,
        mismatch=mismatch,
    )


class RevokeInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    serial: str = Field(description="Serial number in hex (any case, colons allowed).")
    expect: ExpectedCertificate = Field(
        description="The certificate the alert is about; nothing is revoked unless the CA's certificate under the serial is it."
    )
    reason: RevocationReason = Field(default=RevocationReason.key_compromise, description="CRL reason code (RFC 5280).")

    _serial = field_validator("serial")(_ca_serial)


def revoke_key(instance: str, serial: str) -> str:
    """The effect ledger's key of revoking ``serial`` (upper-case hex) at CA ``instance``."""
    return f"ca:{instance}:revoke:{serial}"


class RevokeOutput(BaseModel):
    effect: Effect
    status: RevocationStatus | None = Field(
        description="Read back from the CA after the change (the plan's read in a dry run)."
    )


@action("ca.revoke", mutates=True, reversible=False, needs_approval=True)
async def revoke(inp: RevokeInput, ctx: ActionContext) -> RevokeOutput:
    """Revoke a certificate the managed CA issued, once the CA's certificate under the serial is proven to be the
    expected one; verified when the CA lists it revoked and its new CRL carries it."""
    ca = ctx.connectors.ca
    held = await ca.certificate(inp.serial)
    if held is None:
        raise ActionError(f"not revoking serial {inp.serial}: the CA issued no certificate under it")
    mismatch = identity_mismatch(inp.expect, held)
    if mismatch is not None:
        raise ActionError(f"not revoking serial {inp.serial}: {mismatch}")
    seen: list[RevocationStatus] = []

    async def revoked() -> tuple[bool, dict[str, object]]:
        status = await ca.status(inp.serial)
        seen.append(status)
        return status.revoked and status.in_crl, status.model_dump(mode="json")

    async def write() -> None:
        await ca.revoke(inp.serial, inp.reason)

    key = revoke_key(ctx.connectors.instance("ca"), inp.serial)
    effect = await ctx.ledger.apply(
        key, step_id=ctx.step_id, action="ca.revoke", target=inp.serial, is_done=revoked, write=write
    )
    return RevokeOutput(effect=effect, status=seen[-1] if seen else None)
