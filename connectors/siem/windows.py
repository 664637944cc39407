"""Windows events in logs (read by certsoar.windows_events, the parser intake uses too) reduced to the
``win.*`` keys the files SIEM matches and turns into events.

Events handled: Sysmon 1 and Security 4688 (process creation), PowerShell 4104 (script block), AD CS
4886/4887/4888 (request received/issued/denied) and 4870 (revoked).
"""

from __future__ import annotations

from typing import Any

from certsoar.windows_events import (
    ADCS_EVENTS,
    COMPUTER_KEYS,
    ISSUED_SERIAL_KEYS,
    NXLOG_TIME_KEY,
    REQUEST_ID_KEYS,
    REVOKED_SERIAL_KEYS,
    SYSMON_TIME_KEY,
    TIME_KEYS,
    WindowsEvent,
    read_windows_event,
)

PROCESS_EVENTS = {1: "sysmon-1", 4688: "security-4688"}
SCRIPT_EVENTS = {4104: "powershell-4104"}


def _text(value: Any) -> str | None:
    """A scalar field as text; None when empty or '-' (Windows' "not set")."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text if text and text != "-" else None


def _first(*values: Any) -> str | None:
    for value in values:
        text = _text(value)
        if text is not None:
            return text
    return None


def _subject_account(data: dict[str, Any]) -> str | None:
    """The account the event's SubjectDomainName/SubjectUserName name (who acted)."""
    name, domain = _text(data.get("SubjectUserName")), _text(data.get("SubjectDomainName"))
    if not name:
        return None
    return f"{domain}\\{name}" if domain and "\\" not in name else name


def _process(data: dict[str, Any]) -> dict[str, str | None] | None:
    image = _first(data.get("Image"), data.get("NewProcessName"))
    command = _first(data.get("CommandLine"), data.get("ProcessCommandLine"))
    if image is None and command is None:
        return None
    return {
        "win.image": image,
        "win.command": command or image,
        "win.requester": _first(data.get("User"), _subject_account(data)),
        "win.parent": _first(data.get("ParentImage"), data.get("ParentProcessName")),
    }


def _adcs(event: WindowsEvent) -> dict[str, str | None] | None:
    data = event.data
    request = _text(event.data_value(REQUEST_ID_KEYS))
    serial = _text(event.data_value(ISSUED_SERIAL_KEYS + REVOKED_SERIAL_KEYS))
    if request is None and serial is None:
        return None
    return {
        "win.request_id": request,
        "win.requester": _first(data.get("Requester"), _subject_account(data)),
        "win.disposition": _first(data.get("Disposition")),
        "win.subject": _first(data.get("Subject")),
        "win.serial": serial,
        "win.template": _text(event.template()),
        "win.ski": _first(data.get("SubjectKeyIdentifier")),
        "win.san": _first(data.get("SubjectAlternativeName")),
        "win.attributes": _first(data.get("Attributes")),
    }


def normalize_windows(obj: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """(format, ``win.*`` fields) when ``obj`` is one of the handled Windows events, else None."""
    event = read_windows_event(obj)
    code = event.code if event else None
    if event is None or code is None:
        return None
    if code in PROCESS_EVENTS:
        fmt, specific = PROCESS_EVENTS[code], _process(event.data)
    elif code in SCRIPT_EVENTS:
        script = _first(event.data.get("ScriptBlockText"))
        fmt, specific = SCRIPT_EVENTS[code], ({"win.script": script[:65536]} if script else None)
    elif code in ADCS_EVENTS:
        fmt, specific = f"adcs-{code}", _adcs(event)
    else:
        return None
    if specific is None:
        return None
    fields: dict[str, str | None] = {
        "win.event_id": str(code),
        "win.computer": _text(event.system_value(COMPUTER_KEYS)),
        "win.time": _first(
            event.system_value(TIME_KEYS), event.data.get(SYSMON_TIME_KEY), event.system.get(NXLOG_TIME_KEY)
        ),
        **specific,
    }
    return fmt, {k: v for k, v in fields.items() if v is not None}
