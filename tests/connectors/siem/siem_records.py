"""One small story every SIEM of the conformance suite holds, in the shape that SIEM keeps it.

A client fetches a certificate made by an adversary (``evil.example``, issued by "Fake Root CA"): Zeek logs
its x509 record, the ssl session and the connection, Suricata another client's TLS session to the same
server, and the AD CS of the domain logs issuing a certificate with the same serial to ``CORP\\mallory``. One
benign session is in the logs too. The native records follow the published field lists (Zeek's
scripts/base/files/x509/main.zeek, protocols/ssl/main.zeek, protocols/conn/main.zeek; Suricata's EVE
``tls`` output, docs.suricata.io "Eve JSON Format"; AD CS 4887 with OSSEM-DD's field names, as in
tests/data/siem/adcs.jsonl). Addresses are RFC 5737 documentation ranges; all values are made up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

T0 = datetime(2026, 5, 28, 20, 0, tzinfo=timezone.utc)
EVIL_SHA256 = "3f9c2a7d1e5b4c8a9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e"
EVIL_SHA1 = "9a8b7c6d5e4f30211203f4e5d6c7b8a9f0e1d2c3"
BENIGN_SHA256 = "0d1c2b3a495867f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918f7e6"
SERIAL = "0A1B2C3D4E5F60718293"
SUBJECT = "CN=evil.example,O=Evil Corp"
ISSUER = "CN=Fake Root CA,O=Evil Corp"
JA3 = "e7d705a3286e19ea42f587b344ee6865"
JA3S = "0debd3853f330c574b05e0b6d7f0f327"
SERVER = "203.0.113.7"
CLIENT = "10.0.0.5"
OTHER_CLIENT = "10.0.0.6"
UID = "CHhAvVGS1DHFjwGM9"
SKI = "5a 3e 91 c4 0b 7d 22 e8 19 f0 aa 41 6c 2d 88 b3 07 e5 d9 14"


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def epoch(seconds: int) -> float:
    return at(seconds).timestamp()


def colons(hex_text: str) -> str:
    return ":".join(hex_text[i : i + 2] for i in range(0, len(hex_text), 2))


@dataclass(frozen=True)
class Record:
    name: str
    seconds: int
    kind: str
    native: dict[str, Any]

    @property
    def time(self) -> datetime:
        return at(self.seconds)

    def line(self) -> str:
        return json.dumps(self.native)


X509 = Record(
    "x509",
    0,
    "x509",
    {
        "ts": epoch(0),
        "fingerprint": EVIL_SHA256,
        "certificate.version": 3,
        "certificate.serial": SERIAL,
        "certificate.subject": SUBJECT,
        "certificate.issuer": ISSUER,
        "certificate.not_valid_before": epoch(-3600),
        "certificate.not_valid_after": epoch(86400 * 90),
        "certificate.key_alg": "rsaEncryption",
        "certificate.sig_alg": "sha256WithRSAEncryption",
        "certificate.key_type": "rsa",
        "certificate.key_length": 2048,
        "certificate.exponent": "65537",
        "san.dns": ["evil.example"],
        "basic_constraints.ca": False,
        "host_cert": True,
        "client_cert": False,
    },
)
SSL = Record(
    "ssl",
    1,
    "tls",
    {
        "ts": epoch(1),
        "uid": UID,
        "id.orig_h": CLIENT,
        "id.orig_p": 50000,
        "id.resp_h": SERVER,
        "id.resp_p": 443,
        "version": "TLSv12",
        "cipher": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "curve": "x25519",
        "server_name": "evil.example",
        "resumed": False,
        "established": True,
        "ssl_history": "CsxknGIi",
        "cert_chain_fps": [EVIL_SHA256],
        "client_cert_chain_fps": [],
        "subject": SUBJECT,
        "issuer": ISSUER,
        "validation_status": "unable to get local issuer certificate",
        "ja3": JA3,
        "ja3s": JA3S,
        "sni_matches_cert": True,
    },
)
SURICATA = Record(
    "suricata",
    2,
    "tls",
    {
        "timestamp": "2026-05-28T20:00:02.000000+0000",
        "flow_id": 1834590123456789,
        "in_iface": "eth0",
        "event_type": "tls",
        "src_ip": OTHER_CLIENT,
        "src_port": 50001,
        "dest_ip": SERVER,
        "dest_port": 443,
        "proto": "TCP",
        "host": "sensor1",
        "tls": {
            "subject": SUBJECT,
            "issuerdn": ISSUER,
            "serial": colons(SERIAL),
            "fingerprint": colons(EVIL_SHA1),
            "sni": "evil.example",
            "version": "TLS 1.2",
            "notbefore": "2026-05-28T19:00:00",
            "notafter": "2026-08-26T20:00:00",
            "ja3": {"hash": JA3, "string": "771,4865-4866-4867,0-23-65281,29-23-24,0"},
            "ja3s": {"hash": JA3S, "string": "771,49199,65281-0-11"},
        },
    },
)
CONN = Record(
    "conn",
    3,
    "conn",
    {
        "ts": epoch(3),
        "uid": UID,
        "id.orig_h": CLIENT,
        "id.orig_p": 50000,
        "id.resp_h": SERVER,
        "id.resp_p": 443,
        "proto": "tcp",
        "service": "ssl",
        "duration": 1.5,
        "orig_bytes": 1200,
        "resp_bytes": 5400,
        "conn_state": "SF",
        "missed_bytes": 0,
        "history": "ShADadFf",
        "orig_pkts": 10,
        "resp_pkts": 9,
    },
)
ADCS = Record(
    "adcs",
    4,
    "adcs",
    {
        "TimeCreated": "2026-05-28T20:00:04.0000000Z",
        "EventID": 4887,
        "Computer": "CA01.corp.example",
        "RequestId": "2051",
        "Requester": "CORP\\mallory",
        "Attributes": "CertificateTemplate:WebServer",
        "Disposition": "3",
        "SubjectKeyIdentifier": SKI,
        "Subject": "CN=evil.example",
        "CertificateTemplate": "WebServer",
        "SerialNumber": SERIAL.lower(),
    },
)
BENIGN = Record(
    "benign",
    5,
    "tls",
    {
        "ts": epoch(5),
        "uid": "C8nQ2e1xY0Jz9kAb3",
        "id.orig_h": "10.0.0.9",
        "id.orig_p": 51000,
        "id.resp_h": "198.51.100.20",
        "id.resp_p": 443,
        "version": "TLSv13",
        "server_name": "benign.example",
        "established": True,
        "cert_chain_fps": [BENIGN_SHA256],
        "subject": "CN=benign.example",
        "issuer": "CN=Good CA,O=Good",
        "validation_status": "ok",
        "ja3": "a0e9f5d64349fb13191bc781f81f42e1",
        "ja3s": "f4febc55ea12b31ae17cfb7e614afda8",
    },
)
RECORDS = (X509, SSL, SURICATA, CONN, ADCS, BENIGN)
BY_TIME = {r.time: r.name for r in RECORDS}

SEARCHES: dict[str, tuple[list[str], set[str]]] = {
    # indicator kind: (values, the records that must come back)
    "sha256": ([EVIL_SHA256.upper()], {"x509", "ssl"}),
    "sha1": ([colons(EVIL_SHA1).upper()], {"suricata"}),
    "serial": ([SERIAL.lower()], {"x509", "suricata", "adcs"}),
    "serial_issuer": ([f"{SERIAL}|O=Evil Corp, CN=Fake Root CA"], {"x509", "suricata"}),
    "sni": (["Evil.Example."], {"ssl", "suricata"}),
    "ip": ([CLIENT], {"ssl", "conn"}),
    "server": ([f"{SERVER}:443"], {"ssl", "suricata", "conn"}),
    "host": (["ca01.corp.example"], {"adcs"}),
    "requester": (["mallory"], {"adcs"}),
    "ja3": ([JA3], {"ssl", "suricata"}),
    "ja3s": ([JA3S], {"ssl", "suricata"}),
    "subject": (["O=Evil Corp, CN=evil.example"], {"x509", "ssl", "suricata"}),
}
