"""Reading one field of a log record into the form CertificateAlert stores, or an AlertError that
names the format, the field and what is wrong with its value (cert-domain §0 for the forms)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from certsoar.addresses import canonical_ip
from certsoar.certs.fingerprints import normalize_digest, normalize_serial
from certsoar.errors import AlertError
from certsoar.logformats import parse_time
from certsoar.timeparse import as_utc

DIGEST_KIND = {64: "sha256", 40: "sha1", 32: "md5"}
_MASKED = re.compile(r"^X+(\.X+)?$")
_OPENSSL_TIME = ("%b %d %H:%M:%S %Y GMT", "%b %d %H:%M:%S %Y")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and not value)


class Fields:
    """Typed, named access to a flat (dotted-key) record of one format."""

    def __init__(self, fmt: str, flat: Mapping[str, Any]) -> None:
        self.fmt = fmt
        self.flat = flat

    def error(self, name: str, problem: str) -> AlertError:
        return AlertError(f"{self.fmt}: {name}: {problem}")

    def find(self, *names: str) -> tuple[str, Any] | None:
        for name in names:
            value = self.flat.get(name)
            if not is_empty(value):
                return name, value
        return None

    def has(self, *names: str) -> bool:
        return self.find(*names) is not None

    def _scalar(self, name: str, value: Any) -> Any:
        if isinstance(value, list):
            distinct = list(dict.fromkeys(str(v) for v in value if not is_empty(v)))
            if len(distinct) > 1:
                raise self.error(
                    name, f"has {len(distinct)} values {_shown(distinct)}; an alert is about one certificate"
                )
            value = value[0] if value else None
        if isinstance(value, dict):
            raise self.error(name, f"is an object {_shown(value)}, expected a single value")
        return value

    def _single(self, *names: str) -> tuple[str, Any] | None:
        """The first non-empty field of ``names`` as (name, one scalar value); None when all are empty."""
        found = self.find(*names)
        return None if found is None else (found[0], self._scalar(*found))

    def text(self, *names: str, max_len: int = 4096) -> str | None:
        found = self._single(*names)
        if found is None:
            return None
        name, value = found
        if value is None or isinstance(value, bool):
            return None if value is None else str(value).lower()
        text = str(value).strip()
        if len(text) > max_len:
            raise self.error(name, f"is {len(text)} characters long (limit {max_len})")
        return text or None

    def texts(self, *names: str) -> list[str]:
        found = self.find(*names)
        if found is None:
            return []
        name, value = found
        items = value if isinstance(value, list) else [value]
        out: list[str] = []
        for item in items[:10_000]:
            if isinstance(item, (dict, list)):
                raise self.error(name, f"holds a nested value {_shown(item)}, expected names")
            if not is_empty(item):
                out.append(str(item).strip())
        return out

    def integer(self, *names: str, low: int = 0, high: int = 2**31) -> int | None:
        found = self._single(*names)
        if found is None:
            return None
        name, value = found
        if isinstance(value, bool):
            raise self.error(name, f"{value!r} is not a number")
        number: int | None = None
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,20}\s*", value):
            number = int(value)
        if number is None or not low <= number <= high:
            raise self.error(name, f"{_shown(value)} is not a whole number between {low} and {high}")
        return number

    def port(self, *names: str) -> int | None:
        return self.integer(*names, low=0, high=65535)

    def boolean(self, *names: str) -> bool | None:
        found = self._single(*names)
        if found is None:
            return None
        name, value = found
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("t", "true", "1", "yes"):
            return True
        if text in ("f", "false", "0", "no"):
            return False
        raise self.error(name, f"{_shown(value)} is not a boolean")

    def ip(self, *names: str) -> str | None:
        found = self._single(*names)
        if found is None:
            return None
        name, value = found
        try:
            return canonical_ip(str(value))
        except ValueError:
            raise self.error(name, f"{_shown(value)} is not an IP address") from None

    def time(self, *names: str, required: bool = False) -> datetime | None:
        found = self._single(*names)
        if found is None:
            if required:
                raise self.error(" / ".join(names), "missing: the record has no time")
            return None
        name, value = found
        parsed = to_utc(value)
        if parsed is None:
            if isinstance(value, str) and _MASKED.match(value.strip()):
                raise self.error(name, f"{value!r} is a masked timestamp (as in Zeek btest baselines): no usable time")
            raise self.error(name, f"{_shown(value)} is not a time (epoch seconds or ISO 8601)")
        return parsed

    def digest(self, name: str, kind: str | None = None) -> tuple[str, str] | None:
        """(kind, lower hex) of a hash field; ``kind`` None means decide by length (sha256/sha1/md5)."""
        found = self._single(name)
        if found is None:
            return None
        _, value = found
        digest = normalize_digest(str(value)) if isinstance(value, str) else None
        detected = DIGEST_KIND.get(len(digest)) if digest else None
        if digest is None or detected is None or (kind is not None and detected != kind):
            want = {"sha256": "a SHA-256 (64 hex digits)", "sha1": "a SHA-1 (40 hex digits)"}.get(
                kind or "", "a SHA-256, SHA-1 or MD5 in hex"
            )
            raise self.error(name, f"{_shown(value)} is not {want}")
        return detected, digest

    def serial(self, *names: str) -> str | None:
        found = self._single(*names)
        if found is None:
            return None
        name, value = found
        serial = normalize_serial(str(value)) if isinstance(value, str) else None
        if serial is None or len(serial) > 200:
            raise self.error(name, f"{_shown(value)} is not a hexadecimal serial number")
        return serial


def to_utc(value: Any) -> datetime | None:
    """Epoch seconds, ISO 8601 (naive = UTC) or OpenSSL's ``Jun  1 00:00:00 2026 GMT``, as aware UTC."""
    if isinstance(value, str) and len(value) > 64:
        return None
    parsed = parse_time(value)
    if parsed is None and isinstance(value, str):
        text = " ".join(value.split())
        for pattern in _OPENSSL_TIME:
            try:
                parsed = datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    try:
        return as_utc(parsed)
    except ValueError:
        return None


def split_names(names: list[str]) -> tuple[list[str], list[str]]:
    """Subject alternative names as (dns, ip), the ip ones being whatever parses as an address."""
    dns: list[str] = []
    ips: list[str] = []
    for name in names:
        try:
            ips.append(canonical_ip(name))
        except ValueError:
            dns.append(name)
    return dns, ips
