"""The runner: executes a playbook's steps, journals each one, pauses at approval gates.

A run is replayed from its journal: steps already recorded are not executed again, so a run
resumes after an approval, a crash or a restart at the first unfinished step. Effects inside a
step that was cut short are kept from repeating by the effect ledger.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from certsoar import eventlog
from certsoar.alert import CertificateAlert
from certsoar.config import Config, format_validation_error
from certsoar.connections import Connections, secret_values
from certsoar.context import ActionContext
from certsoar.errors import (
    ActionError,
    ApprovalError,
    ApprovalForbidden,
    CertsoarError,
    ConnectorUnavailable,
    RunBusy,
    RunError,
)
from certsoar.expressions import evaluate, required_approvals, truthy
from certsoar.faults import crashpoint
from certsoar.ledger import EffectLedger
from certsoar.playbook import Approval, Playbook, Step
from certsoar.registry import ActionSpec, get_action
from certsoar.store import GateRow, GateStatus, RunRow, RunStatus, RunStore, StepRow, StepStatus, executor_id, utcnow
from certsoar.templating import Templates
from certsoar.timeparse import parse_duration

DONE = (StepStatus.COMPLETED, StepStatus.SKIPPED, StepStatus.FAILED)
"""Journal states a replay keeps; a step that ended the run in "error" (or was "cancelled" because a
parallel sibling failed) runs again on resume."""

RENEW_SECONDS = 15.0
"""How often an executor renews its run's lease (well inside store.LEASE_SECONDS)."""


class WaitingForApproval(Exception):
    """Raised inside a run to stop it at an approval gate (not an error)."""


@dataclass
class RunState:
    run_id: str
    requester: str | None
    playbook: Playbook
    outcome: RunStatus = RunStatus.COMPLETED
    journal: dict[str, StepRow] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)


