"""One table of log field names for intake and the files SIEM: a record that intake reads as an alert,
the SIEM reads with the same endpoints, hashes and certificate names (the intake fixtures, each format)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from certsoar.alert import CertificateAlert
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.siem import SiemEvent, SiemQuery
from certsoar.connectors.siem.files import FilesSiem, FilesSiemSettings
from certsoar.intake import load_alert
from certsoar.logfields import CONCEPTS, FORMATS, in_any_format

INTAKE = Path(__file__).resolve().parent / "data" / "intake"


def record_of(name: str) -> dict[str, Any]:
    """The log record inside the fixture, as a SIEM stores it (an ECS hit's _source, a notable's result)."""
    obj = json.loads((INTAKE / name).read_text())
    return obj.get("_source") or obj.get("result") or obj


def siem_event(tmp_path: Path, record: dict[str, Any], alert: CertificateAlert) -> SiemEvent:
    log = tmp_path / "records.jsonl"
    log.write_text(json.dumps(record) + "\n")
    siem = FilesSiem(
        FilesSiemSettings(paths=[log]), ConnectorEnv(name="logs", state_dir=tmp_path / "state", config_dir=tmp_path)
    )
    indicators = {
        k: [v]
        for k, v in (("sha256", alert.sha256), ("sha1", alert.sha1), ("sni", alert.sni), ("ip", alert.dst_ip))
        if v
    }
    query = SiemQuery(
        indicators=indicators,
        start=datetime(2000, 1, 1, tzinfo=timezone.utc),
        end=datetime(2100, 1, 1, tzinfo=timezone.utc),
    )
    [event] = asyncio.run(siem.search(query))
    return event


@pytest.mark.parametrize(
    "name",
    [
        "zeek/ssl.cryptography-io.json",
        "zeek/x509.cryptography-io.json",
        "suricata/tls-with-certificate.json",
        "ecs/tls-search-hit.json",
        "splunk/notable-export.json",
        "generic/alert.json",
    ],
)
def test_the_siem_reads_what_intake_reads(tmp_path: Path, name: str) -> None:
    alert = load_alert((INTAKE / name).read_bytes())
    event = siem_event(tmp_path, record_of(name), alert)
    assert event.time == alert.time
    assert (event.src_ip, event.dst_ip, event.dst_port, event.sni, event.ja3, event.ja3s) == (
        alert.src_ip,
        alert.dst_ip,
        alert.dst_port,
        alert.sni,
        alert.ja3,
        alert.ja3s,
    )
    if not alert.certificate_pem:  # hashes the log carried, not ones intake computed from the certificate
        assert (event.sha256, event.sha1) == (alert.sha256, alert.sha1)
    logged = alert.logged_certificate
    if logged is not None:
        assert event.serial == logged.serial
        record = record_of(name)
        for attribute in ("subject", "issuer"):
            if (
                getattr(event, attribute) is None and f"ssl_{attribute}_common_name" in record
            ):  # intake makes CN=<name> of a CIM CN
                assert getattr(logged, attribute) == f"CN={record[f'ssl_{attribute}_common_name']}"
            else:
                assert getattr(event, attribute) == getattr(logged, attribute)


def test_every_format_key_is_searched_for_its_concept() -> None:
    assert in_any_format("dst_ip")[:2] == ("id.resp_h", "dest_ip")
    for fmt in FORMATS:
        for concept in CONCEPTS:
            assert set(getattr(fmt, concept)) <= set(in_any_format(concept))
    with pytest.raises(ValueError, match="colour"):
        in_any_format("colour")


def _pop(record: dict[str, Any], dotted: str) -> Any:
    """Remove a value stored under a dotted key, flat or nested."""
    if dotted in record:
        return record.pop(dotted)
    head, _, rest = dotted.partition(".")
    return _pop(record[head], rest)


@pytest.mark.parametrize(
    ("name", "module", "table"),
    [
        ("splunk/notable-export.json", "certsoar.intake.splunk", "SPLUNK_CIM"),
        ("suricata/tls-with-certificate.json", "certsoar.intake.suricata", "SURICATA_TLS"),
        ("ecs/tls-search-hit.json", "certsoar.intake.ecs", "ECS_TLS"),
    ],
)
@pytest.mark.parametrize("concept", ["dst_port", "issuer", "serial"])
def test_intake_reads_a_record_by_its_formats_table(
    monkeypatch: pytest.MonkeyPatch, name: str, module: str, table: str, concept: str
) -> None:
    """Rename a concept's key in the format's table and in the record: intake follows the table, so the
    table is the one place a format's field names live."""
    import dataclasses
    import importlib

    original = load_alert((INTAKE / name).read_bytes())
    document = json.loads((INTAKE / name).read_text())
    record = document.get("_source") or document.get("result") or document
    fields = getattr(importlib.import_module("certsoar.logfields"), table)
    value = _pop(record, getattr(fields, concept)[0])
    record["renamed_" + concept] = value
    monkeypatch.setattr(
        importlib.import_module(module), table, dataclasses.replace(fields, **{concept: ("renamed_" + concept,)})
    )
    renamed = load_alert(json.dumps(document).encode())
    if concept in ("issuer", "serial"):
        assert renamed.logged_certificate is not None and original.logged_certificate is not None
        assert getattr(renamed.logged_certificate, concept) == getattr(original.logged_certificate, concept)
        assert getattr(original.logged_certificate, concept) is not None
    else:
        assert getattr(renamed, concept) == getattr(original, concept) is not None
