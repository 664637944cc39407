"""An index of one log file, so that a search re-reads only the records that can match instead of every record.

Each data line of a Zeek TSV or JSON-lines file (plain or gzipped) is parsed once into a compact row: where the
line starts, the record's time (microseconds) and event kind, and, in one sorted array, a 64-bit digest of every
normalized indicator it carries (indicators.values) and of the Zeek file ids its chain names. A search takes the
candidate rows from the index (a superset of the matches: digests may collide, and an indicator kind the index
does not know takes the whole time window), re-reads only their lines and judges them with the same code as a
scan, so its answer is the scan's. Rows hold no record: memory is a few dozen bytes per record.

The index of a file that grew keeps its rows and reads only the new bytes, when the file is the same one (device
and inode) and its first and last indexed bytes are unchanged; any other change (rotated, replaced, truncated,
a gzip file rewritten) indexes it again. An unterminated last line is indexed apart and read again once the file
grows. One JSON document, a line with a lone carriage return (a break only a text reader sees) or a file that
cannot be indexed otherwise gives None: the caller scans it.

Indexes are shared by every search of the process (``index_of``) and kept across processes (indexcache).
"""

from __future__ import annotations

import hashlib
import heapq
import io
import os
import threading
import time
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from certsoar.connectors.siem.events import event_kind, record_time
from certsoar.connectors.siem.indicators import INDICATOR_FIELDS, chain_file_ids, values
from certsoar.connectors.siem.readers import (
    LINES,
    TSV,
    LogRecord,
    LogTooLarge,
    ScanStats,
    decompressed,
    layout,
    read_lines,
)
from certsoar.errors import ConnectorError
from certsoar.progress import Progress

INDEXED_KINDS = frozenset(INDICATOR_FIELDS) | {"server", "serial_issuer"}
"""Indicator kinds the index holds; a query naming another takes every row of its time window."""
FILE_ID = "\x00file_id"
"""The pseudo kind of the Zeek file ids an ssl record names its chain by."""
EDGE_BYTES = 64 * 1024
"""Bytes at each end of the indexed part compared before a grown file keeps its rows."""
MAX_DIRECTIVES = 1024
"""Zeek header lines a file may hold and still be indexed (each re-read line replays those before it)."""
SAVE_EVERY_S = 2.0
"""A log that keeps growing during a sweep is written to the cache at most this often."""
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


class Unindexable(ConnectorError):
    """The file is not indexed (the caller scans it)."""


class StaleIndex(ConnectorError):
    """The file changed between indexing and reading its lines (the caller scans it)."""


PROGRESS_EVERY = 4096
"""Records indexed between two progress reports."""


def micros(when: datetime) -> int:
    return (when - _EPOCH) // _MICROSECOND


