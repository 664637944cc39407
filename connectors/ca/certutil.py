"""What ``certutil.exe`` prints, read: the rows of ``certutil -view … -out "COLUMNS" csv``, its numbers and
dates, and whether a verb succeeded. The sources of each fact are in tests/data/adcs/SOURCE.txt.

- The first row is a header of the columns' display names in the CA's language ("Issued Request ID",
  "Serial Number" in English): it is skipped, and the values are read by position, in the order ``-out``
  named the columns, so a German or Japanese CA reads the same.
- Each value is a double-quoted field (a double quote inside doubled); a field may span lines (the
  ``RawCertificate`` PEM). A column with no value is the bare word ``EMPTY``.
- A number column prints its value decorated: ``0x15 (21) -- Revoked``; a date prints in the CA host's
  locale and, unless ``-gmt`` is given, in its local time (``-gmt`` adds `` GMT``).
- Each verb ends with ``CertUtil: -<verb> command completed successfully.`` or ``… command FAILED: 0x… (…)``
  (in English; the exit code is the HRESULT and decides on a CA in another language).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone

from certsoar.errors import ConnectorRejected

EMPTY = "EMPTY"
DISPOSITION_QUEUE_MAX = 9
"""DB_DISP_QUEUE_MAX (certsrv.h): a request at or below it (active 8, pending 9) is not decided yet."""
DISPOSITION_ISSUED = 20
"""DB_DISP_ISSUED (certsrv.h): issued, not revoked."""
DISPOSITION_REVOKED = 21
"""DB_DISP_REVOKED (certsrv.h): issued and revoked."""

_DECORATED = re.compile(r"\((-?\d+)\)")
_HEX = re.compile(r"0x([0-9a-fA-F]+)\b")
_FAILED = re.compile(r"command FAILED: (0x[0-9a-fA-F]+)?[^\r\n]*")
_DATE_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
)


class CertutilFormatError(ConnectorRejected):
    """certutil's output is not in the form this reader knows."""


def csv_fields(text: str) -> Iterator[list[str | None]]:
    """The rows of certutil's csv, each field a string or None for ``EMPTY`` (an unquoted field).

    Blank lines and certutil's own closing line (``CertUtil: …``) between rows are skipped.
    """
    row: list[str | None] = []
    field: list[str] = []
    quoted = in_quotes = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if in_quotes:
            if ch == '"' and i + 1 < n and text[i + 1] == '"':
                field.append('"')
                i += 1
            elif ch == '"':
                in_quotes = False
            else:
                field.append(ch)
        elif ch == '"' and not field and not quoted:
            in_quotes = quoted = True
        elif ch == ",":
            row.append(_value(field, quoted))
            field, quoted = [], False
        elif ch in "\r\n":
            if row or field or quoted:
                row.append(_value(field, quoted))
                if not _is_trailer(row):
                    yield row
            row, field, quoted = [], [], False
        else:
            field.append(ch)
        i += 1
    if in_quotes:
        raise CertutilFormatError("the csv ends inside a quoted field (the output was cut off)")
    if row or field or quoted:
        row.append(_value(field, quoted))
        if not _is_trailer(row):
            yield row


def _value(field: list[str], quoted: bool) -> str | None:
    text = "".join(field)
    if quoted:
        return text
    text = text.strip()
    return None if text in ("", EMPTY) else text


def _is_trailer(row: list[str | None]) -> bool:
    return len(row) == 1 and (row[0] is None or row[0].startswith("CertUtil:"))


def view_rows(text: str, columns: Sequence[str]) -> Iterator[dict[str, str | None]]:
    """The data rows of ``certutil -view -out "<columns>" csv``, keyed by the column names asked for.

    The header (display names, in the CA's language) is the first row; a row whose field count differs from
    the columns asked for is a CertutilFormatError (the values could not be told apart)."""
    rows = csv_fields(text)
    header = next(rows, None)
    if header is None:
        return
    if len(header) != len(columns):
        raise CertutilFormatError(f"the header has {len(header)} columns, {len(columns)} were asked for")
    for number, row in enumerate(rows, start=2):
        if len(row) != len(columns):
            raise CertutilFormatError(f"row {number} has {len(row)} fields, {len(columns)} were asked for")
        yield dict(zip(columns, row, strict=True))


def number(value: str | None) -> int | None:
    """A number column as certutil prints it: ``0x15 (21) -- Revoked``, ``0x8``, ``21`` → the number."""
    if value is None:
        return None
    text = value.strip()
    if (found := _DECORATED.search(text)) is not None:
        return int(found.group(1))
    if (hexed := _HEX.match(text)) is not None:
        return int(hexed.group(1), 16)
    digits = re.match(r"-?\d+", text)
    if digits is None:
        raise CertutilFormatError(f"{value[:40]!r} is not a number column")
    return int(digits.group(0))


def serial(value: str | None) -> int | None:
    """A serial as certutil prints it (hex digits, possibly with spaces) → its number; None when EMPTY."""
    if value is None:
        return None
    digits = "".join(value.split())
    if not digits or not re.fullmatch(r"[0-9a-fA-F]+", digits):
        raise CertutilFormatError(f"{value[:80]!r} is not a serial number")
    return int(digits, 16)


def gmt_date(value: str | None) -> datetime | None:
    """A date printed with ``-gmt`` in the en-US format (``8/17/2025 7:34 PM GMT``, seconds with ``-seconds``)
    as UTC; None when EMPTY or printed in a format this reader does not know (another locale)."""
    if value is None:
        return None
    text = value.strip().removesuffix("GMT").strip()
    text = re.sub(r"(\d+:\d+:\d+)\.\d+", r"\1", text)  # -seconds adds milliseconds
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def failure(verb: str, exit_code: int, output: str) -> str | None:
    """None when certutil's ``verb`` succeeded; else what it said (its FAILED line, or the exit code)."""
    said = _FAILED.search(output)
    if said is not None:
        return said.group(0).strip()
    if exit_code != 0:
        last = [line.strip() for line in output.splitlines() if line.strip()]
        detail = f": {last[-1][:200]}" if last else ""
        return f"{verb} exited with {exit_code} (0x{exit_code & 0xFFFFFFFF:08x}){detail}"
    return None


__all__ = [
    "DISPOSITION_ISSUED",
    "DISPOSITION_QUEUE_MAX",
    "DISPOSITION_REVOKED",
    "CertutilFormatError",
    "csv_fields",
    "failure",
    "gmt_date",
    "number",
    "serial",
    "view_rows",
]
