"""Suricata eve.json: a ``tls`` event per session, preceded by a ``dns`` event for the first one to a name."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from certsoar.lab.certificate_encodings import der, raw_serial
from certsoar.lab.sessions import RESOLVER, Session


def _suricata_dn(name: x509.Name) -> str:
    return ", ".join(f"{attr.rfc4514_attribute_name}={attr.value!s}" for rdn in name.rdns for attr in rdn)


def _suricata_time(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def _suricata_dns(s: Session) -> dict[str, Any]:
    return {
        "timestamp": _suricata_time(s.ts - timedelta(milliseconds=180)),
        "flow_id": s.flow_id - 1,
        "in_iface": "eth0",
        "event_type": "dns",
        "src_ip": s.client,
        "src_port": s.client_port - 1,
        "dest_ip": RESOLVER,
        "dest_port": 53,
        "proto": "UDP",
        "dns": {"type": "query", "id": s.client_port, "rrname": s.sni, "rrtype": "A", "tx_id": 0},
    }


def suricata_tls_event(s: Session) -> dict[str, Any]:
    tls: dict[str, Any] = {"sni": s.sni}
    if s.chain:
        leaf = s.chain[0]
        tls = {
            "subject": _suricata_dn(leaf.subject),
            "issuerdn": _suricata_dn(leaf.issuer),
            "serial": ":".join(f"{b:02X}" for b in raw_serial(leaf)),
            "fingerprint": ":".join(f"{b:02x}" for b in hashlib.sha1(der(leaf)).digest()),
            "sni": s.sni,
            "version": "TLS 1.2",
            "notbefore": leaf.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%S"),
            "notafter": leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%S"),
        }
    else:
        tls["version"] = "TLS 1.3"
    tls["ja3"] = {}
    tls["ja3s"] = {}
    return {
        "timestamp": _suricata_time(s.ts),
        "flow_id": s.flow_id,
        "in_iface": "eth0",
        "event_type": "tls",
        "src_ip": s.client,
        "src_port": s.client_port,
        "dest_ip": s.server,
        "dest_port": s.port,
        "proto": "TCP",
        "tls": tls,
    }


def write_suricata_eve(path: Path, sessions: list[Session], lookups: list[Session]) -> None:
    resolved = {id(s) for s in lookups}
    events: list[dict[str, Any]] = []
    for s in sessions:
        if id(s) in resolved:
            events.append(_suricata_dns(s))
        events.append(suricata_tls_event(s))
    path.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events), encoding="utf-8")
