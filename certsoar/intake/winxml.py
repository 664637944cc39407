"""Windows Event XML → ``{"System": {...}, "EventData": {...}}``, parsed with xml.etree after refusing
anything that could expand entities (no defusedxml here: DOCTYPE and ENTITY declarations are refused
before the parser sees them, and expat never loads external entities)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from certsoar.errors import AlertError

MAX_ELEMENTS = 2000
MAX_DEPTH = 12
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _check_shape(root: ET.Element) -> None:
    count = 0
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        count += 1
        if count > MAX_ELEMENTS:
            raise ValueError(f"more than {MAX_ELEMENTS} XML elements")
        if depth > MAX_DEPTH:
            raise ValueError(f"XML nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in element)


def parse_event_xml(text: str) -> dict[str, Any]:
    """One ``<Event>`` (alone or as the only child of ``<Events>``); ValueError when it is not one;
    AlertError (a refusal, not a format miss) when it declares a DOCTYPE or entities."""
    if _DECLARATION.search(text):
        raise AlertError("refused: the XML declares a DOCTYPE or ENTITY (entity expansion is not allowed in alerts)")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"XML does not parse: {exc}") from exc
    _check_shape(root)
    if _local(root.tag) == "Events":
        events = [child for child in root if _local(child.tag) == "Event"]
        if len(events) != 1:
            raise ValueError(f"<Events> holds {len(events)} <Event> elements; an alert is one event")
        root = events[0]
    if _local(root.tag) != "Event":
        raise ValueError(f"root element is <{_local(root.tag)}>, not <Event>")
    system = next((child for child in root if _local(child.tag) == "System"), None)
    if system is None:
        raise ValueError("<Event> has no <System> element")
    return {"System": _system(system), "EventData": _event_data(root)}


def _system(system: ET.Element) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for child in system:
        name = _local(child.tag)
        if name == "TimeCreated":
            fields["TimeCreated"] = child.get("SystemTime")
        elif name == "Provider":
            fields["Provider"] = child.get("Name")
        elif name == "Execution":
            fields["ProcessID"] = child.get("ProcessID")
        elif name == "Security":
            if child.get("UserID"):
                fields["UserID"] = child.get("UserID")
        elif name == "Correlation":
            if child.get("ActivityID"):
                fields["ActivityID"] = child.get("ActivityID")
        else:
            fields[name] = (child.text or "").strip()
    return fields


def _event_data(root: ET.Element) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for section in root:
        if _local(section.tag) not in ("EventData", "UserData"):
            continue
        for index, item in enumerate(section.iter()):
            if item is section or _local(item.tag) != "Data":
                continue
            name = item.get("Name") or f"Data{index}"
            data[name] = item.text or ""
    return data
