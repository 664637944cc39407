"""Windows events as JSON lines, whatever tool rendered them, reduced to one set of ``win.*`` keys.

Accepted renderings of the same event:
- flat: ``{"EventID": 4887, "Computer": ..., "TimeCreated": ..., "RequestId": ...}`` (Get-WinEvent | ConvertTo-Json,
  NXLog: ``EventTime``, ``Hostname``; Sysmon: ``UtcTime``);
- XML converted to JSON: ``{"Event": {"System": {...}, "EventData": {...}}}``, where EventData may also be
  ``{"Data": [{"@Name": "RequestId", "#text": "42"}, ...]}``;
- Winlogbeat / ECS: ``{"winlog": {"event_id": ..., "computer_name": ..., "event_data": {...}}, "@timestamp": ...}``.

Events handled: Sysmon 1 and Security 4688 (process creation), PowerShell 4104 (script block), AD CS
4886/4887/4888 (request received/issued/denied) and 4870 (revoked).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

PROCESS_EVENTS = {"1": "sysmon-1", "4688": "security-4688"}
SCRIPT_EVENTS = {"4104": "powershell-4104"}
ADCS_EVENTS = {"4886": "adcs-4886", "4887": "adcs-4887", "4888": "adcs-4888", "4870": "adcs-4870"}
_DOTNET_DATE = re.compile(r"^/Date\((-?\d+)\)/$")


def _text(value: Any) -> str | None:
    """Scalar value of an XML-to-JSON node (``{"#text": "x"}``) or a plain value; None when empty or '-'."""
    if isinstance(value, dict):
        value = value.get("#text", value.get("text", value.get("Value")))
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text if text and text != "-" else None


def _event_data(obj: dict[str, Any]) -> dict[str, Any]:
    for container in (obj.get("EventData"), (obj.get("Event") or {}).get("EventData") if isinstance(obj.get("Event"), dict) else None,
                      (obj.get("winlog") or {}).get("event_data") if isinstance(obj.get("winlog"), dict) else None,
                      obj.get("event_data")):
        if isinstance(container, dict):
            data = container.get("Data")
            if isinstance(data, list):  # [{"@Name": "RequestId", "#text": "42"}, ...]
                named: dict[str, Any] = {}
                for item in data:
                    if isinstance(item, dict):
                        name = item.get("@Name", item.get("Name"))
                        if isinstance(name, str):
                            named[name] = _text(item)
                return named
            return container
    return obj


def _system(obj: dict[str, Any]) -> dict[str, Any]:
    event = obj.get("Event")
    if isinstance(event, dict) and isinstance(event.get("System"), dict):
        return event["System"]
    if isinstance(obj.get("System"), dict):
        return obj["System"]
    return {}


def _first(*values: Any) -> str | None:
    for value in values:
        text = _text(value)
        if text is not None:
            return text
    return None


def windows_time(value: Any) -> str | None:
    """TimeCreated as ISO text; understands PowerShell 5's ``/Date(ms)/`` and ``{"SystemTime": ...}``."""
    if isinstance(value, dict):
        value = value.get("SystemTime", value.get("@SystemTime"))
    text = _text(value)
    if text is None:
        return None
    match = _DOTNET_DATE.match(text)
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=timezone.utc).isoformat()
    return text


def _account(domain: str | None, name: str | None) -> str | None:
    if not name:
        return None
    return f"{domain}\\{name}" if domain and "\\" not in name else name


def _subject_account(data: dict[str, Any]) -> str | None:
    """The account the event's SubjectDomainName/SubjectUserName name (who acted)."""
    return _account(_text(data.get("SubjectDomainName")), _text(data.get("SubjectUserName")))


def _mapping(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def normalize_windows(obj: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """(format, ``win.*`` fields) when ``obj`` is one of the handled Windows events, else None."""
    system = _system(obj)
    winlog = _mapping(obj, "winlog")
    ecs_event = _mapping(obj, "event")
    event_id = _first(obj.get("EventID"), obj.get("EventId"), obj.get("event_id"), system.get("EventID"), winlog.get("event_id"), ecs_event.get("code"))
    if event_id is None or event_id not in {**PROCESS_EVENTS, **SCRIPT_EVENTS, **ADCS_EVENTS}:
        return None
    data = _event_data(obj)
    host_obj = _mapping(obj, "host")
    fields: dict[str, str | None] = {
        "win.event_id": event_id,
        "win.computer": _first(obj.get("Computer"), obj.get("Hostname"), system.get("Computer"), winlog.get("computer_name"), host_obj.get("name")),
        "win.time": _first(windows_time(obj.get("TimeCreated")), windows_time(system.get("TimeCreated")), data.get("UtcTime"), obj.get("EventTime")),
    }
    if event_id in PROCESS_EVENTS:
        image = _first(data.get("Image"), data.get("NewProcessName"))
        command = _first(data.get("CommandLine"), data.get("ProcessCommandLine"))
        if image is None and command is None:
            return None
        fields |= {
            "win.image": image,
            "win.command": command or image,
            "win.requester": _first(data.get("User"), _subject_account(data)),
            "win.parent": _first(data.get("ParentImage"), data.get("ParentProcessName")),
        }
        fmt = PROCESS_EVENTS[event_id]
    elif event_id in SCRIPT_EVENTS:
        script = _first(data.get("ScriptBlockText"))
        if script is None:
            return None
        fields |= {"win.script": script[:65536]}
        fmt = SCRIPT_EVENTS[event_id]
    else:
        request = _first(data.get("RequestId"), data.get("RequestID"))
        serial = _first(data.get("SerialNumber"), data.get("CertificateSerialNumber"))
        if request is None and serial is None:
            return None
        fields |= {
            "win.request_id": request,
            "win.requester": _first(data.get("Requester"), _subject_account(data)),
            "win.disposition": _first(data.get("Disposition")),
            "win.subject": _first(data.get("Subject")),
            "win.serial": serial,
            "win.template": _first(data.get("CertificateTemplate"), data.get("Template")),
            "win.ski": _first(data.get("SubjectKeyIdentifier")),
            "win.san": _first(data.get("SubjectAlternativeName")),
            "win.attributes": _first(data.get("Attributes")),
        }
        fmt = ADCS_EVENTS[event_id]
    return fmt, {k: v for k, v in fields.items() if v is not None}
