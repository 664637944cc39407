"""firewall.block: block the servers that presented the certificate, one verified entry per address.

What may never be blocked is decided by ``certsoar.blocking`` (and checked again by the connector):
a refused address is listed under ``refused`` with the reason and no effect is recorded for it.
When every requested address is refused the step fails: nothing was contained.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from certsoar.addresses import network_text, parse_network
from certsoar.blocking import BlockingPolicy, refusal
from certsoar.connectors.firewall import Firewall, covers
from certsoar.context import ActionContext
from certsoar.errors import ActionError, CertsoarError, ConfigError, ConnectorUnavailable
from certsoar.fileio import printable_line
from certsoar.ledger import Effect, release_marker
from certsoar.registry import action

MAX_ADDRESSES = 256
Read = tuple[bool, dict[str, object]]
_SHOWN_CHARS = 80


class BlockInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    addresses: list[str] = Field(max_length=MAX_ADDRESSES, description="Server IP addresses or networks to block.")
    comment: str = Field(default="", max_length=200, description="Why, kept beside the rule.")

    @field_validator("addresses")
    @classmethod
    def _normalized(cls, values: list[str]) -> list[str]:
        # Normalized when they parse; the rest stay (shown safely) to be refused with the reason.
        return list(dict.fromkeys(normalized_address(v) for v in values))


def block_key(instance: str, address: str) -> str:
    """The effect ledger's key of blocking ``address`` (as ``normalized_address`` writes it) at ``instance``."""
    return f"firewall:{instance}:block:{address}"


def normalized_address(text: str) -> str:
    try:
        return network_text(parse_network(text.strip()))
    except ValueError:
        return text


class Refused(BaseModel):
    address: str = Field(description="The address as requested (one printable line).")
    reason: str = Field(description="Why it must not be blocked.")


class BlockOutput(BaseModel):
    effects: list[Effect]
    blocked: list[str] = Field(
        description="Addresses verified as blocked at every firewall after the step (planned ones in a dry run)."
    )
    refused: list[Refused] = Field(
        default_factory=list, description="Addresses that must never be blocked, with the reason; not blocked."
    )


@action("firewall.block", mutates=True, reversible=True, needs_approval=True)
async def block(inp: BlockInput, ctx: ActionContext) -> BlockOutput:
    """Add each address to every firewall's block list unless it is there or must never be blocked; verify by reading the list back."""
    policy = BlockingPolicy.from_config(ctx.config)
    decisions = [(address, refusal(address, policy)) for address in inp.addresses]
    refused = [
        Refused(address=printable_line(address, _SHOWN_CHARS), reason=reason)
        for address, reason in decisions
        if reason is not None
    ]
    allowed = [address for address, reason in decisions if reason is None]
    if refused and not allowed:
        listed = "; ".join(f"{r.address}: {r.reason}" for r in refused)
        raise ActionError(f"nothing was blocked: every address was refused ({listed})")
    firewalls = ctx.connectors.each("firewall")
    if not firewalls:
        raise ConfigError("connectors.firewall: not configured")
    done: dict[str, list[Effect]] = {instance: [] for instance, _ in firewalls}
    failed: dict[str, CertsoarError] = {}

    async def block_at(instance: str, firewall: Firewall) -> None:
        try:
            for address in allowed:
                done[instance].append(await _block_one(ctx, instance, firewall, address, inp.comment))
        except CertsoarError as exc:  # kept to this firewall: the others go on and their blocks stand
            failed[instance] = exc

    async with asyncio.TaskGroup() as group:  # every firewall at once: a perimeter and an internal one
        for instance, firewall in firewalls:
            group.create_task(block_at(instance, firewall))
    effects = [effect for instance, _ in firewalls for effect in done[instance]]
    if failed:
        raise _failure(failed, [instance for instance, _ in firewalls if instance not in failed])
    held = [e.target for e in effects if e.verified or e.planned]
    return BlockOutput(
        effects=effects, blocked=[a for a in allowed if held.count(a) == len(firewalls)], refused=refused
    )


async def _block_one(ctx: ActionContext, instance: str, firewall: Firewall, address: str, comment: str) -> Effect:
    async def present() -> Read:
        return covers(await firewall.blocked(), address), {"address": address, "list": instance}

    async def write() -> None:
        await firewall.block([address], comment)

    return await ctx.ledger.apply(
        block_key(instance, address),
        step_id=ctx.step_id,
        action="firewall.block",
        target=address,
        is_done=present,
        write=write,
    )


