"""Windows events, whatever tool rendered them, as one view: the event id, the System fields and the
EventData fields by their Windows names. Used by alert intake (one AD CS event) and by the files SIEM
(Sysmon, Security, PowerShell and AD CS events in logs), so both read the same renderings the same way.

Renderings of the same event:
- Windows Event XML, as ``certsoar.intake.winxml`` parses it: ``{"System": {...}, "EventData": {...}}``;
- XML converted to JSON: ``{"Event": {"System": {...}, "EventData": {"Data": [{"@Name": ..., "#text": ...}]}}}``;
- flat: Get-WinEvent | ConvertTo-Json (``TimeCreated`` may be PowerShell 5's ``/Date(ms)/``), NXLog
  (``EventTime``, ``Hostname``), Splunk WinEventLog (``EventCode``, ``ComputerName``, ``RecordNumber``) and
  XmlWinEventLog (``EventID``, ``Computer``, ``SystemTime``), with the EventData fields at the top level;
- Winlogbeat / ECS: ``winlog.event_id``, ``winlog.computer_name``, ``winlog.event_data.*``, ``@timestamp``.

AD CS field names: OSSEM-DD (version 0) and cert-domain §1.10 (version 1 additions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from certsoar.logformats import flatten

# --- field tables, in order of preference ---------------------------------------------------------

EVENT_ID_KEYS = ("winlog.event_id", "event.code", "EventID", "EventCode", "EventId", "event_id")
TIME_KEYS = ("@timestamp", "TimeCreated", "SystemTime", "_time", "winlog.time_created", "timestamp")
SYSMON_TIME_KEY = "UtcTime"  # in EventData: more precise than the NXLog EventTime beside it
NXLOG_TIME_KEY = "EventTime"
COMPUTER_KEYS = ("winlog.computer_name", "Computer", "ComputerName", "Hostname", "host.name", "host.hostname")
RECORD_ID_KEYS = ("winlog.record_id", "EventRecordID", "RecordNumber", "RecordID")
VERSION_KEYS = ("winlog.version", "Version", "EventVersion")
_SYSTEM_PREFIXES = ("Event.System.", "System.")
_DATA_PREFIXES = ("winlog.event_data.", "event_data.", "Event.EventData.", "EventData.", "Event.UserData.", "UserData.")

# AD CS EventData
ADCS_EVENTS = {4886: "request received", 4887: "issued", 4888: "denied", 4870: "revoked"}
REQUEST_ID_KEYS = ("RequestId", "RequestID")
ISSUED_SERIAL_KEYS = ("SerialNumber",)
REVOKED_SERIAL_KEYS = ("CertificateSerialNumber",)
TEMPLATE_KEYS = ("CertificateTemplate", "Template")
_TEMPLATE_IN_ATTRIBUTES = re.compile(r"(?:^|\s)CertificateTemplate:(\S+)")
# SubjectAlternativeName as Windows renders it: "Other Name:\n     Principal Name=a@corp.example", "DNS Name=h",
# "IP Address=192.0.2.1", entries on separate lines (or spaces, once an XML export collapsed them)
_SAN_DNS = re.compile(r"DNS Name=([^\s,;]+)")
_SAN_IP = re.compile(r"IP Address=([0-9A-Fa-f:.]+)")
_SAN_UPN = re.compile(r"Principal Name=([^\s,;]+)")
# the request attribute an enrollee adds with certreq -attrib / certipy -upn: "SAN:upn=a@corp.example&dns=h"
_SAN_IN_ATTRIBUTES = re.compile(r"(?:^|\s)SAN:(\S+)")
_SAN_ATTRIBUTE_KEYS = {"dns": "dns", "upn": "upn", "ipaddress": "ip"}
_DOTNET_DATE = re.compile(r"^/Date\((-?\d+)\)/$")


@dataclass(frozen=True)
class WindowsEvent:
    id_key: str
    """The field the event id was read from (named in error messages)."""
    id_value: Any
    system: dict[str, Any]
    """System fields by their Windows names (``Computer``, ``TimeCreated``) and the other top-level keys, flat."""
    data: dict[str, Any]
    """EventData fields by name (``RequestId``, ``Attributes``); the top-level keys when the rendering is flat."""

    @property
    def code(self) -> int | None:
        return event_code(self.id_value)

    def system_value(self, keys: tuple[str, ...]) -> Any:
        return first_value(self.system, keys)

    def data_value(self, keys: tuple[str, ...]) -> Any:
        return first_value(self.data, keys)

    def template(self) -> str | None:
        """The certificate template: ``CertificateTemplate`` (version 1) or, in version 0 events, the
        ``CertificateTemplate:<name>`` line inside ``Attributes``."""
        named = self.data_value(TEMPLATE_KEYS)
        if named is not None and not isinstance(named, (dict, list)) and str(named).strip() not in ("", "-"):
            return str(named).strip()
        return template_in_attributes(self.data_value(("Attributes",)))


def read_windows_event(obj: dict[str, Any]) -> WindowsEvent | None:
    """The event's view, or None when ``obj`` carries no Windows event id."""
    flat = {key.removesuffix(".#text"): value for key, value in flatten(obj).items()}
    system: dict[str, Any] = dict(flat)
    for key, value in flat.items():
        for prefix in _SYSTEM_PREFIXES:
            if key.startswith(prefix):
                system[key[len(prefix) :]] = value
    for time_key in ("TimeCreated.@SystemTime", "TimeCreated.SystemTime"):
        if time_key in system and system.get("TimeCreated") in (None, "", {}):
            system["TimeCreated"] = system[time_key]
    for time_key in (*TIME_KEYS, NXLOG_TIME_KEY):
        if time_key in system:
            system[time_key] = windows_time(system[time_key])
    found = _first_item(system, EVENT_ID_KEYS)
    if found is None:
        return None
    data = _event_data(flat)
    xml_shaped = "System" in obj or isinstance(obj.get("Event"), dict)
    if not data and not xml_shaped:
        data = dict(flat)
    return WindowsEvent(found[0], found[1], system, data)


