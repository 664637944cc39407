"""What a run promises beyond its steps: one executor (the lease), structured parallel blocks, no
"completed" over an unverified effect, approval enforced at run time, four eyes by default."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from datetime import timedelta
from pathlib import Path

import engine_fakes as fk
import pytest

import certsoar.runner as runner_module
import certsoar.store as store_module
from certsoar.errors import ApprovalError, RunBusy
from certsoar.playbook import parse_playbook
from certsoar.runner import Runner
from certsoar.store import RunStore, utcnow
from certsoar.templating import Templates


def book(steps_yaml: str) -> object:
    return parse_playbook(f"id: t\ntrigger: {{alert: certificate}}\nsteps:\n{steps_yaml}")[0]


@pytest.fixture
def env(tmp_path: Path):
    fk.CALLS.clear()
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "request.md.j2").write_text("# Approve run {{ run.id }}\n")
    config = fk.make_config(tmp_path)
    store = RunStore.in_state_dir(config.state_dir)
    fakes = {
        "ca": fk.FakeCa({"A1B"}),
        "firewall": fk.FakeFirewall(),
        "proxy": fk.FakeProxy(),
        "notify": fk.FakeNotifier(),
    }

    def runner(**override: object) -> Runner:
        return Runner(
            config,
            store,
            connections=fk.connections(config, store, **{**fakes, **override}),
            templates=Templates([tmp_path / "tpl"]),
        )

    yield runner, store, fakes
    store.close()


def audit_events(store: RunStore, run_id: str) -> list[str]:
    return [r["event"] for r in store.audit_records(run_id)]


async def executing(store: RunStore) -> str:
    """The id of the run another task has started executing (once its lease is taken)."""
    for _ in range(500):
        runs = store.list_runs()
        if runs and store.lease(runs[0]["id"]) is not None:
            return str(runs[0]["id"])
        await asyncio.sleep(0.01)
    raise AssertionError("the run never started")


# the lease -------------------------------------------------------------------------------------

SLOW = """
  - {id: slow, action: test.sleep_then_count, with: {value: %s}}
  - {id: after, action: test.echo, with: {value: 1}}
