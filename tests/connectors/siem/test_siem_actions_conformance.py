"""The SIEM actions read every SIEM alike: ``siem.related``, ``siem.certificate_creations`` and
``siem.traffic_change`` over the conformance story give the same answer whichever SIEM holds it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from siem_records import CLIENT, EVIL_SHA1, EVIL_SHA256, ISSUER, OTHER_CLIENT, SERIAL, SERVER, T0
from siem_vendors import SiemVendor

from certsoar.actions.siem import (
    CreationsInput,
    RelatedInput,
    TrafficInput,
    certificate_creations,
    related,
    traffic_change,
)
from certsoar.alert import CertificateAlert
from certsoar.certs import facts_from_fingerprints
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.context import ActionContext

ALERT = CertificateAlert.model_validate(
    {
        "id": "story-1",
        "time": T0 + timedelta(seconds=1),
        "sha256": EVIL_SHA256,
        "src_ip": CLIENT,
        "dst_ip": SERVER,
        "dst_port": 443,
        "sni": "evil.example",
    }
)
CERT = facts_from_fingerprints(EVIL_SHA256, EVIL_SHA1).model_copy(update={"serial": SERIAL, "issuer": ISSUER})


def context(vendor: SiemVendor, tmp_path: Path) -> ActionContext:
    config = Config.model_validate({"state_dir": str(tmp_path / "state"), "config_dir": tmp_path})
    return ActionContext(
        run_id="r1",
        step_id="siem",
        dry_run=True,
        now=T0,
        config=config,
        connectors=Connections(config, overrides={"siem": vendor.build()}),
        ledger=None,
        templates=None,  # type: ignore[arg-type]
    )


async def test_related_finds_the_same_servers_clients_and_first_sighting(
    siem_vendor: SiemVendor, tmp_path: Path
) -> None:
    out = await related(RelatedInput(alert=ALERT, cert=CERT, window="1h"), context(siem_vendor, tmp_path))
    assert out.count == 5 and out.warnings == []
    assert out.servers == [SERVER] and out.clients == [CLIENT, OTHER_CLIENT]
    assert out.first_seen == T0
    assert out.by_indicator == {
        "ip": 3,
        "serial": 3,
        "serial_issuer": 2,
        "server": 3,
        "sha1": 1,
        "sha256": 2,
        "sni": 2,
    }


async def test_creations_count_the_same_incidents(siem_vendor: SiemVendor, tmp_path: Path) -> None:
    out = await certificate_creations(CreationsInput(alert=ALERT, cert=CERT), context(siem_vendor, tmp_path))
    assert out.warnings == [] and out.burst
    assert [(i.kind, i.time) for i in out.incidents] == [
        ("first-seen-untrusted", T0),
        ("adcs-4887", T0 + timedelta(seconds=4)),
    ]
    assert out.incidents[1].requester == "CORP\\mallory" and "request 2051" in out.incidents[1].evidence


async def test_traffic_change_measures_the_same_connections(siem_vendor: SiemVendor, tmp_path: Path) -> None:
    out = await traffic_change(TrafficInput(alert=ALERT, cert=CERT), context(siem_vendor, tmp_path))
    assert out.warnings == [] and out.first_seen == T0
    observed = {(s.key, s.metric): s.observed for s in out.servers + out.clients}
    assert observed == {
        (f"{SERVER}:443", "bytes_out_per_hour"): 1200.0,
        (f"{SERVER}:443", "connections_per_hour"): 1.0,
        (CLIENT, "bytes_out_per_hour"): 1200.0,
        (CLIENT, "connections_per_hour"): 1.0,
        (OTHER_CLIENT, "bytes_out_per_hour"): 0.0,
        (OTHER_CLIENT, "connections_per_hour"): 0.0,
    }
