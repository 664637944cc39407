"""A SIEM made of log files: Zeek (TSV and JSON: ssl, x509, conn, known_certs), Suricata eve.json,
Windows events as JSON lines (Sysmon 1, Security 4688, PowerShell 4104, AD CS 4886/4887/4888/4870) and
generic JSON lines.

Meant for the lab, for small deployments that keep logs on disk, and as the reference
implementation of the Siem protocol. Every record is normalized into flat dotted keys
(``tls.fingerprint``, ``id.resp_h``; Windows events also get ``win.*`` keys) and matched against the
query's indicators after the hash, serial, DN, account and address forms have been normalized
(cert-domain §0, §2). Files are read line by line and only the ``limit`` earliest hits are kept.
"""

from __future__ import annotations

import asyncio
import heapq
import ipaddress
import itertools
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from certsoar.certs.fingerprints import normalize_digest, normalize_serial
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.siem import SiemEvent, SiemQuery
from certsoar.connectors.siem.windows import normalize_windows
from certsoar.correlation.identity import (
    account_name,
    canonical_account,
    canonical_dn,
    canonical_host,
    format_server,
    parse_server,
    short_host,
)
from certsoar.errors import ConnectorUnavailable
from certsoar.logformats import flatten, parse_time, read_zeek_tsv
from certsoar.timeparse import as_utc

LOG_SUFFIXES = (".log", ".json", ".jsonl", ".ndjson")
MAX_LINE_CHARS = 1024 * 1024
TIME_FIELDS = ("ts", "timestamp", "@timestamp", "time", "win.time")


class FilesSiemSettings(ConnectorSettings):
    paths: list[Path] = Field(min_length=1, description="Log files or folders; folders are walked for *.log, *.json, *.jsonl, *.ndjson.")
    max_file_bytes: int = Field(default=256 * 1024 * 1024, ge=1, description="Larger files are skipped with a note.")
    cache_bytes: int = Field(
        default=64 * 1024 * 1024, ge=0,
        description="Files are parsed once per connector and kept in memory while their sizes add up to no more than "
                    "this; a changed file is read again. Larger logs are streamed on every search.",
    )


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


# --- indicator fields (flattened, dotted keys) -------------------------------------------------

_FIELDS: dict[str, tuple[str, ...]] = {
    "sha256": ("fingerprint", "cert_chain_fps", "sha256", "cert_sha256", "certificate.sha256", "tls.server.hash.sha256", "hash.sha256", "file.hash.sha256"),
    "sha1": ("fingerprint", "tls.fingerprint", "sha1", "cert_sha1", "certificate.sha1", "tls.server.hash.sha1", "hash.sha1", "file.hash.sha1"),
    "spki": ("spki_sha256", "spki", "certificate.spki_sha256", "x509.spki_sha256", "tls.server.x509.spki_sha256", "hash.spki_sha256"),
    "serial": ("certificate.serial", "tls.serial", "serial", "certificate.serial_number", "tls.server.x509.serial_number", "x509.serial_number", "SerialNumber", "win.serial"),
    "issuer": ("certificate.issuer", "tls.issuerdn", "issuer", "issuer_subject", "tls.server.x509.issuer.distinguished_name", "x509.issuer.distinguished_name"),
    "sni": ("server_name", "tls.sni", "sni", "tls.client.server_name"),
    "ip": ("id.orig_h", "id.resp_h", "src_ip", "dest_ip", "dst_ip", "source.ip", "destination.ip", "san.ip", "ip"),
    "host": ("host", "hostname", "host.name", "host.hostname", "Computer", "computer", "Hostname", "win.computer"),
    "requester": ("win.requester", "Requester", "requester", "User", "user.name", "user"),
    "subject": ("certificate.subject", "tls.subject", "subject", "tls.server.x509.subject.distinguished_name", "x509.subject.distinguished_name", "win.subject"),
    "ja3": ("ja3", "tls.ja3.hash", "tls.client.ja3"),
    "ja3s": ("ja3s", "tls.ja3s.hash", "tls.server.ja3s"),
}
_DIGEST_LENGTH = {"sha256": 64, "sha1": 40, "spki": 64}
_SERVER_FIELDS = (("id.resp_h", "id.resp_p"), ("dest_ip", "dest_port"), ("destination.ip", "destination.port"), ("dst_ip", "dst_port"))


