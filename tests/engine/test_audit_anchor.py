"""When the audit head is anchored: once per run (not after every transaction), and only once the records it
names are on disk, so that after a power cut the anchor may lag the database but never lead it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import engine_fakes as fk
import pytest

from certsoar import audit
from certsoar import store as store_module
from certsoar.errors import AuditError
from certsoar.playbook import parse_playbook
from certsoar.runner import Runner
from certsoar.store import RunStatus, RunStore

PLAYBOOK = parse_playbook("""
id: t
trigger: {alert: certificate}
steps:
  - {id: a, action: test.echo, with: {value: 1}}
  - id: both
    parallel:
      - {id: b, action: test.echo, with: {value: 2}}
      - {id: c, action: test.echo, with: {value: 3}}
  - {id: d, action: test.echo, with: {value: "{{ steps.a.value }}"}}
""")[0]


class PowerCut:
    """What a power cut right after each anchoring would leave on disk: the database file, the WAL as it was
    when last synced (with ``synchronous=NORMAL`` SQLite itself syncs it only at checkpoints, so what was
    written since is in the page cache only) and the anchor just written."""

    def __init__(self, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.db_path = db_path
        self.synced_wal: bytes | None = None
        self.leftovers: list[tuple[int, bytes, bytes | None, bytes]] = []
        real_fsync, real_write_anchor = os.fsync, store_module.write_anchor

        def fsync(fd: int) -> None:
            real_fsync(fd)
            if os.readlink(f"/proc/self/fd/{fd}") == f"{db_path}-wal":
                self.synced_wal = Path(f"{db_path}-wal").read_bytes()

        def write_anchor(path: Path, key: bytes, seq: int, mac: str) -> None:
            real_write_anchor(path, key, seq, mac)
            self.leftovers.append((seq, db_path.read_bytes(), self.synced_wal, path.read_bytes()))

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(store_module, "write_anchor", write_anchor)

    def restore(self, index: int, into: Path, *, wal: bool = True) -> Path:
        """The state dir after a power cut at anchoring ``index`` (without its WAL when ``wal`` is False)."""
        _, db, synced_wal, anchor = self.leftovers[index]
        into.mkdir()
        shutil.copy2(self.db_path.parent / audit.KEY_FILE, into / audit.KEY_FILE)
        path = into / self.db_path.name
        path.write_bytes(db)
        if wal and synced_wal is not None:
            Path(f"{path}-wal").write_bytes(synced_wal)
        audit.anchor_path(str(path)).write_bytes(anchor)
        return path


@pytest.fixture
def env(tmp_path: Path) -> Any:
    fk.CALLS.clear()
    config = fk.make_config(tmp_path)
    store = RunStore.in_state_dir(config.state_dir)
    yield Runner(config, store, connections=fk.connections(config, store)), store
    store.close()


def anchored_heads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    written: list[int] = []
    real = store_module.write_anchor

    def write_anchor(path: Path, key: bytes, seq: int, mac: str) -> None:
        written.append(seq)
        real(path, key, seq, mac)

    monkeypatch.setattr(store_module, "write_anchor", write_anchor)
    return written


async def test_a_run_anchors_the_audit_head_once_when_it_ends(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    runner, store = env
    store.audit(None, "test.before", {})
    written = anchored_heads(monkeypatch)
    run_id = await runner.start(PLAYBOOK, fk.make_alert())
    assert store.get_run(run_id).status == RunStatus.COMPLETED
    records = len(store.audit_records())
    assert records == 8  # test.before; the run: created, five steps, its status
    assert written == [records]
    assert store.check_audit() == audit.ChainStatus(records=records, anchored_seq=records)


def test_records_of_a_batch_are_behind_the_anchor_until_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    with RunStore(path) as store:
        store.audit(None, "test.first", {})
        with store.one_anchor():
            for n in range(3):
                store.audit(None, "test.inside", {"n": n})
            with store.one_anchor():  # nested: the outer block anchors
                store.audit(None, "test.nested", {})
            with RunStore(path, read_only=True) as reader:  # another process meanwhile: behind, not broken
                assert reader.check_audit() == audit.ChainStatus(records=5, anchored_seq=1)
        assert store.check_audit() == audit.ChainStatus(records=5, anchored_seq=5)


def test_a_writer_killed_inside_a_batch_leaves_the_anchor_behind_and_the_next_write_moves_it(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    with RunStore(path) as store:
        store.audit(None, "test.first", {})
    killed = (
        "import os, sys\nfrom certsoar.store import RunStore\nstore = RunStore(sys.argv[1])\n"
        "with store.one_anchor():\n    store.audit(None, 'test.killed', {})\n    os._exit(9)\n"
    )
    done = subprocess.run([sys.executable, "-c", killed, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 9, done.stderr
    with RunStore(path) as store:
        assert store.check_audit() == audit.ChainStatus(records=2, anchored_seq=1)
        store.audit(None, "test.after", {})
        assert store.check_audit() == audit.ChainStatus(records=3, anchored_seq=3)


async def test_after_a_power_cut_the_anchor_never_leads_the_database(
    env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, store = env
    cut = PowerCut(Path(store.path), monkeypatch)
    await runner.start(PLAYBOOK, fk.make_alert("a-1"))
    await runner.start(PLAYBOOK, fk.make_alert("a-2"))
    store.audit(None, "test.alone", {})  # a write outside a run anchors on its own
    assert [seq for seq, *_ in cut.leftovers][-3:] == [
        7,
        14,
        15,
    ]  # created, five steps, status; the genesis anchor (0) first
    for index, (seq, *_) in enumerate(cut.leftovers):
        with RunStore(cut.restore(index, tmp_path / f"cut-{index}")) as survivor:
            status = survivor.check_audit()
        assert status.anchored_seq == seq and status.records >= seq


async def test_an_anchor_ahead_of_the_database_reads_as_records_cut_off(
    env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the check says when the anchor names records the database lacks (as when an anchor was written
    before its records were synced, and the power went): a cut, which is why it must never happen."""
    runner, store = env
    cut = PowerCut(Path(store.path), monkeypatch)
    await runner.start(PLAYBOOK, fk.make_alert())
    seq = cut.leftovers[-1][0]
    with RunStore(cut.restore(len(cut.leftovers) - 1, tmp_path / "no-wal", wal=False)) as survivor:
        with pytest.raises(AuditError, match=f"anchors record {seq}: records 1-{seq} were removed from the end"):
            survivor.check_audit()
