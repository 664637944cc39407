"""A SIEM made of log files: Zeek (TSV and JSON: ssl, x509, conn, known_certs), Suricata eve.json,
Windows events as JSON lines (Sysmon 1, Security 4688, PowerShell 4104, AD CS 4886/4887/4888/4870) and
generic JSON lines.

Meant for the lab, for small deployments that keep logs on disk, and as the reference
implementation of the Siem protocol. Files are read line by line (readers), each record is
matched against the query's indicators (indicators) and a match becomes a SiemEvent (events); this
module finds the files and keeps the ``limit`` earliest hits. A search reads a file through its index
(logindex: only the records that may match, judged as a scan judges them), or scans it when it has none.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import zlib
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.siem import CERTIFICATE_FORMATS, CertificateRecord, SiemEvent, SiemQuery, SiemSearch
from certsoar.connectors.siem.events import event_kind, record_time, to_event
from certsoar.connectors.siem.indicators import (
    certificate_file_id,
    certificate_only,
    joined,
    match,
    normalize_query,
)
from certsoar.connectors.siem.logindex import PROGRESS_EVERY, Parsed, RecentLines, StaleIndex, index_of
from certsoar.connectors.siem.readers import LogRecord, LogTooLarge, ScanStats, gzip_content_size, is_gzip, read_records
from certsoar.connectors.siem.sources import find_sources
from certsoar.errors import ConnectorUnavailable
from certsoar.progress import Progress, progress
from certsoar.timeparse import as_utc

CERTIFICATE_BATCH = 512
"""Certificate records read per trip to the reading thread (few trips, little held at once)."""
RECENT_LINES = 4096
"""Lines whose records (and events) a connector keeps after a search: a sweep's window of a month of certificates."""
_DAWN = datetime.min.replace(tzinfo=timezone.utc)
_DUSK = datetime.max.replace(tzinfo=timezone.utc)


class FilesSiemSettings(ConnectorSettings):
    paths: list[Path] = Field(
        min_length=1,
        description="Log files, folders or glob patterns (expanded sorted, ** recurses). Folders are walked for *.log, *.json, "
        "*.jsonl, *.ndjson and the same gzipped (.gz, as Zeek archives its logs). A pattern that matches nothing, a "
        "missing path and a file that is not read are warnings of every search, and fail `connectors check`.",
    )
    max_file_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1,
        description="A larger file, or a gzipped one that decompresses to more, is not read (a warning).",
    )
    cache_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Zeek TSV and JSON-lines logs are indexed once (the index is kept in the cache folder and "
        "follows a growing log); a log laid out as one JSON document is parsed once per connector and kept in memory "
        "while such files add up to no more than this, and streamed on every search beyond.",
    )