def digest(kind: str, value: str) -> int:
    data = f"{kind}\x1f{value}".encode("utf-8", errors="surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)


@dataclass(frozen=True)
class Rows:
    """The rows of a part of a file, with what parsing it counted (as ScanStats counts a scan)."""

    layout: str
    directives: tuple[str, ...]
    kind_names: tuple[str, ...]
    offsets: array[int]  # where each row's line starts in the (decompressed) content
    directive_counts: array[int]  # Zeek header lines before the row's line (replayed to read it)
    times: array[int]  # microseconds since the epoch
    kinds: array[int]  # index into kind_names
    keys: array[int]  # sorted digests of (kind, value)
    postings: array[int]  # the row of each key
    by_time: array[int]  # rows sorted by time
    records: int = 0
    malformed: int = 0
    no_time: int = 0

    def __len__(self) -> int:
        return len(self.offsets)

    def count_into(self, stats: ScanStats) -> None:
        stats.records += self.records
        stats.malformed += self.malformed
        stats.no_time += self.no_time

    def candidates(
        self,
        wanted: dict[str, set[str]],
        kinds: frozenset[str] | None,
        select_all: bool,
        file_ids: Iterable[str],
        start: datetime,
        end: datetime,
    ) -> list[int]:
        """Rows in [start, end] of one of ``kinds`` that may match; sorted (file order)."""
        allowed = None if kinds is None else {i for i, name in enumerate(self.kind_names) if name in kinds}
        if allowed is not None and not allowed:
            return []
        low, high = micros(start), micros(end)
        if select_all or any(kind not in INDEXED_KINDS for kind in wanted):
            first = bisect_left(self.by_time, low, key=self.times.__getitem__)
            last = bisect_right(self.by_time, high, key=self.times.__getitem__)
            found: Iterable[int] = self.by_time[first:last]
        else:
            keys = {digest(kind, value) for kind, kind_values in wanted.items() for value in kind_values}
            keys |= {digest(FILE_ID, file_id) for file_id in file_ids}
            found = {row for key in keys for row in self._posted(key) if low <= self.times[row] <= high}
        return sorted(row for row in found if allowed is None or self.kinds[row] in allowed)

    def _posted(self, key: int) -> array[int]:
        return self.postings[bisect_left(self.keys, key) : bisect_right(self.keys, key)]


def _no_rows(kind: str) -> Rows:
    return Rows(kind, (), (), array("q"), array("I"), array("q"), array("B"), array("q"), array("I"), array("I"))


class _Builder:
    """Rows from lines read in order, continuing ``base`` (its rows, header lines and kind names)."""

    def __init__(self, base: Rows, bar: Progress | None) -> None:
        self.base = base
        self.bar = bar
        self.directives = list(base.directives)
        self.kind_names = list(base.kind_names)
        self.offsets, self.directive_counts = array("q"), array("I")
        self.times, self.kinds = array("q"), array("B")
        self.pairs: list[tuple[int, int]] = []
        self.stats = ScanStats()
        self._line_at = 0

    def read(self, lines: Iterable[tuple[int, bytes]]) -> None:
        for record in read_lines(self.base.layout, self._texts(lines), self.stats):
            self._add(record)

    def _texts(self, lines: Iterable[tuple[int, bytes]]) -> Iterator[str]:
        for offset, raw in lines:
            text = raw.decode("utf-8", errors="replace")
            if "\r" in text.removesuffix("\n").removesuffix("\r"):
                raise Unindexable("a lone carriage return")
            if self.base.layout == TSV and text.rstrip("\r\n").startswith("#"):
                if len(self.directives) >= MAX_DIRECTIVES:
                    raise Unindexable("too many Zeek header lines")
                self.directives.append(text)
            self._line_at = offset
            yield text

    def _add(self, record: LogRecord) -> None:
        self.stats.records += 1
        if self.bar is not None and not self.stats.records % PROGRESS_EVERY:
            self.bar.advance(PROGRESS_EVERY)  # indexing a large log is the slow part of its first search
        when = record_time(record.data)
        if when is None:
            self.stats.no_time += 1
            return
        kind = event_kind(record.data, record.fmt)
        if kind not in self.kind_names:
            if len(self.kind_names) > 255:
                raise Unindexable("too many event kinds")
            self.kind_names.append(kind)
        row = len(self.base) + len(self.offsets)
        self.offsets.append(self._line_at)
        self.directive_counts.append(len(self.directives))
        self.times.append(micros(when))
        self.kinds.append(self.kind_names.index(kind))
        for name in INDEXED_KINDS:
            self.pairs.extend((digest(name, value), row) for value in values(record.data, name))
        self.pairs.extend((digest(FILE_ID, file_id), row) for file_id in chain_file_ids(record.data))

    def rows(self) -> Rows:
        """``base`` followed by the rows read."""
        base = self.base
        pairs = heapq.merge(zip(base.keys, base.postings, strict=True), sorted(self.pairs))
        keys, postings = array("q"), array("I")
        for key, row in pairs:
            keys.append(key)
            postings.append(row)
        times = base.times + self.times
        return Rows(
            base.layout,
            tuple(self.directives),
            tuple(self.kind_names),
            base.offsets + self.offsets,
            base.directive_counts + self.directive_counts,
            times,
            base.kinds + self.kinds,
            keys,
            postings,
            array("I", sorted(range(len(times)), key=times.__getitem__)),
            base.records + self.stats.records,
            base.malformed + self.stats.malformed,
            base.no_time + self.stats.no_time,
        )


@dataclass(frozen=True)
class Stamp:
    """What identifies a file's state without reading it."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, status: os.stat_result) -> "Stamp":
        return cls(status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


@dataclass(frozen=True)
class Kept:
    """The rows of a file's complete lines (all of a gzip file), the part that outlives a change: what a grown
    file keeps and what the cache stores, with what tells whether the file still starts with those bytes."""

    rows: Rows
    gzip: bool
    device: int
    inode: int
    end: int  # plain: the bytes through the last complete line; gzip: the file's size
    mtime_ns: int  # gzip only (a plain file that grew has a new one)
    head: str  # digests of the first and last EDGE_BYTES of [0, end)
    tail: str
    content_bytes: int  # decompressed, for max_file_bytes

    def still_fits(self, handle: io.BufferedReader, stamp: Stamp) -> bool:
        if (stamp.device, stamp.inode) != (self.device, self.inode):
            return False
        if self.gzip and (stamp.size, stamp.mtime_ns) != (self.end, self.mtime_ns):
            return False
        return stamp.size >= self.end and _edges(handle, self.end) == (self.head, self.tail)


@dataclass(frozen=True)
class FileIndex:
    """A file's rows as it is now: the kept rows and those of an unterminated last line."""

    stamp: Stamp
    kept: Kept
    rows: Rows

    def read(self, path: Path, rows: list[int], max_bytes: int, recent: "RecentLines") -> list[Parsed]:
        """The records of ``rows``, re-read from the file (parsed again unless ``recent`` holds the same line under
        the same header); StaleIndex when the file is no longer the one indexed."""
        found: list[Parsed] = []
        with path.open("rb") as handle:
            now = Stamp.of(os.fstat(handle.fileno()))
            if (now.device, now.inode) != (self.stamp.device, self.stamp.inode) or now.size < self.stamp.size:
                raise StaleIndex(str(path))
            parse = _LineParser(self.rows)
            for row, line in self._lines(handle, rows, max_bytes, path):
                key = (parse.header(row), line)
                parsed = recent.get(key)
                if parsed is None:
                    record = parse(row, line.decode("utf-8", errors="replace"))
                    when = record_time(record.data) if record is not None else None
                    if record is None or when is None:
                        raise StaleIndex(str(path))
                    parsed = recent.put(key, Parsed(when, micros(when), record))
                if parsed.micros != self.rows.times[row]:
                    raise StaleIndex(str(path))
                found.append(parsed)
        return found

    def _lines(
        self, handle: io.BufferedReader, rows: list[int], max_bytes: int, path: Path
    ) -> Iterator[tuple[int, bytes]]:
        offsets = self.rows.offsets
        if not self.kept.gzip:
            for row in rows:
                handle.seek(offsets[row])
                yield row, handle.readline(self.stamp.size - offsets[row])
            return
        pending = iter(rows)
        wanted = next(pending, None)
        with decompressed(handle, max_bytes, path) as content:
            for offset, line in _numbered(content, 0):
                while wanted is not None and offsets[wanted] == offset:
                    yield wanted, line
                    wanted = next(pending, None)
                if wanted is None:
                    return


class _LineParser:
    """Parses one line at a time as the reader of the whole file would have at that line: a Zeek line under the
    header lines before it, which are read once per header, not once per line."""

    def __init__(self, rows: Rows) -> None:
        self._rows = rows
        self._pending: list[str] = []
        self._readers: dict[int, Iterator[LogRecord]] = {}
        self._headers: dict[int, tuple[str, ...]] = {}

    def header(self, row: int) -> tuple[str, ...]:
        """The header lines the row's line is read under."""
        if self._rows.layout != TSV:
            return ()
        count = self._rows.directive_counts[row]
        found = self._headers.get(count)
        if found is None:
            found = self._headers[count] = self._rows.directives[:count]
        return found

    def __call__(self, row: int, text: str) -> LogRecord | None:
        count = self._rows.directive_counts[row] if self._rows.layout == TSV else 0
        reader = self._readers.get(count)
        if reader is None:
            self._pending = list(self._rows.directives[:count])
            reader = self._readers[count] = read_lines(self._rows.layout, self._feed(), ScanStats())
        self._pending.append(text)
        record = next(reader, None)
        if record is None or self._pending:  # not a record (the file changed): this reader has ended
            self._readers.pop(count, None)
            return None
        return record

    def _feed(self) -> Iterator[str]:
        while self._pending:
            yield self._pending.pop(0)


@dataclass
class Parsed:
    """A record with its time, and the events made of it so far (by source and matched kinds)."""

    when: datetime
    micros: int
    record: LogRecord
    events: dict[tuple[str, tuple[str, ...]], Any] = field(default_factory=dict)


class RecentLines:
    """The last lines parsed, bounded: a sweep's searches read the same window of lines for one certificate
    after another, and parsing a line and making its event cost more than finding it."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lines: OrderedDict[tuple[tuple[str, ...], bytes], Parsed] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[tuple[str, ...], bytes]) -> Parsed | None:
        with self._lock:
            found = self._lines.get(key)
            if found is not None:
                self._lines.move_to_end(key)
            return found

    def put(self, key: tuple[tuple[str, ...], bytes], parsed: Parsed) -> Parsed:
        with self._lock:
            self._lines[key] = parsed
            if len(self._lines) > self._size:
                self._lines.popitem(last=False)
        return parsed


def _numbered(content: io.BufferedReader, start: int, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(offset, line) from ``start``; the line that reaches ``stop`` is cut there."""
    offset = start
    for line in content:
        if stop is not None and offset + len(line) > stop:
            line = line[: stop - offset]
        if line:
            yield offset, line
        offset += len(line)
        if stop is not None and offset >= stop:
            return


def _edges(handle: io.BufferedReader, end: int) -> tuple[str, str]:
    handle.seek(0)
    head = handle.read(min(end, EDGE_BYTES))
    handle.seek(max(0, end - EDGE_BYTES))
    tail = handle.read(end - max(0, end - EDGE_BYTES))
    return hashlib.sha256(head).hexdigest(), hashlib.sha256(tail).hexdigest()


def build(path: Path, stamp: Stamp, kept: Kept | None, max_bytes: int, bar: Progress | None = None) -> FileIndex:
    """The file's index, from ``kept`` when the file still starts with its bytes, else from the start."""
    with path.open("rb") as handle:
        if Stamp.of(os.fstat(handle.fileno())) != stamp:
            raise StaleIndex(str(path))
        if kept is not None and not kept.still_fits(handle, stamp):
            kept = None
        whole = _edges(handle, stamp.size)
        handle.seek(0)
        with decompressed(handle, max_bytes, path) as content:
            kind = layout(content)
            if kind not in (TSV, LINES):
                raise Unindexable("one JSON document")
            if kept is not None and kept.rows.layout != kind:
                kept = None
            if content is not handle:  # gzip: read whole, never grown
                if kept is None:
                    builder = _Builder(_no_rows(kind), bar)
                    lines = _Counted(_numbered(content, 0))
                    builder.read(lines)
                    rows = builder.rows()
                    kept = Kept(rows, True, stamp.device, stamp.inode, stamp.size, stamp.mtime_ns, *whole, lines.bytes)
                return FileIndex(stamp, kept, kept.rows)
        kept = _grown(handle, kind, stamp, kept, bar)
        tail = _Builder(kept.rows, bar)
        handle.seek(kept.end)
        tail.read(_numbered(handle, kept.end, stamp.size))
        return FileIndex(stamp, kept, tail.rows() if tail.stats.records or tail.stats.malformed else kept.rows)


def _grown(handle: io.BufferedReader, kind: str, stamp: Stamp, kept: Kept | None, bar: Progress | None) -> Kept:
    """``kept`` with the complete lines written after it (all of them without it)."""
    start = kept.end if kept is not None else 0
    builder = _Builder(kept.rows if kept is not None else _no_rows(kind), bar)
    handle.seek(start)
    complete = _Complete(_numbered(handle, start, stamp.size), start)
    builder.read(complete)
    if kept is not None and complete.end == kept.end:
        return kept
    head, tail = _edges(handle, complete.end)
    return Kept(builder.rows(), False, stamp.device, stamp.inode, complete.end, 0, head, tail, complete.end)


class _Complete:
    """The lines that end in a newline; ``end`` is where the last of them ends."""

    def __init__(self, lines: Iterator[tuple[int, bytes]], start: int) -> None:
        self._lines = lines
        self.end = start

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for offset, line in self._lines:
            if not line.endswith(b"\n"):
                return
            self.end = offset + len(line)
            yield offset, line


class _Counted:
    """Lines, counting their bytes."""

    def __init__(self, lines: Iterator[tuple[int, bytes]]) -> None:
        self._lines = lines
        self.bytes = 0

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for offset, line in self._lines:
            self.bytes = offset + len(line)
            yield offset, line


# --- one index per file for the whole process -------------------------------------------------------------------


@dataclass
class _Registry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    indexes: dict[Path, FileIndex] = field(default_factory=dict)
    not_indexed: dict[Path, tuple[Stamp, int]] = field(default_factory=dict)
    saved: dict[Path, tuple[Kept, float]] = field(default_factory=dict)  # what the cache holds, and since when


_REGISTRY = _Registry()


def index_of(path: Path, max_bytes: int, bar: Progress | None = None) -> FileIndex | None:
    """The file's index, built or brought up to date when the file changed (loaded from the cache when this
    process has none); None when the file is not indexed. Searches of the process share one index per file."""
    from certsoar.connectors.siem import indexcache

    registry = _REGISTRY
    path = path.absolute()  # one index (and one cache entry) per file, whatever folder the process runs in
    try:
        stamp = Stamp.of(path.stat())
    except OSError:
        return None
    with registry.lock:  # concurrent searches wait for the first indexing instead of repeating it
        current = registry.indexes.get(path)
        if current is None or current.stamp != stamp:
            if registry.not_indexed.get(path) == (stamp, max_bytes):
                return None
            kept = current.kept if current is not None else _loaded(path, registry)
            try:
                current = registry.indexes[path] = build(path, stamp, kept, max_bytes, bar)
            except (Unindexable, StaleIndex, LogTooLarge, OSError, EOFError, zlib.error):
                registry.indexes.pop(path, None)
                registry.not_indexed[path] = (stamp, max_bytes)
                return None
            saved, at = registry.saved.get(path, (None, 0.0))
            if current.kept is not saved and (saved is None or time.monotonic() - at >= SAVE_EVERY_S):
                indexcache.save(path, current.kept)
                registry.saved[path] = (current.kept, time.monotonic())
        return current if current.kept.content_bytes <= max_bytes else None


def _loaded(path: Path, registry: _Registry) -> Kept | None:
    from certsoar.connectors.siem import indexcache

    kept = indexcache.load(path)
    if kept is not None:
        registry.saved[path] = (kept, float("-inf"))  # loaded, not saved: the first change is saved at once
    return kept


def forget() -> None:
    """Drop every index of this process (the cache keeps its entries)."""
    with _REGISTRY.lock:
        _REGISTRY.indexes.clear()
        _REGISTRY.not_indexed.clear()
        _REGISTRY.saved.clear()