def _normalize(kind: str, value: Any) -> str | None:
    if value is None or isinstance(value, (dict, bool)):
        return None
    text = str(value).strip()
    if not text:
        return None
    if kind in _DIGEST_LENGTH:
        digest = normalize_digest(text)
        return digest if digest and len(digest) == _DIGEST_LENGTH[kind] else None
    if kind == "serial":
        return normalize_serial(text)
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            return None
    if kind == "sni":
        return text.rstrip(".").lower()
    if kind == "host":
        return canonical_host(text)
    if kind in ("subject", "issuer"):
        return canonical_dn(text) or text.casefold()
    if kind == "requester":
        return canonical_account(text)
    if kind == "server":
        server = parse_server(text)
        return format_server(*server) if server else None
    if kind == "serial_issuer":
        serial, sep, issuer = text.partition("|")
        serial_norm, issuer_norm = normalize_serial(serial), canonical_dn(issuer)
        return f"{serial_norm}|{issuer_norm}" if sep and serial_norm and issuer_norm else None
    return text.casefold()


def _field_values(record: dict[str, Any], kind: str) -> set[str]:
    found: set[str] = set()
    for name in _FIELDS.get(kind, (kind,)):
        raw = record.get(name)
        items = raw if isinstance(raw, list) else [raw]
        for item in items:
            norm = _normalize(kind, item)
            if norm is not None:
                found.add(norm)
    return found


def _values(record: dict[str, Any], kind: str) -> set[str]:
    """Normalized values of one indicator kind in a record (derived kinds are computed from several fields)."""
    if kind == "server":
        servers = set()
        for ip_field, port_field in _SERVER_FIELDS:
            ip, port = _ip(record.get(ip_field)), _port(record.get(port_field))
            if ip and port is not None:
                servers.add(format_server(ip, port))
        return servers
    if kind == "serial_issuer":
        issuers = {v for v in (canonical_dn(str(i)) for i in _raw_values(record, "issuer")) if v}
        return {f"{serial}|{issuer}" for serial in _field_values(record, "serial") for issuer in issuers}
    found = _field_values(record, kind)
    if kind == "host":
        found |= {short for short in (short_host(v) for v in found) if short}
    if kind == "requester":
        found |= {name for name in (account_name(v) for v in found) if name}
    return found


def _raw_values(record: dict[str, Any], kind: str) -> list[Any]:
    values: list[Any] = []
    for name in _FIELDS[kind]:
        raw = record.get(name)
        values.extend(raw if isinstance(raw, list) else [raw] if raw not in (None, "") else [])
    return values


# --- time ------------------------------------------------------------------------------------


def _record_time(record: dict[str, Any]) -> datetime | None:
    for name in TIME_FIELDS:
        if record.get(name) not in (None, ""):
            return parse_time(record[name])
    return None


# --- readers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Record:
    data: dict[str, Any]
    fmt: str


def _read_zeek_tsv(lines: Iterable[str], stats: ScanStats) -> Iterator[_Record]:
    for row in read_zeek_tsv(lines):
        if row.record is None:
            stats.malformed += 1
            continue
        yield _known_certs(_Record(row.record, f"zeek-{row.path or 'log'}"))


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


def _json_record(obj: dict[str, Any]) -> _Record:
    windows = normalize_windows(obj)
    if windows is not None:
        fmt, fields = windows
        return _Record({**flatten(obj), **fields}, f"windows-{fmt}")
    return _known_certs(_Record(flatten(obj), _classify_json(obj)))


