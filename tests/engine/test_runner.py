"""The runner: conditions, parallel, for_each, retry, timeouts, on_error, journal replay."""

from __future__ import annotations

import asyncio
from pathlib import Path

import engine_fakes as fk
import pytest

from certsoar.playbook import parse_playbook
from certsoar.runner import Runner
from certsoar.store import RunStatus, RunStore, StepStatus


def book(steps_yaml: str, extra: str = "") -> object:
    text = f"id: t\ntrigger: {{alert: certificate}}\n{extra}steps:\n{steps_yaml}"
    return parse_playbook(text)[0]


@pytest.fixture
def env(tmp_path: Path):
    fk.CALLS.clear()
    config = fk.make_config(tmp_path)
    store = RunStore.in_state_dir(config.state_dir)
    notifier = fk.FakeNotifier()
    runner = Runner(config, store, connections=fk.connections(config, store, notify=notifier))
    yield runner, store, notifier
    store.close()


async def test_when_false_skips_and_later_steps_see_it(env) -> None:
    runner, store, _ = env
    pb = book("""
  - {id: a, action: test.echo, with: {value: 5}}
  - {id: b, action: test.echo, when: "{{ steps.a.value > 10 }}", with: {value: never}}
  - {id: c, action: test.echo, with: {value: "{{ steps.b.skipped }}"}}
""")
    run_id = await runner.start(pb, fk.make_alert())
    steps = {s.step_id: s for s in store.steps(run_id)}
    assert steps["b"].status is StepStatus.SKIPPED and steps["a"].status is StepStatus.COMPLETED  # typed rows
    assert steps["c"].output == {"value": True}
    assert "b" not in fk.CALLS
    assert store.get_run(run_id).status is RunStatus.COMPLETED


async def test_native_values_flow_between_steps(env) -> None:
    runner, store, _ = env
    pb = book("""
  - {id: a, action: test.echo, with: {value: [1, 2, 3]}}
  - {id: b, action: test.echo, with: {value: "{{ steps.a.value | sum }}"}}
  - {id: c, action: test.echo, with: {value: "total {{ steps.b.value }}"}}
""")
    run_id = await runner.start(pb, fk.make_alert())
    out = {s.step_id: s.output["value"] for s in store.steps(run_id)}
    assert out == {"a": [1, 2, 3], "b": 6, "c": "total 6"}


async def test_parallel_children_run_concurrently(env) -> None:
    runner, store, _ = env
    fk.EVENTS["go"] = asyncio.Event()
    pb = book("""
  - id: both
    parallel:
      - {id: waiter, action: test.wait_for, with: {value: go}}
      - {id: setter, action: test.set, with: {value: go}}
  - {id: after, action: test.echo, with: {value: "{{ steps.waiter.value }}/{{ steps.both.setter.value }}"}}
""")
    run_id = await runner.start(pb, fk.make_alert())
    assert store.get_run(run_id).status == "completed"
    assert store.steps(run_id)[-1].output == {"value": "saw go/set go"}


async def test_for_each_collects_outputs(env) -> None:
    runner, store, _ = env
    pb = book("""
  - {id: each, action: test.echo, for_each: "{{ [1, 2, 3] }}", with: {value: "{{ item * 10 }}"}}
""")
    run_id = await runner.start(pb, fk.make_alert())
    assert store.steps(run_id)[0].output == [{"value": 10}, {"value": 20}, {"value": 30}]


async def test_retry_retries_unavailable_until_success(env) -> None:
    runner, store, _ = env
    pb = book("""
  - {id: f, action: test.flaky, retry: {attempts: 3, delay: 0s}, with: {value: 3}}
""")
    run_id = await runner.start(pb, fk.make_alert())
    step = store.steps(run_id)[0]
    assert (step.status, step.attempts, fk.CALLS["f"]) == ("completed", 3, 3)


async def test_retry_gives_up_after_attempts(env) -> None:
    runner, store, _ = env
    pb = book("""
  - {id: f, action: test.flaky, retry: {attempts: 2, delay: 0s}, with: {value: 5}}
""")
    run_id = await runner.start(pb, fk.make_alert())
    run = store.get_run(run_id)
    assert run.status == "failed" and "try again" in run.error
    assert fk.CALLS["f"] == 2


async def test_rejection_is_not_retried(env) -> None:
    runner, store, _ = env
    pb = book("""
  - {id: r, action: test.rejected, retry: {attempts: 5, delay: 0s}}
""")
    run_id = await runner.start(pb, fk.make_alert())
    assert store.get_run(run_id).status == "failed"
    assert fk.CALLS["r"] == 1


