"""The revocation sweep's steps: find what the managed CA issued against the issuance policy, revoke the
violators within the safety budget, and summarize.

Safety, in the order it applies: a certificate is revoked only when the CA's record of it (re-read just
before) still breaks the policy and is the certificate that was found; without an approval only the rules
the policy marks ``auto_revoke`` count, and only within ``sweeps.revocation.max_per_run`` and
``max_per_day``; the first revocation of a step is the canary (verified listed in a signed CRL before the
next is attempted, else the step stops); after ``max_errors`` connector errors the step stops (the
circuit breaker). Each revocation goes through the effect ledger under the same key as ``ca.revoke``.
"""

from __future__ import annotations

from datetime import datetime, time, timezone

from pydantic import BaseModel, ConfigDict, Field

from certsoar.connectors.ca import CertificateAuthority, IssuedCertificate, RevocationReason
from certsoar.connectors.ca.described import ListsLazily, listed_from
from certsoar.context import ActionContext
from certsoar.errors import ActionError, CannotEnumerate, ConfigError, ConnectorError
from certsoar.issuance import PolicyJudge, judge
from certsoar.ledger import Effect
from certsoar.registry import action
from certsoar.sweeps import SweepSummary, report_progress

FIND = "ca.find_violations"
AUTO = "ca.auto_revoke"


class Violation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    serial: str = Field(description="Serial, upper-case hex.")
    ca: str | None = Field(default=None, description="Instance name of the CA that issued it (and revokes it).")
    subject: str
    sha256: str | None = Field(description="SHA-256 of the DER, when the CA kept a copy.")
    not_before: datetime | None = None
    not_after: datetime
    rules: list[str] = Field(description="The policy rules it breaks.")
    reasons: list[str] = Field(description="Why, one line per rule.")
    auto_revoke: bool = Field(description="A rule it breaks is marked auto_revoke in the policy.")
    waiting: str | None = Field(default=None, description="Why it was not revoked without approval.")


class FindInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    watermarks: dict[str, str] = Field(default_factory=dict, description="Per source: where the last sweep stopped.")
    full: bool = Field(default=False, description="Read every certificate, ignoring the watermark.")


class FindOutput(BaseModel):
    source: str = Field(description="The CAs read, as watermark sources (ca:<instance>, comma-separated).")
    examined: int
    skipped: int = Field(description="Revoked, expired, excused, or already found by another sweep.")
    excused: list[str] = Field(description="Serials an exception let pass, with its owner.")
    violations: list[Violation]
    watermark: str | None = Field(description="Where this sweep stopped reading; None when it read nothing.")
    watermarks: dict[str, str] = Field(
        default_factory=dict, description="Per CA (ca:<instance>): where this sweep stopped reading it."
    )
    not_listed: list[str] = Field(
        default_factory=list, description="CAs whose product cannot list what they issued, with the reason."
    )


class _Finding:
    """What the find step has gathered so far, over every CA."""

    def __init__(self) -> None:
        self.examined = self.skipped = 0
        self.excused: list[str] = []
        self.violations: list[Violation] = []
        self.watermarks: dict[str, str] = {}
        self.not_listed: list[str] = []
        self._found: set[tuple[str, str]] = set()  # (CA, serial) already among the violations

    def consider(
        self, cert: IssuedCertificate, instance: str, judge: PolicyJudge, auto: set[str], ctx: ActionContext
    ) -> None:
        """Judge ``cert``; a violation this run is the first to claim is kept (a serial once per run)."""
        verdict = judge.judge(cert, ctx.now)
        self.excused += [f"{cert.serial} ({b.rule}, excused by {e.owner})" for b, e in verdict.excused]
        if not verdict.breaches:
            self.skipped += bool(verdict.excused)
            return
        key = f"ca:{instance}:violation:{cert.serial}"
        if (instance, cert.serial) in self._found or not ctx.ledger.claim(key, action=FIND, target=cert.serial):
            self.skipped += 1
            return
        self._found.add((instance, cert.serial))
        rules = [b.rule for b in verdict.breaches]
        self.violations.append(
            Violation(
                serial=cert.serial,
                ca=instance,
                subject=cert.subject,
                sha256=cert.sha256,
                not_before=cert.not_before,
                not_after=cert.not_after,
                rules=rules,
                reasons=[b.reason for b in verdict.breaches],
                auto_revoke=bool(set(rules) & auto),
            )
        )