class Runner:
    """Executes playbooks: owns the order of steps, their journal, approval gates and the run's status.

    Guarantees: one executor per run (a lease in the store, taken before executing, renewed while
    running, released with the final status; RunBusy when another live executor has it); a step
    recorded done is never executed again (replay); an action that needs approval runs only after an
    approved gate earlier in the same run, whatever the playbook's conditions say; a failing branch of a
    parallel block cancels its siblings and journals them before the step ends; a run ends completed
    only when every effect was read back; the audit head is anchored once per entry point, when it ends.
    """

    def __init__(
        self,
        config: Config,
        store: RunStore,
        *,
        dry_run: bool = False,
        connections: Connections | None = None,
        templates: Templates | None = None,
        journal: RunStore | None = None,
    ) -> None:
        """``store`` is the persistent run store. In a dry run it is only read (connectors and the
        ledger look at it) and the run itself is journaled in memory: in ``journal`` when given (a sweep's
        many dry runs share one), else in a scratch store of its own."""
        self.config = config
        self.store = store
        self.dry_run = dry_run
        self.journal = (journal or RunStore.scratch()) if dry_run else store
        self.connections = connections or Connections(config, store)
        self.templates = templates or Templates(config.templates)
        if eventlog.listening():
            eventlog.add_secrets(secret_values(config))
        self.owner = executor_id()
        self._lease_lost = False

    # entry points -------------------------------------------------------
    async def start(
        self,
        playbook: Playbook,
        alert: CertificateAlert,
        *,
        trigger: str = "alert",
        requester: str | None = None,
        definition: str | None = None,
    ) -> str:
        """Run ``playbook`` for ``alert``; an alert that already has a run returns that run (resumed if it
        was cut short, left alone while another executor has it)."""
        with self.store.one_anchor():
            run_id, created = self.journal.create_run(
                playbook=playbook.id,
                alert_id=alert.id,
                trigger=trigger,
                alert=alert.model_dump(mode="json"),
                requester=requester,
                dry_run=self.dry_run,
                definition=definition,
                owner=None if self.dry_run else self.owner,
            )
            if created:
                await self._execute(playbook, run_id, leased=True)
            elif self.journal.get_run(run_id).status == RunStatus.RUNNING:
                try:
                    await self._execute(playbook, run_id)
                except RunBusy:
                    pass  # being executed elsewhere: the caller gets the run as it stands
            return run_id

    async def resume(self, playbook: Playbook, run_id: str) -> None:
        """Execute a run cut short or failed; RunBusy while another live executor has it."""
        with self.store.one_anchor():
            await self._execute(playbook, run_id)

    async def decide(
        self,
        playbook: Playbook,
        run_id: str,
        *,
        analyst: str,
        decision: GateStatus,
        comment: str | None = None,
        via: str = "cli",
        credential: str | None = None,
    ) -> None:
        """Record ``analyst``'s approve/deny on the waiting gate and, when that settles the gate, execute
        the run here. The store settles the gate atomically: of two concurrent decisions exactly one
        decides it and the other gets ApprovalError."""
        with self.store.one_anchor():
            gate = self.store.approval(run_id)
            if gate is None:
                run = self.store.get_run(run_id)
                latest = self.store.approval(run_id, pending_only=False)
                raise ApprovalError(
                    f"run {run_id} is {run.status}, not waiting for approval"
                    + (f": {latest.describe()}" if latest else "")
                )
            if utcnow() < gate.expires:
                self._check_analyst(gate, analyst)
            settled = self.store.decide(
                run_id,
                analyst=analyst,
                decision=decision,
                comment=comment,
                owner=self.owner,
                may_approve=lambda earlier: self._analyst_refusal(gate, earlier) is None,
                via=via,
                credential=credential,
            )
            if settled.status == GateStatus.PENDING:
                return
            await self._execute(playbook, run_id, leased=True)
            if settled.status == GateStatus.EXPIRED:
                raise ApprovalError(
                    f"the approval of run {run_id} expired at {settled.expires.isoformat()}; the run ended expired"
                )

    def _check_analyst(self, gate: GateRow, analyst: str) -> None:
        refused = self._analyst_refusal(gate, analyst)
        if refused is not None:
            raise ApprovalForbidden(refused)

    def _analyst_refusal(self, gate: GateRow, analyst: str) -> str | None:
        """Why ``analyst`` may not decide ``gate`` under the current config, or None."""
        analyst_cfg = self.config.analysts.get(analyst)
        if analyst_cfg is None:
            return f"{analyst!r} is not an analyst in the config"
        if not set(analyst_cfg.roles) & set(gate.roles):
            return f"{analyst} has roles {sorted(analyst_cfg.roles)}; this approval needs one of {gate.roles}"
        if gate.distinct_from_requester and analyst == gate.requester:
            return f"{analyst} started run {gate.run_id} and may not approve it"
        return None

    async def expire_due(self, playbook: Playbook, run_id: str) -> bool:
        """End a waiting run whose approval has expired; True when it did."""
        with self.store.one_anchor():
            if not self.store.expire_gate(run_id, self.owner):
                return False
            await self._execute(playbook, run_id, leased=True)
            return True

    # execution ----------------------------------------------------------
    async def _execute(self, playbook: Playbook, run_id: str, *, leased: bool = False) -> None:
        """Execute the run as its one executor: take its lease (unless the caller's transaction took it),
        keep it renewed while the steps run, and write the final status only while still holding it."""
        if self.dry_run:
            started = utcnow()
            status, error = await self._run_steps(playbook, run_id)
            self.journal.update_run(run_id, status=status, error=error)
            eventlog.event(
                "run.dry_run", run_id=run_id, playbook=playbook.id, status=str(status), duration_ms=_ms_since(started)
            )
            return
        if not leased:
            self.store.take_lease(run_id, self.owner)
        self._lease_lost = False
        current = asyncio.current_task()
        assert current is not None
        keeper = asyncio.create_task(self._keep_lease(run_id, current))
        started = utcnow()
        try:
            status, error = await self._run_steps(playbook, run_id)
        except asyncio.CancelledError:
            if self._lease_lost:
                raise RunBusy(f"run {run_id}: this executor lost the run's lease (renewal failed); stopped") from None
            raise
        finally:
            keeper.cancel()
        self.store.update_run(run_id, status=status, error=error, owner=self.owner)
        eventlog.event(
            "run", run_id=run_id, playbook=playbook.id, status=str(status), duration_ms=_ms_since(started), error=error
        )

    async def _keep_lease(self, run_id: str, executor: asyncio.Task[Any]) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            if not self.store.renew_lease(run_id, self.owner):
                self._lease_lost = True
                executor.cancel()
                return

    async def _run_steps(self, playbook: Playbook, run_id: str) -> tuple[RunStatus, str | None]:
        run = self.journal.get_run(run_id)
        if run.playbook != playbook.id:
            raise RunError(f"run {run_id} belongs to playbook {run.playbook}, not {playbook.id}")
        state = RunState(run_id=run_id, requester=run.requester, playbook=playbook)
        state.journal = {s.step_id: s for s in self.journal.steps(run_id)}
        state.variables = run_variables(self.config, playbook, run, state.journal, dry_run=self.dry_run)
        if run.status != RunStatus.RUNNING:
            self.journal.update_run(run_id, status=RunStatus.RUNNING, owner=self._fence())
        try:
            for step in playbook.steps:
                await self._step(state, step)
        except WaitingForApproval:
            return RunStatus.WAITING_APPROVAL, None
        except CertsoarError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - the run's edge: whatever went wrong, the run ends failed
            error = unexpected(exc)
        else:
            return state.outcome, None
        await self._on_failure(state, error)
        return RunStatus.FAILED, error

    async def _on_failure(self, state: RunState, error: str) -> None:
        """The playbook's ``on_failure`` steps (say so on the ticket, notify), seeing ``run.failure``: the error,
        each step that failed or was cancelled with its error, and the effects the run made all the same (a
        cancelled step may have made its change before it stopped). A failure among them is journaled and never
        replaces the run's own error."""
        if not state.playbook.on_failure:
            return
        latest = {row.step_id: row for row in self.journal.steps(state.run_id)}  # a resumed step's last record
        failed = {
            step_id: row.error or str(row.status)
            for step_id, row in latest.items()
            if row.status in (StepStatus.ERROR, StepStatus.CANCELLED)
        }
        done = [
            {"action": e.action, "target": e.target, "step": e.step_id, "verified": e.verified}
            for e in self.journal.run_effects(state.run_id)
            if not e.planned
        ]
        state.variables["run"]["failure"] = {"error": error, "steps": failed, "effects": done}
        for step in state.playbook.on_failure:
            try:
                await self._step(state, step)
            except CertsoarError:
                continue  # journaled by _step

    async def _step(self, state: RunState, step: Step) -> None:
        recorded = state.journal.get(step.id)
        if recorded and recorded.status in DONE:
            if step.approval is not None:
                self._note_outcome(state, recorded.output)
            return
        crashpoint(f"before:{step.id}")
        started = utcnow()
        if step.when is not None and not truthy(step.when, state.variables):
            output: Any = {"skipped": True, "approved": False} if step.approval else {"skipped": True}
            self._record(state, step, StepStatus.SKIPPED, output, started=started)
            return
        if step.approval is not None:
            output = await self._gate(state, step, step.approval)
            self._note_outcome(state, output)
            self._record(state, step, StepStatus.COMPLETED, output, started=started)
            return
        if step.parallel is not None:
            await self._parallel(state, step, step.parallel)
            output = {child.id: state.variables["steps"][child.id] for child in step.parallel}
            self._record(state, step, StepStatus.COMPLETED, output, started=started)
            return
        assert step.action is not None
        spec = get_action(step.action)
        if spec.needs_approval and not self._approved_before(state, step):
            error = (
                f"step {step.id}: {spec.name} needs an approval and no approval gate its when: requires was "
                "approved before it in this run; refused"
            )
            self._record(state, step, StepStatus.ERROR, None, error=error, started=started)
            raise ActionError(error)
        try:
            output, attempts = await self._action(state, step, spec)
        except CertsoarError as exc:
            if step.on_error == "continue":
                self._record(
                    state, step, StepStatus.FAILED, {"failed": True, "error": str(exc)}, error=str(exc), started=started
                )
                return
            # "error", not "failed": a resumed run tries this step again
            self._record(state, step, StepStatus.ERROR, None, error=str(exc), started=started)
            raise ActionError(f"step {step.id} failed: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - a bug in an action fails its step and the run, never hangs it
            error = unexpected(exc)
            self._record(state, step, StepStatus.ERROR, None, error=error, started=started)
            raise ActionError(f"step {step.id} failed: {error}") from exc
        self._record(state, step, StepStatus.COMPLETED, output, attempts=attempts, started=started)

    async def _parallel(self, state: RunState, step: Step, children: list[Step]) -> None:
        """Run the children concurrently; the first that fails cancels the others, which are journaled
        "cancelled" (a resume runs them again) before the failure ends the step."""
        started = utcnow()
        tasks: dict[str, asyncio.Task[None]] = {}
        try:
            async with asyncio.TaskGroup() as group:
                for child in children:
                    tasks[child.id] = group.create_task(self._step(state, child))
        except* WaitingForApproval:
            raise WaitingForApproval from None
        except* CertsoarError as failed:
            for child in children:
                if tasks[child.id].cancelled():
                    self._record(
                        state,
                        child,
                        StepStatus.CANCELLED,
                        None,
                        error=f"cancelled: a sibling in {step.id} failed",
                        started=started,
                    )
            first = failed.exceptions[0]
            raise ActionError(str(first)) from first

    def _approved_before(self, state: RunState, step: Step) -> bool:
        """A gate that the step's guard requires (its ``when`` or that of a parallel block around it, read as
        ``validate`` reads it: ``expressions.required_approvals``) precedes the step in the playbook and was
        approved in this run (planned, in a dry run). Another gate's approval does not stand in for it."""
        required: set[str] = set()
        for guard in (step, *_blocks_around([*state.playbook.steps, *state.playbook.on_failure], step)):
            required |= required_approvals(guard.when)
        for top in state.playbook.steps:
            if step in top.walk():
                return False
            for gate in (s for s in top.walk() if s.approval is not None and s.id in required):
                if self.dry_run:
                    output = state.variables["steps"].get(gate.id) or {}
                    if output.get("status") == "planned":
                        return True
                else:
                    row = self.store.approval(state.run_id, gate.id)
                    if row is not None and row.status == GateStatus.APPROVED:
                        return True
        return False

    def _record(
        self,
        state: RunState,
        step: Step,
        status: StepStatus,
        output: Any,
        *,
        error: str | None = None,
        attempts: int = 1,
        started: datetime,
    ) -> None:
        state.variables["steps"][step.id] = output
        self.journal.record_step(
            state.run_id,
            step.id,
            action=step.action,
            status=status,
            output=output,
            error=error,
            attempts=attempts,
            started=started,
            owner=self._fence(),
        )
        eventlog.event(
            "step",
            run_id=state.run_id,
            playbook=state.playbook.id,
            step=step.id,
            action=step.action,
            connector=self._connector_of(step.action),
            status=str(status),
            duration_ms=_ms_since(started),
            attempts=attempts,
            error=error,
        )
        crashpoint(f"after:{step.id}")

    def _connector_of(self, action: str | None) -> str | None:
        """``kind:instance`` of the connector an action works through (``ca.revoke`` → ``ca:openssl``)."""
        kind = (action or "").partition(".")[0]
        if kind == "notify":
            return ",".join(f"notify:{s.instance}" for s in self.config.connectors.notify) or None
        if kind in ("siem", "ca", "firewall", "proxy", "ticket") and self.connections.has(kind):
            return ",".join(f"{kind}:{name}" for name in self.connections.instances(kind))
        return None

    async def _action(self, state: RunState, step: Step, spec: ActionSpec) -> tuple[Any, int]:
        if step.for_each is None:
            return await self._call(state, step, spec, state.variables)
        items = evaluate(step.for_each, state.variables)
        if not isinstance(items, list):
            raise ActionError(f"step {step.id}: for_each gave {type(items).__name__}, not a list")
        outputs, attempts = [], 0
        for item in items:
            out, n = await self._call(state, step, spec, {**state.variables, "item": item})
            outputs.append(out)
            attempts = max(attempts, n)
        return outputs, attempts

    async def _call(self, state: RunState, step: Step, spec: ActionSpec, variables: dict[str, Any]) -> tuple[Any, int]:
        try:
            inp = spec.input_model.model_validate(evaluate(step.with_, variables))
        except ValidationError as exc:
            raise ActionError(f"bad input to {spec.name}: {format_validation_error(exc)}") from exc
        ctx = self._context(state, step, variables)
        timeout = parse_duration(step.timeout).total_seconds() if step.timeout else None
        retry = step.retry
        if retry is None and timeout is None:  # one attempt, no deadline: nothing for tenacity to do
            return (await spec(inp, ctx)).model_dump(mode="json"), 1
        attempts = 0
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(retry.attempts if retry else 1),
            wait=wait_exponential(
                multiplier=parse_duration(retry.delay).total_seconds() if retry else 0,
                max=parse_duration(retry.max_delay).total_seconds() if retry else 0,
            ),
            retry=retry_if_exception_type(ConnectorUnavailable),
            reraise=True,
        ):
            with attempt:
                attempts += 1
                try:
                    result = await asyncio.wait_for(spec(inp, ctx), timeout)
                except asyncio.TimeoutError:
                    raise ConnectorUnavailable(f"step {step.id} timed out after {step.timeout}") from None
        return result.model_dump(mode="json"), attempts

    async def _gate(self, state: RunState, step: Step, approval: Approval) -> dict[str, Any]:
        if self.dry_run:
            await self._request_approval(state, step, approval)
            return {
                "approved": True,
                "status": "planned",
                "decisions": [],
                "note": "dry run: the plan assumes the approval is given",
            }
        gate = self.store.approval(state.run_id, step.id)
        if gate is None:
            expires = utcnow() + parse_duration(approval.expires)
            self.store.open_approval(
                state.run_id,
                step.id,
                roles=approval.roles,
                required=approval.required,
                distinct_from_requester=approval.distinct_from_requester,
                requester=state.requester,
                expires=expires,
            )
            await self._request_approval(state, step, approval)
            raise WaitingForApproval
        if gate.status == GateStatus.PENDING:
            if utcnow() < gate.expires:
                raise WaitingForApproval
            self.store.close_approval(state.run_id, step.id, GateStatus.EXPIRED)
            gate = self.store.approval(state.run_id, step.id)
            assert gate is not None
        return {
            "approved": gate.status == GateStatus.APPROVED,
            "status": str(gate.status),
            "decisions": [asdict(d) for d in gate.decisions],
            "required": gate.required,
            "roles": gate.roles,
            "expires": gate.expires.isoformat(),
        }

    async def _request_approval(self, state: RunState, step: Step, approval: Approval) -> None:
        if approval.template is None:
            return
        notify = get_action("notify.send")
        ctx = self._context(state, step, {**state.variables, "approval": approval.model_dump()})
        result = await notify(notify.input_model.model_validate({"template": approval.template}), ctx)
        self.journal.record_step(
            state.run_id,
            f"{step.id}.request",
            action=notify.name,
            status=StepStatus.COMPLETED,
            output=result.model_dump(mode="json"),
            owner=self._fence(),
        )

    def _fence(self) -> str | None:
        """The lease owner journal writes are checked against (none for a dry run's in-memory journal)."""
        return None if self.dry_run else self.owner

    def _context(self, state: RunState, step: Step, variables: dict[str, Any]) -> ActionContext:
        ledger = EffectLedger(self.store, self.journal, state.run_id, dry_run=self.dry_run)
        return ActionContext(
            run_id=state.run_id,
            step_id=step.id,
            dry_run=self.dry_run,
            now=utcnow(),
            config=self.config,
            connectors=self.connections,
            ledger=ledger,
            templates=self.templates,
            variables=variables,
        )

    @staticmethod
    def _note_outcome(state: RunState, output: dict[str, Any]) -> None:
        if output.get("status") in (GateStatus.DENIED, GateStatus.EXPIRED):
            state.outcome = RunStatus(output["status"])


