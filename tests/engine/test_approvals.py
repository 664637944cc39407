"""Approval gates: roles, M of N, requester != approver, expiry, deny; and containment exactly once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import engine_fakes as fk
import pytest

from certsoar.errors import ApprovalError
from certsoar.playbook import parse_playbook
from certsoar.runner import Runner
from certsoar.store import RunStore, utcnow
from certsoar.templating import Templates

PLAYBOOK = """
id: gated
trigger: {alert: certificate}
steps:
  - id: gate
    approval: {roles: [soc-tier2], required: %(required)d, expires: %(expires)s, distinct_from_requester: %(distinct)s,
               template: request.md.j2}
  - id: contain
    when: "{{ steps.gate.approved }}"
    parallel:
      - {id: revoke, action: ca.revoke, with: {serial: "0a1b", expect: {sha1: "{{ alert.sha1 }}"}}}
      - {id: block, action: firewall.block, with: {addresses: ["{{ alert.dst_ip }}", "203.0.113.10"]}}
      - {id: fp, action: proxy.block_certificate, with: {sha1: "{{ alert.sha1 }}"}}
  - {id: outcome, action: notify.send, with: {template: outcome.md.j2}}
"""


def gated(required: int = 1, expires: str = "1h", distinct: bool = False):
    return parse_playbook(PLAYBOOK % {"required": required, "expires": expires, "distinct": str(distinct).lower()})[0]


@pytest.fixture
def env(tmp_path: Path):
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "request.md.j2").write_text("# Approve run {{ run.id }} for {{ alert.id | literal }}\n")
    (tmp_path / "tpl" / "outcome.md.j2").write_text("# Outcome {{ steps.gate.status }}\n")
    config = fk.make_config(tmp_path)
    store = RunStore.in_state_dir(config.state_dir)
    fakes = {
        "ca": fk.FakeCa({"A1B"}),
        "firewall": fk.FakeFirewall(),
        "proxy": fk.FakeProxy(),
        "notify": fk.FakeNotifier(),
    }

    def runner() -> Runner:
        return Runner(
            config, store, connections=fk.connections(config, store, **fakes), templates=Templates([tmp_path / "tpl"])
        )

    yield runner, store, fakes
    store.close()


async def test_run_waits_then_one_approval_contains_everything_once(env) -> None:
    runner, store, fakes = env
    pb = gated()
    run_id = await runner().start(pb, fk.make_alert())
    assert store.get_run(run_id).status == "waiting_approval"
    assert [m.subject for m in fakes["notify"].sent] == [f"Approve run {run_id} for `a-1`"]
    assert fakes["ca"].revoke_calls == 0 and not fakes["firewall"].addresses

    await runner().decide(pb, run_id, analyst="alice", decision="approved", comment="go")
    assert store.get_run(run_id).status == "completed"
    assert fakes["ca"].revoked == {"A1B": "keyCompromise"}
    assert fakes["firewall"].addresses == {"203.0.113.9", "203.0.113.10"}
    assert fakes["proxy"].fingerprints == {"a" * 40}
    effects = store.run_effects(run_id)
    assert len(effects) == 6 and all(e.changed and e.verified for e in effects)

    # a second approval, or the same alert again, changes nothing
    with pytest.raises(ApprovalError, match="not waiting"):
        await runner().decide(pb, run_id, analyst="bob", decision="approved")
    assert await runner().start(pb, fk.make_alert()) == run_id
    assert fakes["ca"].revoke_calls == 1 and fakes["firewall"].block_calls == 2
    assert len(fakes["notify"].sent) == 2


async def test_second_alert_for_same_certificate_finds_everything_done(env) -> None:
    runner, store, fakes = env
    pb = gated()
    first = await runner().start(pb, fk.make_alert("first"))
    await runner().decide(pb, first, analyst="alice", decision="approved")
    second = await runner().start(pb, fk.make_alert("second"))
    await runner().decide(pb, second, analyst="alice", decision="approved")
    assert store.get_run(second).status == "completed"
    contained = [e for e in store.run_effects(second) if not e.key.startswith("notify:")]
    assert contained and all(not e.changed and e.verified for e in contained)
    assert fakes["ca"].revoke_calls == 1 and fakes["firewall"].block_calls == 2


async def test_analyst_without_an_allowed_role_is_refused_and_run_keeps_waiting(env) -> None:
    runner, store, fakes = env
    pb = gated()
    run_id = await runner().start(pb, fk.make_alert())
    with pytest.raises(ApprovalError, match="carol has roles \\['soc-l1'\\]"):
        await runner().decide(pb, run_id, analyst="carol", decision="approved")
    with pytest.raises(ApprovalError, match="not an analyst"):
        await runner().decide(pb, run_id, analyst="mallory", decision="approved")
    assert store.get_run(run_id).status == "waiting_approval"
    assert fakes["ca"].revoke_calls == 0


async def test_m_of_n_needs_distinct_analysts(env) -> None:
    runner, store, fakes = env
    pb = gated(required=2)
    run_id = await runner().start(pb, fk.make_alert())
    await runner().decide(pb, run_id, analyst="alice", decision="approved")
    await runner().decide(pb, run_id, analyst="alice", decision="approved")  # the same analyst twice counts once
    assert store.get_run(run_id).status == "waiting_approval"
    assert fakes["ca"].revoke_calls == 0
    await runner().decide(pb, run_id, analyst="bob", decision="approved")
    assert store.get_run(run_id).status == "completed"
    assert fakes["ca"].revoke_calls == 1


@pytest.mark.parametrize(
    "alice_now",
    [None, {"roles": ["soc-l1"]}],
    ids=["removed from the config", "moved to another role"],
)
async def test_an_approval_counts_only_while_its_analyst_still_may_approve(env, tmp_path: Path, alice_now) -> None:
    runner, store, fakes = env
    pb = gated(required=2)
    run_id = await runner().start(pb, fk.make_alert())
    await runner().decide(pb, run_id, analyst="alice", decision="approved")
    config = runner().config
    analysts = {name: a for name, a in config.analysts.items() if name != "alice"}
    if alice_now is not None:
        analysts["alice"] = type(config.analysts["alice"]).model_validate(alice_now)
    reloaded = config.model_copy(update={"analysts": analysts})  # the config as edited since alice approved

    def reloaded_runner() -> Runner:
        return Runner(
            reloaded,
            store,
            connections=fk.connections(reloaded, store, **fakes),
            templates=Templates([tmp_path / "tpl"]),
        )

    await reloaded_runner().decide(pb, run_id, analyst="bob", decision="approved")
    assert store.get_run(run_id).status == "waiting_approval"  # alice's approval no longer counts: 1 of 2
    assert fakes["ca"].revoke_calls == 0
    await reloaded_runner().decide(pb, run_id, analyst="dave", decision="approved")
    assert store.get_run(run_id).status == "completed"
    assert fakes["ca"].revoke_calls == 1


async def test_requester_may_not_approve_own_run_when_the_gate_says_so(env) -> None:
    runner, store, _ = env
    pb = gated(distinct=True)
    run_id = await runner().start(pb, fk.make_alert(), requester="alice")
    with pytest.raises(ApprovalError, match="alice started run"):
        await runner().decide(pb, run_id, analyst="alice", decision="approved")
    await runner().decide(pb, run_id, analyst="bob", decision="approved")
    assert store.get_run(run_id).status == "completed"


async def test_deny_ends_the_run_denied_without_containment(env) -> None:
    runner, store, fakes = env
    pb = gated(required=2)
    run_id = await runner().start(pb, fk.make_alert())
    await runner().decide(pb, run_id, analyst="alice", decision="approved")
    await runner().decide(pb, run_id, analyst="bob", decision="denied", comment="known test server")
    run = store.get_run(run_id)
    assert run.status == "denied"
    assert fakes["ca"].revoke_calls == 0 and not fakes["firewall"].addresses
    steps = {s.step_id: s for s in store.steps(run_id)}
    assert steps["contain"].status == "skipped"
    assert steps["outcome"].output["subject"] == "Outcome denied"


async def test_expired_gate_is_not_approved_and_run_ends_expired(env) -> None:
    runner, store, fakes = env
    pb = gated(expires="1h")
    run_id = await runner().start(pb, fk.make_alert())
    past = (utcnow() - timedelta(seconds=1)).isoformat()
    store.db.execute("UPDATE approvals SET expires=? WHERE run_id=?", (past, run_id))
    with pytest.raises(ApprovalError, match="expired"):
        await runner().decide(pb, run_id, analyst="alice", decision="approved")
    assert store.get_run(run_id).status == "expired"
    assert fakes["ca"].revoke_calls == 0
    assert store.approval(run_id, "gate").status == "expired"


async def test_expire_due_ends_a_waiting_run(env) -> None:
    runner, store, fakes = env
    pb = gated(expires="1h")
    run_id = await runner().start(pb, fk.make_alert())
    assert not await runner().expire_due(pb, run_id)
    store.db.execute("UPDATE approvals SET expires=? WHERE run_id=?", ((utcnow() - timedelta(1)).isoformat(), run_id))
    assert await runner().expire_due(pb, run_id)
    assert store.get_run(run_id).status == "expired"


async def test_dry_run_plans_containment_and_writes_nothing(env, tmp_path: Path) -> None:
    runner, store, fakes = env
    pb = gated()
    config = fk.make_config(tmp_path)
    dry = Runner(
        config,
        store,
        dry_run=True,
        connections=fk.connections(config, store, **fakes),
        templates=Templates([tmp_path / "tpl"]),
    )
    run_id = await dry.start(pb, fk.make_alert())
    assert dry.journal.get_run(run_id).status == "completed"
    effects = dry.journal.run_effects(run_id)
    assert effects and all(e.planned and not e.verified for e in effects)
    assert fakes["ca"].revoke_calls == 0 and not fakes["firewall"].addresses and not fakes["proxy"].fingerprints
    assert fakes["notify"].sent == []
    rendered = [s.output["subject"] for s in dry.journal.steps(run_id) if s.action == "notify.send"]
    assert rendered == [f"Approve run {run_id} for `a-1`", "Outcome planned"]
    assert store.list_runs() == [] and store.audit_records() == []