"""


async def test_a_run_held_by_a_live_executor_is_refused_to_a_second_one(env) -> None:
    runner, store, _ = env
    pb = book(SLOW % 1)
    first = asyncio.create_task(runner().start(pb, fk.make_alert()))
    run_id = await executing(store)
    with pytest.raises(RunBusy, match=f"run {run_id} is being executed by {socket.gethostname()}:"):
        await runner().resume(pb, run_id)
    # the same alert again returns the run without executing it a second time
    assert await runner().start(pb, fk.make_alert()) == run_id
    assert await first == run_id
    assert store.get_run(run_id).status == "completed"
    assert fk.CALLS == {"slow": 1, "after": 1}
    assert store.lease(run_id) is None


async def test_the_lease_is_renewed_while_the_run_executes(env, monkeypatch: pytest.MonkeyPatch) -> None:
    runner, store, _ = env
    monkeypatch.setattr(store_module, "LEASE_SECONDS", 0.5)
    monkeypatch.setattr(runner_module, "RENEW_SECONDS", 0.05)
    pb = book(SLOW % 2.5)
    first = asyncio.create_task(runner().start(pb, fk.make_alert()))
    run_id = await executing(store)
    for _ in range(4):  # well past the 0.5 s lease the executor took first
        await asyncio.sleep(0.45)
        with pytest.raises(RunBusy):
            await runner().resume(pb, run_id)
    await first
    assert fk.CALLS == {"slow": 1, "after": 1}
    assert store.get_run(run_id).status == "completed"


async def test_an_executor_that_lost_its_lease_stops_and_writes_no_status(env, monkeypatch) -> None:
    runner, store, _ = env
    monkeypatch.setattr(runner_module, "RENEW_SECONDS", 0.05)
    pb = book(SLOW % 3)
    first = asyncio.create_task(runner().start(pb, fk.make_alert()))
    run_id = await executing(store)
    later = (utcnow() + timedelta(minutes=5)).isoformat()
    store.db.execute("UPDATE run_leases SET owner='elsewhere:1:x', expires=? WHERE run_id=?", (later, run_id))
    with pytest.raises(RunBusy, match="lost the run's lease"):
        await first
    assert fk.CALLS == {}
    assert store.get_run(run_id).status == "running"
    assert "run.status" not in audit_events(store, run_id)[1:]


async def test_an_executor_paused_past_its_lease_journals_nothing_more(env, monkeypatch) -> None:
    runner, store, _ = env
    monkeypatch.setattr(runner_module, "RENEW_SECONDS", 100)  # as if the process had been stopped
    pb = book(SLOW % 0.5)
    first = asyncio.create_task(runner().start(pb, fk.make_alert()))
    run_id = await executing(store)
    later = (utcnow() + timedelta(minutes=5)).isoformat()
    store.db.execute("UPDATE run_leases SET owner='elsewhere:1:x', expires=? WHERE run_id=?", (later, run_id))
    with pytest.raises(RunBusy, match="no longer holds the run's lease; elsewhere:1:x does"):
        await first
    assert fk.CALLS == {"slow": 1}  # its step ran, but neither it nor anything after it is journaled
    assert store.steps(run_id) == [] and store.get_run(run_id).status == "running"


async def test_a_crashed_or_expired_executor_leaves_the_run_resumable(env) -> None:
    runner, store, _ = env
    pb = book(SLOW % 0)
    run_id, _ = store.create_run(
        playbook="t", alert_id="x", trigger="alert", alert=fk.make_alert("x").model_dump(mode="json")
    )
    soon = (utcnow() + timedelta(minutes=5)).isoformat()
    past = (utcnow() - timedelta(seconds=1)).isoformat()
    gone = subprocess.Popen(["true"])
    gone.wait()
    # another host's live lease: refused; expired: taken over
    store.db.execute("INSERT INTO run_leases VALUES (?, 'other-host:1:x', ?)", (run_id, soon))
    with pytest.raises(RunBusy, match="other-host:1:x"):
        await runner().resume(pb, run_id)
    store.db.execute("UPDATE run_leases SET expires=? WHERE run_id=?", (past, run_id))
    await runner().resume(pb, run_id)
    assert store.get_run(run_id).status == "completed" and fk.CALLS == {"slow": 1, "after": 1}
    # a process of this host that no longer exists: taken over at once
    store.update_run(run_id, status="failed")
    store.db.execute("DELETE FROM steps WHERE run_id=? AND step_id='after'", (run_id,))
    store.db.execute("INSERT INTO run_leases VALUES (?, ?, ?)", (run_id, f"{socket.gethostname()}:{gone.pid}:x", soon))
    await runner().resume(pb, run_id)
    assert store.get_run(run_id).status == "completed" and fk.CALLS == {"slow": 1, "after": 2}


# one decision per gate --------------------------------------------------------------------------

GATE = """
  - id: gate
    approval: {roles: [soc-tier2], required: 1, expires: 1h%s}
  - id: contain
    when: "{{ steps.gate.approved }}"
    parallel:
      - {id: revoke, action: ca.revoke, with: {serial: "0a1b", expect: {sha1: "{{ alert.sha1 }}"}}}
"""


async def test_the_loser_of_two_decisions_is_told_who_decided_what(env) -> None:
    runner, store, fakes = env
    pb = book(GATE % "")
    run_id = await runner().start(pb, fk.make_alert())
    await runner().decide(pb, run_id, analyst="bob", decision="denied")
    with pytest.raises(
        ApprovalError,
        match=f"run {run_id} is denied, not waiting for approval: gate gate is denied "
        r"\(denied by bob\)",
    ):
        await runner().decide(pb, run_id, analyst="alice", decision="approved")
    assert store.approval(run_id, "gate").status == "denied" and fakes["ca"].revoke_calls == 0


async def test_four_eyes_is_the_default_and_a_run_without_requester_may_be_approved(env) -> None:
    runner, store, fakes = env
    pb = book(GATE % "")
    own = await runner().start(pb, fk.make_alert("own"), requester="alice")
    with pytest.raises(ApprovalError, match="alice started run"):
        await runner().decide(pb, own, analyst="alice", decision="approved")
    assert store.get_run(own).status == "waiting_approval" and fakes["ca"].revoke_calls == 0
    await runner().decide(pb, own, analyst="bob", decision="approved")
    assert store.get_run(own).status == "completed"

    from_soar = await runner().start(pb, fk.make_alert("soar"))  # no --as: no requester to exclude
    await runner().decide(pb, from_soar, analyst="alice", decision="approved")
    assert store.get_run(from_soar).status == "completed"


# approval enforced at run time ----------------------------------------------------------------


@pytest.mark.parametrize("condition", ["{{ not steps.gate.approved }}", "{{ steps.gate.approved or true }}", "true"])
async def test_an_action_that_needs_approval_is_refused_without_an_approved_gate(env, condition: str) -> None:
    runner, store, fakes = env
    pb = book(f"""
  - {{id: gate, approval: {{roles: [soc-tier2], expires: 1h}}}}
  - {{id: revoke, action: ca.revoke, when: "{condition}", with: {{serial: "0a1b", expect: {{sha1: "{{{{ alert.sha1 }}}}"}}}}}}
