"""Replace a file atomically: readers see the old content or the new, never a torn one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path, *, mode_if_new: int = 0o644) -> Iterator[Path]:
    """Yield an empty temporary file beside ``path`` for the block to fill (or a tool to write).

    When the block succeeds the file is flushed to disk, given the mode of the file it replaces
    (``mode_if_new`` when there is none) and renamed over ``path``; when it fails it is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = mode_if_new
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    temp = Path(temp_name)
    try:
        yield temp
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, text: str, *, mode_if_new: int = 0o644, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` (see ``replacing``)."""
    with replacing(path, mode_if_new=mode_if_new) as temp:
        temp.write_text(text, encoding=encoding)


def printable_line(text: str, max_chars: int) -> str:
    """``text`` as one line of printable ASCII for a file certsoar manages: other characters become
    spaces, runs of white space one space, and a longer line is cut to ``max_chars`` ending in "..."."""
    kept = "".join(ch if " " <= ch <= "~" else " " for ch in text)
    collapsed = " ".join(kept.split())
    if len(collapsed) > max_chars:
        collapsed = collapsed[: max_chars - 3].rstrip() + "..."
    return collapsed
