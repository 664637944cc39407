"""Alert intake: one event in any supported format → one CertificateAlert.

``load_alert(data)`` detects the format (or takes ``format=``), normalizes identifiers (hashes lower
hex without separators, serials upper hex without separators, times aware UTC) and keeps the event
in ``raw``. Detection is by shape, never by guessing: each format states why an input is not it, so
an unknown input gets an AlertError listing every format tried and what each was missing, and an
input that fits two formats is refused as ambiguous rather than picked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from certsoar.alert import CertificateAlert
from certsoar.errors import AlertError
from certsoar.intake import adcs, ecs, generic, rawcert, splunk, suricata, zeek
from certsoar.intake.document import Document, read_document


@dataclass(frozen=True)
class _Format:
    name: str
    miss: Callable[[Document], str | None]
    normalize: Callable[[Document, datetime | None], CertificateAlert]


_REGISTRY = (
    _Format("generic", generic.miss, generic.normalize),
    _Format("pem", rawcert.miss_pem, rawcert.normalize_pem),
    _Format("der", rawcert.miss_der, rawcert.normalize_der),
    _Format("zeek-x509", zeek.miss_x509, zeek.normalize_x509),
    _Format("zeek-ssl", zeek.miss_ssl, zeek.normalize_ssl),
    _Format("suricata-tls", suricata.miss, suricata.normalize),
    _Format("adcs", adcs.miss, adcs.normalize),
    _Format("splunk-notable", splunk.miss, splunk.normalize),
    _Format("ecs", ecs.miss, ecs.normalize),
)
_BY_NAME = {fmt.name: fmt for fmt in _REGISTRY}
FORMATS: tuple[str, ...] = tuple(fmt.name for fmt in _REGISTRY)

__all__ = ["FORMATS", "detect", "load_alert"]


def _detect(doc: Document) -> _Format:
    if doc.envelope == "unknown":
        raise AlertError(f"not a known alert format ({', '.join(FORMATS)}): {doc.problem}")
    reasons = {fmt.name: fmt.miss(doc) for fmt in _REGISTRY}
    matches = [name for name, reason in reasons.items() if reason is None]
    if len(matches) == 1:
        return _BY_NAME[matches[0]]
    if matches:
        raise AlertError(f"ambiguous alert: it fits {' and '.join(matches)}; pass the format explicitly")
    grouped: dict[str, list[str]] = {}
    for name, reason in reasons.items():
        grouped.setdefault(str(reason), []).append(name)
    tried = "; ".join(f"not {', '.join(names)}: {reason}" for reason, names in grouped.items())
    raise AlertError(f"not a known alert format (tried {', '.join(FORMATS)}): {tried}")


def detect(data: bytes | str) -> str:
    """The format ``data`` is in, or AlertError explaining why it is none (or more than one)."""
    return _detect(read_document(data)).name


def load_alert(
    data: bytes | str, *, format: str | None = None, observed_at: datetime | None = None
) -> CertificateAlert:  # noqa: A002
    """Normalize one alert. ``format`` None detects it; ``observed_at`` is the time given to a bare
    PEM/DER certificate (default: now). Only AlertError is raised for bad input."""
    if format is not None and format not in _BY_NAME:
        raise AlertError(f"unknown alert format {format!r}; known: {', '.join(FORMATS)}")
    doc = read_document(data)
    if format is None:
        fmt = _detect(doc)
    else:
        fmt = _BY_NAME[format]
        reason = fmt.miss(doc)
        if reason is not None:
            raise AlertError(f"not {format}: {reason}")
    return fmt.normalize(doc, observed_at)
