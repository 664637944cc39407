from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from certsoar.actions.siem import RelatedInput, RelatedOutput, related
from certsoar.alert import CertificateAlert
from certsoar.certs import facts_from_fingerprints
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.context import ActionContext
from certsoar.registry import get_action

SEEN = datetime(2026, 5, 30, 10, 15, tzinfo=timezone.utc)
SHA1 = "6ece5ece4192683d2d84e25b0ba7e04f9cb7eb7c"
SHA256 = "ab" * 32


def eve(ts: datetime, src: str, dst: str, **tls: Any) -> str:
    return json.dumps({
        "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%f+0000"), "event_type": "tls", "src_ip": src, "src_port": 50000,
        "dest_ip": dst, "dest_port": 8443, "proto": "TCP", "tls": tls,
    })


def write_logs(folder: Path) -> None:
    colon = ":".join(SHA1[i:i + 2] for i in range(0, 40, 2))
    lines = [
        eve(SEEN - timedelta(days=2), "10.0.0.5", "203.0.113.66", fingerprint=colon, serial="00:C7:D4", sni="c2.example.net"),
        eve(SEEN, "10.0.0.6", "203.0.113.66", fingerprint=colon, serial="00:C7:D4", sni="c2.example.net"),
        eve(SEEN + timedelta(hours=3), "10.0.0.7", "198.51.100.9", fingerprint=colon),  # same cert, second server
        eve(SEEN + timedelta(hours=4), "10.0.0.8", "203.0.113.66"),  # TLS 1.3 to the same server, no cert
        eve(SEEN + timedelta(hours=5), "10.0.0.9", "192.0.2.1", sni="c2.example.net"),  # SNI only
        eve(SEEN - timedelta(days=30), "10.0.0.10", "203.0.113.66", fingerprint=colon),  # outside the window
        eve(SEEN, "10.0.0.11", "192.0.2.50", fingerprint="11" * 20),  # unrelated
    ]
    (folder / "eve.json").write_text("\n".join(lines) + "\n")
    (folder / "x509.ndjson").write_text(
        json.dumps({"_path": "x509", "ts": (SEEN - timedelta(days=3)).timestamp(), "fingerprint": SHA256, "certificate.serial": "C7D4"}) + "\n"
    )


def context(tmp_path: Path) -> ActionContext:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_logs(logs)
    cfg = Config.model_validate({
        "state_dir": str(tmp_path / "state"), "config_dir": tmp_path,
        "connectors": {"siem": {"type": "files", "name": "lab-logs", "paths": ["logs"]}},
    })
    return ActionContext(
        run_id="r1", step_id="related", dry_run=True, now=SEEN, config=cfg,
        connectors=Connections(cfg), ledger=None, templates=None,  # type: ignore[arg-type]
    )


def inputs(window: str = "7d") -> RelatedInput:
    alert = CertificateAlert.model_validate(
        {"id": "a-1", "time": SEEN, "sha1": SHA1, "src_ip": "10.0.0.6", "dst_ip": "203.0.113.66", "dst_port": 8443, "sni": "c2.example.net"}
    )
    cert = facts_from_fingerprints(SHA256, SHA1).model_copy(update={"serial": "C7D4"})
    return RelatedInput(alert=alert, cert=cert, window=window)


def test_registered():
    spec = get_action("siem.related")
    assert spec.input_model is RelatedInput and spec.output_model is RelatedOutput and not spec.mutates


async def test_related_events_servers_clients_and_first_seen(tmp_path):
    out = await related(inputs(), context(tmp_path))
    assert out.count == 6  # 5 eve events in the window + the x509 record; the unrelated and the old one are out
    assert out.servers == ["203.0.113.66", "198.51.100.9"]
    assert out.clients == ["10.0.0.6", "10.0.0.5", "10.0.0.7", "10.0.0.8"]
    assert out.first_seen == SEEN - timedelta(days=3)  # the x509 record, by SHA-256 and serial
    assert out.sources == ["x509.ndjson (zeek-x509)", "eve.json (suricata-tls)"]
    assert [e.time for e in out.events] == sorted(e.time for e in out.events)
    sni_only = [e for e in out.events if e.dst_ip == "192.0.2.1"]
    assert sni_only and sni_only[0].matched == ["sni"]


async def test_narrow_window(tmp_path):
    out = await related(inputs("1h"), context(tmp_path))
    assert out.count == 1 and out.first_seen == SEEN


def test_bad_window_is_refused():
    with pytest.raises(ValidationError, match="not a duration"):
        inputs("a week")
