"""Opening the run store: processes that open a new store at the same instant all get it."""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Barrier
from pathlib import Path

from certsoar.store import RunStore


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
