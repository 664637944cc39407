"""Where each log format names what certsoar reads from a TLS or certificate record (flattened, dotted
keys; preferred first). Alert intake reads one record of a known format by its table; the files SIEM,
which reads records of any format, looks in all of them (``in_any_format``), so the two cannot drift.
Windows events have their own tables in certsoar.windows_events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class LogFields:
    time: tuple[str, ...] = ()
    src_ip: tuple[str, ...] = ()
    src_port: tuple[str, ...] = ()
    dst_ip: tuple[str, ...] = ()
    dst_port: tuple[str, ...] = ()
    host: tuple[str, ...] = ()
    sni: tuple[str, ...] = ()
    ja3: tuple[str, ...] = ()
    ja3s: tuple[str, ...] = ()
    subject: tuple[str, ...] = ()
    issuer: tuple[str, ...] = ()
    serial: tuple[str, ...] = ()
    sha256: tuple[str, ...] = ()
    sha1: tuple[str, ...] = ()
    digest: tuple[str, ...] = ()
    """A certificate hash whose kind only its length tells (SHA-256 or SHA-1)."""
    validation_status: tuple[str, ...] = ()
    uid: tuple[str, ...] = ()
    """The connection's id, joining records of one session."""
    host_cert: tuple[str, ...] = ()
    """Whether the certificate was sent as an endpoint's own (first in its chain) rather than as a chain element."""
    ca: tuple[str, ...] = ()
    """The certificate's basicConstraints cA flag."""


ZEEK_SSL = LogFields(
    time=("ts",),
    src_ip=("id.orig_h",),
    src_port=("id.orig_p",),
    dst_ip=("id.resp_h",),
    dst_port=("id.resp_p",),
    sni=("server_name",),
    ja3=("ja3",),
    ja3s=("ja3s",),
    subject=("subject",),
    issuer=("issuer",),
    digest=("cert_chain_fps",),
    validation_status=("validation_status",),
    uid=("uid",),
)
ZEEK_X509 = LogFields(
    time=("ts",),
    subject=("certificate.subject",),
    issuer=("certificate.issuer",),
    serial=("certificate.serial",),
    digest=("fingerprint",),
    host_cert=("host_cert",),
    ca=("basic_constraints.ca",),
)
SURICATA_TLS = LogFields(
    time=("timestamp",),
    src_ip=("src_ip",),
    src_port=("src_port",),
    dst_ip=("dest_ip",),
    dst_port=("dest_port",),
    host=("host",),
    sni=("tls.sni",),
    ja3=("tls.ja3.hash",),
    ja3s=("tls.ja3s.hash",),
    subject=("tls.subject",),
    issuer=("tls.issuerdn",),
    serial=("tls.serial",),
    sha1=("tls.fingerprint",),
    uid=("flow_id",),
)
_ECS_X509 = "tls.server.x509."
ECS_TLS = LogFields(
    time=("@timestamp",),
    src_ip=("source.ip", "client.ip"),
    src_port=("source.port", "client.port"),
    dst_ip=("destination.ip", "server.ip"),
    dst_port=("destination.port", "server.port"),
    host=("host.name", "host.hostname", "observer.name"),
    sni=("tls.client.server_name",),
    ja3=("tls.client.ja3",),
    ja3s=("tls.server.ja3s",),
    subject=(_ECS_X509 + "subject.distinguished_name", "tls.server.subject"),
    issuer=(_ECS_X509 + "issuer.distinguished_name", "tls.server.issuer"),
    serial=(_ECS_X509 + "serial_number",),
    sha256=("tls.server.hash.sha256",),
    sha1=("tls.server.hash.sha1",),
)
SPLUNK_CIM = LogFields(  # the CIM Certificates data model
    time=("_time",),
    src_ip=("src_ip", "src"),
    dst_ip=("dest_ip", "dest"),
    dst_port=("dest_port",),
    host=("orig_host", "src_host", "src_nt_host"),  # src and dest may be names or addresses
    sni=("server_name", "sni"),
    ja3=("ja3",),
    ja3s=("ja3s",),
    subject=("ssl_subject",),
    issuer=("ssl_issuer",),
    serial=("ssl_serial",),
    digest=("ssl_hash",),
)
CERTSOAR_ALERT = LogFields(  # the ``generic`` alert format: CertificateAlert's own keys
    time=("time",),
    src_ip=("src_ip",),
    dst_ip=("dst_ip",),
    dst_port=("dst_port",),
    host=("host",),
    sni=("sni",),
    ja3=("ja3",),
    ja3s=("ja3s",),
    sha256=("sha256",),
    sha1=("sha1",),
)
ZEEK_FILE_ID = "id"
"""x509.log's file id in Zeek before the ``fingerprint`` field (3.x): one sighting of a certificate, not its
identity; ssl.log of those versions names the chain by these ids in ``cert_chain_fuids``, leaf first."""
ZEEK_CHAIN_FILE_IDS = ("cert_chain_fuids",)
_ZEEK_FILE_ID_SHAPE = re.compile(r"F[0-9A-Za-z]{8,30}")


def is_zeek_file_id(value: Any) -> bool:
    """A Zeek file id (``FmdCSp2lqPdPDHXtXl``): tells an old x509 record's ``id`` from any other record's."""
    return isinstance(value, str) and _ZEEK_FILE_ID_SHAPE.fullmatch(value) is not None


ZEEK_DOTTED = (
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    *(
        f"certificate.{name}"
        for name in (
            "version",
            "serial",
            "subject",
            "issuer",
            "not_valid_before",
            "not_valid_after",
            "key_alg",
            "sig_alg",
            "key_type",
            "key_length",
            "exponent",
            "curve",
        )
    ),
    "san.dns",
    "san.uri",
    "san.email",
    "san.ip",
    "basic_constraints.ca",
    "basic_constraints.path_len",
)
"""Zeek's dotted column names that pipelines which cannot store dots in keys (Elastic's dedot processor,
HELK/Mordor-style datasets) write with underscores: ``id_orig_h``, ``certificate_subject``."""

FORMATS = (ZEEK_SSL, ZEEK_X509, SURICATA_TLS, ECS_TLS, SPLUNK_CIM, CERTSOAR_ALERT)
CONCEPTS = tuple(f.name for f in fields(LogFields))


def servers_in_any_format() -> tuple[tuple[str, str], ...]:
    """(address key, port key) pairs naming a connection's server, as each format pairs them."""
    return tuple(dict.fromkeys(pair for fmt in FORMATS for pair in zip(fmt.dst_ip, fmt.dst_port, strict=False)))


def in_any_format(concept: str) -> tuple[str, ...]:
    """Every key any format names ``concept`` by, in the order of FORMATS, each once."""
    if concept not in CONCEPTS:
        raise ValueError(f"unknown log field concept {concept!r} (known: {sorted(CONCEPTS)})")
    return tuple(dict.fromkeys(name for fmt in FORMATS for name in getattr(fmt, concept)))
