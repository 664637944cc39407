"""escalation.evaluate: the playbook's escalation rules, applied to what the run found."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from certsoar.context import ActionContext
from certsoar.errors import ActionError
from certsoar.expressions import evaluate, truthy
from certsoar.playbook import SEVERITIES, Rule
from certsoar.registry import action

SEVERITY_ORDER = ("none", "low", "medium", "high", "critical")


class EvaluateInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(description='Escalation rules; in a playbook: "{{ playbook.rules }}".')


class Reason(BaseModel):
    rule: str
    severity: str
    contain: bool
    reason: str


class Verdict(BaseModel):
    escalate: bool = Field(description="At least one rule fired.")
    contain: bool = Field(description="A fired rule recommends containment.")
    severity: Literal["none", "low", "medium", "high", "critical"] = Field(
        description="Highest severity among fired rules."
    )
    reasons: list[Reason] = Field(description="Every rule that fired, with its rendered reason.")
    evaluated: list[str] = Field(description="Ids of every rule evaluated, fired or not.")


@action("escalation.evaluate")
async def evaluate_escalation(inp: EvaluateInput, ctx: ActionContext) -> Verdict:
    """Evaluate each escalation rule and list every one that fired with its reason."""
    fired: list[Reason] = []
    for rule in inp.rules:
        if truthy(rule.when, ctx.variables):
            text = str(evaluate(rule.reason, ctx.variables))
            severity = str(evaluate(rule.severity, ctx.variables)).strip()
            if severity not in SEVERITIES:
                raise ActionError(f"rule {rule.id}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
            fired.append(Reason(rule=rule.id, severity=severity, contain=rule.contain, reason=text))
    severity = max((r.severity for r in fired), key=SEVERITY_ORDER.index, default="none")
    return Verdict(
        escalate=bool(fired),
        contain=any(r.contain for r in fired),
        severity=severity,  # type: ignore[arg-type]
        reasons=fired,
        evaluated=[r.id for r in inp.rules],
    )
