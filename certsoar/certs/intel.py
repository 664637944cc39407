"""Threat intelligence: the abuse.ch SSLBL certificate blacklist (cert-domain §1.8).

The CSV is regenerated upstream every few minutes and replaced on disk by whatever fetches it; the
index is cached per path and re-read when the file's modification time or size changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from certsoar.certs.fingerprints import SHA1_DIGITS, normalize_digest
from certsoar.errors import SslblError
from certsoar.reloading import ReloadingFile
from certsoar.timeparse import as_utc

MAX_SSLBL_BYTES = 64 * 1024 * 1024
_NORMAL_SHA1 = re.compile(r"[0-9a-f]{%d}" % SHA1_DIGITS)
"""A SHA-1 already as ``normalize_digest`` gives it (every row of the published file): kept as it is."""


class SslblMatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha1: str = Field(description="The listed SHA-1, lower-case hex.")
    reason: str = Field(description="SSLBL's listing reason, e.g. 'CobaltStrike C&C'.")
    listed: datetime | None = Field(default=None, description="Listing date (UTC), when the row had a readable one.")


@dataclass(frozen=True)
class SslblIndex:
    path: str
    entries: dict[str, tuple[str, str]]
    """Listed SHA-1 → (reason, listing date as written: read only for a match; a feed has tens of thousands)."""
    skipped_rows: int

    def lookup(self, sha1: str | None) -> SslblMatch | None:
        if not sha1:
            return None
        key = normalize_digest(sha1, SHA1_DIGITS)
        hit = self.entries.get(key) if key else None
        if key is None or hit is None:
            return None
        return SslblMatch(sha1=key, reason=hit[0], listed=_listing_date(hit[1]))


def _listing_date(text: str) -> datetime | None:
    try:
        return as_utc(datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        return None


def parse_sslbl(text: str, path: str = "<memory>") -> SslblIndex:
    """``Listingdate,SHA1,Listingreason`` rows; '#' lines are comments; split on the first two commas."""
    entries: dict[str, tuple[str, str]] = {}
    skipped = 0
    for line in text.splitlines():
        row = line.strip()
        if not row or row.startswith("#"):
            continue
        parts = row.split(",", 2)
        if len(parts) != 3:
            sha1 = None
        elif _NORMAL_SHA1.fullmatch(parts[1]):  # a triage reads the whole list for one certificate: the usual row fast
            sha1 = parts[1]
        else:
            sha1 = normalize_digest(parts[1], SHA1_DIGITS)
        if sha1 is None:
            skipped += 1
            continue
        entries[sha1] = (parts[2].strip() or "listed", parts[0])
    return SslblIndex(path=path, entries=entries, skipped_rows=skipped)


_files = ReloadingFile(
    lambda text, path: parse_sslbl(text, str(path)), what="SSLBL file", max_bytes=MAX_SSLBL_BYTES, error=SslblError
)


def load_sslbl(path: Path) -> SslblIndex:
    """The index of ``path``; read again only when its mtime or size changed since the last call."""
    return _files.load(path)


def clear_sslbl_cache() -> None:
    _files.clear()
