"""Zeek TSV logs: conn.log (TLS sessions and their DNS lookups), ssl.log and x509.log."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import SignatureAlgorithmOID

from certsoar.lab.certificate_encodings import der, raw_serial
from certsoar.lab.sessions import RESOLVER, Session

_CONN_FIELDS = (
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("local_orig", "bool"),
    ("local_resp", "bool"),
    ("missed_bytes", "count"),
    ("history", "string"),
    ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"),
    ("resp_pkts", "count"),
    ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
)
_SSL_FIELDS = (
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("version", "string"),
    ("cipher", "string"),
    ("curve", "string"),
    ("server_name", "string"),
    ("resumed", "bool"),
    ("last_alert", "string"),
    ("next_protocol", "string"),
    ("established", "bool"),
    ("ssl_history", "string"),
    ("cert_chain_fps", "vector[string]"),
    ("client_cert_chain_fps", "vector[string]"),
    ("sni_matches_cert", "bool"),
    ("validation_status", "string"),
)
X509_FIELDS = (
    ("ts", "time"),
    ("fingerprint", "string"),
    ("certificate.version", "count"),
    ("certificate.serial", "string"),
    ("certificate.subject", "string"),
    ("certificate.issuer", "string"),
    ("certificate.not_valid_before", "time"),
    ("certificate.not_valid_after", "time"),
    ("certificate.key_alg", "string"),
    ("certificate.sig_alg", "string"),
    ("certificate.key_type", "string"),
    ("certificate.key_length", "count"),
    ("certificate.exponent", "string"),
    ("certificate.curve", "string"),
    ("san.dns", "vector[string]"),
    ("san.uri", "vector[string]"),
    ("san.email", "vector[string]"),
    ("san.ip", "vector[addr]"),
    ("basic_constraints.ca", "bool"),
    ("basic_constraints.path_len", "count"),
    ("host_cert", "bool"),
    ("client_cert", "bool"),
)
_X509_RELOG = timedelta(days=1)
"""Zeek logs a certificate again once a day (X509::relog_known_certificates_after)."""
_LOCAL_NET = "10.20."
_MSS = 1380
_TCP_IP_HEADER = 52


def _zeek_time(ts: datetime) -> str:
    return f"{ts.timestamp():.6f}"


def write_zeek_log(
    path: Path,
    name: str,
    fields: tuple[tuple[str, str], ...],
    rows: list[list[str]],
    opened: datetime,
    closed: datetime,
) -> None:
    lines = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        f"#path\t{name}",
        f"#open\t{opened:%Y-%m-%d-%H-%M-%S}",
        "#fields\t" + "\t".join(f for f, _ in fields),
        "#types\t" + "\t".join(t for _, t in fields),
    ]
    lines += ["\t".join(_zeek_escape(v) for v in row) for row in rows]
    lines.append(f"#close\t{closed:%Y-%m-%d-%H-%M-%S}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _zeek_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\x09").replace("\n", "\\x0a")


def write_zeek_logs(folder: Path, sessions: list[Session], lookups: list[Session], now: datetime) -> None:
    ssl_rows = []
    x509_rows: list[list[str]] = []
    last_logged: dict[tuple[bytes, bool], datetime] = {}  # Zeek deduplicates per certificate and role
    for s in sessions:
        ssl_rows.append(_ssl_row(s))
        for position, cert in enumerate(s.chain):
            logged = (der(cert), position == 0)
            if logged in last_logged and s.ts - last_logged[logged] < _X509_RELOG:
                continue
            last_logged[logged] = s.ts
            x509_rows.append(x509_row(s.ts, cert, host_cert=position == 0))
    # conn.log records are written when the connection ends
    conns = sorted(
        [(s.ts + timedelta(seconds=s.duration), _conn_row(s)) for s in sessions]
        + [(s.ts - timedelta(milliseconds=180), _dns_conn_row(s)) for s in lookups],
        key=lambda item: item[0],
    )
    opened = sessions[0].ts.replace(minute=0, second=0, microsecond=0)
    write_zeek_log(folder / "conn.log", "conn", _CONN_FIELDS, [row for _, row in conns], opened, now)
    write_zeek_log(folder / "ssl.log", "ssl", _SSL_FIELDS, ssl_rows, opened, now)
    write_zeek_log(folder / "x509.log", "x509", X509_FIELDS, x509_rows, opened, now)


def _ssl_row(s: Session) -> list[str]:
    tls13 = not s.chain
    leaf_key = s.chain[0].public_key() if s.chain else None
    cipher = (
        "TLS_AES_128_GCM_SHA256"
        if tls13
        else "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
        if isinstance(leaf_key, ec.EllipticCurvePublicKey)
        else "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
    )
    return [
        _zeek_time(s.ts),
        s.uid,
        s.client,
        str(s.client_port),
        s.server,
        str(s.port),
        "TLSv13" if tls13 else "TLSv12",
        cipher,
        "x25519",
        s.sni,
        "F",
        "-",
        "h2" if tls13 else "http/1.1",
        "T",
        "CsiI" if tls13 else "CsxknGIti",
        ",".join(hashlib.sha256(der(c)).hexdigest() for c in s.chain) if s.chain else "-",
        "(empty)" if s.chain else "-",
        "T" if s.chain else "-",
        s.validation,
    ]


def _packets(payload: int) -> int:
    return payload // _MSS + 4


def _conn_row(s: Session) -> list[str]:
    orig_pkts, resp_pkts = _packets(s.orig_bytes), _packets(s.resp_bytes)
    return [
        _zeek_time(s.ts),
        s.uid,
        s.client,
        str(s.client_port),
        s.server,
        str(s.port),
        "tcp",
        "ssl",
        f"{s.duration:.6f}",
        str(s.orig_bytes),
        str(s.resp_bytes),
        "SF",
        "T",
        "T" if s.server.startswith(_LOCAL_NET) else "F",
        "0",
        "ShADadFf",
        str(orig_pkts),
        str(s.orig_bytes + orig_pkts * _TCP_IP_HEADER),
        str(resp_pkts),
        str(s.resp_bytes + resp_pkts * _TCP_IP_HEADER),
        "(empty)",
    ]


def _dns_uid(s: Session) -> str:
    # a uid of its own, derived from the TLS session's, so it is unique per build as well
    return "C" + hashlib.sha256(s.uid.encode()).hexdigest()[:17]


def _dns_conn_row(s: Session) -> list[str]:
    query, answer = 17 + len(s.sni) + 6, 17 + len(s.sni) + 6 + 16
    return [
        _zeek_time(s.ts - timedelta(milliseconds=180)),
        _dns_uid(s),
        s.client,
        str(s.client_port - 1),
        RESOLVER,
        "53",
        "udp",
        "dns",
        "0.012377",
        str(query),
        str(answer),
        "SF",
        "T",
        "T",
        "0",
        "Dd",
        "1",
        str(query + 28),
        "1",
        str(answer + 28),
        "(empty)",
    ]


def x509_row(ts: datetime, cert: x509.Certificate, *, host_cert: bool) -> list[str]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_alg, key_type, key_length, exponent, curve = (
            "rsaEncryption",
            "rsa",
            str(key.key_size),
            str(key.public_numbers().e),
            "-",
        )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_alg, key_type, key_length, exponent, curve = (
            "id-ecPublicKey",
            "ecdsa",
            str(key.key_size),
            "-",
            _ZEEK_CURVES.get(key.curve.name, key.curve.name),
        )
    else:
        key_alg, key_type, key_length, exponent, curve = "-", "-", "-", "-", "-"
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
    except x509.ExtensionNotFound:
        sans = []
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        bc_ca, bc_len = ("T" if bc.ca else "F"), ("-" if bc.path_length is None else str(bc.path_length))
    except x509.ExtensionNotFound:
        bc_ca, bc_len = "-", "-"
    return [
        _zeek_time(ts),
        hashlib.sha256(der(cert)).hexdigest(),
        str(cert.version.value + 1),
        raw_serial(cert).hex().upper(),
        cert.subject.rfc4514_string(),
        cert.issuer.rfc4514_string(),
        _zeek_time(cert.not_valid_before_utc),
        _zeek_time(cert.not_valid_after_utc),
        key_alg,
        _SIG_ALG_NAMES.get(cert.signature_algorithm_oid, cert.signature_algorithm_oid.dotted_string),
        key_type,
        key_length,
        exponent,
        curve,
        ",".join(sans) if sans else "-",
        "-",
        "-",
        "-",
        bc_ca,
        bc_len,
        "T" if host_cert else "F",
        "F",
    ]


_ZEEK_CURVES = {"secp256r1": "prime256v1"}
_SIG_ALG_NAMES = {
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
}
