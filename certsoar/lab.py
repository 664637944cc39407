"""The bundled lab: a real ``openssl ca`` directory, certificates, SIEM logs and alerts.

``certsoar demo`` and a run without a config use it. It is built once under
``<state_dir>/lab/`` (in a temporary folder that is renamed into place, so a crash never leaves
half a lab) and holds only relative paths, so the folder can be moved or copied.

Two stories are in it:

* **mimicry**: a self-signed certificate whose issuer imitates DigiCert ("DigiCert lnc" with a
  lower-case L), presented by two servers (203.0.113.45 and .46) to a workstation that beacons.
* **internal**: the organization's own issuing CA signed ``login.microsoftonline.com``, a name
  outside the organization's domains, served by 198.51.100.23:8443.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from certsoar.errors import ConfigError

CA_SUBJECT = "/C=US/O=Example Corp/CN=Example Corp Internal Issuing CA"
MIMICRY_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DigiCert lnc"),
        x509.NameAttribute(NameOID.COMMON_NAME, "DigiCert Global G2 TLS RSA SHA256 2020 CA1"),
    ]
)
MIMICRY_HOST = "cdn-update.net"
MIMICRY_SERVERS = ("203.0.113.45", "203.0.113.46")
ROGUE_HOST = "login.microsoftonline.com"
ROGUE_SERVER = ("198.51.100.23", 8443)
_OPENSSL_TIMEOUT = 60
CA_BACKDATE = timedelta(days=30)
"""How long before the lab was built its CA became valid: well before the oldest leaf and log event."""
_ROOT_BOOKKEEPING = ".root-signing"


@dataclass(frozen=True)
class LabLeaf:
    name: str
    subject: str
    key: str
    start: timedelta
    """How long before the lab was built the certificate became valid."""
    server: tuple[str, int]


LEAVES = (
    LabLeaf("intranet.corp.example", "/C=US/O=Example Corp/OU=IT/CN=intranet.corp.example", "rsa", timedelta(days=2), ("10.20.1.10", 443)),
    LabLeaf("wiki.corp.example", "/C=US/O=Example Corp/OU=IT/CN=wiki.corp.example", "ec", timedelta(days=2), ("10.20.1.11", 443)),
    LabLeaf(ROGUE_HOST, "/C=US/ST=Washington/L=Redmond/O=Microsoft Corporation/CN=login.microsoftonline.com", "rsa", timedelta(hours=7), ROGUE_SERVER),
)


@dataclass(frozen=True)
class LabPaths:
    root: Path
    config: Path
    ca_dir: Path
    ca_config: Path
    ca_cert: Path
    crl: Path
    certs_dir: Path
    keys_dir: Path
    logs_dir: Path
    alerts: dict[str, Path] = field(default_factory=dict)
    """``mimicry`` and ``internal``."""
    certificates: dict[str, Path] = field(default_factory=dict)
    """``intranet``, ``wiki``, ``rogue`` (internal CA, foreign name) and ``mimicry`` (self-signed)."""


def lab_paths(root: Path) -> LabPaths:
    certs = root / "certs"
    return LabPaths(
        root=root,
        config=root / "config.yaml",
        ca_dir=root / "ca",
        ca_config=root / "ca" / "openssl.cnf",
        ca_cert=root / "ca" / "ca.pem",
        crl=root / "ca" / "crl.pem",
        certs_dir=certs,
        keys_dir=root / "keys",
        logs_dir=root / "logs",
        alerts={"mimicry": root / "alerts" / "mimicry.json", "internal": root / "alerts" / "internal.json"},
        certificates={
            "intranet": certs / "intranet.corp.example.pem",
            "wiki": certs / "wiki.corp.example.pem",
            "rogue": certs / f"{ROGUE_HOST}.pem",
            "mimicry": certs / f"{MIMICRY_HOST}.pem",
        },
    )


def ensure_lab(state_dir: Path) -> LabPaths:
    """Build ``<state_dir>/lab`` unless it is there already; return its paths."""
    state = Path(state_dir).expanduser().absolute()
    root = state / "lab"
    paths = lab_paths(root)
    if paths.config.is_file():
        return paths
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ConfigError("the bundled lab needs the openssl command (install OpenSSL, or give a config with --config)")
    state.mkdir(parents=True, exist_ok=True)
    if root.exists():
        # A lab without config.yaml is not ours to trust; keep it for inspection, build anew.
        root.rename(state / f"lab.incomplete-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}")
    build = Path(tempfile.mkdtemp(prefix=".lab-build-", dir=state))
    try:
        _build(build, openssl, datetime.now(timezone.utc).replace(microsecond=0))
        try:
            build.rename(root)
        except OSError:
            if not paths.config.is_file():
                raise
            # Another process finished first: use its lab.
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return paths


# ---------------------------------------------------------------------- build


def _build(root: Path, openssl: str, now: datetime) -> None:
    paths = lab_paths(root)
    for folder in ("ca/private", "ca/newcerts", "certs", "keys", "logs/zeek", "logs/suricata", "alerts", "firewall", "proxy", "outbox"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "ca" / "private").chmod(0o700)
    leaves = _build_ca(paths, openssl, now)
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    mimicry = _build_mimicry(paths, now)
    sessions = _sessions(now, leaves, ca, mimicry)
    _write_zeek(paths.logs_dir / "zeek", sessions, now)
    _write_suricata(paths.logs_dir / "suricata" / "eve.json", sessions)
    _write_alerts(paths, sessions, leaves[ROGUE_HOST], mimicry, now)
    _write_config(paths)
    (root / "README.txt").write_text(_README, encoding="utf-8")


def build_ca_dir(ca_dir: Path, openssl: str = "openssl", *, not_before: datetime | None = None) -> Path:
    """Create an empty ``openssl ca`` directory with its CA certificate; return the openssl.cnf.

    The CA certificate is valid from ``not_before`` (default: ``CA_BACKDATE`` ago), so that the
    backdated leaves and log events validate at their own times.
    """
    ca_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("private", "newcerts"):
        (ca_dir / sub).mkdir(exist_ok=True)
    (ca_dir / "private").chmod(0o700)
    cnf = ca_dir / "openssl.cnf"
    cnf.write_text(_OPENSSL_CNF, encoding="utf-8")
    (ca_dir / "index.txt").write_text("", encoding="utf-8")
    (ca_dir / "index.txt.attr").write_text("unique_subject = no\n", encoding="utf-8")
    (ca_dir / "serial").write_text("1000\n", encoding="utf-8")
    (ca_dir / "crlnumber").write_text("1000\n", encoding="utf-8")
    start = not_before or datetime.now(timezone.utc) - CA_BACKDATE
    # `openssl req -x509` (3.0) cannot set a start date; `openssl ca -selfsign` can. Its own
    # bookkeeping (section CA_root) is thrown away so that index.txt and serial list the leaves only.
    bookkeeping = ca_dir / _ROOT_BOOKKEEPING
    bookkeeping.mkdir()
    try:
        (bookkeeping / "index.txt").write_text("", encoding="utf-8")
        _openssl(
            openssl, ca_dir,
            "req", "-config", "openssl.cnf", "-new", "-newkey", "rsa:2048", "-nodes",
            "-keyout", "private/ca.key", "-out", f"{_ROOT_BOOKKEEPING}/ca.csr", "-subj", CA_SUBJECT,
        )
        (ca_dir / "private" / "ca.key").chmod(0o600)
        _openssl(
            openssl, ca_dir,
            "ca", "-config", "openssl.cnf", "-name", "CA_root", "-selfsign", "-batch", "-notext",
            "-keyfile", "private/ca.key", "-in", f"{_ROOT_BOOKKEEPING}/ca.csr", "-out", "ca.pem",
            "-startdate", start.strftime("%Y%m%d%H%M%SZ"), "-days", "3650",
        )
    finally:
        shutil.rmtree(bookkeeping, ignore_errors=True)
    return cnf


def issue_leaf(ca_dir: Path, *, name: str, subject: str, key_type: str, not_before: datetime,
               cert_out: Path, key_out: Path, openssl: str = "openssl") -> x509.Certificate:
    """Issue a TLS server certificate for ``name`` (also the SAN) with ``openssl ca``."""
    newkey = ["-newkey", "rsa:2048"] if key_type == "rsa" else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    csr = ca_dir / f".{name}.csr"
    try:
        _openssl(
            openssl, ca_dir,
            "req", "-config", "openssl.cnf", "-new", *newkey, "-nodes", "-keyout", str(key_out.absolute()),
            "-out", str(csr), "-subj", subject, "-addext", f"subjectAltName=DNS:{name}",
        )
        _openssl(
            openssl, ca_dir,
            "ca", "-config", "openssl.cnf", "-batch", "-notext", "-in", str(csr), "-out", str(cert_out.absolute()),
            "-startdate", not_before.strftime("%Y%m%d%H%M%SZ"), "-days", "397",
        )
    finally:
        csr.unlink(missing_ok=True)
    key_out.chmod(0o600)
    return x509.load_pem_x509_certificate(cert_out.read_bytes())


def generate_crl(ca_dir: Path, openssl: str = "openssl", days: int = 30) -> None:
    _openssl(openssl, ca_dir, "ca", "-config", "openssl.cnf", "-batch", "-gencrl", "-crldays", str(days), "-out", "crl.pem")


def _build_ca(paths: LabPaths, openssl: str, now: datetime) -> dict[str, x509.Certificate]:
    build_ca_dir(paths.ca_dir, openssl, not_before=now - CA_BACKDATE)
    issued = {}
    for leaf in LEAVES:
        issued[leaf.name] = issue_leaf(
            paths.ca_dir, name=leaf.name, subject=leaf.subject, key_type=leaf.key, not_before=now - leaf.start,
            cert_out=paths.certs_dir / f"{leaf.name}.pem", key_out=paths.keys_dir / f"{leaf.name}.key", openssl=openssl,
        )
    generate_crl(paths.ca_dir, openssl)
    return issued


def _build_mimicry(paths: LabPaths, now: datetime) -> x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(MIMICRY_NAME)
        .issuer_name(MIMICRY_NAME)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=5))
        .not_valid_after(now - timedelta(hours=5) + timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(MIMICRY_HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    paths.certificates["mimicry"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = paths.keys_dir / f"{MIMICRY_HOST}.key"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert


def _openssl(openssl: str, cwd: Path, *args: str) -> None:
    try:
        subprocess.run([openssl, *args], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, check=True,
                       timeout=_OPENSSL_TIMEOUT, start_new_session=True)
    except subprocess.CalledProcessError as exc:
        raise ConfigError(f"building the lab: openssl {args[0]} failed: {exc.stderr.decode(errors='replace').strip()}") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"building the lab: cannot run openssl {args[0]}: {exc}") from exc


# -------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Session:
    ts: datetime
    uid: str
    flow_id: int
    client: str
    client_port: int
    server: str
    port: int
    sni: str
    chain: tuple[x509.Certificate, ...]
    """Empty for TLS 1.3, where the certificate is encrypted."""
    validation: str


# The internal servers send leaf + CA, and the sensor trusts the internal CA (as the
# organization's clients do): their chains validate, the rogue one included.
_VALID = "ok"


def _sessions(now: datetime, leaves: dict[str, x509.Certificate], ca: x509.Certificate, mimicry: x509.Certificate) -> list[Session]:
    rng = random.Random(1587003)
    out: list[Session] = []

    def add(ts: datetime, client: str, server: str, port: int, sni: str, chain: tuple[x509.Certificate, ...], validation: str) -> None:
        uid = "C" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(17))
        micro = timedelta(microseconds=rng.randrange(1_000_000))
        out.append(Session(ts + micro, uid, rng.randrange(10**15, 10**16), client, rng.randrange(49152, 65535), server, port, sni, chain, validation))

    # mimicry: one workstation beacons every ~10 minutes to the first server, another to the second
    start = now - timedelta(hours=4)
    for i in range(22):
        add(start + timedelta(minutes=10 * i, seconds=rng.randrange(-40, 40)), "10.20.0.37", MIMICRY_SERVERS[0], 443, MIMICRY_HOST, (mimicry,), "self signed certificate")
    for i in range(6):
        add(now - timedelta(hours=2, minutes=-17 * i), "10.20.0.52", MIMICRY_SERVERS[1], 443, MIMICRY_HOST, (mimicry,), "self signed certificate")
    # internal: the internal CA's certificate for a Microsoft name, on an outside server
    rogue_ip, rogue_port = ROGUE_SERVER
    rogue_chain = (leaves[ROGUE_HOST], ca)
    for i in range(5):
        add(now - timedelta(hours=3, minutes=-31 * i), "10.20.0.61", rogue_ip, rogue_port, ROGUE_HOST, rogue_chain, _VALID)
    add(now - timedelta(minutes=47), "10.20.0.88", rogue_ip, rogue_port, ROGUE_HOST, rogue_chain, _VALID)
    # benign: internal sites with the internal CA, public sites over TLS 1.3
    for leaf in LEAVES[:2]:
        for _ in range(12):
            when = now - timedelta(seconds=rng.randrange(300, 5 * 3600))
            add(when, f"10.20.0.{rng.randrange(10, 200)}", leaf.server[0], leaf.server[1], leaf.name, (leaves[leaf.name], ca), _VALID)
    for server, sni in (("192.0.2.80", "www.example.org"), ("192.0.2.81", "updates.example.net"), ("192.0.2.82", "mail.example.com")):
        for _ in range(8):
            when = now - timedelta(seconds=rng.randrange(300, 5 * 3600))
            add(when, f"10.20.0.{rng.randrange(10, 200)}", server, 443, sni, (), "-")
    return sorted(out, key=lambda s: s.ts)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _raw_serial(cert: x509.Certificate) -> bytes:
    n = cert.serial_number
    return n.to_bytes(n.bit_length() // 8 + 1, "big")


# ------------------------------------------------------------------------ zeek

_SSL_FIELDS = (
    ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"), ("id.resp_h", "addr"),
    ("id.resp_p", "port"), ("version", "string"), ("cipher", "string"), ("curve", "string"),
    ("server_name", "string"), ("resumed", "bool"), ("last_alert", "string"), ("next_protocol", "string"),
    ("established", "bool"), ("ssl_history", "string"), ("cert_chain_fps", "vector[string]"),
    ("client_cert_chain_fps", "vector[string]"), ("sni_matches_cert", "bool"), ("validation_status", "string"),
)
_X509_FIELDS = (
    ("ts", "time"), ("fingerprint", "string"), ("certificate.version", "count"), ("certificate.serial", "string"),
    ("certificate.subject", "string"), ("certificate.issuer", "string"), ("certificate.not_valid_before", "time"),
    ("certificate.not_valid_after", "time"), ("certificate.key_alg", "string"), ("certificate.sig_alg", "string"),
    ("certificate.key_type", "string"), ("certificate.key_length", "count"), ("certificate.exponent", "string"),
    ("certificate.curve", "string"), ("san.dns", "vector[string]"), ("san.uri", "vector[string]"),
    ("san.email", "vector[string]"), ("san.ip", "vector[addr]"), ("basic_constraints.ca", "bool"),
    ("basic_constraints.path_len", "count"), ("host_cert", "bool"), ("client_cert", "bool"),
)


def _zeek_time(ts: datetime) -> str:
    return f"{ts.timestamp():.6f}"


def _zeek_log(path: Path, name: str, fields: tuple[tuple[str, str], ...], rows: list[list[str]], opened: datetime, closed: datetime) -> None:
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


def _write_zeek(folder: Path, sessions: list[Session], now: datetime) -> None:
    ssl_rows = []
    x509_rows: list[list[str]] = []
    logged: set[bytes] = set()
    for s in sessions:
        tls13 = not s.chain
        leaf_key = s.chain[0].public_key() if s.chain else None
        cipher = (
            "TLS_AES_128_GCM_SHA256" if tls13
            else "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" if isinstance(leaf_key, ec.EllipticCurvePublicKey)
            else "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        )
        ssl_rows.append([
            _zeek_time(s.ts), s.uid, s.client, str(s.client_port), s.server, str(s.port),
            "TLSv13" if tls13 else "TLSv12", cipher, "x25519", s.sni, "F", "-",
            "h2" if tls13 else "http/1.1", "T", "CsiI" if tls13 else "CsxknGIti",
            ",".join(hashlib.sha256(_der(c)).hexdigest() for c in s.chain) if s.chain else "-",
            "(empty)" if s.chain else "-",
            "T" if s.chain else "-",
            s.validation,
        ])
        for position, cert in enumerate(s.chain):
            der = _der(cert)
            if der in logged:
                continue
            logged.add(der)
            x509_rows.append(_x509_row(s.ts, cert, host_cert=position == 0))
    opened = sessions[0].ts.replace(minute=0, second=0, microsecond=0)
    _zeek_log(folder / "ssl.log", "ssl", _SSL_FIELDS, ssl_rows, opened, now)
    _zeek_log(folder / "x509.log", "x509", _X509_FIELDS, x509_rows, opened, now)


def _x509_row(ts: datetime, cert: x509.Certificate, *, host_cert: bool) -> list[str]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_alg, key_type, key_length, exponent, curve = "rsaEncryption", "rsa", str(key.key_size), str(key.public_numbers().e), "-"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_alg, key_type, key_length, exponent, curve = "id-ecPublicKey", "ecdsa", str(key.key_size), "-", _ZEEK_CURVES.get(key.curve.name, key.curve.name)
    else:
        key_alg, key_type, key_length, exponent, curve = "-", "-", "-", "-", "-"
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        sans = []
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        bc_ca, bc_len = ("T" if bc.ca else "F"), ("-" if bc.path_length is None else str(bc.path_length))
    except x509.ExtensionNotFound:
        bc_ca, bc_len = "-", "-"
    return [
        _zeek_time(ts), hashlib.sha256(_der(cert)).hexdigest(), str(cert.version.value + 1), _raw_serial(cert).hex().upper(),
        cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
        _zeek_time(cert.not_valid_before_utc), _zeek_time(cert.not_valid_after_utc),
        key_alg, _SIG_ALG_NAMES.get(cert.signature_algorithm_oid, cert.signature_algorithm_oid.dotted_string), key_type, key_length, exponent, curve,
        ",".join(sans) if sans else "-", "-", "-", "-", bc_ca, bc_len,
        "T" if host_cert else "F", "F",
    ]


_ZEEK_CURVES = {"secp256r1": "prime256v1"}
_SIG_ALG_NAMES = {
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
}


# -------------------------------------------------------------------- suricata


def _suricata_dn(name: x509.Name) -> str:
    return ", ".join(f"{attr.rfc4514_attribute_name}={attr.value}" for rdn in name.rdns for attr in rdn)


def _suricata_time(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def _write_suricata(path: Path, sessions: list[Session]) -> None:
    events: list[dict[str, Any]] = []
    resolved: set[str] = set()
    for s in sessions:
        if s.sni not in resolved:
            resolved.add(s.sni)
            events.append({
                "timestamp": _suricata_time(s.ts - timedelta(milliseconds=180)), "flow_id": s.flow_id - 1, "in_iface": "eth0",
                "event_type": "dns", "src_ip": s.client, "src_port": s.client_port - 1, "dest_ip": "10.20.0.2", "dest_port": 53,
                "proto": "UDP", "dns": {"type": "query", "id": s.client_port, "rrname": s.sni, "rrtype": "A", "tx_id": 0},
            })
        tls: dict[str, Any] = {"sni": s.sni}
        if s.chain:
            leaf = s.chain[0]
            tls = {
                "subject": _suricata_dn(leaf.subject),
                "issuerdn": _suricata_dn(leaf.issuer),
                "serial": ":".join(f"{b:02X}" for b in _raw_serial(leaf)),
                "fingerprint": ":".join(f"{b:02x}" for b in hashlib.sha1(_der(leaf)).digest()),
                "sni": s.sni,
                "version": "TLS 1.2",
                "notbefore": leaf.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%S"),
                "notafter": leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%S"),
            }
        else:
            tls["version"] = "TLS 1.3"
        tls["ja3"] = {}
        tls["ja3s"] = {}
        events.append({
            "timestamp": _suricata_time(s.ts), "flow_id": s.flow_id, "in_iface": "eth0", "event_type": "tls",
            "src_ip": s.client, "src_port": s.client_port, "dest_ip": s.server, "dest_port": s.port, "proto": "TCP", "tls": tls,
        })
    path.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events), encoding="utf-8")


# ---------------------------------------------------------------- alerts, config


def _write_alerts(paths: LabPaths, sessions: list[Session], rogue: x509.Certificate, mimicry: x509.Certificate, built: datetime) -> None:
    stories = {
        "mimicry": (mimicry, "Self-signed certificate whose issuer imitates a public CA", "ws-0137.corp.example"),
        "internal": (rogue, "Internal CA issued a certificate for a name outside the organization", "ws-0161.corp.example"),
    }
    for key, (cert, title, host) in stories.items():
        first = next(s for s in sessions if s.chain and s.chain[0] == cert)
        alert = {
            # Unique per build: the run store outlives a rebuilt lab and dedupes by alert id.
            "id": f"lab-{key}-{built:%Y%m%dT%H%M%SZ}-{first.uid}",
            "time": first.ts.isoformat(),
            "title": title,
            "host": host,
            "src_ip": first.client,
            "dst_ip": first.server,
            "dst_port": first.port,
            "sni": first.sni,
            "certificate_pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        }
        paths.alerts[key].write_text(json.dumps(alert, indent=2) + "\n", encoding="utf-8")


def _write_config(paths: LabPaths) -> None:
    paths.config.write_text(_CONFIG_YAML, encoding="utf-8")


_CONFIG_YAML = """\
# The bundled certsoar lab. Relative paths are resolved against this folder.
state_dir: ..            # the state dir itself
connectors:
  siem: {type: files, paths: [logs]}
  ca: {type: openssl-ca, openssl_config: ca/openssl.cnf}
  firewall: {type: nftables, ruleset: firewall/certsoar.nft, apply: false}
  proxy: {type: squid, fingerprint_file: proxy/rogue-certs.txt, reconfigure: false}
  ticket: {type: local}
  notify: [{type: console}, {type: file, outbox: outbox}]
