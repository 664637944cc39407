"""Reading log files into records: format detection (Zeek TSV, JSON lines, a JSON document), flattened
keys, Zeek known_certs' server fields and Windows events' ``win.*`` keys, with what could not be read
counted in ScanStats."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from certsoar.connectors.siem.windows import normalize_windows
from certsoar.errors import ConnectorError
from certsoar.logfields import ZEEK_CHAIN_FILE_IDS, ZEEK_FILE_ID, is_zeek_file_id
from certsoar.logformats import flatten, read_zeek_tsv, zeek_dotted

LOG_SUFFIXES = (".log", ".json", ".jsonl", ".ndjson")
GZIP_SUFFIX = ".gz"
MAX_LINE_CHARS = 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_HEAD_BYTES = 4096


class LogTooLarge(ConnectorError):
    """A gzipped log decompresses to more than the bound: it is not read (a gzip bomb stops here)."""


class ScanStats(BaseModel):
    """What the last search read and what it had to skip."""

    model_config = ConfigDict(extra="forbid")

    files_read: int = 0
    files_skipped: int = 0
    records: int = 0
    malformed: int = Field(default=0, description="Lines that are not valid JSON objects or TSV rows.")
    no_time: int = Field(default=0, description="Records whose time is missing or unparseable (e.g. masked).")
    over_limit: int = Field(
        default=0, description="Matching events dropped because the query's limit was reached (the latest go)."
    )
    notes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(
        default_factory=list,
        description="Sources not searched, or not whole, each naming the source: a pattern that matches no file, a missing "
        "path, a file over max_file_bytes (decompressed, for gzip), a file that cannot be read.",
    )


@dataclass(frozen=True)
class LogRecord:
    data: dict[str, Any]
    fmt: str


def _read_zeek_tsv(lines: Iterable[str], stats: ScanStats) -> Iterator[LogRecord]:
    for row in read_zeek_tsv(lines):
        if row.record is None:
            stats.malformed += 1
            continue
        yield _known_certs(LogRecord(row.record, f"zeek-{row.path or 'log'}"))


def _classify_json(data: dict[str, Any]) -> str:
    if isinstance(data.get("event_type"), str):
        return f"suricata-{data['event_type']}"
    if isinstance(data.get("_path"), str):
        return f"zeek-{data['_path']}"
    if ("fingerprint" in data or is_zeek_file_id(data.get(ZEEK_FILE_ID))) and "certificate.serial" in data:
        return "zeek-x509"
    if "cert_chain_fps" in data or ZEEK_CHAIN_FILE_IDS[0] in data or ("id.resp_h" in data and "server_name" in data):
        return "zeek-ssl"
    if "conn_state" in data and "id.orig_h" in data:
        return "zeek-conn"
    return "jsonl"


def json_record(obj: dict[str, Any]) -> LogRecord:
    """One JSON log record (a line, or a record a SIEM kept as logged) in its format, with flattened keys."""
    windows = normalize_windows(obj)
    if windows is not None:
        fmt, fields = windows
        return LogRecord({**flatten(obj), **fields}, f"windows-{fmt}")
    flat = zeek_dotted(flatten(obj))
    return _known_certs(LogRecord(flat, _classify_json(flat)))


def _known_certs(record: LogRecord) -> LogRecord:
    """known_certs.log names the server in ``host``/``port_num``: give it the connection keys so it is not a host."""
    if record.fmt != "zeek-known_certs":
        return record
    data = dict(record.data)
    data["id.resp_h"], data["id.resp_p"] = data.pop("host", None), data.pop("port_num", None)
    return LogRecord(data, record.fmt)


def _read_json_lines(lines: Iterable[str], stats: ScanStats) -> Iterator[LogRecord]:
    for line in lines:
        text = line.strip()
        if not text:
            continue
        if len(text) > MAX_LINE_CHARS:
            stats.malformed += 1
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            stats.malformed += 1
            continue
        if not isinstance(obj, dict):
            stats.malformed += 1
            continue
        yield json_record(obj)


def _read_json_document(text: str, stats: ScanStats) -> Iterator[LogRecord]:
    try:
        doc = json.loads(text)
    except ValueError:
        stats.malformed += 1
        return
    items = doc if isinstance(doc, list) else [doc]
    for obj in items:
        if isinstance(obj, dict):
            yield json_record(obj)
        else:
            stats.malformed += 1


TSV, DOCUMENT, LINES = "tsv", "document", "lines"
"""How a file is laid out, decided by its first bytes: Zeek TSV, one JSON document, JSON lines."""


def read_records(path: Path, stats: ScanStats, max_bytes: int) -> Iterator[LogRecord]:
    """Records of one file, plain or gzipped, whatever its format; undecodable bytes are replaced, not
    fatal. LogTooLarge when a gzipped file decompresses to more than ``max_bytes``."""
    with open_log(path, max_bytes) as binary:
        kind = layout(binary)
        handle = io.TextIOWrapper(binary, encoding="utf-8", errors="replace")
        if kind == DOCUMENT:
            yield from _read_json_document(handle.read(), stats)
        else:
            yield from read_lines(kind, handle, stats)


def layout(binary: io.BufferedReader) -> str:
    """TSV, DOCUMENT or LINES, from the first bytes of the (decompressed) file, which are not consumed."""
    head = binary.peek(_HEAD_BYTES)[:_HEAD_BYTES].decode("utf-8", errors="replace")
    if "#separator" in head or "#fields" in head:
        return TSV
    if head.lstrip().startswith("[") or (head.lstrip().startswith("{") and not _one_object_per_line(head)):
        return DOCUMENT
    return LINES


def read_lines(kind: str, lines: Iterable[str], stats: ScanStats) -> Iterator[LogRecord]:
    """The records of the lines of a TSV or LINES file, one record at most per line, yielded as soon as its
    line was taken from ``lines``."""
    return _read_zeek_tsv(lines, stats) if kind == TSV else _read_json_lines(lines, stats)


@contextmanager
def open_log(path: Path, max_bytes: int) -> Iterator[io.BufferedReader]:
    """The file's bytes, decompressed when it is gzip (by its magic bytes, whatever its name), the
    decompressed bytes bounded by ``max_bytes``."""
    with path.open("rb") as raw, decompressed(raw, max_bytes, path) as binary:
        yield binary


@contextmanager
def decompressed(raw: io.BufferedReader, max_bytes: int, path: Path) -> Iterator[io.BufferedReader]:
    """``raw`` itself, or its gzip content bounded by ``max_bytes`` when it starts with the gzip magic bytes."""
    if raw.peek(len(_GZIP_MAGIC))[: len(_GZIP_MAGIC)] != _GZIP_MAGIC:
        yield raw
        return
    with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
        yield io.BufferedReader(_Bounded(unzipped, max_bytes, path), buffer_size=64 * 1024)


def is_gzip(path: Path) -> bool:
    with path.open("rb") as raw:
        return raw.read(len(_GZIP_MAGIC)) == _GZIP_MAGIC


def gzip_content_size(path: Path) -> int:
    """What the gzip trailer says the content's size is (modulo 4 GiB, and a forged file may lie):
    an estimate for the cache budget, never the bound."""
    with path.open("rb") as raw:
        raw.seek(-4, io.SEEK_END)
        return int.from_bytes(raw.read(4), "little")


class _Bounded(io.RawIOBase):
    """Raw reads through ``inner`` that raise LogTooLarge once more than ``limit`` bytes came out."""

    def __init__(self, inner: io.BufferedIOBase, limit: int, path: Path) -> None:
        self._inner = inner
        self._limit = limit
        self._path = path
        self._count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._inner.readinto(buffer)
        self._count += count
        if self._count > self._limit:
            raise LogTooLarge(f"{self._path}: decompresses to more than max_file_bytes ({self._limit}), not read")
        return int(count)


def _one_object_per_line(head: str) -> bool:
    first_line = head.lstrip().split("\n", 1)[0].strip()
    try:
        return isinstance(json.loads(first_line), dict)
    except ValueError:
        return False
