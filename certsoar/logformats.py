"""Decoding the formats security logs are written in, before any meaning is given to a field: Zeek TSV
(header directives, ``\\xNN`` escapes, set/vector columns), nested JSON as flat dotted keys, and the
time stamps logs carry (epoch seconds or ISO 8601).

Shared by the files SIEM connector (whole logs) and alert intake (one record).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from certsoar.logfields import ZEEK_DOTTED
from certsoar.timeparse import as_utc

# --- time ------------------------------------------------------------------------------------

_EPOCH = re.compile(r"^\d{9,11}(?:\.\d+)?$")


def parse_time(value: Any) -> datetime | None:
    """Epoch seconds (number or string) or ISO 8601 (``Z``, ``+0000``, naive = UTC), as UTC; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        text = str(value).strip()
        if _EPOCH.match(text):
            return datetime.fromtimestamp(float(text), tz=timezone.utc)
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text))
    except (ValueError, OverflowError, OSError):
        return None


# --- JSON ------------------------------------------------------------------------------------


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


def zeek_dotted(flat: dict[str, Any]) -> dict[str, Any]:
    """A flattened record with Zeek's dotted names restored where it spells them with underscores
    (``id_orig_h`` → ``id.orig_h``); a dotted name the record already has wins."""
    restored = {
        dotted: flat[underscored]
        for dotted in ZEEK_DOTTED
        if dotted not in flat and (underscored := dotted.replace(".", "_")) in flat
    }
    return {**flat, **restored} if restored else flat


# --- Zeek TSV --------------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def _unescape(text: str) -> str:
    if "\\x" not in text:  # most fields: no regex pass (a log search unescapes every field it reads)
        return text
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

    def read_directive(self, line: str) -> None:
        """One ``#name value`` line (``#separator`` is the one separated by a space)."""
        key, _, rest = line[1:].partition(" " if line.startswith("#separator") else self.separator)
        if key == "separator":
            self.separator = _unescape(rest.strip())
        elif key == "set_separator":
            self.set_separator = _unescape(rest)
        elif key == "empty_field":
            self.empty = rest
        elif key == "unset_field":
            self.unset = rest
        elif key == "path":
            self.path = rest
        elif key == "fields":
            self.fields = rest.split(self.separator)
        elif key == "types":
            self.types = rest.split(self.separator)

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
class ZeekRow:
    """One data line of a Zeek TSV log: its columns by field name, or None when the line does not
    have as many columns as the ``#fields`` header (or comes before any header)."""

    path: str
    record: dict[str, Any] | None


def read_zeek_tsv(lines: Iterable[str]) -> Iterator[ZeekRow]:
    """The data lines of a Zeek TSV log as typed values; header lines may change midway (rotated logs)."""
    header = _ZeekHeader()
    for line in lines:
        line = line.rstrip("\r\n")
        if not line:
            continue
        if line.startswith("#"):
            header.read_directive(line)
            continue
        parts = line.split(header.separator)
        if not header.fields or len(parts) != len(header.fields):
            yield ZeekRow(header.path, None)
            continue
        types = header.types if len(header.types) == len(parts) else ["string"] * len(parts)
        yield ZeekRow(
            header.path,
            {name: header.convert(raw, t) for name, raw, t in zip(header.fields, parts, types, strict=True)},
        )
