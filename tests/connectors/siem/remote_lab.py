"""One small scenario the remote SIEM fakes (fake_sentinel.py, fake_qradar.py) hold, each in its vendor's
own columns: a self-signed certificate for evil.example issued through AD CS by CORP\\mallory, presented by
203.0.113.7:443 to two clients (Zeek and Suricata saw it), the connections around it, and unrelated noise."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

T0 = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
"""The alert's hour, yesterday: recent enough for a first certificate sweep, whatever the day."""
SHA256 = "3f4c2b1a" * 8
SHA1 = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
SHA1_COLONS = ":".join(SHA1[i : i + 2] for i in range(0, 40, 2))
SERIAL = "0A1B2C3D"
SUBJECT = "CN=evil.example,O=Evil Corp"
SNI = "evil.example"
SERVER_IP = "203.0.113.7"
CLIENT_IP = "10.0.0.5"
SECOND_CLIENT_IP = "10.0.0.6"
JA3 = "e7d705a3286e19ea42f587b344ee6865"
JA3S = "15af977ce25de452b96affa2addb1036"
CA_HOST = "CA01.corp.example"
WORKSTATION = "WKS1.corp.example"
REQUESTER = "CORP\\mallory"
OTHER_SHA256 = "77" * 32
OTHER_SERVER = "198.51.100.20"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


ADCS_4887_EVENTDATA = (
    # EventData as the Azure Monitor Agent stores it in SecurityEvent.EventData (the event's own XML);
    # AD CS 4887 fields: learn.microsoft.com windows/security/threat-protection/auditing/event-4887
    '<EventData xmlns="http://schemas.microsoft.com/win/2004/08/events/event">'
    '<Data Name="RequestId">77</Data><Data Name="Requester">CORP\\mallory</Data>'
    '<Data Name="Attributes">CertificateTemplate:WebServer</Data><Data Name="Disposition">3</Data>'
    '<Data Name="SubjectKeyIdentifier">5a 1b 2c 3d 4e 5f 60 71 82 93 a4 b5 c6 d7 e8 f9 0a 1b 2c 3d</Data>'
    '<Data Name="Subject">CN=evil.example, O=Evil Corp</Data></EventData>'
)