def _known_certs(record: _Record) -> _Record:
    """known_certs.log names the server in ``host``/``port_num``: give it the connection keys so it is not a host."""
    if record.fmt != "zeek-known_certs":
        return record
    data = dict(record.data)
    data["id.resp_h"], data["id.resp_p"] = data.pop("host", None), data.pop("port_num", None)
    return _Record(data, record.fmt)


def _read_json_lines(lines: Iterable[str], stats: ScanStats) -> Iterator[_Record]:
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


def _read_json_document(text: str, stats: ScanStats) -> Iterator[_Record]:
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


def read_records(path: Path, stats: ScanStats) -> Iterator[_Record]:
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


# --- events ------------------------------------------------------------------------------------

_KIND_BY_FORMAT = {
    "zeek-x509": "x509", "zeek-ssl": "tls", "zeek-known_certs": "x509", "zeek-conn": "conn",
    "suricata-tls": "tls", "suricata-alert": "alert", "suricata-flow": "conn",
    "windows-sysmon-1": "process", "windows-security-4688": "process", "windows-powershell-4104": "script",
}


def _first(record: dict[str, Any], *names: str) -> Any:
    for name in names:
        value = record.get(name)
        if value not in (None, "", []):
            return value
    return None


def _port(value: Any) -> int | None:
    try:
        port = int(value)
    except (TypeError, ValueError):
        return None
    return port if 0 <= port <= 65535 else None


def _ip(value: Any) -> str | None:
    return _normalize("ip", value) if value is not None else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 and number == number and number != float("inf") else None


def _string(value: Any, limit: int = 8192) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text[:limit] if text and text != "-" else None


def _kind(record: dict[str, Any], fmt: str) -> str:
    if fmt in _KIND_BY_FORMAT:
        return _KIND_BY_FORMAT[fmt]
    if fmt.startswith("windows-adcs-"):
        return "adcs"
    if fmt.startswith(("suricata-", "zeek-")):
        return fmt.split("-", 1)[1]
    declared = record.get("kind")
    return declared if isinstance(declared, str) and declared else "alert"


def _summary(kind: str, src: str | None, dst: str | None, port: int | None, sni: str | None, record: dict[str, Any]) -> str:
    parts = [kind]
    if record.get("win.event_id"):
        parts.append(f"event {record['win.event_id']} on {record.get('win.computer', '?')}")
    if src or dst:
        parts.append(f"{src or '?'} -> {dst or '?'}{f':{port}' if port is not None else ''}")
    if sni:
        parts.append(f"sni={sni}")
    subject = _first(record, "certificate.subject", "tls.subject", "subject", "win.subject")
    if subject:
        parts.append(f"subject={subject}")
    requester = record.get("win.requester")
    if requester:
        parts.append(f"by {requester}")
    command = _first(record, "win.command", "win.script")
    if isinstance(command, str):
        parts.append(command[:200])
    signature = _first(record, "alert.signature", "rule", "title", "message")
    if isinstance(signature, str):
        parts.append(signature)
    return " ".join(parts)[:500]


def _digest(record: dict[str, Any], kind: str) -> str | None:
    for item in _raw_values(record, kind):  # ssl.log cert_chain_fps lists the leaf first
        norm = _normalize(kind, item)
        if norm is not None:
            return norm
    return None