@dataclass(frozen=True)
class _Plan:
    """A query prepared for scanning: normalized indicators and the kinds to keep."""

    start: datetime
    end: datetime
    wanted: dict[str, set[str]]
    kinds: frozenset[str] | None
    select_all: bool  # kinds given and no indicators: every event of those kinds
    by_file_id: dict[str, list[str]] = field(default_factory=dict)
    """Old Zeek x509 file ids whose record matched a certificate indicator → the kinds it matched."""

    @classmethod
    def of(cls, query: SiemQuery) -> "_Plan":
        kinds = frozenset(query.kinds) if query.kinds is not None else None
        return cls(
            as_utc(query.start),
            as_utc(query.end),
            normalize_query(query),
            kinds,
            kinds is not None and not query.indicators,
        )

    def matched(self, record: LogRecord) -> list[str] | None:
        """Indicator kinds the record matched ([] when selected by kind alone), None when it does not qualify."""
        if self.kinds is not None and event_kind(record.data, record.fmt) not in self.kinds:
            return None
        if self.select_all:
            return []
        hits = match(record.data, self.wanted)
        if self.by_file_id:
            hits += [kind for kind in joined(record.data, self.by_file_id) if kind not in hits]
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
        self._recent = RecentLines(RECENT_LINES)

    def files(self, stats: ScanStats) -> list[Path]:
        sources = find_sources(self.paths)
        stats.warnings.extend(sources.warnings)
        if not sources.found_any:
            raise ConnectorUnavailable(
                f"none of the configured log paths exist ({'; '.join(sources.warnings)})",
                connector=f"siem:{self.instance}",
            )
        return sources.files

    async def search(self, query: SiemQuery) -> list[SiemEvent]:
        return (await self.search_report(query)).events

    async def search_report(self, query: SiemQuery) -> SiemSearch:
        return await asyncio.to_thread(self._search, query)

    def _search(self, query: SiemQuery) -> SiemSearch:
        stats = ScanStats()
        plan = _Plan.of(query)
        if certificate_only(plan.wanted):
            plan = replace(plan, by_file_id=self._certificate_file_ids(plan))
        order = itertools.count()
        kept = _Earliest(query.limit, stats, order)
        with progress(f"SIEM {self.instance}: searching the logs", unit="records") as bar:
            self._search_files(plan, stats, kept, order, query.limit, bar)
        if stats.malformed or stats.no_time:
            stats.notes.append(
                f"skipped {stats.malformed} malformed lines and {stats.no_time} records without a usable time"
            )
        if stats.over_limit:
            stats.notes.append(
                f"{stats.over_limit} more events matched than the limit of {query.limit}; the latest were dropped"
            )
        stats.warnings = list(dict.fromkeys(stats.warnings))
        self.last_stats = stats
        return SiemSearch(events=kept.events(), warnings=stats.warnings)

    def _certificate_file_ids(self, plan: _Plan) -> dict[str, list[str]]:
        """File ids of the x509 records (Zeek before the fingerprint field) that name the wanted certificate, at
        any time: the ssl records of those versions carry the certificate only through them. What cannot be
        read here is reported by the search itself."""
        wanted = certificate_only(plan.wanted)
        found: dict[str, list[str]] = {}
        scratch = ScanStats()
        for path in self.files(scratch):
            signature = self._signature(path, scratch)
            if signature is None:
                continue
            try:
                for parsed in self._indexed(path, wanted, None, False, (), _DAWN, _DUSK, scratch, signature):
                    record = parsed.record
                    file_id = certificate_file_id(record.data, record.fmt)
                    kinds = match(record.data, wanted) if file_id else []
                    if file_id and kinds:
                        found[file_id] = kinds
            except (LogTooLarge, OSError, EOFError, zlib.error):
                continue
        return found

    def _search_files(
        self, plan: _Plan, stats: ScanStats, kept: "_Earliest", order: Iterator[int], limit: int, bar: Progress
    ) -> None:
        for path in self.files(stats):
            signature = self._signature(path, stats)
            if signature is None:
                continue
            # a file's hits join the others only once the whole file was read: a file that fails midway adds nothing
            from_file = _Earliest(limit, stats, order)
            try:
                for event in self._search_file(path, plan, stats, signature, bar):
                    from_file.add(event)
            except LogTooLarge as exc:
                stats.files_skipped += 1
                stats.warnings.append(str(exc))
                continue
            except (OSError, EOFError, zlib.error) as exc:
                stats.files_skipped += 1
                stats.warnings.append(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}")
                continue
            stats.files_read += 1
            kept.merge(from_file)

    async def iter_certificates(self, since: datetime | None, warnings: list[str]) -> AsyncIterator[CertificateRecord]:
        """Streams every file (never the parse cache), in batches read in a thread, so memory stays flat."""
        batches = self._certificate_batches(as_utc(since) if since is not None else None, warnings)
        none: list[CertificateRecord] = []
        try:
            while batch := await asyncio.to_thread(next, batches, none):
                for item in batch:
                    yield item
        finally:
            batches.close()

    def _certificate_batches(
        self, since: datetime | None, warnings: list[str]
    ) -> Generator[list[CertificateRecord], None, None]:
        stats = ScanStats()
        batch: list[CertificateRecord] = []
        try:
            for path in self.files(stats):
                if self._signature(path, stats) is None:
                    continue
                try:
                    for when, record in self._stream(path, stats):
                        if record.fmt not in CERTIFICATE_FORMATS or (since is not None and when <= since):
                            continue
                        event = to_event(record, when, [], path.name)
                        if event.sha256 or event.sha1 or (event.serial and event.issuer):
                            batch.append(CertificateRecord(format=record.fmt, event=event))
                        if len(batch) >= CERTIFICATE_BATCH:
                            yield batch
                            batch = []
                except LogTooLarge as exc:
                    stats.warnings.append(str(exc))
                except (OSError, EOFError, zlib.error) as exc:
                    stats.warnings.append(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}")
            if batch:
                yield batch
        finally:
            warnings.extend(w for w in dict.fromkeys(stats.warnings) if w not in warnings)

    def _signature(self, path: Path, stats: ScanStats) -> tuple[int, int] | None:
        """(size, mtime) of a file to read; None, with a warning, when it cannot be read or is too large."""
        try:
            status = path.stat()
        except OSError as exc:
            stats.files_skipped += 1
            stats.warnings.append(f"{path}: cannot stat: {exc.strerror or exc}")
            return None
        if status.st_size > self.settings.max_file_bytes:
            stats.files_skipped += 1
            stats.warnings.append(
                f"{path}: {status.st_size} bytes is over max_file_bytes ({self.settings.max_file_bytes}), not read"
            )
            return None
        return status.st_size, status.st_mtime_ns

    def _search_file(
        self, path: Path, plan: _Plan, stats: ScanStats, signature: tuple[int, int], bar: Progress
    ) -> Iterator[SiemEvent]:
        candidates = self._indexed(
            path, plan.wanted, plan.kinds, plan.select_all, plan.by_file_id, plan.start, plan.end, stats, signature, bar
        )
        for examined, parsed in enumerate(candidates, 1):
            if not examined % PROGRESS_EVERY:
                bar.advance(PROGRESS_EVERY)
            when = parsed.when
            if not (plan.start <= when <= plan.end):
                continue
            matched = plan.matched(parsed.record)
            if matched is not None:
                bar.findings += 1
                key = (path.name, tuple(matched))
                event = parsed.events.get(key)
                if event is None:
                    event = parsed.events[key] = to_event(parsed.record, when, matched, path.name, self.instance)
                yield event

    def _indexed(
        self,
        path: Path,
        wanted: dict[str, set[str]],
        kinds: frozenset[str] | None,
        select_all: bool,
        file_ids: Iterable[str],
        start: datetime,
        end: datetime,
        stats: ScanStats,
        signature: tuple[int, int],
        bar: Progress | None = None,
    ) -> Iterable[Parsed]:
        """The file's records that may match, read through its index (logindex); all its records, when it is not
        indexed. Either way the caller judges each record, so both give the same answer."""
        index = index_of(path, self.settings.max_file_bytes, bar)
        if index is not None:
            rows = index.rows.candidates(wanted, kinds, select_all, file_ids, start, end)
            try:
                found = index.read(path, rows, self.settings.max_file_bytes, self._recent)
            except StaleIndex:
                pass  # replaced or rewritten since it was indexed: scanned below
            else:
                index.rows.count_into(stats)
                return found
        return (Parsed(when, 0, record) for when, record in self._timed_records(path, stats, signature))

    def _timed_records(
        self, path: Path, stats: ScanStats, signature: tuple[int, int]
    ) -> Iterable[tuple[datetime, LogRecord]]:
        """The file's records with their times: from the cache when the file is unchanged, else parsed
        (and cached while the budget allows)."""
        with self._parsing:  # concurrent searches of one run wait for the first parse instead of repeating it
            cached = self._parsed.get(path)
            if cached is None or cached.signature != signature:
                self._parsed.pop(path, None)
                budget = self.settings.cache_bytes - sum(p.cost for p in self._parsed.values())
                cost = _memory_cost(path, signature[0], self.settings.max_file_bytes)
                if cost > budget:
                    return self._stream(path, stats)
                cached = self._parsed[path] = _ParsedFile.read(path, signature, cost, self._stream)
        cached.count_into(stats)
        return cached.records

    def _stream(self, path: Path, stats: ScanStats) -> Iterator[tuple[datetime, LogRecord]]:
        for record in read_records(path, stats, self.settings.max_file_bytes):
            stats.records += 1
            when = record_time(record.data)
            if when is None:
                stats.no_time += 1
                continue
            yield when, record


