"""proxy.block_certificate: make the proxy refuse TLS servers presenting this certificate.

A proxy that matches fingerprints gets the certificate's SHA-1; one that blocks by name (``blocks_by``, see
``certsoar.connectors.proxy``) gets each of the server's names the blocking policy allows, one ledger effect
per (proxy, name). A refused name is listed under ``refused`` with the reason and never reaches a proxy.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from certsoar.blocking import BlockingPolicy, canonical_name, name_refusal
from certsoar.certs.fingerprints import SHA1_DIGITS, normalize_digest
from certsoar.connectors.proxy import NameBlockingProxy, Proxy, blocks_by
from certsoar.context import ActionContext
from certsoar.errors import ActionError, ConfigError
from certsoar.fileio import printable_line
from certsoar.ledger import Effect
from certsoar.registry import action

MAX_NAMES = 64
NAME_BLOCK = "proxy.block_name"
"""The ledger's action of a name block (a step of ``proxy.block_certificate`` makes it)."""
NAME_UNBLOCK = "proxy.unblock_name"
_SHOWN_CHARS = 80
Read = tuple[bool, dict[str, object]]


def _names(values: list[str]) -> list[str]:
    # Canonical when they parse; the rest stay (shown safely) to be refused with the reason.
    shown: list[str] = []
    for value in values:
        try:
            shown.append(canonical_name(value))
        except ValueError:
            shown.append(value)
    return list(dict.fromkeys(shown))


class BlockCertificateInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha1: str | None = Field(default=None, description="SHA-1 of the certificate's DER (any hex form).")
    names: list[str] = Field(
        default_factory=list,
        max_length=MAX_NAMES,
        description="The server's names (the alert's SNI, the certificate's DNS names), for proxies that block by name.",
    )
    comment: str = Field(default="", max_length=200, description="Why, kept beside the entry.")

    @field_validator("sha1")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        return None if v is None else sha1_hex(v)

    @field_validator("names")
    @classmethod
    def _canonical(cls, v: list[str]) -> list[str]:
        return _names(v)


def sha1_hex(text: str) -> str:
    digest = normalize_digest(text, SHA1_DIGITS)
    if digest is None:
        raise ValueError("a SHA-1 is 40 hex digits")
    return digest


def block_key(instance: str, sha1: str) -> str:
    """The effect ledger's key of blocking the certificate with ``sha1`` (lower-case hex) at proxy ``instance``."""
    return f"proxy:{instance}:block:{sha1}"


def name_block_key(instance: str, name: str) -> str:
    """The effect ledger's key of blocking ``name`` (canonical) at proxy ``instance``."""
    return f"proxy:{instance}:block_name:{name}"


class RefusedName(BaseModel):
    name: str = Field(description="The name as requested (one printable line).")
    reason: str = Field(description="Why it must not be blocked.")


class BlockCertificateOutput(BaseModel):
    effect: Effect | None = Field(default=None, description="The fingerprint block at the first proxy that has one.")
    effects: list[Effect] = Field(
        default_factory=list, description="Every block (fingerprint and names) at each proxy, in config order."
    )
    names: list[str] = Field(
        default_factory=list, description="Names verified as blocked at every proxy that blocks by name."
    )
    refused: list[RefusedName] = Field(
        default_factory=list, description="Names that must never be blocked, with the reason; not blocked."
    )


@action("proxy.block_certificate", mutates=True, reversible=True, needs_approval=True)
async def block_certificate(inp: BlockCertificateInput, ctx: ActionContext) -> BlockCertificateOutput:
    """Block the certificate at every proxy: its SHA-1 where the proxy matches fingerprints, the server's names
    the blocking policy allows where it blocks by name; each verified by reading the list back."""
    proxies = ctx.connectors.each("proxy")
    if not proxies:
        raise ConfigError("connectors.proxy: not configured")
    policy = BlockingPolicy.from_config(ctx.config)
    # names are judged only where a proxy blocks by them: the public-suffix list costs a one-alert CLI run 0.1 s
    judged = inp.names if any("name" in blocks_by(proxy) for _, proxy in proxies) else []
    decisions = [(name, name_refusal(name, policy)) for name in judged]
    refused = [
        RefusedName(name=printable_line(name, _SHOWN_CHARS), reason=reason)
        for name, reason in decisions
        if reason is not None
    ]
    allowed = [name for name, reason in decisions if reason is None]
    effects: list[Effect] = []
    fingerprints: list[Effect] = []
    by_name = 0
    for instance, proxy in proxies:
        by = blocks_by(proxy)
        if "fingerprint" in by and inp.sha1 is not None:
            fingerprints.append(await _block_fingerprint(ctx, instance, proxy, inp.sha1, inp.comment))
        if "name" in by:
            by_name += 1
            for name in allowed:
                effects.append(await _block_name(ctx, instance, proxy, name, inp.comment))
    effects = fingerprints + effects
    if not effects:
        listed = "; ".join(f"{r.name}: {r.reason}" for r in refused) or "no SHA-1 and no name was given"
        raise ActionError(f"nothing was blocked at any proxy ({listed})")
    held = [e.target for e in effects if e.action == NAME_BLOCK and (e.verified or e.planned)]
    return BlockCertificateOutput(
        effect=fingerprints[0] if fingerprints else None,
        effects=effects,
        names=[n for n in allowed if by_name and held.count(n) == by_name],
        refused=refused,
    )


