"""The audit log cannot be rewritten unnoticed by anyone without its key: keyed MACs, a head anchored
outside the database, decisions checked against the audit, a damaged file never called intact."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from certsoar import audit
from certsoar.errors import AuditError, ConfigError
from certsoar.runview import run_view
from certsoar.store import GateStatus, RunStatus, RunStore, utcnow

Forger = Callable[[str, sqlite3.Row], str]


def approved_run(store: RunStore, alert_id: str = "a-1", analyst: str = "alice") -> str:
    run_id, _ = store.create_run(playbook="p", alert_id=alert_id, trigger="alert", alert={"id": alert_id})
    store.open_approval(
        run_id,
        "gate",
        roles=["soc-tier2"],
        required=1,
        distinct_from_requester=False,
        requester=None,
        expires=utcnow() + timedelta(hours=1),
    )
    with store.transaction() as db:  # the runner's pause at the gate, without its audit record: 5 records a run
        db.execute("UPDATE runs SET status=? WHERE id=?", (RunStatus.WAITING_APPROVAL, run_id))
    store.decide(run_id, analyst=analyst, decision=GateStatus.APPROVED, comment="go", owner="test")
    return run_id


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A store holding two approved runs (10 audit records), closed."""
    path = tmp_path / "state" / "runs.sqlite3"
    with RunStore(path) as store:
        approved_run(store, "a-1")
        approved_run(store, "a-2")
        assert store.verify_audit() == 10
    return path


def verify(path: Path) -> int:
    with RunStore(path, read_only=True) as store:
        return store.verify_audit()


def rewrite(path: Path, change: str, forge: Forger) -> None:
    """Run ``change`` on the audit table, then renumber and relink every record with ``forge`` computing
    each MAC from the previous one, as someone with write access to the file would."""
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    with db:
        db.execute(change)
        prev = audit.GENESIS
        for new_seq, rec in enumerate(db.execute("SELECT * FROM audit ORDER BY seq").fetchall(), start=1):
            mac = forge(prev, {**dict(rec), "seq": new_seq})  # type: ignore[arg-type]
            db.execute("UPDATE audit SET seq=?, prev_hash=?, hash=? WHERE seq=?", (new_seq, prev, mac, rec["seq"]))
            prev = mac
    db.close()


