"""The two stories' cast (names, hosts, addresses) and timeline, and the leaves the lab CA issues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from cryptography.x509.oid import NameOID

CA_SUBJECT = "/C=US/O=Example Corp/CN=Example Corp Internal Issuing CA"
CA_HOST = "CA01.corp.example"
CA_NAME = "Example Corp Internal Issuing CA"
MIMICRY_SUBJECT = "/C=US/O=DigiCert lnc/CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1"
MIMICRY_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DigiCert lnc"),
        x509.NameAttribute(NameOID.COMMON_NAME, "DigiCert Global G2 TLS RSA SHA256 2020 CA1"),
    ]
)
MIMICRY_HOST = "cdn-update.net"
MIMICRY_SERVERS = ("203.0.113.45", "203.0.113.46")
MIMICRY_CLIENT = "10.20.0.37"
"""ws-0137: made the certificate, then beacons to the first server and uploads through it."""
ROGUE_HOST = "login.microsoftonline.com"
ROGUE_SERVER = ("198.51.100.23", 8443)
ROGUE_REQUESTER = "CORP\\mallory"
AUTOMATION_TEMPLATE = "Machine"

# The timeline, as offsets before the lab was built.
MIMICRY_CREATED = timedelta(hours=4, minutes=38)
"""``openssl req -x509`` ran on ws-0137; the certificate's notBefore is this moment."""
MIMICRY_FIRST_SEEN = timedelta(hours=4)
"""First TLS session presenting the mimicry certificate (t0 of its story; the mimicry alert's time)."""
ROGUE_ISSUED = timedelta(hours=50)
"""AD CS 4887 for the rogue leaf; its notBefore is 10 minutes earlier (AD CS clock-skew allowance)."""
ROGUE_FIRST_SEEN = timedelta(hours=47)
"""First TLS session presenting the rogue leaf (the internal alert's time)."""
LOG_SPAN = timedelta(days=9, hours=4)
"""conn/ssl/x509/eve cover this much before the build: the 7-day baseline before both first sightings."""

CA_BACKDATE = timedelta(days=30)
"""How long before the lab was built its CA became valid: well before the oldest leaf and log event."""
_ADCS_CLOCK_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class LabLeaf:
    name: str
    subject: str
    key: str
    start: timedelta
    """How long before the lab was built the certificate became valid."""
    server: tuple[str, int]


LEAVES = (
    LabLeaf(
        "intranet.corp.example",
        "/C=US/O=Example Corp/OU=IT/CN=intranet.corp.example",
        "rsa",
        timedelta(days=20),
        ("10.20.1.10", 443),
    ),
    LabLeaf(
        "wiki.corp.example",
        "/C=US/O=Example Corp/OU=IT/CN=wiki.corp.example",
        "ec",
        timedelta(days=14),
        ("10.20.1.11", 443),
    ),
    LabLeaf(
        ROGUE_HOST,
        "/C=US/ST=Washington/L=Redmond/O=Microsoft Corporation/CN=login.microsoftonline.com",
        "rsa",
        ROGUE_ISSUED + _ADCS_CLOCK_SKEW,
        ROGUE_SERVER,
    ),
)
