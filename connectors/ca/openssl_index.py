"""The ``index.txt`` database of ``openssl ca``: pure parsing, no file or process access.

One line per issued certificate, six tab-separated fields: status (V valid, R revoked, E expired),
expiry, revocation (``date[,reason]``), serial (hex), file name (usually ``unknown``) and the
subject in openssl's one-line form (``/C=US/O=Example/CN=host``).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import NamedTuple

from certsoar.errors import ConnectorRejected

_HEX = re.compile(r"^[0-9A-Fa-f]+$")
# Special forms openssl writes in the revocation field of index.txt.
_INDEX_REASON_ALIASES = {"keyTime": "keyCompromise", "CAkeyTime": "CACompromise", "holdInstruction": "certificateHold"}


class IndexEntry(NamedTuple):  # a tuple, not a frozen dataclass: a sweep makes one per issued certificate
    lineno: int
    line: str
    status: str
    expires: datetime
    revoked_at: datetime | None
    reason: str | None
    serial_text: str
    """The serial as openssl wrote it (the name of its file in new_certs_dir)."""
    serial: int
    subject_oneline: str


def parse_index_text(text: str, source: str) -> list[IndexEntry]:
    """Every non-blank line of ``text``; ConnectorRejected naming ``source``:line for a malformed one."""
    entries = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        entry = parse_index_line(line, source, lineno)
        if entry is not None:
            entries.append(entry)
    return entries


def parse_index_line(line: str, source: str, lineno: int) -> IndexEntry | None:
    """One line (its line break, if any, is dropped); None for a blank one, ConnectorRejected for a malformed one."""
    line = line.rstrip("\n").rstrip("\r")
    return _parse_index_line(source, lineno, line) if line.strip() else None


def parse_asn1_time(text: str) -> datetime:
    """UTCTime ``YYMMDDHHMMSSZ`` or GeneralizedTime ``YYYYMMDDHHMMSSZ`` as written in index.txt."""
    if not text.endswith("Z") or not text[:-1].isdigit() or len(text) not in (13, 15) or not text.isascii():
        raise ValueError(f"{text!r} is not an ASN.1 time")
    digits = text[:-1]
    if len(digits) == 12:
        yy = int(digits[:2])
        digits = ("19" if yy >= 50 else "20") + digits
    # by hand, not strptime: a sweep parses one per issued certificate
    return datetime(
        int(digits[0:4]),
        int(digits[4:6]),
        int(digits[6:8]),
        int(digits[8:10]),
        int(digits[10:12]),
        int(digits[12:14]),
        tzinfo=timezone.utc,
    )


def _parse_index_line(source: str, lineno: int, line: str) -> IndexEntry:
    def bad(why: str) -> ConnectorRejected:
        return ConnectorRejected(f"{source}:{lineno}: malformed index.txt line ({why}): {line[:200]!r}")

    fields = line.split("\t")
    if len(fields) != 6:
        raise bad(f"{len(fields)} tab-separated fields instead of 6")
    status, expiry, revocation, serial_text, _filename, subject = fields
    if status not in ("V", "R", "E"):
        raise bad(f"status {status!r} is not V, R or E")
    try:
        expires = parse_asn1_time(expiry)
    except ValueError as exc:
        raise bad(f"expiry: {exc}") from None
    if not _HEX.match(serial_text):
        raise bad(f"serial {serial_text!r} is not hexadecimal")
    revoked_at: datetime | None = None
    reason: str | None = None
    if status == "R":
        when, _, rest = revocation.partition(",")
        try:
            revoked_at = parse_asn1_time(when)
        except ValueError as exc:
            raise bad(f"revocation date: {exc}") from None
        code = rest.partition(",")[0] or None
        reason = _INDEX_REASON_ALIASES.get(code, code) if code else None
    return IndexEntry(
        lineno=lineno,
        line=line,
        status=status,
        expires=expires,
        revoked_at=revoked_at,
        reason=reason,
        serial_text=serial_text,
        serial=int(serial_text, 16),
        subject_oneline=subject,
    )
