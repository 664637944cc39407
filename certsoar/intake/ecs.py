"""``ecs``: an Elastic Common Schema document (nested or dotted; a search hit's ``_source`` too) with
``tls.server.*``: hashes upper-case hex, ``tls.server.x509.*`` attributes (cert-domain §2.3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from certsoar.alert import CertificateAlert
from certsoar.intake.build import build_alert, logged_chain
from certsoar.intake.common import connection_fields, fallback_id, needs_json
from certsoar.intake.document import Document
from certsoar.intake.values import Fields, split_names
from certsoar.logfields import ECS_TLS
from certsoar.logformats import flatten

NAME = "ecs"
_X509 = "tls.server.x509."


def _source(doc: Document) -> tuple[dict[str, Any], str | None]:
    obj = doc.obj or {}
    if isinstance(obj.get("_source"), dict):
        hit_id = obj.get("_id")
        return obj["_source"], hit_id if isinstance(hit_id, str) else None
    return obj, None


def miss(doc: Document) -> str | None:
    reason = needs_json(doc)
    if reason:
        return reason
    source, _ = _source(doc)
    if "event_type" in source:
        return "has Suricata's top-level event_type key"
    flat = flatten(source)
    if not any(key.startswith(("tls.server.", "tls.client.")) for key in flat):
        return "no tls.server.* or tls.client.* fields"
    return None


def normalize(doc: Document, observed_at: datetime | None) -> CertificateAlert:
    source, hit_id = _source(doc)
    f = Fields(NAME, flatten(source))
    when = f.time(*ECS_TLS.time, required=True)
    assert when is not None
    hashes: dict[str, str] = {}
    for kind, names in (("sha256", ECS_TLS.sha256), ("sha1", ECS_TLS.sha1)):
        digest = f.digest(names[0], kind)
        if digest:
            hashes[kind] = digest[1]
    pem = None
    certificates = logged_chain(f, "tls.server.certificate", "tls.server.certificate_chain")
    if certificates:
        pem, computed = certificates
        hashes = {**computed, **hashes}
    dns, ips = split_names(f.texts(_X509 + "alternative_names"))
    logged = {
        "subject": f.text(*ECS_TLS.subject),
        "issuer": f.text(*ECS_TLS.issuer),
        "serial": f.serial(*ECS_TLS.serial),
        "not_before": f.time(_X509 + "not_before", "tls.server.not_before"),
        "not_after": f.time(_X509 + "not_after", "tls.server.not_after"),
        "key_type": f.text(_X509 + "public_key_algorithm", max_len=64),
        "key_length": f.integer(_X509 + "public_key_size", high=1_000_000),
        "signature_algorithm": f.text(_X509 + "signature_algorithm", max_len=128),
        "version": f.integer(_X509 + "version_number", high=100),
        "san_dns": dns,
        "san_ip": ips,
    }
    event_id = f.text("event.id", max_len=240) or hit_id
    fields = {
        "id": f"ecs-{event_id}"
        if event_id
        else fallback_id("ecs", when, hashes.get("sha256"), hashes.get("sha1"), f.text("source.ip")),
        "time": when,
        "host": f.text(*ECS_TLS.host, max_len=1024),
        **connection_fields(f, ECS_TLS),
        "certificate_pem": pem,
        "event": "tls",
        "raw": dict(doc.obj or {}),
        **hashes,
    }
    return build_alert(
        NAME,
        fields,
        logged,
        identity_hint=(
            "tls.server.hash.sha256, tls.server.hash.sha1, tls.server.x509.serial_number or tls.server.certificate"
        ),
    )
