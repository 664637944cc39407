"""The log files the configured ``paths`` name: files, folders (walked) and glob patterns (sorted), with
a warning for every path that names nothing, so a search never quietly covers less than configured."""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

from certsoar.connectors.siem.readers import GZIP_SUFFIX, LOG_SUFFIXES

_GLOB_CHARS = frozenset("*?[")
# compressions a folder of logs may hold that the files SIEM does not read
_UNREAD_COMPRESSIONS = (".bz2", ".xz", ".zst", ".lz4", ".zip", ".7z")
_WALKED_SUFFIXES = LOG_SUFFIXES + tuple(suffix + GZIP_SUFFIX for suffix in LOG_SUFFIXES)


@dataclass
class LogSources:
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    found_any: bool = False
    """Whether any configured path exists (an empty folder counts): when none does, the SIEM is unavailable."""


def find_sources(paths: list[Path]) -> LogSources:
    sources = LogSources()
    for configured in paths:
        if configured.exists() or not _GLOB_CHARS & set(str(configured)):
            matches = [configured]
        else:
            matches = sorted(Path(p) for p in glob.glob(str(configured), recursive=True))
            if not matches:
                sources.warnings.append(f"{configured}: the pattern matches no file")
                continue
        for path in matches:
            if path.is_dir():
                sources.found_any = True
                _walk(path, sources)
            elif path.is_file():
                sources.found_any = True
                sources.files.append(path)
            else:
                sources.warnings.append(f"{path}: does not exist")
    sources.files = list(dict.fromkeys(sources.files))  # a file named twice (a folder and a pattern) is read once
    return sources


def _walk(folder: Path, sources: LogSources) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.endswith(_WALKED_SUFFIXES):
            sources.files.append(path)
        elif path.name.endswith(tuple(s + c for s in LOG_SUFFIXES for c in _UNREAD_COMPRESSIONS)):
            sources.warnings.append(
                f"{path}: compressed in a format the files SIEM does not read (only gzip); not read"
            )