async def _block_fingerprint(ctx: ActionContext, instance: str, proxy: Proxy, sha1: str, comment: str) -> Effect:
    async def present() -> Read:
        return sha1 in await proxy.blocked_fingerprints(), {"sha1": sha1, "list": instance}

    async def write() -> None:
        await proxy.block_fingerprint(sha1, comment)

    return await ctx.ledger.apply(
        block_key(instance, sha1),
        step_id=ctx.step_id,
        action="proxy.block_certificate",
        target=sha1,
        is_done=present,
        write=write,
    )


async def _block_name(ctx: ActionContext, instance: str, proxy: NameBlockingProxy, name: str, comment: str) -> Effect:
    async def present() -> Read:
        return name in await proxy.blocked_names(), {"name": name, "list": instance}

    async def write() -> None:
        await proxy.block_names([name], comment)

    return await ctx.ledger.apply(
        name_block_key(instance, name),
        step_id=ctx.step_id,
        action=NAME_BLOCK,
        target=name,
        is_done=present,
        write=write,
    )


def unblock_key(instance: str, sha1: str, run_id: str) -> str:
    """The effect ledger's key of taking back run ``run_id``'s block of ``sha1`` at proxy ``instance``."""
    return f"proxy:{instance}:unblock:{sha1}:{run_id}"


def name_unblock_key(instance: str, name: str, run_id: str) -> str:
    """The effect ledger's key of taking back run ``run_id``'s block of ``name`` at proxy ``instance``."""
    return f"proxy:{instance}:unblock_name:{name}:{run_id}"


class UnblockCertificateInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: str = Field(min_length=1, max_length=64, description="The run whose block is taken back.")
    sha1: str | None = Field(default=None, description="SHA-1 that run blocked (any hex form).")
    names: list[str] = Field(default_factory=list, max_length=MAX_NAMES, description="Names that run blocked.")

    @field_validator("sha1")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        return None if v is None else sha1_hex(v)

    @field_validator("names")
    @classmethod
    def _canonical(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(canonical_name(name) for name in v))


class UnblockCertificateOutput(BaseModel):
    effects: list[Effect] = Field(description="The unblock at each proxy that held this run's block.")
    kept: str | None = Field(default=None, description="Why the fingerprint stays blocked (at some proxy).")


@action("proxy.unblock_certificate", mutates=True, reversible=True)
async def unblock_certificate(inp: UnblockCertificateInput, ctx: ActionContext) -> UnblockCertificateOutput:
    """Take back run ``run``'s blocks at every proxy that holds them (the SHA-1, and each name), unless another
    run still relies on one; verified by reading each list back (``is_blocked`` / ``is_name_blocked`` false)."""
    from certsoar.actions.firewall import in_force_at, kept_reason

    effects: list[Effect] = []
    kept: list[str] = []
    if inp.sha1 is not None:
        sha1 = inp.sha1
        for instance, proxy in in_force_at(ctx, "proxy", sha1, inp.run, block_key, unblock_key):
            blocked = block_key(instance, sha1)
            owner = ctx.ledger.owner(blocked)
            reason = kept_reason(ctx, blocked, owner, sha1, "proxy.block_certificate", inp.run)
            if reason is not None:
                kept.append(f"at {instance}: {reason}")
                continue

            async def absent(proxy: Proxy = proxy, instance: str = instance) -> Read:
                return not await proxy.is_blocked(sha1), {"sha1": sha1, "list": instance}

            async def write(proxy: Proxy = proxy) -> None:
                await proxy.unblock_fingerprint(sha1)

            effects.append(
                await ctx.ledger.apply(
                    unblock_key(instance, sha1, inp.run),
                    step_id=ctx.step_id,
                    action="proxy.unblock_certificate",
                    target=sha1,
                    is_done=absent,
                    write=write,
                )
            )
            if owner is not None:
                ctx.ledger.release(blocked, owner)
    for name in inp.names:
        for instance, proxy in in_force_at(ctx, "proxy", name, inp.run, name_block_key, name_unblock_key):
            blocked = name_block_key(instance, name)
            owner = ctx.ledger.owner(blocked)
            reason = kept_reason(ctx, blocked, owner, name, NAME_BLOCK, inp.run)
            if reason is not None:
                kept.append(f"{name} at {instance}: {reason}")
                continue

            async def name_absent(name: str = name, proxy: NameBlockingProxy = proxy, instance: str = instance) -> Read:
                return not await proxy.is_name_blocked(name), {"name": name, "list": instance}

            async def name_write(name: str = name, proxy: NameBlockingProxy = proxy) -> None:
                await proxy.unblock_names([name])

            effects.append(
                await ctx.ledger.apply(
                    name_unblock_key(instance, name, inp.run),
                    step_id=ctx.step_id,
                    action=NAME_UNBLOCK,
                    target=name,
                    is_done=name_absent,
                    write=name_write,
                )
            )
            if owner is not None:
                ctx.ledger.release(blocked, owner)
    return UnblockCertificateOutput(effects=effects, kept="; ".join(kept) or None)