def _event_data(flat: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in flat.items():
        for prefix in _DATA_PREFIXES:
            if not key.startswith(prefix):
                continue
            name = key[len(prefix) :]
            if name == "Data" and isinstance(value, list):  # [{"@Name": "RequestId", "#text": "42"}, ...]
                for item in value:
                    item_name = item.get("@Name", item.get("Name")) if isinstance(item, dict) else None
                    if isinstance(item_name, str):
                        data[item_name] = item.get("#text", item.get("text", item.get("Value")))
            else:
                data[name] = value
            break
    return data


def _first_item(fields: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, Any] | None:
    for key in keys:
        value = fields.get(key)
        if value not in (None, "", [], {}):
            return key, value
    return None


def first_value(fields: dict[str, Any], keys: tuple[str, ...]) -> Any:
    found = _first_item(fields, keys)
    return found[1] if found else None


def event_code(value: Any) -> int | None:
    """The numeric event id (``4887``, ``"4887"``), None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
        return int(value.strip())
    return None


def template_in_attributes(attributes: Any) -> str | None:
    if not isinstance(attributes, str):
        return None
    found = _TEMPLATE_IN_ATTRIBUTES.search(attributes)
    return found.group(1)[:512] if found else None


@dataclass(frozen=True)
class AltNames:
    """The subject alternative names an AD CS event shows: its SubjectAlternativeName field (version 1) and
    the ``SAN:`` request attribute (any version; ESC6 and certipy ``-upn`` put the names there)."""

    dns: list[str]
    ip: list[str]
    upn: list[str]


def alt_names(san: Any, attributes: Any) -> AltNames:
    """Both sources together, each name once, in the order written."""
    found: dict[str, dict[str, None]] = {"dns": {}, "ip": {}, "upn": {}}
    if isinstance(san, str):
        for kind, pattern in (("dns", _SAN_DNS), ("ip", _SAN_IP), ("upn", _SAN_UPN)):
            found[kind].update(dict.fromkeys(pattern.findall(san)))
    if isinstance(attributes, str):
        for request in _SAN_IN_ATTRIBUTES.findall(attributes):
            for pair in request.split("&"):
                key, sep, value = pair.partition("=")
                named = _SAN_ATTRIBUTE_KEYS.get(key.strip().lower())
                if sep and named and value.strip():
                    found[named].setdefault(value.strip())
    return AltNames(dns=list(found["dns"]), ip=list(found["ip"]), upn=list(found["upn"]))


def windows_time(value: Any) -> Any:
    """PowerShell 5's ``/Date(ms)/`` as ISO text; any other value unchanged."""
    if isinstance(value, str):
        match = _DOTNET_DATE.match(value.strip())
        if match:
            return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=timezone.utc).isoformat()
    return value
