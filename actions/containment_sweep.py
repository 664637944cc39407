"""sweep.containment: prove that every containment the ledger holds done still holds at its target, and end
the approvals that have expired.

Each revoked serial must still be revoked at the CA and listed in a CRL the CA signed that is not past its
nextUpdate (a CRL close to it is a warning); each blocked address must be in the firewall's set; each SHA-1 in
the proxy's list. What no longer holds is drift, reported in the run; with ``sweeps.containment.repair`` it is
made again through the effect ledger under its own key (the ledger stays the only judge of done, and the
repair is audited as an effect of the sweep's run).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field

from certsoar.connectors.ca import CrlPublisher, RevocationReason, RevocationStatus
from certsoar.connectors.firewall import covers
from certsoar.context import ActionContext
from certsoar.errors import CertsoarError, ConnectorRejected
from certsoar.ledger import CONTAINMENT_ACTIONS
from certsoar.registry import action
from certsoar.store import EffectRow, utcnow
from certsoar.sweeps import SweepSummary, report_progress
from certsoar.timeparse import parse_duration

CHECKED = CONTAINMENT_ACTIONS
_KIND = {
    "ca.revoke": "ca",
    "firewall.block": "firewall",
    "proxy.block_certificate": "proxy",
    "proxy.block_name": "proxy",
}

Check = Callable[[], Awaitable[tuple[bool, dict[str, object]]]]


class ContainmentSweepInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Drift(BaseModel):
    key: str = Field(description="The ledger key of the effect that no longer holds.")
    action: str
    target: str
    problem: str = Field(description="What the target shows instead.")
    repaired: bool = Field(default=False, description="Made again and read back by this sweep.")
    planned: bool = Field(default=False, description="Dry run: the repair was only planned.")


class ContainmentSummary(SweepSummary):
    """The common summary (``notes``: a CRL close to its nextUpdate, each drift in a line) and the drift itself."""

    repaired: int = Field(default=0, description="Drifted effects made again (sweeps.containment.repair).")
    expired_approvals: int = Field(default=0, description="Runs whose expired approval this sweep ended (would end).")
    findings: list[Drift] = Field(default_factory=list)


class _Targets:
    """The reads of one sweep; the firewall's and proxy's lists are read once for the check."""

    def __init__(self, ctx: ActionContext, summary: ContainmentSummary) -> None:
        self.ctx = ctx
        self.summary = summary
        self.warn_before = parse_duration(ctx.config.sweeps.containment.crl_warn_before)
        self._lists: dict[tuple[str, str], set[str]] = {}
        self._crl_published: set[str] = set()

    async def _list(self, action_name: str, instance: str) -> set[str]:
        if (action_name, instance) not in self._lists:
            connector = self.ctx.connectors.connector(_KIND[action_name], instance)
            if action_name == "firewall.block":
                listed = await connector.blocked()
            elif action_name == "proxy.block_name":
                listed = await connector.blocked_names()
            else:
                listed = await connector.blocked_fingerprints()
            self._lists[(action_name, instance)] = listed
        return self._lists[(action_name, instance)]

    async def holds(self, effect: EffectRow) -> str | None:
        """None when the effect holds, else what the target shows instead."""
        instance = instance_of(effect)
        if effect.action == "firewall.block":
            if covers(await self._list(effect.action, instance), effect.target):
                return None
            return "not in the firewall's block set"
        if effect.action == "proxy.block_certificate":
            if effect.target in await self._list(effect.action, instance):
                return None
            return "not in the proxy's fingerprint list"
        if effect.action == "proxy.block_name":
            if effect.target in await self._list(effect.action, instance):
                return None
            return "not in the proxy's list of blocked names"
        return self._crl_problem(await self.ctx.connectors.connector("ca", instance).status(effect.target))

    def _crl_problem(self, status: RevocationStatus) -> str | None:
        now = utcnow()
        if not status.revoked:
            return "the CA's database no longer marks it revoked"
        if not status.in_crl:
            return f"not listed in a CRL signed by the CA ({status.evidence.get('crl_check', 'no CRL')})"
        if status.crl_next_update is not None and status.crl_next_update <= now:
            return f"the CRL is past its nextUpdate ({status.crl_next_update.isoformat()})"
        if status.crl_next_update is not None and status.crl_next_update - now <= self.warn_before:
            self.warn(f"the CA's CRL reaches its nextUpdate at {status.crl_next_update.isoformat()}")
        return None

    def warn(self, text: str) -> None:
        if text not in self.summary.notes:
            self.summary.notes.append(text)

    def repair(self, effect: EffectRow) -> tuple[Check, Callable[[], Awaitable[None]]]:
        """(read-back, write) that make ``effect`` hold again."""
        instance = instance_of(effect)
        connector = self.ctx.connectors.connector(_KIND[effect.action], instance)
        if effect.action == "firewall.block":

            async def blocked() -> tuple[bool, dict[str, object]]:
                return covers(await connector.blocked(), effect.target), {"address": effect.target, "list": instance}

            async def block() -> None:
                await connector.block([effect.target], f"certsoar repair, run {self.ctx.run_id}")

            return blocked, block
        if effect.action == "proxy.block_certificate":

            async def listed() -> tuple[bool, dict[str, object]]:
                return effect.target in await connector.blocked_fingerprints(), {
                    "sha1": effect.target,
                    "list": instance,
                }

            async def add() -> None:
                await connector.block_fingerprint(effect.target, f"certsoar repair, run {self.ctx.run_id}")

            return listed, add
        if effect.action == "proxy.block_name":

            async def named() -> tuple[bool, dict[str, object]]:
                return effect.target in await connector.blocked_names(), {"name": effect.target, "list": instance}

            async def add_name() -> None:
                await connector.block_names([effect.target], f"certsoar repair, run {self.ctx.run_id}")

            return named, add_name

        async def revoked() -> tuple[bool, dict[str, object]]:
            status = await connector.status(effect.target)
            return self._crl_problem(status) is None, status.model_dump(mode="json")

        async def revoke() -> None:
            status = await connector.status(effect.target)
            if not status.revoked:
                await connector.revoke(effect.target, _reason(effect))
            elif instance not in self._crl_published:  # one new CRL of a CA serves every serial of the sweep
                if not isinstance(connector, CrlPublisher):
                    raise ConnectorRejected(f"the CA connector ({type(connector).__name__}) cannot publish a CRL")
                await connector.publish_crl()
                self._crl_published.add(instance)

        return revoked, revoke


def instance_of(effect: EffectRow) -> str:
    """The connector instance an effect was made at: its key is ``<kind>:<instance>:<verb>:<target>``."""
    return effect.key.split(":")[1]


def _reason(effect: EffectRow) -> RevocationReason:
    recorded = effect.evidence.get("reason") if isinstance(effect.evidence, dict) else None
    try:
        return RevocationReason(recorded)
    except ValueError:
        return RevocationReason.unspecified


@action("sweep.containment", mutates=True)
async def containment(inp: ContainmentSweepInput, ctx: ActionContext) -> ContainmentSummary:
    """Check that every revocation and block the ledger holds done still holds; repair drift when configured; end expired approvals."""
    store = ctx.ledger.effects
    summary = ContainmentSummary(sweep="containment")
    targets = _Targets(ctx, summary)
    for effect in store.effects_in_force(CHECKED):
        kind = _KIND[effect.action]
        instance = instance_of(effect)
        summary.examined += 1
        if instance not in ctx.connectors.instances(kind):
            summary.skipped += 1
            targets.warn(f"{kind} {instance!r} is no longer a configured {kind} connector: its effects are not checked")
            continue
        try:
            problem = await targets.holds(effect)
        except CertsoarError as exc:
            summary.errors.append(f"{effect.key}: cannot check: {exc}")
            continue
        if problem is None:
            report_progress(summary.examined, summary.drift)
            continue
        summary.drift += 1
        drift = Drift(key=effect.key, action=effect.action, target=effect.target, problem=problem)
        if ctx.config.sweeps.containment.repair:
            await _repair(ctx, targets, effect, drift, summary)
        summary.findings.append(drift)
        outcome = "repaired" if drift.repaired else "repair planned" if drift.planned else "not repaired"
        summary.notes.append(f"drift: {drift.key}: {drift.problem} ({outcome})")
        report_progress(summary.examined, summary.drift)
    summary.expired_approvals = await _expire_approvals(ctx)
    report_progress(summary.examined, summary.drift, final=True)
    return summary


async def _repair(
    ctx: ActionContext, targets: _Targets, effect: EffectRow, drift: Drift, summary: ContainmentSummary
) -> None:
    is_done, write = targets.repair(effect)
    try:
        made = await ctx.ledger.apply(
            effect.key, step_id=ctx.step_id, action=effect.action, target=effect.target, is_done=is_done, write=write
        )
    except CertsoarError as exc:
        summary.errors.append(f"{effect.key}: repair failed: {exc}")
        return
    drift.planned = made.planned
    drift.repaired = made.verified and not made.planned
    summary.repaired += int(drift.repaired)


async def _expire_approvals(ctx: ActionContext) -> int:
    if ctx.dry_run:
        return len(ctx.ledger.effects.expired_gates(utcnow()))
    from certsoar.api import expire_due_runs  # the api imports the runner, which imports the registry

    return len(await expire_due_runs(ctx.config, connections=ctx.connectors))
