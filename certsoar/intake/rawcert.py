"""``pem`` and ``der``: a certificate (PEM possibly with its chain, leaf first) without any log around it."""

from __future__ import annotations

from datetime import datetime, timezone

from cryptography import x509

from certsoar.alert import CertificateAlert
from certsoar.errors import AlertError
from certsoar.intake.build import build_alert, identifiers, load_der, load_pem_chain, to_pem
from certsoar.intake.common import envelope_name
from certsoar.intake.document import Document
from certsoar.timeparse import as_utc


def miss_pem(doc: Document) -> str | None:
    if doc.envelope != "pem":
        return f"the input is {envelope_name(doc)}"
    return None


def miss_der(doc: Document) -> str | None:
    if doc.envelope != "der":
        return f"the input is {envelope_name(doc)}"
    try:
        load_der(doc.data)
    except (ValueError, x509.InvalidVersion) as exc:
        return f"the DER bytes do not parse as an X.509 certificate: {exc}"
    return None


def normalize_pem(doc: Document, observed_at: datetime | None) -> CertificateAlert:
    try:
        chain = load_pem_chain(doc.data)
    except (ValueError, x509.InvalidVersion) as exc:
        raise AlertError(f"pem: the PEM block does not parse as a certificate: {exc}") from exc
    return _alert("pem", to_pem(chain), identifiers(chain[0]), observed_at)


def normalize_der(doc: Document, observed_at: datetime | None) -> CertificateAlert:
    try:
        cert = load_der(doc.data)
    except (ValueError, x509.InvalidVersion) as exc:
        raise AlertError(f"der: the bytes do not parse as an X.509 certificate: {exc}") from exc
    return _alert("der", to_pem([cert]), identifiers(cert), observed_at)


def _alert(fmt: str, pem: str, ids: dict[str, str], observed_at: datetime | None) -> CertificateAlert:
    when = as_utc(observed_at) if observed_at else datetime.now(timezone.utc)
    fields = {
        "id": f"pem-{ids['sha256'][:16]}",
        "time": when,
        "certificate_pem": pem,
        "event": "certificate",
        "raw": {"certificate_pem": pem},
        **ids,
    }
    return build_alert(fmt, fields, None, identity_hint="certificate")
