"""Whether a run's containment may be taken back from the approval page or Slack, by whom, and what a release
cannot undo: what the page shows before the click and what both check before starting the release.

The API's release needs a token with scope ``decide``. The page and Slack have no token: their analyst asks
with the authority that decides gates, a role. An analyst may ask to release a run when they hold a role its
own approval gate accepts (who could have approved the containment may ask to take it back; a run contained
without a gate: a role of the release's gate). The release run then waits for its own approval, where four
eyes hold as for any gate (who asked may not approve). The release itself goes through ``api.release``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from certsoar import api
from certsoar.config import Config
from certsoar.ledger import CONTAINMENT_ACTIONS
from certsoar.store import RunStatus

RELEASE_PLAYBOOK = "certificate-release"
HOLD = "certificateHold"
UNSETTLED = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING_APPROVAL)


@dataclass(frozen=True)
class ReleaseState:
    """What a release of one run would meet: ``refusal`` says why none can be asked (None: it can),
    ``release`` is the release run already asked (waiting or done), ``irreversible`` what no release undoes."""

    refusal: str | None
    release: dict[str, Any] | None = None
    irreversible: list[str] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)


def _contained(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in run["effects"] if e["action"] in CONTAINMENT_ACTIONS and e["verified"] and not e["planned"]]


def _revoked_for_good(effect: dict[str, Any]) -> bool:
    return effect["action"] == "ca.revoke" and (effect["evidence"] or {}).get("reason") != HOLD


def release_state(config: Config, run: dict[str, Any]) -> ReleaseState:
    """Whether run ``run`` (a run object) can be released now, and what a release would leave in place."""
    if run["playbook"] == RELEASE_PLAYBOOK:
        return ReleaseState(f"run {run['id']} is a release itself")
    if run["dry_run"]:
        return ReleaseState(f"run {run['id']} was a dry run: it contained nothing")
    release = api.release_of(config, run["id"])
    if run["released_by"]:
        done = release if release is not None and release["id"] == run["released_by"] else None
        return ReleaseState(f"release run {run['released_by']} already took this containment back", done)
    if release is not None and release["status"] in UNSETTLED:
        return ReleaseState(f"release run {release['id']} is {release['status']}", release)
    if run["status"] == RunStatus.DENIED:
        return ReleaseState("the run was denied: nothing was contained")
    if run["status"] not in (RunStatus.COMPLETED, RunStatus.FAILED):
        return ReleaseState(f"run {run['id']} is {run['status']}: only a finished run's containment is released")
    contained = _contained(run)
    if not contained:
        return ReleaseState("nothing was contained")
    irreversible = [
        f"serial {e['target']} stays revoked ({(e['evidence'] or {}).get('reason') or 'reason unknown'}): "
        "a revocation cannot be undone; issue a new certificate if this one was legitimate"
        for e in contained
        if _revoked_for_good(e)
    ]
    holds = [e["target"] for e in contained if e["action"] == "ca.revoke" and not _revoked_for_good(e)]
    if all(_revoked_for_good(e) for e in contained):
        return ReleaseState("nothing this run contained can be undone", irreversible=irreversible)
    return ReleaseState(None, irreversible=irreversible, holds=holds)


@cache
def _release_gate_roles() -> tuple[str, ...]:
    book, _ = api.load_shipped_playbook(RELEASE_PLAYBOOK)
    return tuple(role for top in book.steps for s in top.walk() if s.approval is not None for role in s.approval.roles)


def asker_refusal(config: Config, analyst: str | None, run: dict[str, Any]) -> str | None:
    """Why ``analyst`` may not ask to release ``run``, or None when they may."""
    if analyst is None:
        return "not logged in"
    gate = run.get("approval")
    accepted = list(gate["roles"]) if gate else list(_release_gate_roles())
    roles = set(config.analysts[analyst].roles) if analyst in config.analysts else set()
    if not roles & set(accepted):
        return f"{analyst} has none of the roles that may ask for this release ({', '.join(accepted)})"
    return None