def _serial(record: dict[str, Any]) -> str | None:
    value = _first(record, *_FIELDS["serial"])
    return normalize_serial(str(value)) if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def to_event(record: _Record, when: datetime, matched: list[str], source: str) -> SiemEvent:
    data = record.data
    src_ip = _ip(_first(data, "id.orig_h", "src_ip", "source.ip"))
    dst_ip = _ip(_first(data, "id.resp_h", "dest_ip", "dst_ip", "destination.ip"))
    dst_port = _port(_first(data, "id.resp_p", "dest_port", "dst_port", "destination.port"))
    sni_value = _first(data, "server_name", "tls.sni", "sni", "tls.client.server_name")
    host_value = _first(data, "win.computer", "host", "hostname", "host.name", "host.hostname", "Computer", "Hostname")
    kind = _kind(data, record.fmt)
    ski = _string(data.get("win.ski"))
    return SiemEvent(
        time=when,
        source=f"{source} ({record.fmt})",
        kind=kind,
        matched=matched,
        src_ip=src_ip,
        src_port=_port(_first(data, "id.orig_p", "src_port", "source.port")),
        dst_ip=dst_ip,
        dst_port=dst_port,
        host=str(host_value) if isinstance(host_value, (str, int)) and not isinstance(host_value, bool) else None,
        sni=str(sni_value).lower() if isinstance(sni_value, str) else None,
        summary=_summary(kind, src_ip, dst_ip, dst_port, sni_value if isinstance(sni_value, str) else None, data),
        raw=data,
        uid=_string(_first(data, "uid", "flow_id"), 128),
        bytes_out=_count(_first(data, "orig_bytes", "flow.bytes_toserver", "source.bytes")),
        bytes_in=_count(_first(data, "resp_bytes", "flow.bytes_toclient", "destination.bytes")),
        duration=_seconds(_first(data, "duration", "flow.age", "event.duration")),
        conn_state=_string(data.get("conn_state"), 32),
        service=_string(_first(data, "service", "app_proto"), 64),
        requester=_string(_first(data, "win.requester", "Requester", "requester", "user.name"), 512),
        command=_string(_first(data, "win.command", "win.script", "process.command_line", "CommandLine", "command")),
        image=_string(_first(data, "win.image", "process.executable", "Image"), 1024),
        event_code=_string(data.get("win.event_id"), 16),
        request_id=_string(data.get("win.request_id"), 64),
        disposition=_string(data.get("win.disposition"), 64),
        template=_string(data.get("win.template"), 512),
        subject=_string(_first(data, *_FIELDS["subject"]), 4096),
        issuer=_string(_first(data, *_FIELDS["issuer"]), 4096),
        serial=_serial(data),
        sha256=_digest(data, "sha256"),
        sha1=_digest(data, "sha1"),
        spki=_digest(data, "spki"),
        subject_key_id=normalize_digest(ski) if ski else None,
        validation_status=_string(data.get("validation_status"), 512),
        ja3=_string(_first(data, *_FIELDS["ja3"]), 64),
        ja3s=_string(_first(data, *_FIELDS["ja3s"]), 64),
    )


def normalize_query(query: SiemQuery) -> dict[str, set[str]]:
    wanted: dict[str, set[str]] = {}
    for kind, values in query.indicators.items():
        normalized = {v for v in (_normalize(kind, value) for value in values) if v is not None}
        if normalized:
            wanted[kind] = normalized
    return wanted


def match(record: dict[str, Any], wanted: dict[str, set[str]]) -> list[str]:
    return [kind for kind, values in wanted.items() if _values(record, kind) & values]


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

    def matched(self, record: _Record) -> list[str] | None:
        """Indicator kinds the record matched ([] when selected by kind alone), None when it does not qualify."""
        if self.kinds is not None and _kind(record.data, record.fmt) not in self.kinds:
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

    def _timed_records(self, path: Path, stats: ScanStats, signature: tuple[int, int]) -> Iterable[tuple[datetime, _Record]]:
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
    def _stream(path: Path, stats: ScanStats) -> Iterator[tuple[datetime, _Record]]:
        for record in read_records(path, stats):
            stats.records += 1
            when = _record_time(record.data)
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
    records: list[tuple[datetime, _Record]]
    records_seen: int
    malformed: int
    no_time: int
    notes: tuple[str, ...]

    @classmethod
    def read(cls, path: Path, signature: tuple[int, int],
             stream: Callable[[Path, ScanStats], Iterator[tuple[datetime, _Record]]]) -> "_ParsedFile":
        own = ScanStats()
        records = list(stream(path, own))
        return cls(signature, records, own.records, own.malformed, own.no_time, tuple(own.notes))

    def count_into(self, stats: ScanStats) -> None:
        stats.records += self.records_seen
        stats.malformed += self.malformed
        stats.no_time += self.no_time
        stats.notes.extend(self.notes)
