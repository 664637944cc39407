"""An alert sent again with the id of a run that failed, corrected, starts a fresh run; the ledger stays the
judge of what the failed run already did. The same alert again, or any alert for a run that completed, waits
or is being executed, still returns that run."""

from __future__ import annotations

from pathlib import Path

import engine_fakes as fk
import pytest

from certsoar.playbook import parse_playbook
from certsoar.runner import Runner
from certsoar.store import RunStore

PLAYBOOK = """
id: fragile
trigger: {alert: certificate}
steps:
  - id: gate
    approval: {roles: [soc-tier2], required: 1, expires: 1h}
  - {id: block, action: firewall.block, when: "{{ steps.gate.approved }}", with: {addresses: ["{{ alert.dst_ip }}"]}}
  - {id: check, action: test.rejected, when: "{{ alert.host == 'bad' }}"}
"""


@pytest.fixture
def env(tmp_path: Path):
    config = fk.make_config(tmp_path)
    store = RunStore.in_state_dir(config.state_dir)
    firewall = fk.FakeFirewall()

    def runner() -> Runner:
        return Runner(config, store, connections=fk.connections(config, store, firewall=firewall))

    yield runner, store, firewall
    store.close()


async def test_a_corrected_alert_starts_fresh_and_the_ledger_keeps_effects_once(env) -> None:
    runner, store, firewall = env
    book = parse_playbook(PLAYBOOK)[0]
    failed = await runner().start(book, fk.make_alert("alert-7", host="bad"))
    await runner().decide(book, failed, analyst="alice", decision="approved")
    assert store.get_run(failed).status == "failed" and firewall.block_calls == 1

    # the same alert again: the failed run, as it was (`runs resume` retries it)
    assert await runner().start(book, fk.make_alert("alert-7", host="bad")) == failed

    fresh = await runner().start(book, fk.make_alert("alert-7", host="good"))
    assert fresh != failed
    assert store.get_run(fresh).status == "waiting_approval"  # a fresh run asks for its own approval
    await runner().decide(book, fresh, analyst="bob", decision="approved")
    assert store.get_run(fresh).status == "completed"
    assert firewall.block_calls == 1  # the failed run's block is done: found at the target, not made again
    [effect] = store.run_effects(fresh)
    assert effect.verified and not effect.changed

    old = store.get_run(failed)
    assert old.status == "failed" and old.alert_id is None and f"superseded by run {fresh}" in (old.error or "")
    events = {(r["run_id"], r["event"]) for r in store.audit_records()}
    assert (failed, "run.superseded") in events
    store.check_run(old, store.run_effects(failed))  # the note on its error is audited: it still verifies

    # a completed run dedupes, corrected or not
    assert await runner().start(book, fk.make_alert("alert-7", host="other")) == fresh


async def test_a_waiting_run_is_never_superseded(env) -> None:
    runner, store, _ = env
    book = parse_playbook(PLAYBOOK)[0]
    waiting = await runner().start(book, fk.make_alert("alert-8", host="bad"))
    assert await runner().start(book, fk.make_alert("alert-8", host="good")) == waiting
    assert store.get_run(waiting).status == "waiting_approval"


async def test_a_failed_run_being_resumed_is_not_superseded(env) -> None:
    runner, store, _ = env
    book = parse_playbook(PLAYBOOK)[0]
    failed = await runner().start(book, fk.make_alert("alert-9", host="bad"))
    await runner().decide(book, failed, analyst="alice", decision="approved")
    store.take_lease(failed, "another-executor@elsewhere:1")
    assert await runner().start(book, fk.make_alert("alert-9", host="good")) == failed