def _ms_since(started: datetime) -> int:
    return round((utcnow() - started).total_seconds() * 1000)


def run_variables(
    config: Config, playbook: Playbook, run: RunRow, journal: dict[str, StepRow], *, dry_run: bool
) -> dict[str, Any]:
    """What expressions and templates see: the alert, the outputs of the steps done so far, vars, run, config."""
    variables: dict[str, Any] = {
        "alert": run.alert,
        "steps": {},
        "vars": dict(playbook.vars),
        "run": {
            "id": run.id,
            "playbook": playbook.id,
            "trigger": run.trigger,
            "dry_run": dry_run,
            "requester": run.requester,
        },
        "config": {"organization": {"domains": list(config.organization.domains)}},
        "playbook": {"id": playbook.id, "rules": [r.model_dump() for r in playbook.rules]},
    }
    for step in playbook.all_steps():
        recorded = journal.get(step.id)
        if recorded and recorded.status in DONE:
            variables["steps"][step.id] = recorded.output
    return variables


def unexpected(exc: BaseException) -> str:
    """An error certsoar did not foresee, as a run records it: its type names the bug."""
    return f"unexpected {type(exc).__name__}: {exc}"


def _blocks_around(steps: list[Step], step: Step) -> list[Step]:
    """The parallel blocks that contain ``step``, outermost first; empty for a top-level step."""
    for candidate in steps:
        if candidate.id == step.id:
            return []
        if candidate.parallel and step in candidate.walk():
            return [candidate, *_blocks_around(candidate.parallel, step)]
    return []
