"""certsoar.fileio: files are replaced whole, keep their mode, leave no temporary behind, and have
one writer at a time."""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from pathlib import Path

import pytest

from certsoar.errors import ConnectorUnavailable
from certsoar.fileio import lock_file_for, locked, printable_line, replacing, write_atomically


def test_new_file_gets_mode_if_new_and_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "list.txt"
    write_atomically(target, "één\n", mode_if_new=0o600)
    assert target.read_text(encoding="utf-8") == "één\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["list.txt"]


def test_existing_mode_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "list.txt"
    target.write_text("old\n")
    target.chmod(0o640)
    write_atomically(target, "new\n", mode_if_new=0o600)
    assert target.read_text() == "new\n" and target.stat().st_mode & 0o777 == 0o640


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "list.txt"
    target.write_text("old\n")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(target, "not ascii: é\n", encoding="ascii")
    with pytest.raises(RuntimeError):
        with replacing(target) as temp:
            temp.write_text("half")
            raise RuntimeError("the tool failed")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["list.txt"]


def test_replacing_hands_out_a_path_beside_the_target(tmp_path: Path) -> None:
    target = tmp_path / "crl.pem"
    with replacing(target) as temp:
        assert temp.parent == tmp_path and temp.exists() and temp != target
        temp.write_bytes(b"written by a tool")
    assert target.read_bytes() == b"written by a tool"
    assert target.stat().st_mode & 0o777 == 0o644


def test_printable_line() -> None:
    assert printable_line("a\tb\n\x00c  é", 20) == "a b c"
    assert printable_line("x" * 30, 10) == "xxxxxxx..."
    assert len(printable_line("word " * 50, 40)) <= 40


async def test_locked_waits_a_bounded_time_then_says_unavailable(tmp_path: Path) -> None:
    target = tmp_path / "list.txt"
    holder = os.open(lock_file_for(target), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another writer (a distinct open file conflicts even in-process)
    try:
        started = time.monotonic()
        with pytest.raises(ConnectorUnavailable, match="locked by another writer"):
            async with locked(target, timeout=0.3, connector="fw"):
                pass
        assert 0.3 <= time.monotonic() - started < 3
    finally:
        os.close(holder)
    async with locked(target, timeout=0.3):
        pass  # free again once the holder let go


async def test_locked_serializes_coroutines_of_one_process(tmp_path: Path) -> None:
    target = tmp_path / "list.txt"
    inside: list[int] = []
    overlaps: list[int] = []

    async def writer(n: int) -> None:
        async with locked(target, timeout=5):
            inside.append(n)
            if len(inside) > 1:
                overlaps.append(n)
            await asyncio.sleep(0.01)
            inside.remove(n)

    await asyncio.gather(*(writer(n) for n in range(6)))
    assert overlaps == []


async def test_a_reader_creates_nothing_and_waits_for_a_writer(tmp_path: Path) -> None:
    target = tmp_path / "list.txt"
    async with locked(target, timeout=0.3, shared=True):
        pass
    assert list(tmp_path.iterdir()) == []  # a dry run or a check writes nothing, not even a lock file
    holder = os.open(lock_file_for(target), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with pytest.raises(ConnectorUnavailable):
            async with locked(target, timeout=0.3, shared=True):
                pass
    finally:
        os.close(holder)
    async with locked(target, timeout=0.3, shared=True):
        pass