def _failure(failed: dict[str, CertsoarError], succeeded: list[str]) -> CertsoarError:
    """One error for the firewalls that failed, naming those that blocked: worth a retry when every failure is
    (the ledger keeps the blocks already made from being made again)."""
    reasons = "; ".join(f"{instance}: {error}" for instance, error in failed.items())
    message = f"blocking failed at {', '.join(failed)} ({reasons})"
    if succeeded:
        message += f"; blocked at {', '.join(succeeded)}"
    if all(isinstance(error, ConnectorUnavailable) for error in failed.values()):
        return ConnectorUnavailable(message)
    return ActionError(message)


def unblock_key(instance: str, address: str, run_id: str) -> str:
    """The effect ledger's key of taking back run ``run_id``'s block of ``address`` at ``instance``."""
    return f"firewall:{instance}:unblock:{address}:{run_id}"


class UnblockInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: str = Field(min_length=1, max_length=64, description="The run whose blocks are taken back.")
    addresses: list[str] = Field(max_length=MAX_ADDRESSES, description="Addresses that run blocked.")

    @field_validator("addresses")
    @classmethod
    def _normalized(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(normalized_address(v) for v in values))


class Kept(BaseModel):
    target: str
    reason: str = Field(description="Why it stays blocked.")


class UnblockOutput(BaseModel):
    effects: list[Effect]
    unblocked: list[str] = Field(description="Addresses verified as no longer listed (planned ones in a dry run).")
    kept: list[Kept] = Field(default_factory=list, description="Addresses left blocked, with the reason.")


@action("firewall.unblock", mutates=True, reversible=True)
async def unblock(inp: UnblockInput, ctx: ActionContext) -> UnblockOutput:
    """Take back the blocks run ``run`` made: remove each address the ledger holds blocked by that run, unless
    another run still relies on it; verify by reading the list back (``is_blocked`` false)."""
    effects: list[Effect] = []
    kept: list[Kept] = []
    for address in inp.addresses:
        for instance, firewall in in_force_at(ctx, "firewall", address, inp.run, block_key, unblock_key):
            blocked = block_key(instance, address)
            owner = ctx.ledger.owner(blocked)
            reason = kept_reason(ctx, blocked, owner, address, "firewall.block", inp.run)
            if reason is not None:
                kept.append(Kept(target=address, reason=f"at {instance}: {reason}"))
                continue

            async def absent(address: str = address, firewall: Firewall = firewall, instance: str = instance) -> Read:
                return not await firewall.is_blocked(address), {"address": address, "list": instance}

            async def write(address: str = address, firewall: Firewall = firewall) -> None:
                await firewall.unblock([address])

            effect = await ctx.ledger.apply(
                unblock_key(instance, address, inp.run),
                step_id=ctx.step_id,
                action="firewall.unblock",
                target=address,
                is_done=absent,
                write=write,
            )
            if owner is not None:
                ctx.ledger.release(blocked, owner)
            effects.append(effect)
    undone = {e.target for e in effects if e.verified or e.planned}
    held = {k.target for k in kept}
    return UnblockOutput(effects=effects, unblocked=[a for a in inp.addresses if a in undone - held], kept=kept)


def in_force_at(
    ctx: ActionContext,
    kind: str,
    target: str,
    run_id: str,
    made_key: Callable[[str, str], str],
    undo_key: Callable[[str, str, str], str],
) -> list[tuple[str, Any]]:
    """The instances of ``kind`` where the change ``made_key(instance, target)`` is in force, or whose undo by
    run ``run_id`` is already on record (a step run again): a release acts there and nowhere else."""
    return [
        (instance, connector)
        for instance, connector in ctx.connectors.each(kind)
        if ctx.ledger.owner(made_key(instance, target)) is not None
        or ctx.ledger.recorded(undo_key(instance, target, run_id))
    ]


def kept_reason(
    ctx: ActionContext, key: str, owner: str | None, target: str, action_name: str, run_id: str
) -> str | None:
    """Why the change behind ``key`` (made by run ``owner``, as the ledger holds it) must stay when run
    ``run_id``'s containment is taken back, or None when it may go: a run that made it or relies on it and has not
    been released itself still needs it."""
    if owner is not None and owner != run_id and not ctx.ledger.recorded(release_marker(owner)):
        return f"made by run {owner}, which has not been released"
    others = ctx.ledger.relied_on(key, target, action_name, other_than=run_id)
    if others:
        return f"run {', '.join(others)} also relies on it (release that run too to take it back)"
    return None
