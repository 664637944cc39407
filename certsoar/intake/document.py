"""The envelope of an alert: bytes → one parsed document (JSON object, Windows event XML, one Zeek
TSV record, PEM text or DER), bounded in size and depth, before any format is decided.

Parse problems are recorded, not raised, so detection can say why each format did not fit; only
input that must never be parsed further (an XML DOCTYPE/ENTITY) is refused at once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from certsoar.alert import MAX_ALERT_BYTES
from certsoar.errors import AlertError
from certsoar.intake.winxml import parse_event_xml
from certsoar.logformats import flatten, read_zeek_tsv, zeek_dotted

MAX_JSON_DEPTH = 32
PEM_MARKER = "-----BEGIN CERTIFICATE-----"

Envelope = Literal["json", "xml", "zeek-tsv", "pem", "der", "unknown"]


@dataclass
class Document:
    data: bytes
    envelope: Envelope
    text: str | None = None
    obj: dict[str, Any] | None = field(default=None, repr=False)
    flat: dict[str, Any] = field(default_factory=dict, repr=False)
    zeek_path: str = ""
    problem: str | None = None
    """Why the envelope could not be read (bad JSON, bad XML, several Zeek lines ...)."""


def read_document(data: bytes | str) -> Document:
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_ALERT_BYTES:
        raise AlertError(f"alert is larger than {MAX_ALERT_BYTES} bytes")
    if not raw.strip():
        raise AlertError("alert is empty")
    text = _decode(raw)
    if text is None:
        if raw[:1] == b"\x30":
            return Document(raw, "der")
        return Document(
            raw, "unknown", problem="the input is neither UTF-8 text nor DER (no ASN.1 SEQUENCE at its start)"
        )
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return _json_document(raw, text)
    if stripped.startswith("<"):
        return _xml_document(raw, text)
    if stripped.startswith("#") or "\n#fields" in text:
        return _zeek_document(raw, text)
    if PEM_MARKER in text:
        return Document(raw, "pem", text=text)
    return Document(
        raw, "unknown", text=text, problem="the text is not JSON, XML, a Zeek log with a #fields header or PEM"
    )


def _decode(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text.removeprefix("\ufeff")
    # DER bytes can happen to be valid UTF-8; text alerts never hold NUL or other C0 controls
    if re.search(r"[\x00-\x08\x0e-\x1f]", text):
        return None
    return text


# --- JSON --------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_document(raw: bytes, text: str) -> Document:
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        return Document(
            raw, "json", text=text, problem=f"alert is not JSON: nested deeper than {MAX_JSON_DEPTH} levels"
        )
    except ValueError as exc:
        hint = " (more than one JSON value: an alert is one event, give one line)" if "Extra data" in str(exc) else ""
        return Document(raw, "json", text=text, problem=f"alert is not JSON: {exc}{hint}")
    depth = _depth(value)
    if depth > MAX_JSON_DEPTH:
        return Document(
            raw, "json", text=text, problem=f"alert JSON is nested {depth} levels deep (limit {MAX_JSON_DEPTH})"
        )
    if isinstance(value, list):
        objects = [item for item in value if isinstance(item, dict)]
        if len(value) == 1 and objects:
            value = objects[0]
        elif len(objects) > 1:
            return Document(
                raw, "json", text=text, problem=f"alert is a JSON array of {len(value)} items: an alert is one event"
            )
    if not isinstance(value, dict):
        return Document(raw, "json", text=text, problem="alert must be a JSON object")
    return Document(raw, "json", text=text, obj=value, flat=zeek_dotted(flatten(value)))


def _depth(value: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


# --- XML ---------------------------------------------------------------------------------------


def _xml_document(raw: bytes, text: str) -> Document:
    try:
        event = parse_event_xml(text)
    except ValueError as exc:
        return Document(raw, "xml", text=text, problem=f"alert is not Windows event XML: {exc}")
    return Document(raw, "xml", text=text, obj=event, flat=flatten(event))


# --- Zeek TSV ----------------------------------------------------------------------------------


def _zeek_document(raw: bytes, text: str) -> Document:
    lines = text.splitlines()
    if not any(line.startswith("#fields") for line in lines):
        return Document(raw, "zeek-tsv", text=text, problem="the Zeek log has no #fields header")
    data_lines = [line for line in lines if line.strip() and not line.startswith("#")]
    path = next(
        (
            line.split(None, 1)[1].strip()
            for line in lines
            if line.startswith("#path") and len(line.split(None, 1)) == 2
        ),
        "",
    )
    if len(data_lines) != 1:
        what = "no data line" if not data_lines else f"{len(data_lines)} data lines"
        return Document(
            raw,
            "zeek-tsv",
            text=text,
            zeek_path=path,
            problem=f"the Zeek log has {what}; an alert is one event: keep the header and the one line to raise",
        )
    rows = list(read_zeek_tsv(lines))
    record = rows[0].record if len(rows) == 1 else None
    if record is None:
        return Document(
            raw,
            "zeek-tsv",
            text=text,
            zeek_path=path,
            problem="the Zeek data line does not have as many columns as the #fields header",
        )
    return Document(raw, "zeek-tsv", text=text, obj=record, flat=dict(record), zeek_path=path)
