"""Sweeps: scheduled playbooks (``playbooks/<kind>-sweep.yaml``) that examine a whole source at once.

What is common to every sweep lives here: the table of sweep names, the summary every sweep run records
(the output of its step ``summary``), the synthetic alert a sweep run is started with, and the progress
callback a sweep's examining step reports to. ``certsoar.api.run_sweep`` runs one.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from certsoar.alert import CertificateAlert

SWEEPS: dict[str, str] = {
    "revocation": "revocation-sweep",
    "certificates": "certificate-sweep",
    "containment": "containment-sweep",
}
"""Sweep name (``certsoar sweep NAME``, ``schedules[].sweep``) → the shipped playbook that runs it."""
SOURCES: dict[str, str] = {"revocation": "ca", "certificates": "siem"}
"""The connector kind a sweep reads (the containment sweep reads the ledger and whatever is configured)."""

SUMMARY_STEP = "summary"
"""The step whose output is a sweep run's SweepSummary."""

Progress = Callable[[int, int], None]
"""Called with (certificates examined so far, findings so far)."""

progress_callback: ContextVar[Progress | None] = ContextVar("certsoar_sweep_progress", default=None)
"""Set by whoever runs a sweep (the CLI's progress bar); a sweep's examining step calls it now and then."""

PROGRESS_EVERY = 500


def report_progress(examined: int, findings: int, *, final: bool = False) -> None:
    """Tell the caller's progress callback, every PROGRESS_EVERY items and once at the end."""
    callback = progress_callback.get()
    if callback is not None and (final or examined % PROGRESS_EVERY == 0):
        callback(examined, findings)


class SweepSummary(BaseModel):
    """What one sweep run found and did: the output of its step ``summary`` and ``certsoar sweep --json``."""

    sweep: str = Field(description="revocation, certificates or containment.")
    examined: int = Field(default=0, description="Items read from the sources.")
    violations: int = Field(default=0, description="New findings (policy violations, escalations).")
    revoked: int = Field(default=0, description="Certificates this run revoked (planned, in a dry run).")
    awaiting_approval: int = Field(default=0, description="Findings that wait for an analyst's approval.")
    skipped: int = Field(default=0, description="Items passed over: already handled, excused, revoked, expired.")
    drift: int = Field(default=0, description="Effects found no longer in place (containment).")
    errors: list[str] = Field(default_factory=list, description="Connector errors; the circuit breaker counts them.")
    watermarks: dict[str, str] = Field(
        default_factory=dict, description="Per source: how far this sweep read; recorded when the run succeeds."
    )
    notes: list[str] = Field(default_factory=list, description="What an operator should know (budget, breaker).")


def playbook_for(name: str) -> str:
    from certsoar.errors import ConfigError

    if name not in SWEEPS:
        raise ConfigError(f"unknown sweep {name!r} (sweeps: {', '.join(SWEEPS)}, all)")
    return SWEEPS[name]


def sweep_of(playbook_id: str) -> str | None:
    """The sweep whose playbook is ``playbook_id`` (None: not a sweep's)."""
    return next((name for name, book in SWEEPS.items() if book == playbook_id), None)


def sweep_alert(name: str, now: datetime, *, full: bool, watermarks: dict[str, str]) -> CertificateAlert:
    """The alert a sweep run is started with: its id names the sweep and the moment, ``raw`` carries the
    options and the watermarks the sweep reads from (recorded with the run, so a resumed run reads the same).

    Built without validation: it names no certificate (a sweep is about many), which CertificateAlert refuses
    of anything that comes in from outside; nothing outside reaches this function."""
    return CertificateAlert.model_construct(
        id=f"sweep:{name}:{now.isoformat(timespec='microseconds')}",
        time=now,
        source_format="schedule",
        event=f"sweep-{name}",
        host=None,
        src_ip=None,
        dst_ip=None,
        dst_port=None,
        sni=None,
        certificate_pem=None,
        sha256=None,
        sha1=None,
        logged_certificate=None,
        requester=None,
        ja3=None,
        ja3s=None,
        raw={"sweep": name, "full": full, "watermarks": {} if full else dict(watermarks)},
    )


def summary_of(run: dict[str, Any]) -> SweepSummary | None:
    """The SweepSummary a sweep run recorded, or None when it did not get that far."""
    for step in run.get("steps", []):
        if step.get("id") == SUMMARY_STEP and isinstance(step.get("output"), dict) and "sweep" in step["output"]:
            return SweepSummary.model_validate(step["output"])
    return None
