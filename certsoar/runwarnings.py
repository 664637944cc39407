"""What a run's evidence lacks, said at the top of the run object: every source a step could not search
(the ``warnings`` of its output) and every step that failed and was passed over (``on_error: continue``),
so a verdict reached on partial evidence never looks complete."""

from __future__ import annotations

from collections.abc import Iterable

from certsoar.store import StepRow, StepStatus


def run_warnings(steps: Iterable[StepRow]) -> list[str]:
    """One line per distinct warning, naming the steps it came from; the journal's latest row of a step counts.
    Steps are taken by id, not by when they ended, so parallel steps give the same lines in the same order."""
    latest = {step.step_id: step for step in steps}
    steps_by_warning: dict[str, list[str]] = {}
    for step_id, step in sorted(latest.items()):
        output = step.output
        if step.status == StepStatus.FAILED:
            found = [f"failed, so what it answers is unknown: {step.error}"]
        elif isinstance(output, dict) and isinstance(output.get("warnings"), list):
            found = [str(w) for w in output["warnings"]]
        else:
            found = []
        for warning in found:
            steps_by_warning.setdefault(warning, []).append(step_id)
    return [f"{', '.join(step_ids)}: {warning}" for warning, step_ids in steps_by_warning.items()]