analysts: {alice: {roles: [soc-tier2]}, bob: {roles: [soc-tier2, soc-lead]}, carol: {roles: [soc-l1]}}
trust: {internal_roots: [ca/ca.pem]}
organization: {domains: [corp.example]}
"""

_OPENSSL_CNF = """\
# Example Corp Internal Issuing CA (certsoar lab). openssl runs with this folder as its cwd.
[ ca ]
default_ca = CA_default

[ CA_default ]
dir               = .
database          = $dir/index.txt
new_certs_dir     = $dir/newcerts
certificate       = $dir/ca.pem
private_key       = $dir/private/ca.key
serial            = $dir/serial
crlnumber         = $dir/crlnumber
crl               = $dir/crl.pem
default_md        = sha256
default_days      = 397
default_crl_days  = 7
preserve          = no
unique_subject    = no
policy            = policy_server
x509_extensions   = server_cert
crl_extensions    = crl_ext
# Copy the subjectAltName the request asks for.
copy_extensions   = copy

# Only for making ca.pem itself (`openssl ca -selfsign`, which can backdate it); the lab builder
# creates this bookkeeping folder for the one signature and removes it afterwards.
[ CA_root ]
dir               = ./.root-signing
database          = $dir/index.txt
new_certs_dir     = $dir
rand_serial       = yes
default_md        = sha256
unique_subject    = no
policy            = policy_server
x509_extensions   = v3_ca

[ policy_server ]
countryName            = optional
stateOrProvinceName    = optional
localityName           = optional
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied

[ server_cert ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid, issuer

[ crl_ext ]
authorityKeyIdentifier = keyid:always

[ req ]
distinguished_name = req_dn
string_mask        = utf8only
prompt             = no

[ req_dn ]
CN = placeholder

[ v3_ca ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
"""

_README = """\
certsoar lab (generated; safe to delete: it is rebuilt on the next run)

ca/        a real `openssl ca` directory (Example Corp Internal Issuing CA)
certs/     the certificates: two legitimate internal ones, login.microsoftonline.com issued by the
           internal CA (a name outside corp.example), and cdn-update.net, self-signed with an issuer
           that imitates DigiCert ("DigiCert lnc")
keys/      their private keys
logs/      Zeek ssl.log/x509.log and Suricata eve.json of the last hours before the lab was built
alerts/    generic JSON alerts for the two stories: mimicry.json and internal.json
"""
