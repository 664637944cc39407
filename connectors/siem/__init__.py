"""SIEMs: search events related to a certificate by indicator and time."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class SiemQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    indicators: dict[str, list[str]] = Field(
        description="Indicator kind to values, any of which matches: sha256, sha1, serial, sni, ip, host, ja3, ja3s, subject."
    )
    start: datetime
    end: datetime
    limit: int = Field(default=1000, ge=1, le=100_000)


class SiemEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    time: datetime
    source: str = Field(description="Where the event came from, e.g. the log file and its format (zeek-x509, suricata-eve, jsonl).")
    kind: str = Field(description="tls, x509, alert, process, adcs, ...")
    matched: list[str] = Field(description="Indicator kinds this event matched.")
    src_ip: str | None = None
    dst_ip: str | None = None
    dst_port: int | None = None
    host: str | None = None
    sni: str | None = None
    summary: str = ""
    raw: dict[str, Any] = Field(default_factory=dict)


@runtime_checkable
class Siem(Protocol):
    async def search(self, query: SiemQuery) -> list[SiemEvent]: ...
