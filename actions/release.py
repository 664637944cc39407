"""release.plan and release.record: taking back what one run contained (the certificate-release playbook).

The effect ledger is the only judge of what a run contained: a block counts when the ledger holds it done
and verified by that run (a block another run had made, which the run only found in place, is that other
run's). A revocation cannot be taken back, except one made with reason certificateHold at a CA that can release a
hold (``HoldReleasing``); the plan says so for each other serial, with its reason.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from certsoar.actions.ca import revoke_key
from certsoar.actions.firewall import Kept, in_force_at, kept_reason
from certsoar.actions.firewall import block_key as server_block_key
from certsoar.actions.proxy import NAME_BLOCK, name_block_key
from certsoar.actions.proxy import block_key as certificate_block_key
from certsoar.alert import CertificateAlert
from certsoar.connectors.ca import HoldReleasing, RevocationReason, RevocationStatus
from certsoar.context import ActionContext
from certsoar.errors import ActionError, RunNotFound
from certsoar.ledger import Effect, release_marker
from certsoar.registry import action

RELEASE_PLAYBOOK = "certificate-release"


class RunInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: str = Field(min_length=1, max_length=64, description="The run whose containment is taken back.")


class Irreversible(BaseModel):
    action: str
    target: str
    reason: str | None = Field(default=None, description="The CRL reason the revocation was made with.")
    why: str = Field(description="Why the release cannot undo it, in a sentence an analyst reads.")


class PlanOutput(BaseModel):
    run: str
    addresses: list[str] = Field(description="Servers the run blocked at the firewall, to unblock.")
    sha1: str | None = Field(description="The certificate SHA-1 the run blocked at the proxy, to unblock.")
    names: list[str] = Field(default_factory=list, description="Server names the run blocked at a proxy, to unblock.")
    holds: list[str] = Field(description="Serials the run revoked with reason certificateHold, to release at the CA.")
    kept: list[Kept] = Field(description="What the run contained that stays, because another run still needs it.")
    reversible: bool = Field(description="The run did something this release can take back.")
    irreversible: list[Irreversible] = Field(description="What the run did that a release cannot undo.")
    ticket_key: str | None = Field(description="Key of the run's ticket, closed as released.")
    already_released: bool = Field(description="A release run took this run's containment back already.")


@action("release.plan")
async def plan(inp: RunInput, ctx: ActionContext) -> PlanOutput:
    """Read from the effect ledger what run ``run`` contained: the blocks to take back, what cannot be undone
    (revocations) and its ticket."""
    store = ctx.ledger.effects
    try:
        target = store.get_run(inp.run)
    except RunNotFound as exc:
        raise ActionError(str(exc)) from None
    if target.playbook == RELEASE_PLAYBOOK:
        raise ActionError(f"run {inp.run} is a release itself; release the run it took back instead")
    connectors = ctx.connectors
    addresses: list[str] = []
    sha1s: list[str] = []
    names: list[str] = []
    holds: list[str] = []
    kept: list[Kept] = []
    irreversible: list[Irreversible] = []

    def take_back(key: str, target: str, action_name: str, into: list[str]) -> None:
        owner = ctx.ledger.owner(key)
        if owner is None:
            return  # not in force: released already, or never made
        reason = kept_reason(ctx, key, owner, target, action_name, inp.run)
        if reason is None:
            if target not in into:  # one entry per target, blocked at one instance or several
                into.append(target)
        else:
            kept.append(Kept(target=target, reason=reason))

    for effect in ctx.ledger.effects.run_effects(inp.run):
        if not effect.verified or effect.planned:
            continue
        instance = effect.key.split(":")[1]  # <kind>:<instance>:...: where the run made it
        if effect.action == "firewall.block" and instance in connectors.instances("firewall"):
            take_back(server_block_key(instance, effect.target), effect.target, effect.action, addresses)
        elif effect.action == "proxy.block_certificate" and instance in connectors.instances("proxy"):
            take_back(certificate_block_key(instance, effect.target), effect.target, effect.action, sha1s)
        elif effect.action == NAME_BLOCK and instance in connectors.instances("proxy"):
            take_back(name_block_key(instance, effect.target), effect.target, effect.action, names)
        elif effect.action == "ca.revoke" and effect.changed:
            reason = effect.evidence.get("reason")
            held = reason == RevocationReason.certificate_hold.value
            if (
                held
                and instance in connectors.instances("ca")
                and isinstance(connectors.connector("ca", instance), HoldReleasing)
            ):
                take_back(revoke_key(instance, effect.target), effect.target, effect.action, holds)
                continue
            irreversible.append(
                Irreversible(
                    action=effect.action,
                    target=effect.target,
                    reason=reason if isinstance(reason, str) else None,
                    why=f"serial {effect.target} stays revoked"
                    + (f" ({reason})" if isinstance(reason, str) else "")
                    + ": a revocation cannot be undone; issue a new certificate if this one was legitimate",
                )
            )
    tickets = ctx.ledger.targets_of(inp.run, "ticket.open")
    return PlanOutput(
        run=inp.run,
        addresses=addresses,
        sha1=sha1s[0] if sha1s else None,
        names=names,
        holds=holds,
        kept=kept,
        reversible=bool(addresses or sha1s or names or holds),
        irreversible=irreversible,
        ticket_key=tickets[0] if tickets else None,
        already_released=ctx.ledger.recorded(release_marker(inp.run)),
    )


def hold_release_key(instance: str, serial: str, run_id: str) -> str:
    """The effect ledger's key of taking back run ``run_id``'s certificateHold of ``serial`` at CA ``instance``."""
    return f"ca:{instance}:release_hold:{serial}:{run_id}"


class HoldInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: str = Field(min_length=1, max_length=64, description="The run whose certificateHold is taken back.")
    serials: list[str] = Field(max_length=64, description="Serials that run put on hold (upper-case hex).")


class HoldOutput(BaseModel):
    effects: list[Effect]
    statuses: list[RevocationStatus] = Field(description="Each serial's status read back from the CA afterwards.")
    kept: list[str] = Field(default_factory=list, description="Serials left on hold, with the reason.")


@action("ca.release_hold", mutates=True, reversible=False)
async def release_hold(inp: HoldInput, ctx: ActionContext) -> HoldOutput:
    """Take back run ``run``'s certificateHold revocations at the CA (removeFromCRL): verified when the CA holds the
    serial valid again and its new CRL no longer lists it."""
    effects: list[Effect] = []
    statuses: list[RevocationStatus] = []
    kept: list[str] = []
    for serial in inp.serials:
        for instance, ca in in_force_at(ctx, "ca", serial, inp.run, revoke_key, hold_release_key):
            if not isinstance(ca, HoldReleasing):
                raise ActionError(f"the CA connector {instance} cannot release a certificateHold")
            revoked = revoke_key(instance, serial)
            owner = ctx.ledger.owner(revoked)
            reason = kept_reason(ctx, revoked, owner, serial, "ca.revoke", inp.run)
            if reason is not None:
                kept.append(f"{serial}: {reason}")
                continue
            seen: list[RevocationStatus] = []

            async def valid(
                serial: str = serial, seen: list[RevocationStatus] = seen, ca: HoldReleasing = ca
            ) -> tuple[bool, dict[str, object]]:
                status = await ca.status(serial)
                seen.append(status)
                return not status.revoked and not status.in_crl, status.model_dump(mode="json")

            async def write(serial: str = serial, ca: HoldReleasing = ca) -> None:
                await ca.release_hold(serial)

            effects.append(
                await ctx.ledger.apply(
                    hold_release_key(instance, serial, inp.run),
                    step_id=ctx.step_id,
                    action="ca.release_hold",
                    target=serial,
                    is_done=valid,
                    write=write,
                )
            )
            if owner is not None:
                ctx.ledger.release(revoked, owner)
            statuses.append(seen[-1])
    return HoldOutput(effects=effects, statuses=statuses, kept=kept)


class RecordOutput(BaseModel):
    run: str
    recorded: bool = Field(description="This release run is the one on record for the run (claimed once).")


@action("release.record", mutates=True, reversible=False)
async def record(inp: RunInput, ctx: ActionContext) -> RecordOutput:
    """Record in the ledger that this run's containment was taken back: other runs' releases then no longer
    keep a block on its account."""
    return RecordOutput(
        run=inp.run,
        recorded=ctx.ledger.claim(release_marker(inp.run), action="release.record", target=inp.run),
    )


MAX_COMMENT_CHARS = 2000


def release_alert_id(run_id: str) -> str:
    """The alert id of run ``run_id``'s release: one release run per run at a time."""
    return f"release:{run_id}"


def release_alert(run_id: str, analyst: str, comment: str, now: datetime) -> CertificateAlert:
    """The alert a release run starts with: its id names the run taken back, so asking twice (or from two
    processes at once) finds the one release run; ``raw`` carries the run, who asked and why.

    Built without validation, as a sweep's alert is: it names no certificate (``certsoar.api.release`` checks
    the run exists first)."""
    return CertificateAlert.model_construct(
        id=release_alert_id(run_id),
        time=now,
        source_format="release",
        event="release",
        host=None,
        src_ip=None,
        dst_ip=None,
        dst_port=None,
        sni=None,
        certificate_pem=None,
        sha256=None,
        sha1=None,
        logged_certificate=None,
        requester=analyst,
        ja3=None,
        ja3s=None,
        raw={"run": run_id, "analyst": analyst, "comment": comment},
    )