""")
    run_id = await runner().start(pb, fk.make_alert())
    await runner().decide(pb, run_id, analyst="bob", decision="denied")
    run = store.get_run(run_id)
    assert run.status == "failed"
    assert "revoke: ca.revoke needs an approval and no approval gate its when: requires was approved" in run.error
    assert fakes["ca"].revoke_calls == 0 and fakes["ca"].revoked == {}


@pytest.mark.parametrize(
    ("contain_when", "revoke_when", "revokes"),
    [
        ("true", "{{ not steps.gate.approved }}", None),  # forced past validate: the guard requires no gate
        ("true", "{{ steps.gate.approved or steps.other.approved }}", None),
        ("{{ steps.gate.approved }}", "true", 0),  # the block is skipped
        ("{{ steps.other.approved }}", "true", 1),  # the guard names the approved gate: it runs
    ],
)
async def test_another_gates_approval_does_not_stand_in_for_the_one_the_guard_names(
    env, contain_when: str, revoke_when: str, revokes: int | None
) -> None:
    """Gate "other" is approved; gate "gate" is skipped (its when is false, so it reads approved: false and
    the run goes on). A revoke whose guard does not require an approved gate is refused at run time, the
    approval of a gate its guard does not name does not count."""
    runner, store, fakes = env
    pb = book(f"""
  - {{id: other, approval: {{roles: [soc-tier2], expires: 1h}}}}
  - {{id: gate, when: "{{{{ alert.id == 'never' }}}}", approval: {{roles: [soc-tier2], expires: 1h}}}}
  - id: contain
    when: "{contain_when}"
    parallel:
      - {{id: revoke, action: ca.revoke, when: "{revoke_when}", with: {{serial: "0a1b", expect: {{sha1: "{{{{ alert.sha1 }}}}"}}}}}}
""")
    run_id = await runner().start(pb, fk.make_alert())
    await runner().decide(pb, run_id, analyst="bob", decision="approved")
    run = store.get_run(run_id)
    if revokes is None:
        assert run.status == "failed", run
        assert "revoke: ca.revoke needs an approval and no approval gate its when: requires was approved" in run.error
        assert fakes["ca"].revoke_calls == 0 and fakes["ca"].revoked == {}
    else:
        assert run.status == "completed", run
        assert fakes["ca"].revoke_calls == revokes


async def test_an_action_that_needs_approval_and_has_no_gate_is_refused_and_a_dry_run_plans_a_gated_one(
    env, tmp_path: Path
) -> None:
    runner, store, fakes = env
    ungated = book(
        '  - {id: revoke, action: ca.revoke, on_error: continue, with: {serial: "0a1b", expect: {sha1: "{{ alert.sha1 }}"}}}\n'
    )
    run_id = await runner().start(ungated, fk.make_alert())
    assert store.get_run(run_id).status == "failed" and fakes["ca"].revoke_calls == 0

    config = fk.make_config(tmp_path)
    dry = Runner(
        config,
        store,
        dry_run=True,
        connections=fk.connections(config, store, **fakes),
        templates=Templates([tmp_path / "tpl"]),
    )
    planned = await dry.start(book(GATE % ""), fk.make_alert("dry"))
    assert dry.journal.get_run(planned).status == "completed"
    assert [e.planned for e in dry.journal.run_effects(planned)] == [True]


# structured parallel blocks ---------------------------------------------------------------------

PARALLEL = """
  - id: both
    parallel:
      - {id: fails, action: test.flaky, with: {value: 2}}
      - {id: slow, action: test.sleep_then_count, with: {value: 0.3}}
  - {id: after, action: test.echo, with: {value: 1}}
