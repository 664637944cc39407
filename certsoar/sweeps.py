"""What every sweep shares: the summary its last step (``summary``) records, and the options of one sweep
(``--full``, a progress callback) that the entry point sets around the run for the sweep's action to read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

MAX_PROBLEMS = 50
"""Problems a summary lists by name (all are counted in ``errors``)."""

Progress = Callable[[int, int], None]
"""Called as a sweep goes with (items examined, findings so far)."""


class SweepSummary(BaseModel):
    """A sweep's result: the output of its last step, whose id is ``summary``."""

    model_config = ConfigDict(extra="forbid")

    examined: int = Field(default=0, description="Items looked at (certificates, effects).")
    violations: int = Field(default=0, description="Items found wrong (escalated certificates).")
    revoked: int = Field(default=0, description="Certificates revoked by this sweep.")
    awaiting_approval: int = Field(default=0, description="Runs this sweep left waiting for an approval.")
    skipped: int = Field(default=0, description="Items already handled (a certificate with a run already).")
    drift: int = Field(default=0, description="Effects the ledger holds done that the target no longer shows.")
    errors: int = Field(default=0, description="Items or sources that could not be handled (see problems).")
    watermarks: dict[str, str] = Field(
        default_factory=dict,
        description="How far each source was read, moved in the run store only when the sweep completes with no "
        "errors (never in a dry run).",
    )
    problems: list[str] = Field(default_factory=list, description=f"The first {MAX_PROBLEMS} errors, each named.")

    def problem(self, text: str) -> None:
        self.errors += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


@dataclass(frozen=True)
class SweepOptions:
    full: bool = False
    """Ignore the watermarks: read every source from its start."""
    progress: Progress | None = None


_OPTIONS: ContextVar[SweepOptions | None] = ContextVar("certsoar_sweep_options", default=None)


def sweep_options() -> SweepOptions:
    """The options of the sweep being run here (the defaults when a sweep run is resumed on its own)."""
    return _OPTIONS.get() or SweepOptions()


@contextmanager
def sweeping(options: SweepOptions) -> Iterator[None]:
    token = _OPTIONS.set(options)
    try:
        yield
    finally:
        _OPTIONS.reset(token)


def report(summary: SweepSummary, findings: int) -> None:
    progress = sweep_options().progress
    if progress is not None:
        progress(summary.examined, findings)
