"""Indicators in log records: which flattened fields carry each indicator kind, the normalized forms
(hash, serial, DN, account, host and address forms, cert-domain §0, §2) and matching a record against
a query's indicators."""

from __future__ import annotations

from typing import Any

from certsoar.addresses import canonical_ip
from certsoar.certs.fingerprints import normalize_digest, normalize_serial
from certsoar.connectors.siem import SiemQuery
from certsoar.correlation.identity import (
    account_name,
    canonical_account,
    canonical_dn,
    canonical_host,
    format_server,
    parse_server,
    short_host,
)
from certsoar.logfields import ZEEK_CHAIN_FILE_IDS, ZEEK_FILE_ID, in_any_format, is_zeek_file_id, servers_in_any_format

# the formats intake reads too (certsoar.logfields), then names only seen in logs: generic JSON lines,
# Zeek known_certs, ECS x509 outside tls, and the win.* keys of Windows events (connectors/siem/windows.py)
INDICATOR_FIELDS: dict[str, tuple[str, ...]] = {
    "sha256": in_any_format("sha256")
    + in_any_format("digest")
    + ("cert_sha256", "certificate.sha256", "hash.sha256", "file.hash.sha256"),
    "sha1": in_any_format("sha1")
    + in_any_format("digest")
    + ("cert_sha1", "certificate.sha1", "hash.sha1", "file.hash.sha1"),
    "spki": (
        "spki_sha256",
        "spki",
        "certificate.spki_sha256",
        "x509.spki_sha256",
        "tls.server.x509.spki_sha256",
        "hash.spki_sha256",
    ),
    "serial": in_any_format("serial")
    + ("serial", "certificate.serial_number", "x509.serial_number", "SerialNumber", "win.serial"),
    "issuer": in_any_format("issuer") + ("issuer_subject", "x509.issuer.distinguished_name"),
    "sni": in_any_format("sni"),
    "ip": in_any_format("src_ip") + in_any_format("dst_ip") + ("san.ip", "ip"),
    "host": in_any_format("host") + ("hostname", "Computer", "computer", "Hostname", "win.computer"),
    "requester": ("win.requester", "Requester", "requester", "User", "user.name", "user"),
    "subject": in_any_format("subject") + ("x509.subject.distinguished_name", "win.subject"),
    "ja3": in_any_format("ja3"),
    "ja3s": in_any_format("ja3s"),
}
_DIGEST_LENGTH = {"sha256": 64, "sha1": 40, "spki": 64}
_SERVER_FIELDS = servers_in_any_format()


def normalize_value(kind: str, value: Any) -> str | None:
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
            return canonical_ip(text)
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
    for name in INDICATOR_FIELDS.get(kind, (kind,)):
        raw = record.get(name)
        items = raw if isinstance(raw, list) else [raw]
        for item in items:
            norm = normalize_value(kind, item)
            if norm is not None:
                found.add(norm)
    return found


def values(record: dict[str, Any], kind: str) -> set[str]:
    """Normalized values of one indicator kind in a record (derived kinds are computed from several fields)."""
    if kind == "server":
        servers = set()
        for ip_field, port_field in _SERVER_FIELDS:
            ip, port = ip_text(record.get(ip_field)), port_number(record.get(port_field))
            if ip and port is not None:
                servers.add(format_server(ip, port))
        return servers
    if kind == "serial_issuer":
        issuers = {v for v in (canonical_dn(str(i)) for i in raw_values(record, "issuer")) if v}
        return {f"{serial}|{issuer}" for serial in _field_values(record, "serial") for issuer in issuers}
    found = _field_values(record, kind)
    if kind == "host":
        found |= {short for short in (short_host(v) for v in found) if short}
    if kind == "requester":
        found |= {name for name in (account_name(v) for v in found) if name}
    return found


def raw_values(record: dict[str, Any], kind: str) -> list[Any]:
    values: list[Any] = []
    for name in INDICATOR_FIELDS[kind]:
        raw = record.get(name)
        values.extend(raw if isinstance(raw, list) else [raw] if raw not in (None, "") else [])
    return values


def port_number(value: Any) -> int | None:
    try:
        port = int(value)
    except (TypeError, ValueError):
        return None
    return port if 0 <= port <= 65535 else None


def ip_text(value: Any) -> str | None:
    return normalize_value("ip", value) if value is not None else None


def normalize_query(query: SiemQuery) -> dict[str, set[str]]:
    wanted: dict[str, set[str]] = {}
    for kind, values in query.indicators.items():
        normalized = {v for v in (normalize_value(kind, value) for value in values) if v is not None}
        if normalized:
            wanted[kind] = normalized
    return wanted


def match(record: dict[str, Any], wanted: dict[str, set[str]]) -> list[str]:
    return [kind for kind, wanted_values in wanted.items() if values(record, kind) & wanted_values]


# --- Zeek before the x509 fingerprint field: ssl.log names its chain only by x509.log file ids ----------------

CERTIFICATE_KINDS = ("sha256", "sha1", "spki", "serial", "serial_issuer")
"""Indicator kinds that name a certificate itself (not where or by whom it was seen)."""


def certificate_file_id(record: dict[str, Any], fmt: str) -> str | None:
    """The file id of a Zeek x509 record that has one (Zeek before the ``fingerprint`` field)."""
    value = record.get(ZEEK_FILE_ID) if fmt == "zeek-x509" else None
    return value if is_zeek_file_id(value) else None


def chain_file_ids(record: dict[str, Any]) -> list[str]:
    """The file ids an old Zeek ssl record names its certificate chain by (leaf first)."""
    ids: list[str] = []
    for name in ZEEK_CHAIN_FILE_IDS:
        raw = record.get(name)
        ids.extend(item for item in (raw if isinstance(raw, list) else [raw]) if isinstance(item, str) and item)
    return ids


def certificate_only(wanted: dict[str, set[str]]) -> dict[str, set[str]]:
    return {kind: values for kind, values in wanted.items() if kind in CERTIFICATE_KINDS}


def joined(record: dict[str, Any], by_file_id: dict[str, list[str]]) -> list[str]:
    """Certificate kinds a session carries through the x509 records its chain's file ids name."""
    kinds: list[str] = []
    for file_id in chain_file_ids(record):
        kinds.extend(kind for kind in by_file_id.get(file_id, ()) if kind not in kinds)
    return kinds
