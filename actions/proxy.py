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
        return sha1_hex(v)


def sha1_hex(text: str) -> str:
    digest = normalize_digest(text, SHA1_DIGITS)
    if digest is None:
        raise ValueError("a SHA-1 is 40 hex digits")
    return digest


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


def unblock_key(instance: str, sha1: str, run_id: str) -> str:
    """The effect ledger's key of taking back run ``run_id``'s block of ``sha1`` at proxy ``instance``."""
    return f"proxy:{instance}:unblock:{sha1}:{run_id}"


class UnblockCertificateInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: str = Field(min_length=1, max_length=64, description="The run whose block is taken back.")
    sha1: str = Field(description="SHA-1 that run blocked (any hex form).")

    @field_validator("sha1")
    @classmethod
    def _hex(cls, v: str) -> str:
        return sha1_hex(v)


class UnblockCertificateOutput(BaseModel):
    effects: list[Effect] = Field(description="The unblock at each proxy that held this run's block.")
    kept: str | None = Field(default=None, description="Why the fingerprint stays blocked (at some proxy).")


@action("proxy.unblock_certificate", mutates=True, reversible=True)
async def unblock_certificate(inp: UnblockCertificateInput, ctx: ActionContext) -> UnblockCertificateOutput:
    """Take back run ``run``'s block of the certificate's SHA-1 at every proxy that holds it, unless another run
    still relies on it; verified by reading each list back (``is_blocked`` false)."""
    from certsoar.actions.firewall import in_force_at, kept_reason

    effects: list[Effect] = []
    kept: list[str] = []
    for instance, proxy in in_force_at(ctx, "proxy", inp.sha1, inp.run, block_key, unblock_key):
        blocked = block_key(instance, inp.sha1)
        owner = ctx.ledger.owner(blocked)
        reason = kept_reason(ctx, blocked, owner, inp.sha1, "proxy.block_certificate", inp.run)
        if reason is not None:
            kept.append(f"at {instance}: {reason}")
            continue

        async def absent(proxy: Proxy = proxy, instance: str = instance) -> tuple[bool, dict[str, object]]:
            return not await proxy.is_blocked(inp.sha1), {"sha1": inp.sha1, "list": instance}

        async def write(proxy: Proxy = proxy) -> None:
            await proxy.unblock_fingerprint(inp.sha1)

        effects.append(
            await ctx.ledger.apply(
                unblock_key(instance, inp.sha1, inp.run),
                step_id=ctx.step_id,
                action="proxy.unblock_certificate",
                target=inp.sha1,
                is_done=absent,
                write=write,
            )
        )
        if owner is not None:
            ctx.ledger.release(blocked, owner)
    return UnblockCertificateOutput(effects=effects, kept="; ".join(kept) or None)
