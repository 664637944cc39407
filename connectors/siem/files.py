"""A SIEM made of log files: Zeek (TSV and JSON), Suricata eve.json and generic JSON lines.

Meant for the lab, for small deployments that keep logs on disk, and as the reference
implementation of the Siem protocol. Every record is normalized into flat dotted keys
(``tls.fingerprint``, ``id.resp_h``) and matched against the query's indicators after the
hash, serial and address forms have been normalized (cert-domain §0, §2).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from certsoar.certs.fingerprints import normalize_digest, normalize_serial
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.siem import SiemEvent, SiemQuery
from certsoar.errors import ConnectorUnavailable

LOG_SUFFIXES = (".log", ".json", ".jsonl", ".ndjson")
MAX_LINE_CHARS = 1024 * 1024
TIME_FIELDS = ("ts", "timestamp", "@timestamp", "time")


class FilesSiemSettings(ConnectorSettings):
    paths: list[Path] = Field(min_length=1, description="Log files or folders; folders are walked for *.log, *.json, *.jsonl, *.ndjson.")
    max_file_bytes: int = Field(default=256 * 1024 * 1024, ge=1, description="Larger files are skipped with a note.")


class ScanStats(BaseModel):
    """What the last search read and what it had to skip."""

    model_config = ConfigDict(extra="forbid")

    files_read: int = 0
    files_skipped: int = 0
    records: int = 0
    malformed: int = Field(default=0, description="Lines that are not valid JSON objects or TSV rows.")
    no_time: int = Field(default=0, description="Records whose time is missing or unparseable (e.g. masked).")
    notes: list[str] = Field(default_factory=list)


# --- indicator fields (flattened, dotted keys) -------------------------------------------------

_FIELDS: dict[str, tuple[str, ...]] = {
    "sha256": ("fingerprint", "cert_chain_fps", "sha256", "cert_sha256", "certificate.sha256", "tls.server.hash.sha256", "hash.sha256", "file.hash.sha256"),
    "sha1": ("fingerprint", "tls.fingerprint", "sha1", "cert_sha1", "certificate.sha1", "tls.server.hash.sha1", "hash.sha1", "file.hash.sha1"),
    "serial": ("certificate.serial", "tls.serial", "serial", "certificate.serial_number", "tls.server.x509.serial_number", "x509.serial_number", "SerialNumber"),
    "sni": ("server_name", "tls.sni", "sni", "tls.client.server_name"),
    "ip": ("id.orig_h", "id.resp_h", "src_ip", "dest_ip", "dst_ip", "source.ip", "destination.ip", "san.ip", "ip"),
    "host": ("host", "hostname", "host.name", "host.hostname", "Computer", "computer"),
    "subject": ("certificate.subject", "tls.subject", "subject", "tls.server.x509.subject.distinguished_name"),
    "ja3": ("ja3", "tls.ja3.hash", "tls.client.ja3"),
    "ja3s": ("ja3s", "tls.ja3s.hash", "tls.server.ja3s"),
}
_DIGEST_LENGTH = {"sha256": 64, "sha1": 40}


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
    if kind in ("sni", "host"):
        return text.rstrip(".").lower()
    return text.casefold()


def _values(record: dict[str, Any], kind: str) -> set[str]:
    found: set[str] = set()
    for name in _FIELDS.get(kind, (kind,)):
        raw = record.get(name)
        items = raw if isinstance(raw, list) else [raw]
        for item in items:
            norm = _normalize(kind, item)
            if norm is not None:
                found.add(norm)
    return found


# --- time ------------------------------------------------------------------------------------

_EPOCH = re.compile(r"^\d{9,11}(?:\.\d+)?$")


def parse_time(value: Any) -> datetime | None:
    """Epoch seconds (number or string) or ISO 8601 (``Z``, ``+0000``, naive = UTC); None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        text = str(value).strip()
        if _EPOCH.match(text):
            return datetime.fromtimestamp(float(text), tz=timezone.utc)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _record_time(record: dict[str, Any]) -> datetime | None:
    for name in TIME_FIELDS:
        if record.get(name) not in (None, ""):
            return parse_time(record[name])
    return None


# --- readers -----------------------------------------------------------------------------------


def flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"tls": {"sni": x}}`` → ``{"tls.sni": x}``; keys that are already dotted (Zeek JSON) stay."""
    flat: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


@dataclass
class _ZeekHeader:
    separator: str = "\t"
    set_separator: str = ","
    empty: str = "(empty)"
    unset: str = "-"
    path: str = ""
    fields: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)

    def convert(self, raw: str, type_name: str) -> Any:
        container = type_name.startswith(("vector", "set", "table"))
        if raw == self.unset:
            return None
        if raw == self.empty:
            return [] if container else ""
        if container:
            return [_unescape(part) for part in raw.split(self.set_separator)]
        value = _unescape(raw)
        if type_name == "bool":
            return value == "T"
        if type_name in ("count", "int", "port"):
            try:
                return int(value)
            except ValueError:
                return value
        return value


@dataclass(frozen=True)
class _Record:
    data: dict[str, Any]
    fmt: str


def _read_zeek_tsv(lines: Iterable[str], stats: ScanStats) -> Iterator[_Record]:
    header = _ZeekHeader()
    for line in lines:
        line = line.rstrip("\r\n")
        if not line:
            continue
        if line.startswith("#"):
            key, _, rest = line[1:].partition(" " if line.startswith("#separator") else header.separator)
            if key == "separator":
                header.separator = _unescape(rest.strip())
            elif key == "set_separator":
                header.set_separator = _unescape(rest)
            elif key == "empty_field":
                header.empty = rest
            elif key == "unset_field":
                header.unset = rest
            elif key == "path":
                header.path = rest
            elif key == "fields":
                header.fields = rest.split(header.separator)
            elif key == "types":
                header.types = rest.split(header.separator)
            continue
        parts = line.split(header.separator)
        if not header.fields or len(parts) != len(header.fields):
            stats.malformed += 1
            continue
        types = header.types if len(header.types) == len(parts) else ["string"] * len(parts)
        data = {name: header.convert(raw, t) for name, raw, t in zip(header.fields, parts, types)}
        yield _Record(data, f"zeek-{header.path or 'log'}")


def _classify_json(data: dict[str, Any]) -> str:
    if isinstance(data.get("event_type"), str):
        return f"suricata-{data['event_type']}"
    if isinstance(data.get("_path"), str):
        return f"zeek-{data['_path']}"
    if "fingerprint" in data and "certificate.serial" in data:
        return "zeek-x509"
    if "cert_chain_fps" in data or ("id.resp_h" in data and "server_name" in data):
        return "zeek-ssl"
    return "jsonl"


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
        yield _Record(flatten(obj), _classify_json(obj))


def _read_json_document(text: str, stats: ScanStats) -> Iterator[_Record]:
    try:
        doc = json.loads(text)
    except ValueError:
        stats.malformed += 1
        return
    items = doc if isinstance(doc, list) else [doc]
    for obj in items:
        if isinstance(obj, dict):
            yield _Record(flatten(obj), _classify_json(obj))
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

_KIND_BY_FORMAT = {"zeek-x509": "x509", "zeek-ssl": "tls", "zeek-known_certs": "x509", "suricata-tls": "tls", "suricata-alert": "alert"}


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


def _kind(record: dict[str, Any], fmt: str) -> str:
    if fmt in _KIND_BY_FORMAT:
        return _KIND_BY_FORMAT[fmt]
    if fmt.startswith(("suricata-", "zeek-")):
        return fmt.split("-", 1)[1]
    declared = record.get("kind")
    return declared if isinstance(declared, str) and declared else "alert"


def _summary(kind: str, src: str | None, dst: str | None, port: int | None, sni: str | None, record: dict[str, Any]) -> str:
    parts = [kind]
    if src or dst:
        parts.append(f"{src or '?'} -> {dst or '?'}{f':{port}' if port is not None else ''}")
    if sni:
        parts.append(f"sni={sni}")
    subject = _first(record, "certificate.subject", "tls.subject", "subject")
    if subject:
        parts.append(f"subject={subject}")
    signature = _first(record, "alert.signature", "rule", "title", "message")
    if isinstance(signature, str):
        parts.append(signature)
    return " ".join(parts)[:500]


def to_event(record: _Record, when: datetime, matched: list[str], source: str) -> SiemEvent:
    data = record.data
    src_ip = _ip(_first(data, "id.orig_h", "src_ip", "source.ip"))
    dst_ip = _ip(_first(data, "id.resp_h", "dest_ip", "dst_ip", "destination.ip"))
    dst_port = _port(_first(data, "id.resp_p", "dest_port", "dst_port", "destination.port"))
    sni_value = _first(data, "server_name", "tls.sni", "sni", "tls.client.server_name")
    host_value = _first(data, "host", "hostname", "host.name", "host.hostname", "Computer")
    kind = _kind(data, record.fmt)
    return SiemEvent(
        time=when,
        source=f"{source} ({record.fmt})",
        kind=kind,
        matched=matched,
        src_ip=src_ip,
        dst_ip=dst_ip,
        dst_port=dst_port,
        host=str(host_value) if isinstance(host_value, (str, int)) else None,
        sni=str(sni_value).lower() if isinstance(sni_value, str) else None,
        summary=_summary(kind, src_ip, dst_ip, dst_port, sni_value if isinstance(sni_value, str) else None, data),
        raw=data,
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


class FilesSiem:
    settings_model: ClassVar[type[ConnectorSettings]] = FilesSiemSettings

    def __init__(self, settings: FilesSiemSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.instance = env.name
        self.paths = [env.resolve(p) for p in settings.paths]
        self.last_stats = ScanStats()

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
        query = query.model_copy(update={"start": _utc(query.start), "end": _utc(query.end)})
        wanted = normalize_query(query)
        events: list[SiemEvent] = []
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
                events.extend(self._search_file(path, wanted, query, stats))
                stats.files_read += 1
            except OSError as exc:
                stats.files_skipped += 1
                stats.notes.append(f"{path}: cannot read: {exc.strerror or exc}")
        if stats.malformed or stats.no_time:
            stats.notes.append(f"skipped {stats.malformed} malformed lines and {stats.no_time} records without a usable time")
        self.last_stats = stats
        events.sort(key=lambda e: e.time)
        return events[: query.limit]

    def _search_file(self, path: Path, wanted: dict[str, set[str]], query: SiemQuery, stats: ScanStats) -> list[SiemEvent]:
        hits: list[SiemEvent] = []
        for record in read_records(path, stats):
            stats.records += 1
            when = _record_time(record.data)
            if when is None:
                stats.no_time += 1
                continue
            if not (query.start <= when <= query.end):
                continue
            matched = match(record.data, wanted)
            if matched:
                hits.append(to_event(record, when, matched, path.name))
        return hits