def plain_sha256(prev: str, rec: Any) -> str:
    """The chain as it was before it was keyed."""
    body = json.dumps(
        [prev, rec["time"], rec["run_id"], rec["event"], rec["data"]],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def hmac_with(key: bytes) -> Forger:
    def forge(prev: str, rec: Any) -> str:
        return audit.record_mac(
            key, prev=prev, seq=rec["seq"], time=rec["time"], run_id=rec["run_id"], event=rec["event"], data=rec["data"]
        )

    return forge


def reanchor(path: Path, key: bytes) -> None:
    db = sqlite3.connect(path)
    seq, mac = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    db.close()
    audit.write_anchor(audit.anchor_path(str(path)), key, seq, mac)


def key_of(path: Path) -> bytes:
    return (path.parent / audit.KEY_FILE).read_text().strip().encode()


# truncation, rewriting, deletion ----------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 3, 10])
def test_cutting_records_off_the_end_is_detected(db_path: Path, cut: int) -> None:
    with sqlite3.connect(db_path) as db:
        db.execute("DELETE FROM audit WHERE seq > ?", (10 - cut,))
    with pytest.raises(
        AuditError,
        match=f"ends at record {10 - cut} but .* anchors record 10: records {11 - cut}-10 were removed from the end",
    ):
        verify(db_path)


def test_a_cut_stays_detected_after_later_writes(db_path: Path) -> None:
    with sqlite3.connect(db_path) as db:
        db.execute("DELETE FROM audit WHERE seq > 7")
    with RunStore(db_path) as store:  # certsoar carries on writing: 5 records, past the anchored head
        approved_run(store, "a-3")
        assert len(store.audit_records()) == 12
    with pytest.raises(AuditError, match="record 10: it is not the record .* anchors"):
        verify(db_path)


def test_a_deleted_anchor_is_detected_and_never_recreated(db_path: Path) -> None:
    anchor = audit.anchor_path(str(db_path))
    anchor.unlink()
    with sqlite3.connect(db_path) as db:
        db.execute("DELETE FROM audit WHERE seq > 8")
    with pytest.raises(AuditError, match="head anchor .* is missing"):
        verify(db_path)
    with RunStore(db_path) as store:
        approved_run(store, "a-3")
    assert not anchor.exists()
    with pytest.raises(AuditError, match="head anchor .* is missing"):
        verify(db_path)


@pytest.mark.parametrize(
    "anchor_text", ["", "{}", '{"seq": 10, "mac": "' + "0" * 64 + '", "anchor_mac": "' + "1" * 64 + '"}']
)
def test_a_forged_or_garbled_anchor_is_detected(db_path: Path, anchor_text: str) -> None:
    audit.anchor_path(str(db_path)).write_text(anchor_text)
    with pytest.raises(AuditError, match="anchor"):
        verify(db_path)


@pytest.mark.parametrize("forge_with", ["plain sha-256", "hmac with another key"])
def test_rewriting_alice_to_bob_and_recomputing_the_chain_is_detected(db_path: Path, forge_with: str) -> None:
    wrong_key = b"k" * 64
    forge = plain_sha256 if forge_with == "plain sha-256" else hmac_with(wrong_key)
    rewrite(db_path, "UPDATE audit SET data=replace(data, 'alice', 'bob')", forge)
    if forge_with != "plain sha-256":
        reanchor(db_path, wrong_key)
    with pytest.raises(AuditError, match="does not verify with the audit key"):
        verify(db_path)


def test_with_the_key_a_rewrite_goes_through(db_path: Path) -> None:
    """What the audit does not prove: whoever holds the key and can write the store can rewrite it
    (the README says so, and why the key belongs off the state dir)."""
    key = key_of(db_path)
    rewrite(db_path, "UPDATE audit SET data=replace(data, 'alice', 'bob')", hmac_with(key))
    reanchor(db_path, key)
    assert verify(db_path) == 10


@pytest.mark.parametrize("forge", [None, plain_sha256])
def test_a_deleted_middle_record_is_detected(db_path: Path, forge: Forger | None) -> None:
    if forge is None:
        with sqlite3.connect(db_path) as db:
            db.execute("DELETE FROM audit WHERE seq = 3")
        message = "broken at record 4: record 3 is missing"
    else:  # renumbered and relinked
        rewrite(db_path, "DELETE FROM audit WHERE seq = 3", forge)
        message = "broken at record 1: its MAC does not verify"
    with pytest.raises(AuditError, match=message):
        verify(db_path)


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE audit SET run_id='other' WHERE seq=2",
        "UPDATE audit SET event='approval.denied' WHERE seq=3",
        "UPDATE audit SET time='2020-01-01T00:00:00+00:00' WHERE seq=4",
        "UPDATE audit SET seq=99 WHERE seq=10",
        "INSERT INTO audit SELECT 11, time, run_id, event, data, hash, hash FROM audit WHERE seq=10",
    ],
)
def test_any_edit_of_a_record_is_detected(db_path: Path, change: str) -> None:
    with sqlite3.connect(db_path) as db:
        db.execute(change)
    with pytest.raises(AuditError, match="broken"):
        verify(db_path)


def test_an_old_anchor_after_a_crash_is_intact_and_the_next_write_moves_it(db_path: Path) -> None:
    """A writer killed between its commit and its anchoring leaves the anchor behind, not broken."""
    key = key_of(db_path)
    with sqlite3.connect(db_path) as db:
        mac = db.execute("SELECT hash FROM audit WHERE seq=8").fetchone()[0]
    audit.write_anchor(audit.anchor_path(str(db_path)), key, 8, mac)
    with RunStore(db_path, read_only=True) as store:
        assert store.check_audit() == audit.ChainStatus(records=10, anchored_seq=8)
    with RunStore(db_path) as store:
        store.audit(None, "test.event", {})
        assert store.check_audit() == audit.ChainStatus(records=11, anchored_seq=11)


