"""proxy.block_certificate: make the proxy refuse TLS servers presenting this certificate."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from certsoar.certs.fingerprints import SHA1_DIGITS, normalize_digest
from certsoar.connectors.proxy import Proxy
from certsoar.context import ActionContext
from certsoar.errors import ConfigError
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
    effect: Effect = Field(description="The block at the (first) proxy.")
    effects: list[Effect] = Field(default_factory=list, description="The block at each proxy, in config order.")


@action("proxy.block_certificate", mutates=True, reversible=True, needs_approval=True)
async def block_certificate(inp: BlockCertificateInput, ctx: ActionContext) -> BlockCertificateOutput:
    """Add the certificate's SHA-1 to every proxy's fingerprint block list; verified by reading each list back."""
    effects: list[Effect] = []
    for instance, proxy in ctx.connectors.each("proxy"):

        async def present(proxy: Proxy = proxy, instance: str = instance) -> tuple[bool, dict[str, object]]:
            return inp.sha1 in await proxy.blocked_fingerprints(), {"sha1": inp.sha1, "list": instance}

        async def write(proxy: Proxy = proxy) -> None:
            await proxy.block_fingerprint(inp.sha1, inp.comment)

        effects.append(
            await ctx.ledger.apply(
                block_key(instance, inp.sha1),
                step_id=ctx.step_id,
                action="proxy.block_certificate",
                target=inp.sha1,
                is_done=present,
                write=write,
            )
        )
    if not effects:
        raise ConfigError("connectors.proxy: not configured")
    return BlockCertificateOutput(effect=effects[0], effects=effects)
