"""What every SOAR integration of certsoar offers, whatever its platform: the service operations it calls
and the run fields it maps into the SOAR's own context. Descriptions are read from the manifest (the
service's OpenAPI summaries, the actions' and playbooks' descriptions), so an export cannot drift from
the code it talks to."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from certsoar.errors import ExportError
from certsoar.escaping import visible


@dataclass(frozen=True)
class Operation:
    """One service call a SOAR integration makes, with a token of ``scope``."""

    name: str
    method: str
    path: str
    scope: str | None
    description: str


# name -> (method, path) on `certsoar serve`. test_connectivity lists one run: it proves both that the
# service answers and that the token is good (healthz needs no token).
_OPERATIONS: tuple[tuple[str, str, str], ...] = (
    ("test_connectivity", "GET", "/v1/runs"),
    ("submit_alert", "POST", "/v1/alerts"),
    ("get_run", "GET", "/v1/runs/{run_id}"),
    ("list_runs", "GET", "/v1/runs"),
    ("approve", "POST", "/v1/runs/{run_id}/approve"),
    ("deny", "POST", "/v1/runs/{run_id}/deny"),
    ("release", "POST", "/v1/runs/{run_id}/release"),
)

_CONNECTIVITY = "Check that the certsoar service answers and accepts the token (lists one run)."


def operations(manifest: dict[str, Any]) -> list[Operation]:
    """The operations every export offers, described by the service's own endpoint summaries."""
    endpoints = {(e["method"], e["path"]): e for e in manifest.get("service", [])}
    out = []
    for name, method, path in _OPERATIONS:
        endpoint = endpoints.get((method, path))
        if endpoint is None:
            raise ExportError(f"the manifest has no service endpoint {method} {path}: regenerate it")
        description = _CONNECTIVITY if name == "test_connectivity" else endpoint["summary"]
        out.append(Operation(name, method, path, endpoint["scope"], description))
    return out


@dataclass(frozen=True)
class RunField:
    """A field of the run object (``GET /v1/runs/{id}``) that an export maps into its SOAR's context."""

    path: str
    type: str
    description: str


RUN_FIELDS: tuple[RunField, ...] = (
    RunField("id", "string", "The run's id."),
    RunField("playbook", "string", "The playbook the run executes."),
    RunField("alert_id", "string", "The alert's own id (a second alert with it returns this run)."),
    RunField("status", "string", "queued, running, waiting_approval, completed, failed, denied or expired."),
    RunField("created", "date", "When the run was created (ISO 8601, UTC)."),
    RunField("updated", "date", "When the run last changed (ISO 8601, UTC)."),
    RunField("error", "string", "Why the run failed, when it did."),
    RunField("verdict.escalate", "boolean", "At least one escalation rule fired."),
    RunField("verdict.contain", "boolean", "A fired rule recommends containment."),
    RunField(
        "verdict.severity", "string", "Highest severity among the fired rules: none, low, medium, high, critical."
    ),
    RunField("verdict.reasons", "unknown", "Every rule that fired, with its reason."),
    RunField("approval.status", "string", "The approval gate: pending, approved, denied or expired."),
    RunField("approval.expires", "date", "When the pending approval expires."),
    RunField("approval.roles", "unknown", "The roles that may decide the gate."),
    RunField("effects", "unknown", "What the run changed (revoked, blocked, ticketed), each with verified true/false."),
    RunField("ticket.id", "string", "The case's ticket."),
    RunField("ticket.status", "string", "The ticket's state (open, contained, partially-contained, released, closed)."),
)


def run_field(run: dict[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` of a run object, None where any part is missing."""
    value: Any = run
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def markdown_cell(text: object) -> str:
    """``text`` as the content of one Markdown table cell, whatever it holds: one line (every run of white space,
    newlines included, becomes one space; a hidden character such as U+202E is shown), a backslash or a pipe
    escaped so that it cannot end the cell, and ``<`` as ``&lt;`` so that it cannot open raw HTML (a ``>`` in a
    row opens nothing).
    Backticks and emphasis stay (unlike ``escaping.markdown``): the descriptions show code, and a code span cannot
    reach past its cell."""
    line = visible(" ".join(str(text).split()))
    return line.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], *, spaced_rule: bool = True) -> list[str]:
    """The lines of a Markdown table, every cell through ``markdown_cell``. ``spaced_rule`` writes the rule under
    the header as ``| --- |`` (else ``|---|``, as the StackStorm README has it)."""
    width = len(header)
    rule = "| " + " | ".join(["---"] * width) + " |" if spaced_rule else "|" + "|".join(["---"] * width) + "|"
    lines = [_markdown_row(header), rule]
    for row in rows:
        if len(row) != width:
            raise ValueError(f"a table row of {len(row)} cells under a header of {width}")
        lines.append(_markdown_row(row))
    return lines


def _markdown_row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(markdown_cell(cell) for cell in cells) + " |"
