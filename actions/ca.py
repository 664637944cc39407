"""ca.revoke: revoke a certificate at the managed CA and prove it with the CA's own records and CRL."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from certsoar.connectors.ca import RevocationReason, RevocationStatus
from certsoar.context import ActionContext
from certsoar.ledger import Effect
from certsoar.registry import action


def canonical_serial(serial: str) -> str:
    """Upper-case hex without separators or leading zeros."""
    digits = re.sub(r"[\s:]", "", serial).lower().removeprefix("0x")
    if not digits or not re.fullmatch(r"[0-9a-f]+", digits):
        raise ValueError(f"{serial!r} is not a hex serial number")
    return format(int(digits, 16), "X")


class RevokeInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    serial: str = Field(description="Serial number in hex (any case, colons allowed).")
    reason: RevocationReason = Field(default=RevocationReason.key_compromise, description="CRL reason code (RFC 5280).")

    _serial = field_validator("serial")(canonical_serial)


class RevokeOutput(BaseModel):
    effect: Effect
    status: RevocationStatus | None = Field(description="Read back from the CA after the change (the plan's read in a dry run).")


@action("ca.revoke", mutates=True, reversible=False, needs_approval=True)
async def revoke(inp: RevokeInput, ctx: ActionContext) -> RevokeOutput:
    """Revoke a certificate the managed CA issued; verified when the CA lists it revoked and its new CRL carries it."""
    ca = ctx.connectors.ca
    seen: list[RevocationStatus] = []

    async def revoked() -> tuple[bool, dict[str, object]]:
        status = await ca.status(inp.serial)
        seen.append(status)
        return status.revoked and status.in_crl, status.model_dump(mode="json")

    async def write() -> None:
        await ca.revoke(inp.serial, inp.reason)

    key = f"ca:{ctx.connectors.instance('ca')}:revoke:{inp.serial}"
    effect = await ctx.ledger.apply(key, step_id=ctx.step_id, action="ca.revoke", target=inp.serial,
                                    is_done=revoked, write=write)
    return RevokeOutput(effect=effect, status=seen[-1] if seen else None)