# the decisions a run view shows -----------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE decisions SET analyst='bob'",
        "UPDATE decisions SET decision='denied'",
        "INSERT INTO decisions SELECT run_id, step_id, 'mallory', 'approved', NULL, time FROM decisions",
        "DELETE FROM decisions",
        "UPDATE approvals SET status='denied'",
    ],
)
def test_run_view_refuses_decisions_the_audit_does_not_show(tmp_path: Path, change: str) -> None:
    with RunStore(tmp_path / "runs.sqlite3") as store:
        run_id = approved_run(store)
        assert run_view(store, run_id)["approval"]["decisions"][0]["analyst"] == "alice"
        store.db.execute(change)
        with pytest.raises(
            AuditError,
            match=f"run {run_id}: gate gate is recorded .* but the audit log says approved with alice approved",
        ):
            run_view(store, run_id)


@pytest.mark.parametrize(
    ("audit_change", "message"),
    [
        ("UPDATE audit SET data=replace(data, 'alice', 'bob')", "audit record 3 of its approvals does not verify"),
        ("UPDATE audit SET data='not json' WHERE event='approval.approved'", "does not verify with the audit key"),
        (
            "UPDATE audit SET run_id='elsewhere' WHERE data LIKE '%alice%'",
            "but the audit log says approved with no decision",
        ),
        ("DELETE FROM audit WHERE data LIKE '%alice%'", "but the audit log says approved with no decision"),
    ],
)
def test_run_view_refuses_a_decision_rewritten_in_the_audit_too(
    tmp_path: Path, audit_change: str, message: str
) -> None:
    with RunStore(tmp_path / "runs.sqlite3") as store:
        run_id = approved_run(store)
        store.db.execute("UPDATE decisions SET analyst='bob'")
        store.db.execute(audit_change)
        with pytest.raises(AuditError, match=message):
            run_view(store, run_id)


def failed_run_with_effects(store: RunStore) -> str:
    """A run that blocked one address (verified) and failed writing a second one (unverified)."""
    run_id = approved_run(store)
    for key, verified in (("firewall:fw:block:203.0.113.7", True), ("firewall:fw:block:203.0.113.8", False)):
        target = key.rsplit(":", 1)[1]
        store.effect_intent(key, action="firewall.block", target=target, run_id=run_id)
        store.effect_done(key, action="firewall.block", target=target, run_id=run_id, verified=verified, evidence={})
        store.record_run_effect(
            run_id,
            key,
            step_id="block",
            action="firewall.block",
            target=target,
            changed=True,
            verified=verified,
            planned=False,
            evidence={},
        )
    store.update_run(run_id, status=RunStatus.FAILED, error="effect firewall:fw:block:203.0.113.8: not read back")
    return run_id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("UPDATE runs SET status='completed', error=NULL", "is recorded completed, but the audit log says failed"),
        ("UPDATE runs SET error=NULL", "is recorded failed, but the audit log says failed \\(effect"),
        ("UPDATE run_effects SET verified=1", "effect firewall:fw:block:203.0.113.8 is recorded changed and verified"),
        (
            "INSERT INTO run_effects SELECT run_id, 'proxy:sq:block:ab', step_id, 'proxy.block_certificate', 'ab', 1, 1,"
            " 0, evidence FROM run_effects LIMIT 1",
            "effect proxy:sq:block:ab is recorded changed and verified",
        ),
    ],
)
def test_run_view_refuses_a_status_or_effect_the_audit_does_not_show(tmp_path: Path, change: str, message: str) -> None:
    with RunStore(tmp_path / "runs.sqlite3") as store:
        run_id = failed_run_with_effects(store)
        view = run_view(store, run_id)
        assert view["status"] == "failed" and [e["verified"] for e in view["effects"]] == [True, False]
        store.db.execute(change)
        with pytest.raises(AuditError, match=f"run {run_id}:? .*{message}"):
            run_view(store, run_id)


