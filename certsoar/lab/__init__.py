"""The bundled lab: a real ``openssl ca`` directory, certificates, SIEM logs and alerts.

``certsoar demo`` and a run without a config use it. It is built once under
``<state_dir>/lab/`` (in a temporary folder that is renamed into place, so a crash never leaves
half a lab) and holds only relative paths, so the folder can be moved or copied.

Two stories are in it, each with the evidence the analyst card's four questions ask for:

* **mimicry**: a self-signed certificate whose issuer imitates DigiCert ("DigiCert lnc" with a
  lower-case L), made with ``openssl req -x509`` on ws-0137 (Sysmon 1), within the same hour as two
  unrelated self-signed certificates elsewhere (E2 burst), presented by two servers (203.0.113.45
  and .46); after its first sighting ws-0137 beacons to .45 every ~10 minutes and uploads tens of
  MB an hour (E3 traffic change against a 7-day conn.log baseline).
* **internal**: two days earlier, the organization's own issuing CA signed
  ``login.microsoftonline.com`` (a name outside the organization's domains) for CORP\\mallory
  (AD CS 4886/4887, certreq on her workstation), served by 198.51.100.23:8443 with steady, small
  traffic: no burst, no traffic change.

Background: nine days of ordinary hourly traffic (Zeek conn/ssl/x509, Suricata eve), machine
autoenrollment (template Machine, listed as automation in the lab config) and harmless commands.

Modules: ``story`` (cast and timeline), ``paths`` (the folder layout), ``build`` (``ensure_lab``),
``openssl_ca``, ``mimicry_certificate``, ``sessions`` (the TLS traffic), ``zeek``, ``suricata``,
``windows_events``, ``windows_formats``, ``alerts``, ``config`` (config.yaml) and
``certificate_encodings``.
"""

from certsoar.lab.build import ensure_lab
from certsoar.lab.certificate_encodings import adcs_serial, spki_sha256
from certsoar.lab.openssl_ca import build_ca_dir, generate_crl, issue_leaf
from certsoar.lab.paths import ALERT_FILES, LabPaths, lab_paths
from certsoar.lab.sessions import Session
from certsoar.lab.story import (
    AUTOMATION_TEMPLATE,
    CA_BACKDATE,
    CA_HOST,
    CA_NAME,
    CA_SUBJECT,
    LEAVES,
    LOG_SPAN,
    MIMICRY_CLIENT,
    MIMICRY_CREATED,
    MIMICRY_FIRST_SEEN,
    MIMICRY_HOST,
    MIMICRY_NAME,
    MIMICRY_SERVERS,
    MIMICRY_SUBJECT,
    ROGUE_FIRST_SEEN,
    ROGUE_HOST,
    ROGUE_ISSUED,
    ROGUE_REQUESTER,
    ROGUE_SERVER,
    LabLeaf,
)
from certsoar.lab.windows_events import WinEvent
from certsoar.lab.windows_formats import event_xml, winlogbeat

__all__ = [
    "ALERT_FILES",
    "AUTOMATION_TEMPLATE",
    "CA_BACKDATE",
    "CA_HOST",
    "CA_NAME",
    "CA_SUBJECT",
    "LEAVES",
    "LOG_SPAN",
    "MIMICRY_CLIENT",
    "MIMICRY_CREATED",
    "MIMICRY_FIRST_SEEN",
    "MIMICRY_HOST",
    "MIMICRY_NAME",
    "MIMICRY_SERVERS",
    "MIMICRY_SUBJECT",
    "ROGUE_FIRST_SEEN",
    "ROGUE_HOST",
    "ROGUE_ISSUED",
    "ROGUE_REQUESTER",
    "ROGUE_SERVER",
    "LabLeaf",
    "LabPaths",
    "Session",
    "WinEvent",
    "adcs_serial",
    "build_ca_dir",
    "ensure_lab",
    "event_xml",
    "generate_crl",
    "issue_leaf",
    "lab_paths",
    "spki_sha256",
    "winlogbeat",
]
