"""Claims in the run store: a finding belongs to one sweep run; the findings of a run that failed or whose approval
expired pass on, and a dry run sees the same as a claim would."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from certsoar.store import RunStatus, RunStore, utcnow


def _run(store: RunStore, alert_id: str) -> str:
    run_id, _ = store.create_run(playbook="revocation-sweep", alert_id=alert_id, trigger="schedule", alert={})
    return run_id


def test_one_run_holds_a_claim_until_it_fails(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite3") as store:
        first, second, third = _run(store, "a"), _run(store, "b"), _run(store, "c")
        key = "ca:openssl-ca:violation:1002"
        assert store.claim_effect(key, action="ca.find_violations", target="1002", run_id=first) == first
        assert store.claim_effect(key, action="ca.find_violations", target="1002", run_id=second) == first
        store.update_run(first, status=RunStatus.FAILED, error="the CA could not be read")
        assert store.claim_effect(key, action="ca.find_violations", target="1002", run_id=second) == second
        assert store.claim_effect(key, action="ca.find_violations", target="1002", run_id=third) == second
        store.update_run(second, status=RunStatus.COMPLETED)
        assert store.claim_effect(key, action="ca.find_violations", target="1002", run_id=third) == second


@pytest.mark.parametrize(
    ("status", "passes"),
    [
        (RunStatus.FAILED, True),
        (RunStatus.EXPIRED, True),  # nobody decided: the next sweep asks again
        (RunStatus.DENIED, False),  # a decision: not asked again
        (RunStatus.COMPLETED, False),
        (RunStatus.WAITING_APPROVAL, False),
        (RunStatus.RUNNING, False),
    ],
)
def test_a_claim_passes_on_only_from_a_failed_or_expired_run_and_a_dry_run_sees_the_same(
    tmp_path: Path, status: RunStatus, passes: bool
) -> None:
    with RunStore(tmp_path / "runs.sqlite3") as store:
        holder, later = _run(store, "a"), _run(store, "b")
        key = "ca:openssl-ca:violation:1002"
        store.claim_effect(key, action="ca.find_violations", target="1002", run_id=holder)
        store.update_run(holder, status=status)
        assert store.claims_passed_on("ca.find_violations", "ca:openssl-ca:violation:") == (["1002"] if passes else [])
        assert store.claims_passed_on("ca.find_violations", "ca:other:violation:") == []
        assert store.claim_passes(key, later) is passes  # what a dry run reads
        assert (store.claim_effect(key, action="ca.find_violations", target="1002", run_id=later) == later) is passes


def test_effects_done_since_counts_one_action_after_a_time(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite3") as store:
        run = _run(store, "a")
        for serial in ("1", "2"):
            store.effect_intent(f"k{serial}", action="ca.auto_revoke", target=serial, run_id=run)
            store.effect_done(
                f"k{serial}", action="ca.auto_revoke", target=serial, run_id=run, verified=True, evidence={}
            )
        store.effect_intent("k3", action="ca.auto_revoke", target="3", run_id=run)  # intent only: not done
        store.effect_intent("k4", action="ca.revoke", target="4", run_id=run)
        store.effect_done("k4", action="ca.revoke", target="4", run_id=run, verified=True, evidence={})
        assert store.effects_done_since("ca.auto_revoke", utcnow() - timedelta(minutes=1)) == 2
        assert store.effects_done_since("ca.auto_revoke", utcnow() + timedelta(minutes=1)) == 0
