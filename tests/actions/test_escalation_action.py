"""escalation.evaluate: every fired rule with its rendered reason; the highest severity wins."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import pytest

from certsoar.actions.escalation import EvaluateInput, evaluate_escalation
from certsoar.context import ActionContext
from certsoar.errors import ActionError


def run_rules(rules: list[dict[str, Any]], variables: dict[str, Any]) -> Any:
    ctx = ActionContext(
        run_id="r",
        step_id="verdict",
        dry_run=False,
        now=datetime.now(timezone.utc),
        config=None,  # type: ignore[arg-type]
        connectors=None,
        ledger=None,
        templates=None,
        variables=variables,
    )  # type: ignore[arg-type]
    return asyncio.run(evaluate_escalation(EvaluateInput(rules=rules), ctx))


RULES = [
    {"id": "a", "when": "{{ steps.x.a }}", "severity": "medium", "reason": "a is {{ steps.x.a }}"},
    {"id": "b", "when": "{{ steps.x.b }}", "severity": "high", "contain": True, "reason": "b fired"},
    {
        "id": "c",
        "when": "{{ steps.x.c > 2 }}",
        "severity": "{{ 'critical' if steps.x.c > 5 else 'low' }}",
        "reason": "c={{ steps.x.c }}",
    },
]


@pytest.mark.parametrize(
    ("x", "fired", "severity", "contain"),
    [
        ({"a": False, "b": False, "c": 0}, [], "none", False),
        ({"a": True, "b": False, "c": 0}, ["a"], "medium", False),
        ({"a": True, "b": True, "c": 0}, ["a", "b"], "high", True),
        ({"a": False, "b": False, "c": 3}, ["c"], "low", False),
        ({"a": True, "b": True, "c": 9}, ["a", "b", "c"], "critical", True),
    ],
)
def test_decision_table(x: dict[str, Any], fired: list[str], severity: str, contain: bool) -> None:
    verdict = run_rules(RULES, {"steps": {"x": x}})
    assert [r.rule for r in verdict.reasons] == fired
    assert verdict.escalate is bool(fired)
    assert (verdict.severity, verdict.contain) == (severity, contain)
    assert verdict.evaluated == ["a", "b", "c"]


def test_reasons_are_rendered() -> None:
    verdict = run_rules(RULES, {"steps": {"x": {"a": "yes", "b": False, "c": 0}}})
    assert verdict.reasons[0].reason == "a is yes"


def test_a_severity_expression_giving_nonsense_fails_clearly() -> None:
    rules = [{"id": "a", "when": "{{ true }}", "severity": "{{ 'urgent' }}", "reason": "x"}]
    with pytest.raises(ActionError, match="rule a: severity 'urgent' is not one of low, medium, high, critical"):
        run_rules(rules, {})


def test_a_literal_severity_outside_the_scale_is_refused_at_load() -> None:
    with pytest.raises(ValueError, match="severity must be one of"):
        EvaluateInput(rules=[{"id": "a", "when": "{{ true }}", "severity": "urgent", "reason": "x"}])