def _memory_cost(path: Path, size: int, bound: int) -> int:
    """Bytes a parsed file stands for in the cache budget: its content, for gzip the size its trailer
    claims (never more than the bound reading enforces)."""
    return min(max(size, gzip_content_size(path)), bound) if is_gzip(path) else size


class _Earliest:
    """The ``limit`` earliest events, in a max-heap by negated time (a plain list until it is full) so memory
    stays bounded whatever matches; every event that does not fit is counted in ``stats.over_limit`` once."""

    def __init__(self, limit: int, stats: ScanStats, order: Iterator[int]) -> None:
        self._limit = limit
        self._stats = stats
        self._order = order
        self._heap: list[tuple[float, int, SiemEvent]] = []

    def add(self, event: SiemEvent) -> None:
        self._push((-event.time.timestamp(), next(self._order), event))

    def merge(self, other: "_Earliest") -> None:
        if len(self._heap) + len(other._heap) < self._limit:
            self._heap += other._heap
            return
        for item in other._heap:
            self._push(item)

    def _push(self, item: tuple[float, int, SiemEvent]) -> None:
        if len(self._heap) < self._limit - 1:
            self._heap.append(item)
            return
        if len(self._heap) == self._limit - 1:
            self._heap.append(item)
            heapq.heapify(self._heap)
            return
        self._stats.over_limit += 1
        if item[0] > self._heap[0][0]:
            heapq.heapreplace(self._heap, item)

    def events(self) -> list[SiemEvent]:
        return [event for _, _, event in sorted(self._heap, key=lambda item: (-item[0], item[1]))]


@dataclass(frozen=True)
class _ParsedFile:
    """One log file parsed once, with what parsing it skipped, so a cached read reports the same."""

    signature: tuple[int, int]
    cost: int
    records: list[tuple[datetime, LogRecord]]
    records_seen: int
    malformed: int
    no_time: int
    notes: tuple[str, ...]

    @classmethod
    def read(
        cls,
        path: Path,
        signature: tuple[int, int],
        cost: int,
        stream: Callable[[Path, ScanStats], Iterator[tuple[datetime, LogRecord]]],
    ) -> "_ParsedFile":
        own = ScanStats()
        records = list(stream(path, own))
        return cls(signature, cost, records, own.records, own.malformed, own.no_time, tuple(own.notes))

    def count_into(self, stats: ScanStats) -> None:
        stats.records += self.records_seen
        stats.malformed += self.malformed
        stats.no_time += self.no_time
        stats.notes.extend(self.notes)
