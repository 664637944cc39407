"""Files parsed once and read again only when they change (modification time or size): intel that
another process replaces on disk at any moment (``certsoar intel update``, a cron job)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from certsoar.errors import ConfigError

T = TypeVar("T")


class ReloadingFile(Generic[T]):
    """``load(path)`` parses ``path`` with ``parse(text, path)`` and keeps the result until the file's
    modification time or size changes; ``error`` (a ConfigError) names ``what`` and the path."""

    def __init__(self, parse: Callable[[str, Path], T], *, what: str, max_bytes: int, error: type[ConfigError]) -> None:
        self._parse = parse
        self._what = what
        self._max_bytes = max_bytes
        self._error = error
        self._cache: dict[str, tuple[tuple[int, int], T]] = {}
        self._lock = threading.Lock()

    def load(self, path: Path) -> T:
        key = str(path.resolve())
        try:
            stat = path.stat()
        except OSError as exc:
            raise self._error(f"{self._what} {path}: cannot read: {exc.strerror or exc}") from exc
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        if stat.st_size > self._max_bytes:
            raise self._error(f"{self._what} {path}: larger than {self._max_bytes} bytes")
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise self._error(f"{self._what} {path}: cannot read: {exc.strerror or exc}") from exc
        parsed = self._parse(text, path)
        with self._lock:
            self._cache[key] = (stamp, parsed)
        return parsed

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
