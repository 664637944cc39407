"""One Windows event parser for intake and the files SIEM: the same event, in every rendering, reads the
same through both (the AD CS fixtures of tests/data/intake/adcs, field names from OSSEM-DD)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.siem import SiemEvent, SiemQuery
from certsoar.connectors.siem.files import FilesSiem, FilesSiemSettings
from certsoar.intake import load_alert
from certsoar.intake.winxml import parse_event_xml
from certsoar.windows_events import read_windows_event, template_in_attributes

ADCS = Path(__file__).resolve().parent / "data" / "intake" / "adcs"


def xml_as_json(name: str) -> dict[str, Any]:
    """An Event XML fixture as XML-to-JSON converters write it (``Event.EventData.Data`` named items)."""
    event = parse_event_xml((ADCS / name).read_text())
    system = {
        **event["System"],
        "TimeCreated": {"@SystemTime": event["System"]["TimeCreated"]},
        "EventID": {"#text": event["System"]["EventID"]},
    }
    data = [{"@Name": key, "#text": value} for key, value in event["EventData"].items()]
    return {"Event": {"System": system, "EventData": {"Data": data}}}


def fixture(name: str) -> dict[str, Any]:
    return xml_as_json(name) if name.endswith(".xml") else json.loads((ADCS / name).read_text())


def siem_events(tmp_path: Path, *records: dict[str, Any]) -> list[SiemEvent]:
    import asyncio

    log = tmp_path / "security.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    env = ConnectorEnv(name="lab", state_dir=tmp_path / "state", config_dir=tmp_path)
    siem = FilesSiem(FilesSiemSettings(paths=[log]), env)
    query = SiemQuery(
        kinds=["adcs"], start=datetime(2000, 1, 1, tzinfo=timezone.utc), end=datetime(2100, 1, 1, tzinfo=timezone.utc)
    )
    return asyncio.run(siem.search(query))


@pytest.mark.parametrize(
    "name",
    [
        "4887-v0.xml",
        "4886-v1.xml",
        "4887-v1.xml",
        "4888-v1.xml",
        "4870-v0.xml",
        "4887-v1.winlogbeat.json",
        "4886-v0.splunk.json",
        "4870-v0.splunk-xml.json",
    ],
)
def test_intake_and_the_siem_read_each_rendering_alike(tmp_path: Path, name: str) -> None:
    alert = load_alert((ADCS / name).read_bytes())
    logged = alert.logged_certificate
    assert logged is not None
    [event] = siem_events(tmp_path, fixture(name))
    assert event.kind == "adcs" and f"adcs-{event.event_code}" == alert.event
    assert event.time == alert.time
    assert (event.request_id, event.serial, event.template, event.host) == (
        logged.request_id,
        logged.serial,
        logged.template,
        alert.host,
    )
    # a revocation names no requester; the SIEM keeps the account that revoked, for correlation by account
    assert event.requester == (alert.requester if alert.event != "adcs-4870" else "CORP\\pki-admin")


def test_v0_4887_template_is_read_from_attributes() -> None:
    """Version 0 has no CertificateTemplate field (OSSEM-DD event-4887.yml): the template is a line of Attributes."""
    event = read_windows_event(xml_as_json("4887-v0.xml"))
    assert event is not None and event.code == 4887
    assert "CertificateTemplate" not in event.data and event.template() == "Machine"


def test_splunk_eventcode_event_is_read_by_the_siem(tmp_path: Path) -> None:
    splunk = fixture("4886-v0.splunk.json")
    assert "EventCode" in splunk and "EventID" not in splunk
    [event] = siem_events(tmp_path, splunk)
    assert (event.event_code, event.request_id, event.host, event.template) == (
        "4886",
        "1288",
        "ca01.corp.example.com",
        "Machine",
    )
    assert event.time == datetime(2024, 2, 12, 16, 20, 40, 812000, tzinfo=timezone.utc)  # Splunk's _time


@pytest.mark.parametrize(
    ("obj", "why"),
    [
        ({"EventID": "4624", "TargetUserName": "alice"}, "not an event the SIEM handles"),
        ({"EventCode": "4887", "Requester": "CORP\\x"}, "no RequestId or SerialNumber"),
        ({"message": "4887"}, "no event id"),
    ],
)
def test_records_that_are_not_handled_windows_events_stay_plain_records(
    tmp_path: Path, obj: dict[str, Any], why: str
) -> None:
    assert siem_events(tmp_path, {"@timestamp": "2026-05-30T10:00:00Z", **obj}) == [], why


# --- any EventData, in every rendering, reads the same ----------------------------------------------------------

_NAMES = st.sampled_from(
    [
        "RequestId",
        "Requester",
        "Attributes",
        "Disposition",
        "SubjectKeyIdentifier",
        "Subject",
        "SerialNumber",
        "CertificateTemplate",
        "CertificateSerialNumber",
        "RevocationReason",
    ]
)
_VALUES = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


def renderings(code: int, data: dict[str, str]) -> dict[str, dict[str, Any]]:
    when = "2026-05-30T10:00:00.1234567Z"
    return {
        "xml": {"System": {"EventID": str(code), "TimeCreated": when, "Computer": "CA01"}, "EventData": dict(data)},
        "xml-as-json": {
            "Event": {
                "System": {"EventID": {"#text": str(code)}, "TimeCreated": {"@SystemTime": when}, "Computer": "CA01"},
                "EventData": {"Data": [{"@Name": k, "#text": v} for k, v in data.items()]},
            }
        },
        "winlogbeat": {
            "@timestamp": when,
            "winlog": {"event_id": code, "computer_name": "CA01", "event_data": dict(data)},
        },
        "splunk": {"_time": when, "EventCode": str(code), "ComputerName": "CA01", **data},
        "get-winevent": {"TimeCreated": when, "EventID": code, "Computer": "CA01", **data},
    }


@settings(max_examples=60, deadline=None)
@given(code=st.sampled_from([4886, 4887, 4888, 4870]), data=st.dictionaries(_NAMES, _VALUES, max_size=6))
def test_every_rendering_gives_the_same_event(code: int, data: dict[str, str]) -> None:
    for rendering, obj in renderings(code, data).items():
        event = read_windows_event(obj)
        assert event is not None, rendering
        assert event.code == code, rendering
        assert {k: event.data.get(k) for k in data} == data, rendering
        assert event.system_value(("winlog.computer_name", "Computer", "ComputerName")) == "CA01", rendering
        named = data.get("CertificateTemplate", "").strip()
        assert event.template() == (
            named if named not in ("", "-") else template_in_attributes(data.get("Attributes"))
        ), rendering


@pytest.mark.parametrize("placeholder", ["-", " - ", ""])
def test_a_placeholder_template_field_gives_way_to_attributes_in_intake_and_the_siem(
    tmp_path: Path, placeholder: str
) -> None:
    """Windows writes ``-`` for an empty field: intake, like the SIEM (WindowsEvent.template), then reads the
    template from Attributes, so the alert and the creation-burst automation exclusion see the same name."""
    obj = json.loads((ADCS / "4886-v0.splunk.json").read_text())
    obj["CertificateTemplate"] = placeholder
    alert = load_alert(json.dumps(obj).encode())
    [event] = siem_events(tmp_path, obj)
    assert alert.logged_certificate is not None
    assert alert.logged_certificate.template == event.template == "Machine"