async def test_timeout_fails_the_step_and_on_error_continue_carries_on(env) -> None:
    runner, store, _ = env
    pb = book("""
  - {id: slow, action: test.sleep, timeout: 0.05s, on_error: continue, with: {value: 5}}
  - {id: next, action: test.echo, with: {value: "{{ steps.slow.failed }}"}}
""")
    run_id = await runner.start(pb, fk.make_alert())
    steps = {s.step_id: s for s in store.steps(run_id)}
    assert steps["slow"].status == "failed" and "timed out" in steps["slow"].error
    assert steps["next"].output == {"value": True}
    assert store.get_run(run_id).status == "completed"


async def test_bad_expression_at_run_time_fails_the_run_with_the_step_named(env) -> None:
    runner, store, _ = env
    pb = book("""
  - {id: a, action: test.echo, with: {value: "{{ alert.no_such_field }}"}}
""")
    run_id = await runner.start(pb, fk.make_alert())
    run = store.get_run(run_id)
    assert run.status == "failed"
    assert "no_such_field" in run.error


async def test_same_alert_returns_the_existing_run_without_rerunning(env) -> None:
    runner, store, _ = env
    pb = book("  - {id: a, action: test.echo, with: {value: 1}}\n")
    first = await runner.start(pb, fk.make_alert("same"))
    second = await runner.start(pb, fk.make_alert("same"))
    assert first == second
    assert fk.CALLS["a"] == 1


async def test_resume_replays_the_journal_and_runs_only_unfinished_steps(env) -> None:
    runner, store, _ = env
    pb = book("""
  - {id: a, action: test.echo, with: {value: 1}}
  - {id: b, action: test.echo, with: {value: "{{ steps.a.value + 1 }}"}}
""")
    run_id = await runner.start(pb, fk.make_alert())
    # forget step b as if the process died before journaling it
    store.db.execute("DELETE FROM steps WHERE run_id=? AND step_id='b'", (run_id,))
    store.update_run(run_id, status="running")
    await runner.resume(pb, run_id)
    assert fk.CALLS == {"a": 1, "b": 2}
    assert store.steps(run_id)[-1].output == {"value": 2}


async def test_audit_chain_covers_the_run_and_detects_tampering(env) -> None:
    runner, store, _ = env
    pb = book("  - {id: a, action: test.echo, with: {value: 1}}\n")
    run_id = await runner.start(pb, fk.make_alert())
    events = [r["event"] for r in store.audit_records(run_id)]
    assert events[0] == "run.created" and "step.completed" in events
    assert store.verify_audit() == len(store.audit_records())
    store.db.execute('UPDATE audit SET data=\'{"step":"forged"}\' WHERE seq=2')
    with pytest.raises(Exception, match="audit chain broken at record 2"):
        store.verify_audit()


async def test_a_failed_run_resumes_at_the_failed_step(env) -> None:
    runner, store, _ = env
    pb = book("""
  - {id: a, action: test.echo, with: {value: 1}}
  - {id: f, action: test.flaky, with: {value: 2}}
  - {id: c, action: test.echo, with: {value: "{{ steps.f.value }}"}}
""")
    run_id = await runner.start(pb, fk.make_alert())
    assert store.get_run(run_id).status == "failed"
    assert {s.step_id: s.status for s in store.steps(run_id)} == {"a": "completed", "f": "error"}
    await runner.resume(pb, run_id)
    assert store.get_run(run_id).status == "completed"
    assert fk.CALLS == {"a": 1, "f": 2, "c": 1}
    assert store.steps(run_id)[-1].output == {"value": 2}


async def test_an_unexpected_exception_in_an_action_ends_the_run_failed_with_the_error(env) -> None:
    runner, store, _ = env
    pb = book("""
  - {id: a, action: test.echo, with: {value: 1}}
  - {id: bug, action: test.buggy, on_error: continue, with: {value: 7}}
  - {id: never, action: test.echo, with: {value: 2}}
""")
    run_id = await runner.start(pb, fk.make_alert())
    run = store.get_run(run_id)
    assert run.status == "failed" and "unexpected KeyError" in run.error and "no such thing 7" in run.error
    steps = {s.step_id: s for s in store.steps(run_id)}
    assert steps["bug"].status == "error" and "unexpected KeyError" in steps["bug"].error
    assert "never" not in steps
    assert store.lease(run_id) is None  # released: another executor may resume it


async def test_an_unexpected_exception_in_a_parallel_branch_ends_the_run_failed(env) -> None:
    runner, store, _ = env
    pb = book("""
  - id: p
    parallel:
      - {id: slow, action: test.sleep_then_count, with: {value: 5}}
      - {id: bug, action: test.buggy, with: {value: 8}}
""")
    run_id = await asyncio.wait_for(runner.start(pb, fk.make_alert()), 3)
    run = store.get_run(run_id)
    assert run.status == "failed" and "unexpected KeyError" in run.error
    assert {s.step_id: s.status for s in store.steps(run_id)} == {"bug": "error", "slow": "cancelled"}
