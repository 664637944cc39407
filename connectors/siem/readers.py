"""Reading log files into records: format detection (Zeek TSV, JSON lines, a JSON document), flattened
keys, Zeek known_certs' server fields and Windows events' ``win.*`` keys, with what could not be read
counted in ScanStats."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from certsoar.connectors.siem.windows import normalize_windows
from certsoar.logformats import flatten, read_zeek_tsv

LOG_SUFFIXES = (".log", ".json", ".jsonl", ".ndjson")
MAX_LINE_CHARS = 1024 * 1024


class ScanStats(BaseModel):
    """What the last search read and what it had to skip."""

    model_config = ConfigDict(extra="forbid")

    files_read: int = 0
    files_skipped: int = 0
    records: int = 0
    malformed: int = Field(default=0, description="Lines that are not valid JSON objects or TSV rows.")
    no_time: int = Field(default=0, description="Records whose time is missing or unparseable (e.g. masked).")
    over_limit: int = Field(default=0, description="Matching events dropped because the query's limit was reached (the latest go).")
    notes: list[str] = Field(default_factory=list)


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
    if "fingerprint" in data and "certificate.serial" in data:
        return "zeek-x509"
    if "cert_chain_fps" in data or ("id.resp_h" in data and "server_name" in data):
        return "zeek-ssl"
    if "conn_state" in data and "id.orig_h" in data:
        return "zeek-conn"
    return "jsonl"


def _json_record(obj: dict[str, Any]) -> LogRecord:
    windows = normalize_windows(obj)
    if windows is not None:
        fmt, fields = windows
        return LogRecord({**flatten(obj), **fields}, f"windows-{fmt}")
    return _known_certs(LogRecord(flatten(obj), _classify_json(obj)))


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
        yield _json_record(obj)


def _read_json_document(text: str, stats: ScanStats) -> Iterator[LogRecord]:
    try:
        doc = json.loads(text)
    except ValueError:
        stats.malformed += 1
        return
    items = doc if isinstance(doc, list) else [doc]
    for obj in items:
        if isinstance(obj, dict):
            yield _json_record(obj)
        else:
            stats.malformed += 1


def read_records(path: Path, stats: ScanStats) -> Iterator[LogRecord]:
    """Records of one file, whatever its format; undecodable bytes are replaced, not fatal."""
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        head = handle.read(4096)
        handle.seek(0)
        if "#separator" in head or "#fields" in head:
            yield from _read_zeek_tsv(handle, stats)
        elif head.lstrip().startswith("[") or (head.lstrip().startswith("{") and not _one_object_per_line(head)):
            yield from _read_json_document(handle.read(), stats)
        else:
            yield from _read_json_lines(handle, stats)


def _one_object_per_line(head: str) -> bool:
    first_line = head.lstrip().split("\n", 1)[0].strip()
    try:
        return isinstance(json.loads(first_line), dict)
    except ValueError:
        return False


