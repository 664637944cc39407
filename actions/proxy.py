"""proxy.block_certificate: make the proxy refuse TLS servers presenting this certificate."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from certsoar.certs.fingerprints import SHA1_DIGITS, normalize_digest
from certsoar.context import ActionContext
from certsoar.ledger import Effect
from certsoar.registry import action


class BlockCertificateInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha1: str = Field(description="SHA-1 of the certificate's DER (any hex form).")
    comment: str = Field(default="", max_length=200, description="Why, kept beside the entry.")

    @field_validator("sha1")
    @classmethod
    def _hex(cls, v: str) -> str:
        h = normalize_digest(v, SHA1_DIGITS)
        if h is None:
            raise ValueError("a SHA-1 is 40 hex digits")
        return h


def block_key(instance: str, sha1: str) -> str:
    """The effect ledger's key of blocking the certificate with ``sha1`` (lower-case hex) at proxy ``instance``."""
    return f"proxy:{instance}:block:{sha1}"


class BlockCertificateOutput(BaseModel):
    effect: Effect


@action("proxy.block_certificate", mutates=True, reversible=True, needs_approval=True)
async def block_certificate(inp: BlockCertificateInput, ctx: ActionContext) -> BlockCertificateOutput:
    """Add the certificate's SHA-1 to the proxy's fingerprint block list; verified by reading the list back."""
    proxy = ctx.connectors.proxy
    instance = ctx.connectors.instance("proxy")

    async def present() -> tuple[bool, dict[str, object]]:
        return inp.sha1 in await proxy.blocked_fingerprints(), {"sha1": inp.sha1, "list": instance}

    async def write() -> None:
        await proxy.block_fingerprint(inp.sha1, inp.comment)

    effect = await ctx.ledger.apply(
        block_key(instance, inp.sha1),
        step_id=ctx.step_id,
        action="proxy.block_certificate",
        target=inp.sha1,
        is_done=present,
        write=write,
    )
    return BlockCertificateOutput(effect=effect)
