"""ca.lookup and ca.revoke: what the managed CA holds under a serial, and revoking it once it is proven
to be the certificate the alert is about."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from certsoar.certs.dn import parse_dn, same_name
from certsoar.certs.fingerprints import SHA1_DIGITS, SHA256_DIGITS, normalize_digest, normalize_serial
from certsoar.connectors.ca import IssuedCertificate, RevocationReason, RevocationStatus
from certsoar.context import ActionContext
from certsoar.errors import ActionError
from certsoar.ledger import Effect
from certsoar.registry import action
from certsoar.routing import IssuingCa, issuing_cas, key_identifier_hex


def _none_if_empty(value: object) -> object:
    return None if value == "" else value


UnknownIfEmpty = BeforeValidator(_none_if_empty)
"""For an optional field: "" (what a playbook renders for a value it lacks) is unknown, not a value."""


def _ca_serial(value: str) -> str:
    serial = normalize_serial(value) if isinstance(value, str) else None
    if serial is None or serial.startswith("-"):
        raise ValueError(f"{value!r} is not a hexadecimal serial number a CA can have issued")
    return serial


class ExpectedCertificate(BaseModel):
    """The certificate the alert is about: a fingerprint, or else its subject and issuer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: Annotated[str | None, UnknownIfEmpty] = Field(
        default=None, description="SHA-256 of the DER (any hex form)."
    )
    sha1: Annotated[str | None, UnknownIfEmpty] = Field(default=None, description="SHA-1 of the DER (any hex form).")
    subject: Annotated[str | None, UnknownIfEmpty] = Field(
        default=None, max_length=4096, description="Subject DN (RFC 4514 or a log's form)."
    )
    issuer: Annotated[str | None, UnknownIfEmpty] = Field(
        default=None, max_length=4096, description="Issuer DN (RFC 4514 or a log's form)."
    )
    authority_key_id: Annotated[str | None, UnknownIfEmpty] = Field(
        default=None,
        max_length=512,
        description="The certificate's authority key identifier (hex): with several CAs, the one holding that key "
        "is asked; a CA of the same name with another key is not.",
    )

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, v: str | None) -> str | None:
        return None if v is None else _digest(v, SHA256_DIGITS)

    @field_validator("sha1")
    @classmethod
    def _sha1(cls, v: str | None) -> str | None:
        return None if v is None else _digest(v, SHA1_DIGITS)

    @field_validator("authority_key_id")
    @classmethod
    def _key_id(cls, v: str | None) -> str | None:
        return key_identifier_hex(v)

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


async def held_by_issuer(
    ctx: ActionContext, serial: str, expect: ExpectedCertificate
) -> tuple[IssuingCa, IssuedCertificate | None, str | None]:
    """The CA that issued the expected certificate (certsoar.routing), what it holds under ``serial`` and, when
    that is not the expected certificate, why. Of several CAs of the same name, the one holding it is chosen."""
    candidates = await issuing_cas(ctx.connectors, expect.issuer, expect.authority_key_id)
    looked = [(c, await c.ca.certificate(serial)) for c in candidates]
    judged = [(c, held, _mismatch(serial, expect, held)) for c, held in looked]
    if len(judged) == 1:
        return judged[0]
    matching = [j for j in judged if j[2] is None]
    if len(matching) == 1:
        return matching[0]
    if matching:
        names = ", ".join(c.instance for c, _, _ in matching)
        raise ActionError(f"serial {serial}: the CAs {names} each hold the expected certificate; name its issuer")
    why = "; ".join(f"CA {c.instance}: {mismatch}" for c, _, mismatch in judged)
    first = judged[0]
    return first[0], first[1], f"no configured CA holds the alert's certificate under serial {serial} ({why})"


def _mismatch(serial: str, expect: ExpectedCertificate, held: IssuedCertificate | None) -> str | None:
    if held is None:
        return f"the CA issued no certificate under serial {serial}"
    return identity_mismatch(expect, held)


class LookupInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    serial: str = Field(description="Serial number in hex (any case, colons allowed).")
    expect: ExpectedCertificate = Field(description="What the alert says the certificate is.")

    _serial = field_validator("serial")(_ca_serial)


class LookupOutput(BaseModel):
    serial: str = Field(description="The serial looked up, upper-case hex.")
    ca: str = Field(description="Instance name of the CA that issued the certificate (the one asked).")
    found: bool = Field(description="The CA issued a certificate under this serial.")
    certificate: IssuedCertificate | None = Field(description="What the CA holds under the serial.")
    claimed: ExpectedCertificate = Field(description="What the alert claims, as given.")
    matches_alert: bool = Field(description="The CA's certificate is the one the alert is about.")
    mismatch: str | None = Field(description="What the alert claims against what the CA holds, when they differ.")


@action("ca.lookup")
async def lookup(inp: LookupInput, ctx: ActionContext) -> LookupOutput:
    """Read what the managed CA holds under a serial and whether it is the certificate the alert is about."""
    issuing, held, mismatch = await held_by_issuer(ctx, inp.serial, inp.expect)
    return LookupOutput(
        serial=inp.serial,
        ca=issuing.instance,
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
    ca: str = Field(description="Instance name of the CA that issued the certificate and revoked it.")
    effect: Effect
    status: RevocationStatus | None = Field(
        description="Read back from the CA after the change (the plan's read in a dry run)."
    )


@action("ca.revoke", mutates=True, reversible=False, needs_approval=True)
async def revoke(inp: RevokeInput, ctx: ActionContext) -> RevokeOutput:
    """Revoke a certificate the managed CA issued, once the CA's certificate under the serial is proven to be the
    expected one; verified when the CA lists it revoked and its new CRL carries it."""
    issuing, held, mismatch = await held_by_issuer(ctx, inp.serial, inp.expect)
    ca = issuing.ca
    if held is None:
        raise ActionError(f"not revoking serial {inp.serial}: the CA issued no certificate under it")
    if mismatch is not None:
        raise ActionError(f"not revoking serial {inp.serial}: {mismatch}")
    seen: list[RevocationStatus] = []

    async def revoked() -> tuple[bool, dict[str, object]]:
        status = await ca.status(inp.serial)
        seen.append(status)
        return status.revoked and status.in_crl, status.model_dump(mode="json")

    async def write() -> None:
        await ca.revoke(inp.serial, inp.reason)

    key = revoke_key(issuing.instance, inp.serial)
    effect = await ctx.ledger.apply(
        key, step_id=ctx.step_id, action="ca.revoke", target=inp.serial, is_done=revoked, write=write
    )
    return RevokeOutput(ca=issuing.instance, effect=effect, status=seen[-1] if seen else None)