"""


async def test_a_failing_branch_cancels_its_siblings_and_journals_them(env) -> None:
    runner, store, _ = env
    pb = book(PARALLEL)
    run_id = await runner().start(pb, fk.make_alert())
    recorded_failed = len(store.audit_records(run_id))
    await asyncio.sleep(0.6)  # the slow sibling would have finished by now
    steps = {s.step_id: s for s in store.steps(run_id)}
    assert store.get_run(run_id).status == "failed"
    assert (steps["fails"].status, steps["slow"].status) == ("error", "cancelled")
    assert "slow" not in fk.CALLS and "after" not in steps
    assert len(store.audit_records(run_id)) == recorded_failed, "something ran after the run was recorded failed"
    assert audit_events(store, run_id)[-1] == "run.status"

    await runner().resume(pb, run_id)  # both branches run again, the cancelled one included
    assert store.get_run(run_id).status == "completed"
    assert fk.CALLS == {"fails": 2, "slow": 1, "after": 1}


# no "completed" over an unverified effect ----------------------------------------------------------


async def test_an_effect_that_does_not_read_back_fails_the_run_and_resume_writes_it_again(env) -> None:
    runner, store, fakes = env
    deaf = fk.FakeFirewall(deaf=True)
    pb = book(
        "  - {id: gate, approval: {roles: [soc-tier2], expires: 1h}}\n"
        '  - {id: block, action: firewall.block, when: "{{ steps.gate.approved }}",'
        ' with: {addresses: ["203.0.113.9"]}}\n'
        "  - {id: after, action: test.echo, with: {value: 1}}\n"
    )
    run_id = await runner(firewall=deaf).start(pb, fk.make_alert())
    await runner(firewall=deaf).decide(pb, run_id, analyst="bob", decision="approved")
    run = store.get_run(run_id)
    assert run.status == "failed"
    assert (
        "effect firewall:firewall:block:203.0.113.9: written to 203.0.113.9 but the read-back does not show it"
        in run.error
    ), run.error
    assert [(e.key, e.verified) for e in store.run_effects(run_id)] == [("firewall:firewall:block:203.0.113.9", False)]
    assert store.effect("firewall:firewall:block:203.0.113.9").state == "unverified"
    assert "after" not in fk.CALLS

    deaf.deaf = False  # the firewall works again: resume checks, writes again, verifies
    await runner(firewall=deaf).resume(pb, run_id)
    assert store.get_run(run_id).status == "completed"
    assert deaf.block_calls == 2 and deaf.addresses == {"203.0.113.9"}
    effect = store.run_effects(run_id)[0]
    assert effect.changed and effect.verified


async def test_a_gate_beside_the_action_in_a_parallel_block_is_not_before_it(env) -> None:
    """Forced past validate: the gate and the revoke are siblings, so the gate is not before the revoke, even
    once it is approved and its output says so; the runner refuses the revoke."""
    runner, store, fakes = env
    pb = book("""
  - id: both
    parallel:
      - {id: gate, approval: {roles: [soc-tier2], expires: 1h}}
      - {id: revoke, action: ca.revoke, when: "{{ steps.gate is defined and steps.gate.approved }}", with: {serial: "0a1b", expect: {sha1: "{{ alert.sha1 }}"}}}
""")
    run_id = await runner().start(pb, fk.make_alert())
    await runner().decide(pb, run_id, analyst="bob", decision="approved")
    assert fakes["ca"].revoke_calls == 0 and fakes["ca"].revoked == {}
    assert store.approval(run_id, "gate").status == "approved"  # the gate itself was approved


async def test_a_gate_in_an_earlier_parallel_block_is_before_the_action(env) -> None:
    """The counterpart: a gate inside an earlier block is before the revoke, which then runs."""
    runner, store, fakes = env
    pb = book("""
  - id: first
    parallel:
      - {id: gate, approval: {roles: [soc-tier2], expires: 1h}}
      - {id: note, action: test.echo, with: {value: 1}}
  - id: second
    when: "{{ steps.gate.approved }}"
    parallel:
      - {id: revoke, action: ca.revoke, when: "{{ steps.gate.approved }}", with: {serial: "0a1b", expect: {sha1: "{{ alert.sha1 }}"}}}
""")
    run_id = await runner().start(pb, fk.make_alert())
    await runner().decide(pb, run_id, analyst="bob", decision="approved")
    run = store.get_run(run_id)
    assert fakes["ca"].revoke_calls == 1 and run.status == "completed", run  # the gate of an earlier step