@action(FIND)
async def find_violations(inp: FindInput, ctx: ActionContext) -> FindOutput:
    """Stream every certificate each managed CA issued since its watermark and judge it against the issuance
    policy; each violating serial is claimed by this run, so no later sweep reports it again (unless this run
    fails or its approval expires with nobody deciding: then the next sweep asks again)."""
    if not ctx.connectors.has("ca"):
        raise ConfigError("connectors.ca: not configured")
    found = _Finding()
    for instance, ca in ctx.connectors.each("ca"):  # each CA from its own watermark, under its own policy
        try:
            await _find_at(instance, ca, inp, ctx, found)
        except CannotEnumerate as exc:  # the sweep says so and reads the other CAs
            found.not_listed.append(str(exc))
    report_progress(found.examined, len(found.violations), final=True)
    sources = [f"ca:{name}" for name in ctx.connectors.instances("ca")]
    return FindOutput(
        source=", ".join(sources),
        examined=found.examined,
        skipped=found.skipped,
        excused=found.excused,
        violations=found.violations,
        watermark=found.watermarks.get(sources[0]) if len(sources) == 1 else None,
        watermarks=found.watermarks,
        not_listed=found.not_listed,
    )


async def _find_at(
    instance: str, ca: CertificateAuthority, inp: FindInput, ctx: ActionContext, found: _Finding
) -> None:
    policy = ctx.config.issuance_policy(instance)
    if policy is None:
        raise ConfigError("the revocation sweep needs an issuance policy: add policy: to the config")
    policy_judge, auto = PolicyJudge(policy, ctx.config.organization.domains), {str(r) for r in policy.auto_revoke}
    source = f"ca:{instance}"
    since = None if inp.full else inp.watermarks.get(source)
    if not inp.full:  # findings an earlier sweep left undecided (its approval expired) are asked about again
        for serial in ctx.ledger.passed_on(FIND, f"ca:{instance}:violation:"):
            again = await ca.certificate(serial)
            if again is not None and again.status == "valid":
                found.consider(again, instance, policy_judge, auto, ctx)
    watermark = since
    listing = ca.iter_listed(since) if isinstance(ca, ListsLazily) else listed_from(ca.iter_issued(since))
    async for listed in listing:
        found.examined += 1
        watermark = listed.position or watermark
        report_progress(found.examined, len(found.violations))
        if listed.status != "valid":
            found.skipped += 1
            continue
        found.consider(listed.read(), instance, policy_judge, auto, ctx)
    if watermark is not None:
        found.watermarks[source] = watermark


class RevokeSweepInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    violations: list[Violation] = Field(description="What the sweep found (ca.find_violations).")


class RevokeSweepOutput(BaseModel):
    revoked: list[str] = Field(description="Serials revoked and verified in the CRL (planned, in a dry run).")
    pending: list[Violation] = Field(description="Violations left for an analyst's approval, each saying why.")
    errors: list[str]
    effects: list[Effect]
    canary: str | None = Field(description="The first revocation, verified before any other was attempted.")
    stopped: str | None = Field(description="Why this step stopped revoking early (canary, circuit breaker).")


@action(AUTO, mutates=True, reversible=False)
async def auto_revoke(inp: RevokeSweepInput, ctx: ActionContext) -> RevokeSweepOutput:
    """Revoke, without an analyst, the violations of rules the policy marks auto_revoke, within the sweep's
    budget; everything else is left pending for one batch approval."""
    settings = ctx.config.sweeps.revocation
    budget = settings.max_per_run
    if settings.max_per_day is not None:
        midnight = datetime.combine(ctx.now.astimezone(timezone.utc).date(), time(0), tzinfo=timezone.utc)
        budget = min(budget, max(0, settings.max_per_day - ctx.ledger.done_since(AUTO, midnight)))
    chosen: list[Violation] = []
    pending: list[Violation] = []
    for v in inp.violations:
        if not v.auto_revoke:
            pending.append(v.model_copy(update={"waiting": "its rules need an analyst's approval"}))
        elif len(chosen) >= budget:
            pending.append(v.model_copy(update={"waiting": f"over the sweep's budget ({budget} without approval)"}))
        else:
            chosen.append(v)
    result = await _revoke_each(chosen, ctx, AUTO, only_auto=True)
    pending += result.pending
    return result.model_copy(update={"pending": pending})


@action("ca.revoke_batch", mutates=True, reversible=False, needs_approval=True)
async def revoke_batch(inp: RevokeSweepInput, ctx: ActionContext) -> RevokeSweepOutput:
    """Revoke an approved batch of violations, each re-checked against the CA and the policy first."""
    return await _revoke_each(inp.violations, ctx, "ca.revoke_batch", only_auto=False)


