"""Opening the run store: processes that open a new store at the same instant all get it."""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from certsoar.errors import RunError
from certsoar.store import RunStore, StepStatus


def _open_and_create(path: str, barrier: Barrier, alert_id: str) -> None:
    barrier.wait()
    with RunStore(path) as store:
        store.create_run(playbook="p", alert_id=alert_id, trigger="t", alert={}, requester="r")


def test_processes_opening_a_new_store_at_once_all_get_it(tmp_path: Path) -> None:
    # The switch to WAL does not wait on SQLite's busy timeout: unserialized, about one trial in six
    # failed with "database is locked" here.
    ctx = multiprocessing.get_context("fork")
    opener_count = 8
    for trial in range(12):
        path = str(tmp_path / f"trial{trial}" / "runs.sqlite3")
        barrier = ctx.Barrier(opener_count)
        procs = [ctx.Process(target=_open_and_create, args=(path, barrier, f"a-{n}")) for n in range(opener_count)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * opener_count, f"trial {trial}"
        with RunStore(path, read_only=True) as store:
            assert len(store.list_runs()) == opener_count


def test_watermarks_are_recorded_per_source_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    with RunStore(path) as store:
        assert store.watermark("ca:lab") is None
        store.set_watermarks({"ca:lab": "0A", "siem:files": "2026-12-01T00:00:00+00:00"})
        store.set_watermarks({"ca:lab": "1F"})
    with RunStore(path, read_only=True) as store:
        assert store.watermark("ca:lab") == "1F"
        assert store.watermark("siem:files") == "2026-12-01T00:00:00+00:00"
        assert store.watermark("ca:other") is None


def test_a_failed_transaction_moves_no_watermark(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite3") as store:
        store.set_watermarks({"ca:lab": "0A"})
        try:
            with store.transaction() as db:
                store.set_watermarks({"ca:lab": "FF"}, db=db)
                raise RuntimeError("the sweep failed before it finished")
        except RuntimeError:
            pass
        assert store.watermark("ca:lab") == "0A"


def test_a_scratch_journal_audits_nothing_and_forgets_a_run_when_told(tmp_path: Path) -> None:
    journal = RunStore.scratch()
    kept, _ = journal.create_run(playbook="p", alert_id="a", trigger="sweep", alert={}, dry_run=True)
    gone, _ = journal.create_run(playbook="p", alert_id="b", trigger="sweep", alert={}, dry_run=True)
    for run_id in (kept, gone):
        journal.record_step(run_id, "s", action="x.y", status=StepStatus.COMPLETED, output={"n": 1})
    journal.discard_run(gone)
    assert [row[0] for row in journal.db.execute("SELECT id FROM runs")] == [kept]
    assert [s.step_id for s in journal.steps(kept)] == ["s"] and journal.steps(gone) == []
    assert journal.audit_records() == []

    with RunStore.in_state_dir(tmp_path) as store:  # an audited store forgets nothing
        run_id, _ = store.create_run(playbook="p", alert_id="a", trigger="alert", alert={})
        with pytest.raises(RunError, match="only a scratch journal"):
            store.discard_run(run_id)
        assert store.get_run(run_id).id == run_id and len(store.audit_records()) == 1
