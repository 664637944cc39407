"""certsoar.fileio: files are replaced whole, keep their mode, and leave no temporary behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from certsoar.fileio import printable_line, replacing, write_atomically


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