async def _revoke_each(
    violations: list[Violation], ctx: ActionContext, name: str, *, only_auto: bool
) -> RevokeSweepOutput:
    reason = RevocationReason(ctx.config.sweeps.revocation.reason)
    revoked: list[str] = []
    pending: list[Violation] = []
    errors: list[str] = []
    effects: list[Effect] = []
    canary: str | None = None
    stopped: str | None = None
    connector_errors = 0
    for v in violations:
        if stopped is not None:
            pending.append(v.model_copy(update={"waiting": stopped}))
            continue
        try:
            instance = v.ca or ctx.connectors.instance("ca")  # a violation found before CAs were named: the one CA
            ca = ctx.connectors.connector("ca", instance)
            policy = ctx.config.issuance_policy(instance)
            if policy is None:
                raise ConfigError("the revocation sweep needs an issuance policy: add policy: to the config")
            held = await ca.certificate(v.serial)
            refusal = _still_violates(v, held, policy, ctx, only_auto=only_auto)
            if refusal is not None:
                errors.append(f"{v.serial}: not revoked: {refusal}")
                continue

            async def is_revoked(
                serial: str = v.serial, ca: CertificateAuthority = ca
            ) -> tuple[bool, dict[str, object]]:
                status = await ca.status(serial)
                return status.revoked and status.in_crl, status.model_dump(mode="json")

            async def write(serial: str = v.serial, ca: CertificateAuthority = ca) -> None:
                await ca.revoke(serial, reason)

            effect = await ctx.ledger.apply(
                f"ca:{instance}:revoke:{v.serial}",
                step_id=ctx.step_id,
                action=name,
                target=v.serial,
                is_done=is_revoked,
                write=write,
            )
        except (ConnectorError, ActionError) as exc:
            errors.append(f"{v.serial}: {exc}")
            pending.append(v.model_copy(update={"waiting": f"its revocation failed: {exc}"}))
            connector_errors += 1
            if canary is None:
                stopped = f"the canary revocation ({v.serial}) failed: {exc}; nothing more was attempted"
            elif connector_errors >= ctx.config.sweeps.revocation.max_errors:
                stopped = f"circuit breaker: {connector_errors} connector errors; revocation stopped"
            continue
        effects.append(effect)
        if effect.changed:
            revoked.append(v.serial)
        canary = canary or v.serial
    return RevokeSweepOutput(
        revoked=revoked, pending=pending, errors=errors, effects=effects, canary=canary, stopped=stopped
    )


def _still_violates(
    found: Violation, held: IssuedCertificate | None, policy: object, ctx: ActionContext, *, only_auto: bool
) -> str | None:
    """Why the CA's record no longer justifies revoking (None: it does)."""
    from certsoar.config import IssuancePolicy

    assert isinstance(policy, IssuancePolicy)
    if held is None:
        return "the CA has no certificate under this serial"
    if found.sha256 is not None and held.sha256 != found.sha256:
        return f"the CA's certificate under this serial is now {held.sha256}, not the one found ({found.sha256})"
    rules = {b.rule for b in judge(held, policy, ctx.config.organization.domains, ctx.now).breaches}
    if not rules:
        return "it no longer breaks the policy (an exception, or the policy changed)"
    if only_auto and not rules & set(policy.auto_revoke):
        return "none of the rules it breaks is marked auto_revoke any more"
    return None


class SummaryInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    found: FindOutput = Field(description="The examine step's output (ca.find_violations).")
    revoked: RevokeSweepOutput = Field(description="The revoke_auto step's output (ca.auto_revoke).")


@action("ca.sweep_summary")
async def sweep_summary(inp: SummaryInput, ctx: ActionContext) -> SweepSummary:
    """The revocation sweep's summary: examined, violations, revoked, awaiting approval, watermarks."""
    notes = [f"not swept: {why}" for why in inp.found.not_listed]
    waiting = inp.revoked.pending
    over = [v for v in waiting if v.waiting and v.waiting.startswith("over the sweep's budget")]
    if over:
        notes.append(f"{len(over)} revocation(s) over the budget wait for the batch approval")
    if inp.revoked.stopped:
        notes.append(inp.revoked.stopped)
    if waiting:
        notes.append(f"{len(waiting)} certificate(s) wait for one batch approval of run {ctx.run_id}")
    return SweepSummary(
        sweep="revocation",
        examined=inp.found.examined,
        violations=len(inp.found.violations),
        revoked=len(inp.revoked.revoked),
        awaiting_approval=len(waiting),
        skipped=inp.found.skipped,
        errors=inp.revoked.errors,
        watermarks=inp.found.watermarks or ({inp.found.source: inp.found.watermark} if inp.found.watermark else {}),
        notes=notes,
    )
