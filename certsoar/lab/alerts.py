"""The alert files: both stories as generic JSON, and as a Suricata event, a Zeek x509 line and an AD CS 4887."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certsoar.lab.certificate_encodings import adcs_serial, der
from certsoar.lab.paths import LabPaths
from certsoar.lab.sessions import Session
from certsoar.lab.suricata import suricata_tls_event
from certsoar.lab.windows_events import WinEvent
from certsoar.lab.windows_formats import event_xml
from certsoar.lab.zeek import X509_FIELDS, write_zeek_log, x509_row


def _first_sighting(sessions: list[Session], cert: x509.Certificate) -> Session:
    return next(s for s in sessions if s.chain and s.chain[0] == cert)


def write_alerts(
    paths: LabPaths,
    sessions: list[Session],
    windows: list[WinEvent],
    rogue: x509.Certificate,
    mimicry: x509.Certificate,
    built: datetime,
) -> None:
    stories = {
        "mimicry": (mimicry, "Self-signed certificate whose issuer imitates a public CA", "ws-0137.corp.example"),
        "internal": (
            rogue,
            "Internal CA issued a certificate for a name outside the organization",
            "ws-0161.corp.example",
        ),
    }
    for key, (cert, title, host) in stories.items():
        first = _first_sighting(sessions, cert)
        alert = {
            # Unique per build: the run store outlives a rebuilt lab and dedupes by alert id.
            "id": f"lab-{key}-{built:%Y%m%dT%H%M%SZ}-{first.uid}",
            "time": first.ts.isoformat(),
            "title": title,
            "host": host,
            "src_ip": first.client,
            "dst_ip": first.server,
            "dst_port": first.port,
            "sni": first.sni,
            "certificate_pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        }
        paths.alerts[key].write_text(json.dumps(alert, indent=2) + "\n", encoding="utf-8")

    # the mimicry story as the sensors raise it: Suricata's tls event (with the certificate logged) and Zeek's x509 line
    first = _first_sighting(sessions, mimicry)
    eve = suricata_tls_event(first)
    eve["tls"]["certificate"] = base64.b64encode(der(mimicry)).decode("ascii")
    paths.alerts["mimicry-suricata"].write_text(json.dumps(eve) + "\n", encoding="utf-8")
    write_zeek_log(
        paths.alerts["mimicry-zeek"],
        "x509",
        X509_FIELDS,
        [x509_row(first.ts, mimicry, host_cert=True)],
        first.ts.replace(minute=0, second=0, microsecond=0),
        first.ts + timedelta(seconds=1),
    )
    # the internal story as the CA logged it: 4887 for the rogue leaf's serial
    issued = next(e for e in windows if e.event_id == 4887 and e.data["SerialNumber"] == adcs_serial(rogue))
    paths.alerts["internal-adcs"].write_text(event_xml(issued), encoding="utf-8")
