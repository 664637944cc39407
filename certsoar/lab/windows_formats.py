"""A Windows event as Winlogbeat ships it (JSON lines) and as Windows renders it (Event XML)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from certsoar.lab.windows_events import WinEvent

_SECURITY_PROVIDER = ("Microsoft-Windows-Security-Auditing", "{54849625-5478-4994-a5ba-3e3b0328c30d}")
_SYSMON_PROVIDER = ("Microsoft-Windows-Sysmon", "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}")
_TASKS = {1: 1, 4688: 13312, 4886: 12805, 4887: 12805}
_VERSIONS = {1: 5, 4688: 2, 4886: 1, 4887: 1}


def _iso_z(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def winlogbeat(event: WinEvent) -> dict[str, Any]:
    """The event as Winlogbeat ships it (ECS ``event``/``host`` plus ``winlog``)."""
    provider, guid = _SYSMON_PROVIDER if event.sysmon else _SECURITY_PROVIDER
    channel = "Microsoft-Windows-Sysmon/Operational" if event.sysmon else "Security"
    return {
        "@timestamp": _iso_z(event.ts),
        "agent": {"type": "winlogbeat", "version": "8.13.4"},
        "event": {
            "code": str(event.event_id),
            "provider": provider,
            "kind": "event",
            "created": _iso_z(event.ts + timedelta(seconds=2)),
        },
        "host": {"name": event.computer.lower()},
        "log": {"level": "information"},
        "winlog": {
            "channel": channel,
            "computer_name": event.computer,
            "event_id": str(event.event_id),
            "provider_name": provider,
            "provider_guid": guid,
            "record_id": event.record_id,
            "task": str(_TASKS[event.event_id]),
            "version": _VERSIONS[event.event_id],
            "event_data": event.data,
        },
    }


def write_windows_logs(folder: Path, events: list[WinEvent]) -> None:
    for name, chosen in (
        ("sysmon.jsonl", [e for e in events if e.sysmon]),
        ("security.jsonl", [e for e in events if not e.sysmon]),
    ):
        (folder / name).write_text(
            "".join(json.dumps(winlogbeat(e), separators=(",", ":")) + "\n" for e in chosen), encoding="utf-8"
        )


def event_xml(event: WinEvent) -> str:
    """The event as Windows renders it (Event Viewer's XML view, ``wevtutil qe /f:xml``)."""
    provider, guid = _SYSMON_PROVIDER if event.sysmon else _SECURITY_PROVIDER
    channel = "Microsoft-Windows-Sysmon/Operational" if event.sysmon else "Security"
    system_time = event.ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{event.ts.microsecond:06d}0Z"
    data = "\n".join(f"    <Data Name={quoteattr(k)}>{escape(v)}</Data>" for k, v in event.data.items())
    return (
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">\n'
        "  <System>\n"
        f"    <Provider Name={quoteattr(provider)} Guid={quoteattr(guid)} />\n"
        f"    <EventID>{event.event_id}</EventID>\n"
        f"    <Version>{_VERSIONS[event.event_id]}</Version>\n"
        "    <Level>0</Level>\n"
        f"    <Task>{_TASKS[event.event_id]}</Task>\n"
        "    <Opcode>0</Opcode>\n"
        "    <Keywords>0x8020000000000000</Keywords>\n"
        f"    <TimeCreated SystemTime={quoteattr(system_time)} />\n"
        f"    <EventRecordID>{event.record_id}</EventRecordID>\n"
        "    <Correlation />\n"
        '    <Execution ProcessID="744" ThreadID="812" />\n'
        f"    <Channel>{escape(channel)}</Channel>\n"
        f"    <Computer>{escape(event.computer)}</Computer>\n"
        "    <Security />\n"
        "  </System>\n"
        "  <EventData>\n"
        f"{data}\n"
        "  </EventData>\n"
        "</Event>\n"
    )
