"""The Python API: what the CLI (and a SOAR that embeds Python) calls."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from certsoar import audit
from certsoar.alert import CertificateAlert
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.errors import ApprovalError, RunError
from certsoar.playbook import Playbook, find_playbook, parse_playbook
from certsoar.runner import Runner
from certsoar.runview import run_view
from certsoar.store import GateStatus, RunStatus, RunStore, utcnow
from certsoar.validate import check_playbook


def load_checked_playbook(name_or_path: str) -> tuple[Playbook, str]:
    """Find, parse and statically check a playbook; returns it with its YAML text."""
    path = find_playbook(name_or_path)
    text = path.read_text(encoding="utf-8")
    return _checked(text, str(path)), text


@lru_cache(maxsize=32)
def _checked(text: str, file: str) -> Playbook:
    """Parse and check once per text: the result is immutable (frozen models)."""
    playbook, raw = parse_playbook(text, file)
    problems = check_playbook(playbook, raw, file)
    if problems:
        raise problems[0]
    return playbook


def open_store(config: Config, *, read_only: bool = False) -> RunStore:
    return RunStore.in_state_dir(config.state_dir, read_only=read_only, audit_key=audit.key_for(config))


async def run_playbook(
    config: Config,
    playbook: str,
    alert: CertificateAlert,
    *,
    dry_run: bool = False,
    requester: str | None = None,
    trigger: str = "alert",
    connections: Connections | None = None,
) -> dict[str, Any]:
    """Run a playbook for an alert and return the run object. A dry run writes nothing anywhere."""
    book, text = load_checked_playbook(playbook)
    with open_store(config, read_only=dry_run) as store:
        runner = Runner(config, store, dry_run=dry_run, connections=connections or Connections(config, store))
        runner.connections.validate()
        run_id = await runner.start(book, alert, trigger=trigger, requester=requester, definition=text)
        return run_view(runner.journal, run_id)


def _playbook_of(store: RunStore, run_id: str) -> Playbook:
    run = store.get_run(run_id)
    if not run.definition:
        raise RunError(f"run {run_id} has no playbook definition to resume from")
    return _checked(run.definition, f"<{run.playbook} as of run {run_id}>")


async def decide(
    config: Config,
    run_id: str,
    *,
    analyst: str,
    decision: str,
    comment: str | None = None,
    via: str = "cli",
    credential: str | None = None,
    connections: Connections | None = None,
) -> dict[str, Any]:
    """Approve or deny a waiting run; the run resumes in this process when the gate is decided. ``via`` (cli,
    api, page, slack) and ``credential`` (which token, session or Slack user; never a secret) go into the
    audit record of the decision."""
    if decision not in (GateStatus.APPROVED, GateStatus.DENIED):
        raise ApprovalError(f"unknown decision {decision!r}")
    with open_store(config) as store:
        runner = Runner(config, store, connections=connections or Connections(config, store))
        await runner.decide(
            _playbook_of(store, run_id),
            run_id,
            analyst=analyst,
            decision=GateStatus(decision),
            comment=comment,
            via=via,
            credential=credential,
        )
        return run_view(store, run_id)


def audit_refused_decision(
    config: Config, run_id: str, *, via: str, credential: str | None, analyst: str | None, reason: str
) -> None:
    """Record a decision that was refused (unknown user, role, four eyes, expired, already decided, no such run)
    in the audit log. A run id that names no run is kept in the record's data, not as its run."""
    with open_store(config) as store:
        try:
            store.get_run(run_id)
            known: str | None = run_id
        except RunError:
            known = None
        store.audit(
            known,
            "approval.refused",
            {"run": run_id, "via": via, "credential": credential, "analyst": analyst, "reason": reason},
        )


async def resume(config: Config, run_id: str, *, connections: Connections | None = None) -> dict[str, Any]:
    """Carry on a run that was cut short (a crash), retry one that failed (from the failed step), or end
    one whose approval expired. RunBusy while another live executor has the run."""
    with open_store(config) as store:
        runner = Runner(config, store, connections=connections or Connections(config, store))
        playbook = _playbook_of(store, run_id)
        status = store.get_run(run_id).status
        if status in (RunStatus.RUNNING, RunStatus.FAILED):
            await runner.resume(playbook, run_id)
        elif status == RunStatus.WAITING_APPROVAL:
            await runner.expire_due(playbook, run_id)
        return run_view(store, run_id)


async def expire_due_runs(config: Config, *, connections: Connections | None = None) -> list[dict[str, Any]]:
    """End every run whose approval gate has expired (for a scheduler); returns those runs."""
    with open_store(config) as store:
        runner = Runner(config, store, connections=connections or Connections(config, store))
        ended = []
        for run_id in store.expired_gates(utcnow()):
            if await runner.expire_due(_playbook_of(store, run_id), run_id):
                ended.append(run_view(store, run_id))
        return ended


@dataclass(frozen=True)
class AuditTrail:
    """A verified audit log: what was checked, against which key and anchor, and the records asked for."""

    chain: audit.ChainStatus
    key_source: str
    anchor: Path | None
    records: list[dict[str, Any]]


def audit_trail(config: Config, run_id: str | None = None) -> AuditTrail:
    """Verify the whole chain (AuditError at the first break) and return it with the records of one run
    (or all)."""
    with open_store(config, read_only=True) as store:
        chain = store.check_audit()
        if run_id is not None:
            store.get_run(run_id)
        return AuditTrail(
            chain=chain,
            key_source=store.audit_key_source,
            anchor=store.audit_anchor,
            records=store.audit_records(run_id),
        )


def show_run(config: Config, run_id: str) -> dict[str, Any]:
    with open_store(config, read_only=True) as store:
        return run_view(store, run_id)


def list_runs(config: Config, limit: int = 100, *, status: str | None = None) -> list[dict[str, Any]]:
    """The newest runs first; only those with ``status`` when it is given."""
    with open_store(config, read_only=True) as store:
        return store.list_runs(limit, status=status)


async def plan_run(config: Config, run_id: str, *, connections: Connections | None = None) -> dict[str, Any]:
    """What the run would do if its gate were approved: the same playbook (as the run recorded it) run as a
    dry run for the run's alert. Reads the targets, writes nothing; returns the dry run's run object."""
    with open_store(config, read_only=True) as store:
        run = store.get_run(run_id)
        playbook = _playbook_of(store, run_id)
        runner = Runner(config, store, dry_run=True, connections=connections or Connections(config, store))
        runner.connections.validate()
        plan_id = await runner.start(
            playbook,
            CertificateAlert.model_validate(run.alert),
            trigger=run.trigger,
            requester=run.requester,
            definition=run.definition,
        )
        return run_view(runner.journal, plan_id)


def audit_event(config: Config, event: str, data: dict[str, Any], run_id: str | None = None) -> None:
    """Append one record to the audit log (a refused login, a refused decision): never a secret in ``data``."""
    with open_store(config) as store:
        store.audit(run_id, event, data)