def test_run_view_of_an_effect_another_run_made(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite3") as store:
        first = failed_run_with_effects(store)
        second = approved_run(store, "a-2")
        key = "firewall:fw:block:203.0.113.7"  # found done: verified by this run, changed by the first
        store.effect_done(key, action="firewall.block", target="203.0.113.7", run_id=second, verified=True, evidence={})
        store.record_run_effect(
            second,
            key,
            step_id="block",
            action="firewall.block",
            target="203.0.113.7",
            changed=False,
            verified=True,
            planned=False,
            evidence={},
        )
        store.update_run(second, status=RunStatus.COMPLETED)
        assert run_view(store, second)["effects"][0]["verified"] is True
        store.db.execute("UPDATE run_effects SET changed=1 WHERE run_id=?", (second,))
        with pytest.raises(AuditError, match=f"run {second}: effect {key} is recorded changed and verified"):
            run_view(store, second)
        assert run_view(store, first)["status"] == "failed"


def test_run_view_of_untouched_gates(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite3") as store:
        run_id, _ = store.create_run(playbook="p", alert_id="a", trigger="alert", alert={})
        store.open_approval(
            run_id,
            "gate",
            roles=["r"],
            required=2,
            distinct_from_requester=False,
            requester=None,
            expires=utcnow() + timedelta(hours=1),
        )
        store.update_run(run_id, status=RunStatus.WAITING_APPROVAL)
        assert run_view(store, run_id)["approval"]["status"] == "pending"
        store.decide(run_id, analyst="alice", decision=GateStatus.APPROVED, comment=None, owner="test")
        assert run_view(store, run_id)["approval"]["status"] == "pending"
        store.decide(run_id, analyst="bob", decision=GateStatus.APPROVED, comment="ok", owner="test")
        view = run_view(store, run_id)["approval"]
        assert view["status"] == "approved" and [d["analyst"] for d in view["decisions"]] == ["alice", "bob"]


# the key ------------------------------------------------------------------------------------------


def test_the_generated_key_is_private_and_stays_out_of_the_store(db_path: Path) -> None:
    key_file = db_path.parent / audit.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_of(db_path)
    assert len(key) == 64
    everything = b"".join(p.read_bytes() for p in db_path.parent.iterdir() if p != key_file)
    assert key not in everything and key.decode() not in repr(
        RunStore(":memory:", audit_key=audit.AuditKey.generated(key_file)).__dict__
    )


def test_a_key_file_others_can_read_is_refused_without_showing_it(db_path: Path) -> None:
    key_file = db_path.parent / audit.KEY_FILE
    key_file.chmod(0o644)
    with pytest.raises(AuditError, match="readable by others .*chmod 600") as caught:
        verify(db_path)
    assert key_of(db_path).decode() not in str(caught.value)


def test_a_missing_key_is_an_error_not_a_new_key(db_path: Path) -> None:
    (db_path.parent / audit.KEY_FILE).unlink()
    with pytest.raises(AuditError, match="audit key .* does not exist"):
        verify(db_path)
    assert not (db_path.parent / audit.KEY_FILE).exists()


def test_a_configured_key_is_used_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIT_KEY", "s" * 40)
    path = tmp_path / "runs.sqlite3"
    with RunStore(path, audit_key=audit.AuditKey.from_reference("env:AUDIT_KEY")) as store:
        approved_run(store)
    assert not (tmp_path / audit.KEY_FILE).exists()
    with RunStore(path, read_only=True, audit_key=audit.AuditKey.from_reference("env:AUDIT_KEY")) as store:
        assert store.verify_audit() == 5
    monkeypatch.setenv("AUDIT_KEY", "t" * 40)
    with RunStore(path, read_only=True, audit_key=audit.AuditKey.from_reference("env:AUDIT_KEY")) as store:
        with pytest.raises(AuditError, match="does not verify with the audit key"):
            store.verify_audit()
    monkeypatch.setenv("AUDIT_KEY", "short")
    with pytest.raises(ConfigError, match="audit.key: the key in env:AUDIT_KEY is shorter than 32") as caught:
        audit.AuditKey.from_reference("env:AUDIT_KEY")
    assert "short" not in str(caught.value).replace("shorter", "")


def test_a_second_config_with_another_key_on_the_same_state_dir_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEY_OF_THE_CLI", "c" * 40)
    monkeypatch.setenv("KEY_OF_THE_SERVICE", "s" * 40)
    path = tmp_path / "runs.sqlite3"
    with RunStore(path, audit_key=audit.AuditKey.from_reference("env:KEY_OF_THE_CLI")) as store:
        approved_run(store)
    with RunStore(path, audit_key=audit.AuditKey.from_reference("env:KEY_OF_THE_SERVICE")) as store:
        with pytest.raises(
            AuditError, match=r"record \(5\) does not verify with this config's audit key \(env:KEY_OF_THE_SERVICE\)"
        ):
            store.create_run(playbook="p", alert_id="a-2", trigger="alert", alert={})
        assert store.db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    assert "c" * 40 not in str(path.read_bytes()) and "s" * 40 not in str(path.read_bytes())
    with RunStore(path, audit_key=audit.AuditKey.from_reference("env:KEY_OF_THE_CLI")) as store:
        assert store.verify_audit() == 5  # the first config's log is whole and it carries on
        approved_run(store, "a-2")
        assert store.verify_audit() == 10


def test_an_in_memory_store_keeps_a_chain_without_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with RunStore(":memory:") as store:
        approved_run(store)
        assert store.verify_audit() == 5
    assert list(tmp_path.iterdir()) == []


# several processes -------------------------------------------------------------------------------


def _append(path: str, barrier: Any, count: int, name: str) -> None:
    with RunStore(path) as store:
        barrier.wait()
        for i in range(count):
            store.audit(None, "test.append", {"writer": name, "i": i})


def _watch_anchor(path: str, barrier: Any, stop: Any, seen: Any) -> None:
    anchor = audit.anchor_path(path)
    barrier.wait()
    while not stop.is_set():
        try:
            seen.append(json.loads(anchor.read_text())["seq"])
        except (FileNotFoundError, ValueError):
            pass


def _verify_meanwhile(path: str, barrier: Any, stop: Any, breaks: Any, lengths: Any) -> None:
    barrier.wait()
    while not stop.is_set():
        try:
            with RunStore(path, read_only=True) as store:
                lengths.append(store.verify_audit())
        except AuditError as exc:
            if "does not exist" not in str(exc):  # the key, before the first writer made it
                breaks.append(str(exc))


@pytest.mark.parametrize("trial", range(2))
def test_concurrent_writers_leave_one_key_a_whole_chain_and_an_anchor_that_never_went_back(
    tmp_path: Path, trial: int
) -> None:
    writers, count = 6, 15
    path = str(tmp_path / "state" / "runs.sqlite3")
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    barrier, stop = ctx.Barrier(writers + 2), ctx.Event()
    seen, breaks, lengths = manager.list(), manager.list(), manager.list()
    watchers = [
        ctx.Process(target=_watch_anchor, args=(path, barrier, stop, seen)),
        ctx.Process(target=_verify_meanwhile, args=(path, barrier, stop, breaks, lengths)),
    ]
    procs = [ctx.Process(target=_append, args=(path, barrier, count, f"w{n}")) for n in range(writers)]
    for p in [*watchers, *procs]:
        p.start()
    for p in procs:
        p.join(120)
    stop.set()
    for p in watchers:
        p.join(30)
    assert list(breaks) == [], "a verifier running alongside the writers saw a break"
    assert any(0 < n < writers * count for n in lengths), "the verifier never ran while the writers did"
    assert [p.exitcode for p in procs] == [0] * writers
    with RunStore(path, read_only=True) as store:
        assert store.check_audit() == audit.ChainStatus(records=writers * count, anchored_seq=writers * count)
        writes = [json.loads(r["data"])["writer"] for r in store.audit_records()]
    assert sorted(set(writes)) == [f"w{n}" for n in range(writers)]
    observed = list(seen)
    assert len(set(observed)) > 1 and observed == sorted(observed), "the anchor went backwards"
    files = sorted(p.name for p in (tmp_path / "state").iterdir())
    assert [f for f in files if f.endswith(".tmp")] == [] and files.count(audit.KEY_FILE) == 1


# damage ------------------------------------------------------------------------------------------


def corrupt_page(path: Path, table: str) -> None:
    db = sqlite3.connect(path)
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name=?", (table,)).fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * size)
        f.write(bytes((i * 37 + 11) % 256 for i in range(size)))


@pytest.mark.parametrize("table", ["audit", "runs", "decisions"])
def test_a_broken_page_is_never_intact(db_path: Path, table: str) -> None:
    corrupt_page(db_path, table)
    with pytest.raises(AuditError, match=f"the run store {db_path} is damaged .*: its audit log cannot be verified"):
        verify(db_path)


# the command -------------------------------------------------------------------------------------


def certsoar(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSOAR_")}
    return subprocess.run(
        [sys.executable, "-m", "certsoar", "runs", *args, "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_runs_audit_command(db_path: Path) -> None:
    config = db_path.parent.parent / "config.yaml"
    config.write_text(f"state_dir: {db_path.parent}\n")
    key = key_of(db_path).decode()
    ok = certsoar(config, "audit")
    assert ok.returncode == 0, ok.stderr
    assert "audit chain intact: 10 record(s), each MAC verified with the audit key" in ok.stdout
    assert "nobody without that key changed, inserted, removed, reordered or cut off a record" in ok.stdout
    as_json = json.loads(certsoar(config, "audit", "--json").stdout)
    assert as_json["verified_records"] == 10 and as_json["anchored_seq"] == 10
    run_id = as_json["records"][0]["run_id"]
    shown = certsoar(config, "show", run_id, "--json")
    assert json.loads(shown.stdout)["approval"]["decisions"][0]["analyst"] == "alice"

    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE decisions SET analyst='bob'")
    shown = certsoar(config, "show", run_id)
    assert shown.returncode == 1 and "the audit log says approved with alice approved" in shown.stderr
    with sqlite3.connect(db_path) as db:
        db.execute("DELETE FROM audit WHERE seq > 8")
    cut = certsoar(config, "audit")
    assert cut.returncode == 1 and "records 9-10 were removed from the end" in cut.stderr
    corrupt_page(db_path, "runs")
    damaged = certsoar(config, "audit")
    assert damaged.returncode == 1 and "is damaged" in damaged.stderr and "Traceback" not in damaged.stderr
    for done in (ok, shown, cut, damaged):
        assert key not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("key: {inline}", "audit.key: Value error, write the key as env:NAME or file:PATH, never inline"),
        ("key: 'env:'", "audit.key: Value error, write the key as env:NAME or file:PATH, never inline"),
        ("key: 'file: '", "audit.key: Value error, write the key as env:NAME or file:PATH, never inline"),
        ("key: 'envy:{inline}'", "audit.key: Value error, write the key as env:NAME or file:PATH, never inline"),
        (
            "key: env:CERTSOAR_TEST_UNSET_KEY",
            "audit.key: secret: environment variable CERTSOAR_TEST_UNSET_KEY is not set",
        ),
    ],
)
def test_a_bad_audit_key_setting_exits_2(tmp_path: Path, setting: str, message: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"state_dir: {tmp_path}\naudit:\n  {setting.format(inline='x' * 40)}\n")
    done = certsoar(config, "audit")
    assert done.returncode == 2 and message in done.stderr and "x" * 40 not in done.stderr


def test_a_relative_key_file_resolves_against_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from certsoar.config import load_config

    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "audit.key").write_text("q" * 64 + "\n")
    (tmp_path / "conf" / "config.yaml").write_text("state_dir: state\naudit: {key: 'file:audit.key'}\n")
    monkeypatch.chdir(tmp_path)
    key = audit.key_for(load_config(tmp_path / "conf" / "config.yaml"))
    assert key.material(create=False) == b"q" * 64 and "q" * 64 not in repr(key)
