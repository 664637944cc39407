"""A SIEM made of log files: Zeek (TSV and JSON: ssl, x509, conn, known_certs), Suricata eve.json,
Windows events as JSON lines (Sysmon 1, Security 4688, PowerShell 4104, AD CS 4886/4887/4888/4870) and
generic JSON lines.

Meant for the lab, for small deployments that keep logs on disk, and as the reference
implementation of the Siem protocol. Files are read line by line (readers), each record is
matched against the query's indicators (indicators) and a match becomes a SiemEvent (events); this
module finds the files, keeps the ``limit`` earliest hits and caches parsed files.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.siem import SiemEvent, SiemQuery
from certsoar.connectors.siem.events import as_utc, event_kind, record_time, to_event
from certsoar.connectors.siem.indicators import match, normalize_query
from certsoar.connectors.siem.readers import LOG_SUFFIXES, LogRecord, ScanStats, read_records
from certsoar.errors import ConnectorUnavailable


class FilesSiemSettings(ConnectorSettings):
    paths: list[Path] = Field(min_length=1, description="Log files or folders; folders are walked for *.log, *.json, *.jsonl, *.ndjson.")
    max_file_bytes: int = Field(default=256 * 1024 * 1024, ge=1, description="Larger files are skipped with a note.")
    cache_bytes: int = Field(
        default=64 * 1024 * 1024, ge=0,
        description="Files are parsed once per connector and kept in memory while their sizes add up to no more than "
                    "this; a changed file is read again. Larger logs are streamed on every search.",
    )


@dataclass(frozen=True)
class _Plan:
    """A query prepared for scanning: normalized indicators and the kinds to keep."""

    start: datetime
    end: datetime
    wanted: dict[str, set[str]]
    kinds: frozenset[str] | None
    select_all: bool  # kinds given and no indicators: every event of those kinds

    @classmethod
    def of(cls, query: SiemQuery) -> "_Plan":
        kinds = frozenset(query.kinds) if query.kinds is not None else None
        return cls(as_utc(query.start), as_utc(query.end), normalize_query(query), kinds, kinds is not None and not query.indicators)

    def matched(self, record: LogRecord) -> list[str] | None:
        """Indicator kinds the record matched ([] when selected by kind alone), None when it does not qualify."""
        if self.kinds is not None and event_kind(record.data, record.fmt) not in self.kinds:
            return None
        if self.select_all:
            return []
        hits = match(record.data, self.wanted)
        return hits or None


class FilesSiem:
    settings_model: ClassVar[type[ConnectorSettings]] = FilesSiemSettings

    def __init__(self, settings: FilesSiemSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.instance = env.name
        self.paths = [env.resolve(p) for p in settings.paths]
        self.last_stats = ScanStats()
        self._parsed: dict[Path, _ParsedFile] = {}
        self._parsing = threading.Lock()

    def files(self, stats: ScanStats) -> list[Path]:
        found: list[Path] = []
        existing = 0
        for path in self.paths:
            if path.is_dir():
                existing += 1
                found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(LOG_SUFFIXES)))
            elif path.is_file():
                existing += 1
                found.append(path)
            else:
                stats.notes.append(f"{path}: does not exist")
        if not existing:
            raise ConnectorUnavailable("none of the configured log paths exist", connector=f"siem:{self.instance}")
        return found

    async def search(self, query: SiemQuery) -> list[SiemEvent]:
        return await asyncio.to_thread(self._search, query)

    def _search(self, query: SiemQuery) -> list[SiemEvent]:
        stats = ScanStats()
        plan = _Plan.of(query)
        # a max-heap (by negated time) of the `limit` earliest hits, so memory stays bounded whatever matches
        kept: list[tuple[float, int, SiemEvent]] = []
        order = itertools.count()
        for path in self.files(stats):
            try:
                size = path.stat().st_size
            except OSError as exc:
                stats.files_skipped += 1
                stats.notes.append(f"{path}: cannot stat: {exc.strerror or exc}")
                continue
            if size > self.settings.max_file_bytes:
                stats.files_skipped += 1
                stats.notes.append(f"{path}: {size} bytes is over max_file_bytes ({self.settings.max_file_bytes}), skipped")
                continue
            try:
                for event in self._search_file(path, plan, stats, signature=(size, _mtime(path))):
                    item = (-event.time.timestamp(), next(order), event)
                    if len(kept) < query.limit:
                        heapq.heappush(kept, item)
                    else:
                        stats.over_limit += 1
                        if item[0] > kept[0][0]:
                            heapq.heapreplace(kept, item)
                stats.files_read += 1
            except OSError as exc:
                stats.files_skipped += 1
                stats.notes.append(f"{path}: cannot read: {exc.strerror or exc}")
        if stats.malformed or stats.no_time:
            stats.notes.append(f"skipped {stats.malformed} malformed lines and {stats.no_time} records without a usable time")
        if stats.over_limit:
            stats.notes.append(f"{stats.over_limit} more events matched than the limit of {query.limit}; the latest were dropped")
        self.last_stats = stats
        return [event for _, _, event in sorted(kept, key=lambda item: (-item[0], item[1]))]

    def _search_file(self, path: Path, plan: _Plan, stats: ScanStats, signature: tuple[int, int]) -> Iterator[SiemEvent]:
        for when, record in self._timed_records(path, stats, signature):
            if not (plan.start <= when <= plan.end):
                continue
            matched = plan.matched(record)
            if matched is not None:
                yield to_event(record, when, matched, path.name)

    def _timed_records(self, path: Path, stats: ScanStats, signature: tuple[int, int]) -> Iterable[tuple[datetime, LogRecord]]:
        """The file's records with their times: from the cache when the file is unchanged, else parsed
        (and cached while the budget allows)."""
        with self._parsing:  # concurrent searches of one run wait for the first parse instead of repeating it
            cached = self._parsed.get(path)
            if cached is None or cached.signature != signature:
                self._parsed.pop(path, None)
                budget = self.settings.cache_bytes - sum(p.signature[0] for p in self._parsed.values())
                if signature[0] > budget:
                    return self._stream(path, stats)
                cached = self._parsed[path] = _ParsedFile.read(path, signature, self._stream)
        cached.count_into(stats)
        return cached.records

    @staticmethod
    def _stream(path: Path, stats: ScanStats) -> Iterator[tuple[datetime, LogRecord]]:
        for record in read_records(path, stats):
            stats.records += 1
            when = record_time(record.data)
            if when is None:
                stats.no_time += 1
                continue
            yield when, record


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


@dataclass(frozen=True)
class _ParsedFile:
    """One log file parsed once, with what parsing it skipped, so a cached read reports the same."""

    signature: tuple[int, int]
    records: list[tuple[datetime, LogRecord]]
    records_seen: int
    malformed: int
    no_time: int
    notes: tuple[str, ...]

    @classmethod
    def read(cls, path: Path, signature: tuple[int, int],
             stream: Callable[[Path, ScanStats], Iterator[tuple[datetime, LogRecord]]]) -> "_ParsedFile":
        own = ScanStats()
        records = list(stream(path, own))
        return cls(signature, records, own.records, own.malformed, own.no_time, tuple(own.notes))

    def count_into(self, stats: ScanStats) -> None:
        stats.records += self.records_seen
        stats.malformed += self.malformed
        stats.no_time += self.no_time
        stats.notes.extend(self.notes)
