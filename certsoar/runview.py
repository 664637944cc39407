"""The run object that ``--json`` prints and the SOAR reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from functools import lru_cache
from typing import Any

import yaml

from certsoar import yamlsafe
from certsoar.ledger import release_marker
from certsoar.runwarnings import run_warnings
from certsoar.store import RunStore, StepRow, StepStatus

VERDICT_ACTION = "escalation.evaluate"
FACTS_ACTION = "certificate.analyze"
TICKET_ACTIONS = ("ticket.open", "ticket.comment", "ticket.close")
"""Steps whose output carries the case's ticket; the last one holds its latest status and comments."""


def run_view(store: RunStore, run_id: str) -> dict[str, Any]:
    """The run object, read in one snapshot of the store and checked against the audit log."""
    with store.snapshot():
        return _run_view(store, run_id)


def _run_view(store: RunStore, run_id: str) -> dict[str, Any]:
    run = store.get_run(run_id)
    steps = sorted(store.steps(run_id), key=_playbook_order(run.definition or ""))
    verdict = None
    facts = None
    ticket = None
    notifications = []
    for s in steps:
        out = s.output if isinstance(s.output, dict) else {}
        if s.action == VERDICT_ACTION and s.status == StepStatus.COMPLETED:
            verdict = out
        if s.action == FACTS_ACTION and s.status == StepStatus.COMPLETED:
            facts = out
        if s.action in TICKET_ACTIONS and s.status == StepStatus.COMPLETED and out.get("ticket"):
            ticket = out["ticket"]
        if s.action == "notify.send" and s.status == StepStatus.COMPLETED:
            notifications.append(
                {"step": s.step_id, **{k: out.get(k) for k in ("template", "subject", "body", "sent_to")}}
            )
    gate = store.approval(run_id, pending_only=False)
    lease = store.lease(run_id)
    if gate:
        store.check_approval(run_id, gate)
    effects = store.run_effects(run_id)
    store.check_run(run, effects)
    released = store.effect(release_marker(run_id))
    return {
        "id": run.id,
        "playbook": run.playbook,
        "trigger": run.trigger,
        "alert_id": run.alert_id,
        "status": str(run.status),
        "dry_run": run.dry_run,
        "created": run.created,
        "updated": run.updated,
        "error": run.error,
        "executor": lease and {"owner": lease.owner, "until": lease.expires.isoformat()},
        "warnings": run_warnings(steps),
        "verdict": verdict,
        "facts": facts,
        "effects": [
            {
                "key": e.key,
                "action": e.action,
                "target": e.target,
                "changed": e.changed,
                "verified": e.verified,
                "planned": e.planned,
                "evidence": e.evidence,
            }
            for e in effects
        ],
        "steps": [
            {
                "id": s.step_id,
                "action": s.action,
                "status": s.status,
                "attempts": s.attempts,
                "started": s.started,
                "finished": s.finished,
                "error": s.error,
                "output": s.output,
            }
            for s in steps
        ],
        "ticket": ticket,
        "released_by": released.run_id if released is not None else None,
        "approval": gate
        and {
            "step_id": gate.step_id,
            "roles": gate.roles,
            "required": gate.required,
            "expires": gate.expires.isoformat(),
            "status": str(gate.status),
            "decisions": [asdict(d) for d in gate.decisions],
        },
        "notifications": notifications,
    }


@lru_cache(maxsize=32)
def _step_ids(definition: str) -> dict[str, int]:
    """Each step id of a playbook's YAML text, numbered in the order the playbook writes them."""
    order: dict[str, int] = {}

    def walk(steps: object) -> None:
        for step in steps if isinstance(steps, list) else []:
            if isinstance(step, dict) and isinstance(step.get("id"), str):
                order.setdefault(step["id"], len(order))
                walk(step.get("parallel"))

    try:
        walk((yamlsafe.safe_load(definition) or {}).get("steps"))
    except (yaml.YAMLError, AttributeError):
        return {}
    return order


def _playbook_order(definition: str) -> Callable[[StepRow], tuple[int, int]]:
    """Steps in the playbook's order, whatever order concurrent steps finished in; an approval's request
    (``<gate>.request``) just before its gate; steps the playbook does not name last, as journaled."""
    order = _step_ids(definition)

    def key(step: StepRow) -> tuple[int, int]:
        if step.step_id in order:
            return order[step.step_id], 1
        base = step.step_id.rsplit(".", 1)[0]
        return order.get(base, len(order)), 0

    return key
