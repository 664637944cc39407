"""The run object's warnings: every source a step could not search and every step passed over after failing."""

from __future__ import annotations

from typing import Any

from certsoar.runwarnings import run_warnings
from certsoar.store import StepRow


def step(step_id: str, status: str, output: Any, error: str | None = None) -> StepRow:
    return StepRow(
        run_id="r",
        step_id=step_id,
        action=None,
        seq=0,
        status=status,
        started="",
        finished=None,
        attempts=1,
        output=output,
        error=error,
    )


def test_warnings_are_merged_across_steps_naming_each_step_in_a_stable_order() -> None:
    journal = [
        step("traffic", "completed", {"changed": False, "warnings": ["/logs/old: does not exist"]}),
        step(
            "related",
            "completed",
            {"count": 3, "warnings": ["/logs/old: does not exist", "/logs/big.log: over max_file_bytes"]},
        ),
        step("cert", "completed", {"sha256": "ab" * 32}),
        step("summary", "completed", {"body": "..."}),
    ]
    expected = ["related, traffic: /logs/old: does not exist", "related: /logs/big.log: over max_file_bytes"]
    assert run_warnings(journal) == expected
    assert run_warnings(list(reversed(journal))) == expected  # parallel steps end in any order


def test_a_step_failed_and_passed_over_is_a_warning_and_a_retried_step_counts_as_it_ended() -> None:
    journal = [
        step("creations", "failed", {"failed": True, "error": "siem:logs unavailable"}, error="siem:logs unavailable"),
        step("related", "error", None, error="timeout"),  # the run stopped here; resumed below
        step("related", "completed", {"count": 0, "warnings": []}),
        step("approval", "skipped", {"skipped": True}),
    ]
    assert run_warnings(journal) == ["creations: failed, so what it answers is unknown: siem:logs unavailable"]


def test_a_complete_run_has_no_warnings() -> None:
    assert (
        run_warnings(
            [
                step("related", "completed", {"count": 1, "warnings": []}),
                step("fan", "completed", [{"warnings": ["x"]}]),
            ]
        )
        == []
    )
