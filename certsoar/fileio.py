"""Files certsoar manages: replaced atomically (readers see the old content or the new, never a
torn one) and changed by one writer at a time (``locked``)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import tempfile
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from certsoar.errors import ConnectorRejected, ConnectorUnavailable

_LOCK_POLL_SECONDS = 0.02
_process_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Path, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def lock_file_for(path: Path) -> Path:
    """The lock file that guards ``path``: beside it, because ``path`` itself is replaced by rename."""
    return path.parent / f".{path.name}.lock"


@asynccontextmanager
async def locked(path: Path, *, timeout: float, connector: str = "", shared: bool = False) -> AsyncIterator[None]:
    """Hold the lock of ``path`` for the block: one holder at a time across coroutines of this
    process (an asyncio lock per path) and, across processes, ``flock`` on ``lock_file_for(path)``:
    exclusive for a writer, shared for a reader (``shared=True``).

    A reader creates nothing (a dry run and ``connectors check`` write nothing): when the lock file
    does not exist no writer has ever held it, and the file itself is only ever replaced whole.
    Waiting longer than ``timeout`` seconds raises ConnectorUnavailable (another writer holds it; a
    retry may succeed). The lock is not reentrant: do not nest ``locked`` on one path.
    """
    key = path.absolute()
    # asyncio locks belong to one event loop; a process may run several in turn (tests, threads).
    loop = asyncio.get_running_loop()
    process_lock = _process_locks.setdefault(loop, {}).setdefault(key, asyncio.Lock())
    deadline = loop.time() + timeout
    try:
        await asyncio.wait_for(process_lock.acquire(), timeout)
    except TimeoutError:
        raise ConnectorUnavailable(
            f"{path}: locked by another writer in this process for {timeout:g}s", connector=connector
        ) from None
    try:
        fd = _open_lock_file(lock_file_for(key), shared=shared, connector=connector)
        if fd is None:
            yield
            return
        try:
            while True:
                try:
                    fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if loop.time() >= deadline:
                        raise ConnectorUnavailable(
                            f"{path}: locked by another writer for {timeout:g}s", connector=connector
                        ) from None
                    await asyncio.sleep(_LOCK_POLL_SECONDS)
            yield
        finally:
            os.close(fd)  # closing the last descriptor releases the flock
    finally:
        process_lock.release()


@contextmanager
def locked_between_processes(path: Path, *, timeout: float) -> Iterator[None]:
    """Hold the exclusive ``flock`` of ``lock_file_for(path)`` for the block, for synchronous code that
    runs once per process (opening the run store). Waiting longer than ``timeout`` raises TimeoutError."""
    lock_path = lock_file_for(path.absolute())
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{path}: locked by another process for {timeout:g}s") from None
                time.sleep(_LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(fd)


def _open_lock_file(lock_path: Path, *, shared: bool, connector: str) -> int | None:
    """A descriptor to flock; None for a reader when no writer ever created the lock file."""
    try:
        if shared:
            return os.open(lock_path, os.O_RDONLY)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:
        if shared:
            return None
        raise ConnectorRejected(f"{lock_path}: cannot create the lock file", connector=connector) from None
    except OSError as exc:
        raise ConnectorRejected(f"{lock_path}: cannot open the lock file: {exc.strerror}", connector=connector) from exc


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
