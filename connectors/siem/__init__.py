"""SIEMs: search events related to a certificate by indicator, event kind and time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

INDICATOR_KINDS = (
    "sha256",
    "sha1",
    "serial",
    "serial_issuer",
    "spki",
    "sni",
    "ip",
    "server",
    "host",
    "requester",
    "ja3",
    "ja3s",
    "subject",
)
EVENT_KINDS = ("tls", "x509", "conn", "process", "adcs", "alert")


class SiemQuery(BaseModel):
    """Events in [start, end] that match any indicator and, when ``kinds`` is given, are of one of those kinds.

    With ``kinds`` set and no indicators, every event of those kinds in the window matches (bounded by ``limit``).
    Without either nothing matches.
    """

    model_config = ConfigDict(frozen=True)

    indicators: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            "Indicator kind to values, any of which matches: sha256, sha1, serial, serial_issuer ('<SERIAL>|<issuer DN>'), "
            "spki (SHA-256 of the SubjectPublicKeyInfo), sni, ip (either end), server ('ip:port', '[v6]:port'), host, "
            "requester (account; 'alice' also matches 'CORP\\alice'), ja3, ja3s, subject (DN, compared attribute-wise)."
        ),
    )
    kinds: list[str] | None = Field(
        default=None, description=f"Restrict to these event kinds ({', '.join(EVENT_KINDS)}, ...)."
    )
    start: datetime
    end: datetime
    limit: int = Field(default=1000, ge=1, le=100_000)


class SiemEvent(BaseModel):
    """One log record, normalized. Optional fields are None when the source does not carry them."""

    model_config = ConfigDict(frozen=True)

    time: datetime
    source: str = Field(
        description="Where the event came from, e.g. the log file and its format (zeek-x509, suricata-eve, jsonl)."
    )
    kind: str = Field(description="tls, x509, conn, alert, process, adcs, ...")
    siem: str | None = Field(default=None, description="Instance name of the SIEM that returned it (connectors.siem).")
    matched: list[str] = Field(description="Indicator kinds this event matched; empty when selected by kind alone.")
    src_ip: str | None = None
    src_port: int | None = None
    dst_ip: str | None = None
    dst_port: int | None = None
    host: str | None = Field(default=None, description="Host that logged the event (Windows Computer, host.name).")
    sni: str | None = None
    summary: str = ""
    raw: dict[str, Any] = Field(default_factory=dict)
    # connections (Zeek conn.log)
    uid: str | None = Field(
        default=None, description="Connection id (Zeek uid / Suricata flow_id): joins ssl/conn records."
    )
    bytes_out: int | None = Field(default=None, description="Client to server payload bytes (conn.log orig_bytes).")
    bytes_in: int | None = Field(default=None, description="Server to client payload bytes (conn.log resp_bytes).")
    duration: float | None = Field(default=None, description="Seconds.")
    conn_state: str | None = None
    service: str | None = Field(
        default=None, description="Application protocol the sensor recognized (ssl, http, ...)."
    )
    # identities (process creation, AD CS)
    requester: str | None = Field(default=None, description="Account: AD CS Requester, process User (DOMAIN\\name).")
    command: str | None = Field(default=None, description="Process command line (Sysmon 1 / 4688 CommandLine).")
    image: str | None = Field(default=None, description="Process executable (Image / NewProcessName).")
    event_code: str | None = Field(default=None, description="Windows event id (1, 4688, 4886, 4887, 4888, 4870).")
    request_id: str | None = Field(default=None, description="AD CS RequestId.")
    disposition: str | None = Field(default=None, description="AD CS Disposition (3 = issued) or HRESULT of a denial.")
    template: str | None = Field(default=None, description="AD CS CertificateTemplate.")
    # the certificate, as the record names it
    subject: str | None = None
    issuer: str | None = None
    serial: str | None = Field(default=None, description="Upper-case hex, no separators.")
    sha256: str | None = Field(
        default=None, description="Lower-case hex (Zeek x509 fingerprint, leaf of ssl cert_chain_fps)."
    )
    sha1: str | None = Field(default=None, description="Lower-case hex (Suricata tls.fingerprint).")
    spki: str | None = Field(default=None, description="SHA-256 of the SubjectPublicKeyInfo, when the source logs it.")
    subject_key_id: str | None = Field(
        default=None, description="AD CS SubjectKeyIdentifier, lower-case hex: same key, same value."
    )
    validation_status: str | None = Field(
        default=None, description="Sensor's chain verdict (Zeek ssl.log validation_status)."
    )
    host_cert: bool | None = Field(
        default=None,
        description="True when the certificate was sent as an endpoint's own, False when sent only as an element of "
        "its chain (Zeek x509.log host_cert); None when the record does not say.",
    )
    ca: bool | None = Field(default=None, description="basicConstraints cA as logged (Zeek basic_constraints.ca).")
    ja3: str | None = None
    ja3s: str | None = None


class SiemSearch(BaseModel):
    """A search's events and what the SIEM could not search (evidence may be missing: never silent)."""

    model_config = ConfigDict(frozen=True)

    events: list[SiemEvent]
    warnings: list[str] = Field(default_factory=list, description="Each source not searched, or not whole, and why.")


@runtime_checkable
class Siem(Protocol):
    async def search(self, query: SiemQuery) -> list[SiemEvent]: ...


@runtime_checkable
class ReportingSiem(Siem, Protocol):
    """A SIEM that also says which of its sources a search could not cover."""

    async def search_report(self, query: SiemQuery) -> SiemSearch: ...


CERTIFICATE_FORMATS = ("zeek-x509", "zeek-ssl", "zeek-known_certs", "suricata-tls")
"""Record formats that name a certificate the network saw (what a certificate sweep reads)."""


class CertificateRecord(BaseModel):
    """A log record that names a certificate (by hash, or serial and issuer), as a certificate sweep reads it."""

    model_config = ConfigDict(frozen=True)

    format: str = Field(description=f"The record's format: one of {', '.join(CERTIFICATE_FORMATS)}.")
    event: SiemEvent = Field(description="The record as an event; ``raw`` is the record (flattened keys).")


@runtime_checkable
class CertificateStream(Protocol):
    """A SIEM that can stream every certificate record it holds (for sweeps)."""

    def iter_certificates(self, since: datetime | None, warnings: list[str]) -> AsyncIterator[CertificateRecord]:
        """Every record of a CERTIFICATE_FORMATS format logged after ``since`` (all when None) that names a
        certificate, in the order the SIEM holds them, read lazily (memory does not grow with the logs).
        Each source it could not read, or not whole, is appended to ``warnings``, naming the source."""
        ...


async def search_with_warnings(siem: Siem, query: SiemQuery) -> SiemSearch:
    """The events and, from a SIEM that can say, the sources it could not search; others give no warnings."""
    if isinstance(siem, ReportingSiem):
        return await siem.search_report(query)
    return SiemSearch(events=await siem.search(query))
