"""The bundled lab: a real ``openssl ca`` directory, certificates, SIEM logs and alerts.

``certsoar demo`` and a run without a config use it. It is built once under
``<state_dir>/lab/`` (in a temporary folder that is renamed into place, so a crash never leaves
half a lab) and holds only relative paths, so the folder can be moved or copied.

Two stories are in it, each with the evidence the analyst card's four questions ask for:

* **mimicry**: a self-signed certificate whose issuer imitates DigiCert ("DigiCert lnc" with a
  lower-case L), made with ``openssl req -x509`` on ws-0137 (Sysmon 1), within the same hour as two
  unrelated self-signed certificates elsewhere (E2 burst), presented by two servers (203.0.113.45
  and .46); after its first sighting ws-0137 beacons to .45 every ~10 minutes and uploads tens of
  MB an hour (E3 traffic change against a 7-day conn.log baseline).
* **internal**: two days earlier, the organization's own issuing CA signed
  ``login.microsoftonline.com`` (a name outside the organization's domains) for CORP\\mallory
  (AD CS 4886/4887, certreq on her workstation), served by 198.51.100.23:8443 with steady, small
  traffic: no burst, no traffic change.

Background: nine days of ordinary hourly traffic (Zeek conn/ssl/x509, Suricata eve), machine
autoenrollment (template Machine, listed as automation in the lab config) and harmless commands.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from certsoar.errors import ConfigError

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

_OPENSSL_TIMEOUT = 60
CA_BACKDATE = timedelta(days=30)
"""How long before the lab was built its CA became valid: well before the oldest leaf and log event."""
_ROOT_BOOKKEEPING = ".root-signing"
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
    LabLeaf("intranet.corp.example", "/C=US/O=Example Corp/OU=IT/CN=intranet.corp.example", "rsa", timedelta(days=20), ("10.20.1.10", 443)),
    LabLeaf("wiki.corp.example", "/C=US/O=Example Corp/OU=IT/CN=wiki.corp.example", "ec", timedelta(days=14), ("10.20.1.11", 443)),
    LabLeaf(ROGUE_HOST, "/C=US/ST=Washington/L=Redmond/O=Microsoft Corporation/CN=login.microsoftonline.com", "rsa",
            ROGUE_ISSUED + _ADCS_CLOCK_SKEW, ROGUE_SERVER),
)

ALERT_FILES = {
    "mimicry": "mimicry.json",
    "internal": "internal.json",
    "mimicry-suricata": "mimicry.suricata.json",
    "mimicry-zeek": "mimicry.zeek-x509.log",
    "internal-adcs": "internal.adcs-4887.xml",
}
"""Alert key → file in ``alerts/``: generic JSON for both stories, and the same stories as a Suricata eve
``tls`` event, a Zeek x509.log line and the AD CS 4887 as Windows Event XML."""


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
    """See ``ALERT_FILES``: ``mimicry``, ``internal``, ``mimicry-suricata``, ``mimicry-zeek``, ``internal-adcs``."""
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
        alerts={key: root / "alerts" / name for key, name in ALERT_FILES.items()},
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
    for folder in ("ca/private", "ca/newcerts", "certs", "keys", "logs/zeek", "logs/suricata", "logs/windows", "alerts", "firewall",
                   "proxy", "outbox"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "ca" / "private").chmod(0o700)
    leaves = _build_ca(paths, openssl, now)
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    mimicry = _build_mimicry(paths, now)
    sessions = _sessions(now, leaves, ca, mimicry)
    lookups = _lookups(sessions)
    _write_zeek(paths.logs_dir / "zeek", sessions, lookups, now)
    _write_suricata(paths.logs_dir / "suricata" / "eve.json", sessions, lookups)
    windows = _windows_events(now, leaves[ROGUE_HOST])
    _write_windows(paths.logs_dir / "windows", windows)
    _write_alerts(paths, sessions, windows, leaves[ROGUE_HOST], mimicry, now)
    _write_config(paths, leaves["wiki.corp.example"], now)
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
        .not_valid_before(now - MIMICRY_CREATED)
        .not_valid_after(now - MIMICRY_CREATED + timedelta(days=365))
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
    """One TLS connection as the sensors saw it: Zeek conn.log + ssl.log (same uid) and a Suricata tls event."""

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
    orig_bytes: int
    """Client → server payload bytes."""
    resp_bytes: int
    duration: float


# The internal servers send leaf + CA, and the sensor trusts the internal CA (as the
# organization's clients do): their chains validate, the rogue one included.
_VALID = "ok"
_UNTRUSTED = "self signed certificate"
_TLS13 = "-"

_BASELINE_SERVERS = (
    # server, port, SNI, weight; the two internal ones present a chain (TLS 1.2), the others hide it (TLS 1.3)
    ("10.20.1.10", 443, "intranet.corp.example", 5),
    ("10.20.1.11", 443, "wiki.corp.example", 4),
    ("192.0.2.80", 443, "www.example.org", 3),
    ("192.0.2.81", 443, "updates.example.net", 2),
    ("192.0.2.82", 443, "mail.example.com", 3),
    ("198.51.100.10", 443, "files.example.com", 2),
)
_STORY_CLIENTS = (MIMICRY_CLIENT, "10.20.0.52", "10.20.0.61", "10.20.0.88")
_UPDATE_SERVICE = ("192.0.2.81", 443, "updates.example.net")
_OFFICE_HOURS = range(7, 19)
_MAX_ORDINARY_UPLOAD = 1_500_000
_UID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class _Sessions:
    """Collects sessions; ``rng`` shapes traffic (fixed seed), ``ids`` makes uids/flow ids unique per build."""

    def __init__(self, now: datetime, leaves: dict[str, x509.Certificate], ca: x509.Certificate) -> None:
        self.rng = random.Random(1587003)
        self.ids = random.Random(f"certsoar-lab-{now.isoformat()}")
        self.leaves = leaves
        self.ca = ca
        self.out: list[Session] = []

    def add(self, ts: datetime, client: str, server: str, port: int, sni: str, chain: tuple[x509.Certificate, ...], validation: str,
            orig_bytes: int, resp_bytes: int, duration: float) -> None:
        uid = "C" + "".join(self.ids.choice(_UID_ALPHABET) for _ in range(17))
        micro = timedelta(microseconds=self.rng.randrange(1_000_000))
        self.out.append(Session(
            ts + micro, uid, self.ids.randrange(10**15, 10**16), client, self.rng.randrange(49152, 65535), server, port, sni, chain,
            validation, orig_bytes, resp_bytes, round(duration, 6),
        ))

    def ordinary(self, ts: datetime, client: str) -> None:
        servers = _BASELINE_SERVERS
        server, port, sni, _weight = self.rng.choices(servers, weights=[s[3] for s in servers])[0]
        rng = self.rng
        if sni in self.leaves:
            chain: tuple[x509.Certificate, ...] = (self.leaves[sni], self.ca)
            validation = _VALID
        else:
            chain, validation = (), _TLS13
        orig = int(rng.lognormvariate(math.log(1800), 0.8))
        if sni in ("wiki.corp.example", "files.example.com") and rng.random() < 0.04:
            orig = rng.randrange(200_000, _MAX_ORDINARY_UPLOAD)  # someone saves a page or shares a file
        resp = min(int(rng.lognormvariate(math.log(60_000), 1.4)), 25_000_000)
        self.add(ts, client, server, port, sni, chain, validation, min(orig, _MAX_ORDINARY_UPLOAD), resp,
                 min(rng.lognormvariate(math.log(2.0), 1.0), 300.0))


def _sessions(now: datetime, leaves: dict[str, x509.Certificate], ca: x509.Certificate, mimicry: x509.Certificate) -> list[Session]:
    s = _Sessions(now, leaves, ca)
    rng = s.rng
    _baseline(s, now)

    # mimicry: ws-0137 beacons every ~10 minutes to the first server and, in the second hour, uploads through it
    start = now - MIMICRY_FIRST_SEEN
    for i in range(22):
        upload = 6 <= i <= 11
        s.add(start + timedelta(minutes=10 * i, seconds=rng.randrange(-40, 40) if i else 0), MIMICRY_CLIENT, MIMICRY_SERVERS[0], 443,
              MIMICRY_HOST, (mimicry,), _UNTRUSTED,
              orig_bytes=rng.randrange(6_000_000, 11_000_000) if upload else rng.randrange(900, 2600),
              resp_bytes=rng.randrange(2_000, 6_000) if upload else rng.randrange(300, 1500),
              duration=rng.uniform(25.0, 80.0) if upload else rng.uniform(0.2, 1.2))
    # a second workstation reaches the other server a few times: small, irregular
    for i, minutes in enumerate((0, 17, 41, 52, 83, 97)):
        s.add(now - timedelta(hours=2) + timedelta(minutes=minutes, seconds=rng.randrange(60)), "10.20.0.52", MIMICRY_SERVERS[1], 443,
              MIMICRY_HOST, (mimicry,), _UNTRUSTED, rng.randrange(700, 1800), rng.randrange(2_000, 9_000), rng.uniform(0.3, 2.0))
    # internal: the internal CA's certificate for a Microsoft name, on an outside server; steady and small
    rogue_ip, rogue_port = ROGUE_SERVER
    rogue_chain = (leaves[ROGUE_HOST], ca)
    for i in range(5):
        s.add(now - ROGUE_FIRST_SEEN + timedelta(minutes=31 * i, seconds=rng.randrange(-90, 90) if i else 0), "10.20.0.61", rogue_ip,
              rogue_port, ROGUE_HOST, rogue_chain, _VALID, rng.randrange(900, 2400), rng.randrange(8_000, 40_000), rng.uniform(0.4, 3.0))
    s.add(now - ROGUE_FIRST_SEEN + timedelta(hours=3, minutes=13), "10.20.0.88", rogue_ip, rogue_port, ROGUE_HOST, rogue_chain, _VALID,
          rng.randrange(900, 2400), rng.randrange(8_000, 40_000), rng.uniform(0.4, 3.0))
    return sorted(s.out, key=lambda x: x.ts)


def _baseline(s: _Sessions, now: datetime) -> None:
    """Ordinary traffic hour by hour over LOG_SPAN: busier in office hours on weekdays, with noise."""
    rng = s.rng
    others = sorted({f"10.20.0.{n}" for n in rng.sample(range(10, 200), 30)} - set(_STORY_CLIENTS))
    clients = list(_STORY_CLIENTS) + others
    hour = (now - LOG_SPAN).replace(minute=0, second=0, microsecond=0)
    last = now - timedelta(minutes=2)
    while hour < last:
        busy = hour.weekday() < 5 and hour.hour in _OFFICE_HOURS
        mean = 12.0 if busy else 2.0
        for _ in range(max(0, round(rng.gauss(mean, math.sqrt(mean))))):
            when = hour + timedelta(seconds=rng.randrange(3600))
            if when < last:
                s.ordinary(when, rng.choice(clients))
        # the story workstations also check in with the update service every hour, so their own baseline is never empty
        for client in _STORY_CLIENTS:
            when = hour + timedelta(seconds=rng.randrange(3600))
            if when < last:
                s.add(when, client, *_UPDATE_SERVICE, (), _TLS13, rng.randrange(600, 1600), rng.randrange(2_000, 9_000), rng.uniform(0.1, 0.6))
        hour += timedelta(hours=1)


def _lookups(sessions: list[Session]) -> list[Session]:
    """The sessions preceded by a DNS lookup in the logs: the first one to each name."""
    seen: set[str] = set()
    first: list[Session] = []
    for s in sessions:
        if s.sni not in seen:
            seen.add(s.sni)
            first.append(s)
    return first


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _raw_serial(cert: x509.Certificate) -> bytes:
    n = cert.serial_number
    return n.to_bytes(n.bit_length() // 8 + 1, "big")


def adcs_serial(cert: x509.Certificate) -> str:
    """The serial as AD CS events write it: lower-case hex, an even number of digits, no separators."""
    digits = format(cert.serial_number, "x")
    return digits.zfill(len(digits) + len(digits) % 2)


# ------------------------------------------------------------------------ zeek

_CONN_FIELDS = (
    ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"), ("id.resp_h", "addr"), ("id.resp_p", "port"),
    ("proto", "enum"), ("service", "string"), ("duration", "interval"), ("orig_bytes", "count"), ("resp_bytes", "count"),
    ("conn_state", "string"), ("local_orig", "bool"), ("local_resp", "bool"), ("missed_bytes", "count"), ("history", "string"),
    ("orig_pkts", "count"), ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
)
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
_X509_RELOG = timedelta(days=1)
"""Zeek logs a certificate again once a day (X509::relog_known_certificates_after)."""
_RESOLVER = "10.20.0.2"
_LOCAL_NET = "10.20."
_MSS = 1380
_TCP_IP_HEADER = 52


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


def _write_zeek(folder: Path, sessions: list[Session], lookups: list[Session], now: datetime) -> None:
    ssl_rows = []
    x509_rows: list[list[str]] = []
    last_logged: dict[bytes, datetime] = {}
    for s in sessions:
        ssl_rows.append(_ssl_row(s))
        for position, cert in enumerate(s.chain):
            der = _der(cert)
            if der in last_logged and s.ts - last_logged[der] < _X509_RELOG:
                continue
            last_logged[der] = s.ts
            x509_rows.append(_x509_row(s.ts, cert, host_cert=position == 0))
    # conn.log records are written when the connection ends
    conns = sorted([(s.ts + timedelta(seconds=s.duration), _conn_row(s)) for s in sessions]
                   + [(s.ts - timedelta(milliseconds=180), _dns_conn_row(s)) for s in lookups], key=lambda item: item[0])
    opened = sessions[0].ts.replace(minute=0, second=0, microsecond=0)
    _zeek_log(folder / "conn.log", "conn", _CONN_FIELDS, [row for _, row in conns], opened, now)
    _zeek_log(folder / "ssl.log", "ssl", _SSL_FIELDS, ssl_rows, opened, now)
    _zeek_log(folder / "x509.log", "x509", _X509_FIELDS, x509_rows, opened, now)


def _ssl_row(s: Session) -> list[str]:
    tls13 = not s.chain
    leaf_key = s.chain[0].public_key() if s.chain else None
    cipher = (
        "TLS_AES_128_GCM_SHA256" if tls13
        else "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" if isinstance(leaf_key, ec.EllipticCurvePublicKey)
        else "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
    )
    return [
        _zeek_time(s.ts), s.uid, s.client, str(s.client_port), s.server, str(s.port),
        "TLSv13" if tls13 else "TLSv12", cipher, "x25519", s.sni, "F", "-",
        "h2" if tls13 else "http/1.1", "T", "CsiI" if tls13 else "CsxknGIti",
        ",".join(hashlib.sha256(_der(c)).hexdigest() for c in s.chain) if s.chain else "-",
        "(empty)" if s.chain else "-",
        "T" if s.chain else "-",
        s.validation,
    ]


def _packets(payload: int) -> int:
    return payload // _MSS + 4


def _conn_row(s: Session) -> list[str]:
    orig_pkts, resp_pkts = _packets(s.orig_bytes), _packets(s.resp_bytes)
    return [
        _zeek_time(s.ts), s.uid, s.client, str(s.client_port), s.server, str(s.port), "tcp", "ssl", f"{s.duration:.6f}",
        str(s.orig_bytes), str(s.resp_bytes), "SF", "T", "T" if s.server.startswith(_LOCAL_NET) else "F", "0", "ShADadFf",
        str(orig_pkts), str(s.orig_bytes + orig_pkts * _TCP_IP_HEADER), str(resp_pkts), str(s.resp_bytes + resp_pkts * _TCP_IP_HEADER),
        "(empty)",
    ]


def _dns_uid(s: Session) -> str:
    # a uid of its own, derived from the TLS session's, so it is unique per build as well
    return "C" + hashlib.sha256(s.uid.encode()).hexdigest()[:17]


def _dns_conn_row(s: Session) -> list[str]:
    query, answer = 17 + len(s.sni) + 6, 17 + len(s.sni) + 6 + 16
    return [
        _zeek_time(s.ts - timedelta(milliseconds=180)), _dns_uid(s), s.client, str(s.client_port - 1), _RESOLVER, "53", "udp", "dns",
        "0.012377", str(query), str(answer), "SF", "T", "T", "0", "Dd", "1", str(query + 28), "1", str(answer + 28), "(empty)",
    ]


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


def _suricata_dns(s: Session) -> dict[str, Any]:
    return {
        "timestamp": _suricata_time(s.ts - timedelta(milliseconds=180)), "flow_id": s.flow_id - 1, "in_iface": "eth0",
        "event_type": "dns", "src_ip": s.client, "src_port": s.client_port - 1, "dest_ip": _RESOLVER, "dest_port": 53,
        "proto": "UDP", "dns": {"type": "query", "id": s.client_port, "rrname": s.sni, "rrtype": "A", "tx_id": 0},
    }


def _suricata_tls(s: Session) -> dict[str, Any]:
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
    return {
        "timestamp": _suricata_time(s.ts), "flow_id": s.flow_id, "in_iface": "eth0", "event_type": "tls",
        "src_ip": s.client, "src_port": s.client_port, "dest_ip": s.server, "dest_port": s.port, "proto": "TCP", "tls": tls,
    }


def _write_suricata(path: Path, sessions: list[Session], lookups: list[Session]) -> None:
    resolved = {id(s) for s in lookups}
    events: list[dict[str, Any]] = []
    for s in sessions:
        if id(s) in resolved:
            events.append(_suricata_dns(s))
        events.append(_suricata_tls(s))
    path.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events), encoding="utf-8")


# --------------------------------------------------------------------- windows


@dataclass(frozen=True)
class WinEvent:
    """One Windows event: Sysmon 1, Security 4688, or AD CS 4886/4887 on the CA."""

    ts: datetime
    computer: str
    event_id: int
    data: dict[str, str]
    record_id: int = 0

    @property
    def sysmon(self) -> bool:
        return self.event_id == 1


_SECURITY_PROVIDER = ("Microsoft-Windows-Security-Auditing", "{54849625-5478-4994-a5ba-3e3b0328c30d}")
_SYSMON_PROVIDER = ("Microsoft-Windows-Sysmon", "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}")
_TASKS = {1: 1, 4688: 13312, 4886: 12805, 4887: 12805}
_VERSIONS = {1: 5, 4688: 2, 4886: 1, 4887: 1}
_GIT_OPENSSL = "C:\\Program Files\\Git\\usr\\bin\\openssl.exe"
_POWERSHELL = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
_CERTREQ = "C:\\Windows\\System32\\certreq.exe"
_CERTUTIL = "C:\\Windows\\System32\\certutil.exe"
_CMD = "C:\\Windows\\System32\\cmd.exe"
_EXPLORER = "C:\\Windows\\explorer.exe"
_KEYTOOL = "C:\\Program Files\\Java\\jdk-21\\bin\\keytool.exe"
_MACHINE_ENROLLMENTS = (
    # (before the build, workstation): autoenrollment renews machine certificates now and then
    (timedelta(hours=200), "WS-0105"), (timedelta(hours=170), "WS-0118"), (timedelta(hours=126), "WS-0152"),
    (timedelta(hours=75), "WS-0177"), (ROGUE_ISSUED - timedelta(minutes=40), "WS-0163"), (timedelta(hours=22), "WS-0129"),
    (MIMICRY_CREATED - timedelta(minutes=8), "WS-0144"),
)


class _WindowsLog:
    def __init__(self, now: datetime) -> None:
        self.ids = random.Random(f"certsoar-lab-windows-{now.isoformat()}")
        self.events: list[WinEvent] = []
        self.request_id = 2200

    def _guid(self) -> str:
        h = f"{self.ids.getrandbits(128):032x}"
        return f"{{{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}}}"

    def sysmon(self, ts: datetime, computer: str, user: str, image: str, command: str, parent: str, parent_command: str, cwd: str) -> None:
        self.events.append(WinEvent(ts, computer, 1, {
            "RuleName": "-",
            "UtcTime": ts.strftime("%Y-%m-%d %H:%M:%S.") + f"{ts.microsecond // 1000:03d}",
            "ProcessGuid": self._guid(),
            "ProcessId": str(self.ids.randrange(1000, 20000)),
            "Image": image,
            "CommandLine": command,
            "CurrentDirectory": cwd,
            "User": user,
            "LogonId": f"0x{self.ids.getrandbits(24):x}",
            "IntegrityLevel": "Medium",
            "Hashes": f"SHA256={self.ids.getrandbits(256):064X}",
            "ParentProcessGuid": self._guid(),
            "ParentProcessId": str(self.ids.randrange(1000, 20000)),
            "ParentImage": parent,
            "ParentCommandLine": parent_command,
            "ParentUser": user,
        }))

    def process_4688(self, ts: datetime, computer: str, domain: str, user: str, image: str, command: str, parent: str) -> None:
        self.events.append(WinEvent(ts, computer, 4688, {
            "SubjectUserSid": f"S-1-5-21-3623811015-3361044348-30300820-{self.ids.randrange(1100, 4000)}",
            "SubjectUserName": user,
            "SubjectDomainName": domain,
            "SubjectLogonId": f"0x{self.ids.getrandbits(24):x}",
            "NewProcessId": f"0x{self.ids.getrandbits(14):x}",
            "NewProcessName": image,
            "TokenElevationType": "%%1938",
            "ProcessId": f"0x{self.ids.getrandbits(14):x}",
            "CommandLine": command,
            "ParentProcessName": parent,
            "MandatoryLabel": "S-1-16-8192",
        }))

    def issuance(self, ts: datetime, requester: str, subject: str, template: str, san: str, ccm: str, *, serial: str | None = None,
                 ski: str | None = None) -> WinEvent:
        """4886 (received) then 4887 (issued, Disposition 3) on the CA; returns the 4887."""
        self.request_id += 1
        request = str(self.request_id)
        attributes = f"CertificateTemplate:{template}\nccm:{ccm}"
        self.events.append(WinEvent(ts - timedelta(seconds=1, microseconds=self.ids.randrange(400_000)), CA_HOST, 4886, {
            "RequestId": request, "Requester": requester, "Attributes": attributes, "Subject": subject, "SubjectAlternativeName": san,
            "CertificateTemplate": template, "RequestOSVersion": "10.0.19045.2", "RequestCSPProvider": "Microsoft Software Key Storage Provider",
            "AuthenticationService": "Kerberos", "AuthenticationLevel": "Privacy", "DCOMorRPC": "DCOM",
        }))
        serial = serial or f"1a{self.request_id:08x}{self.ids.getrandbits(80):020x}{self.request_id:08x}"
        ski = ski or " ".join(f"{b:02x}" for b in self.ids.randbytes(20))
        issued = WinEvent(ts, CA_HOST, 4887, {
            "RequestId": request, "Requester": requester, "Attributes": attributes, "Disposition": "3", "SubjectKeyIdentifier": ski,
            "Subject": subject, "SubjectAlternativeName": san, "CertificateTemplate": template, "SerialNumber": serial,
            "AuthenticationService": "Kerberos", "AuthenticationLevel": "Privacy", "DCOMorRPC": "DCOM",
        })
        self.events.append(issued)
        return issued

    def numbered(self, now: datetime) -> list[WinEvent]:
        """The events in time order, each with its host's next EventRecordID (unique per build)."""
        base = 1_000_000 + int(now.timestamp()) % 90_000_000
        counters: dict[str, int] = {}
        out = []
        for event in sorted(self.events, key=lambda e: e.ts):
            start = base + int(hashlib.sha256(event.computer.encode()).hexdigest()[:4], 16) * 1000
            counters[event.computer] = counters.get(event.computer, start) + self.ids.randrange(1, 40)
            out.append(WinEvent(event.ts, event.computer, event.event_id, event.data, counters[event.computer]))
        return out


def _windows_events(now: datetime, rogue: x509.Certificate) -> list[WinEvent]:
    log = _WindowsLog(now)
    # background: machine autoenrollment (template Machine: allowlisted automation) and a user certificate
    for before, machine in _MACHINE_ENROLLMENTS:
        fqdn = f"{machine}.corp.example"
        log.issuance(now - before, f"CORP\\{machine}$", f"CN={fqdn}", AUTOMATION_TEMPLATE, f"DNS Name={fqdn.lower()}", fqdn)
    log.issuance(now - timedelta(hours=100), "CORP\\alice", "CN=Alice Example, OU=Users, DC=corp, DC=example", "User",
                 "Other Name:Principal Name=alice@corp.example", "WS-0120.corp.example")
    # background: certificate tools that create nothing
    log.sysmon(now - timedelta(hours=80), "ws-0137.corp.example", "CORP\\jsmith", _CERTUTIL,
               "certutil.exe -verify -urlfetch C:\\Users\\jsmith\\Downloads\\vendor.cer", _CMD, "cmd.exe", "C:\\Users\\jsmith\\")
    log.process_4688(now - timedelta(hours=30), "WS-0150.corp.example", "CORP", "carol", "C:\\tools\\openssl.exe",
                     "openssl x509 -in server.crt -noout -text", _CMD)

    # internal story: mallory makes a request for a Microsoft name on her workstation and the CA issues it
    issued = now - ROGUE_ISSUED
    docs = "C:\\Users\\mallory\\Documents"
    log.sysmon(issued - timedelta(minutes=6, seconds=12), "WS-0199.corp.example", ROGUE_REQUESTER, _CERTREQ,
               f"certreq.exe -new {docs}\\login.inf {docs}\\login.req", _CMD, "cmd.exe", f"{docs}\\")
    log.sysmon(issued - timedelta(seconds=3, milliseconds=410), "WS-0199.corp.example", ROGUE_REQUESTER, _CERTREQ,
               f"certreq.exe -submit -config \"{CA_HOST}\\{CA_NAME}\" -attrib \"CertificateTemplate:WebServer\" "
               f"{docs}\\login.req {docs}\\login.cer", _CMD, "cmd.exe", f"{docs}\\")
    ski = rogue.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    log.issuance(issued, ROGUE_REQUESTER, _adcs_subject(rogue.subject), "WebServer", f"DNS Name={ROGUE_HOST}", "WS-0199.corp.example",
                 serial=adcs_serial(rogue), ski=" ".join(f"{b:02x}" for b in ski))

    # mimicry story: the certificate is made on ws-0137 (notBefore = this second), and within the hour two
    # unrelated people elsewhere make self-signed certificates of their own
    made = now - MIMICRY_CREATED - timedelta(milliseconds=820)
    log.sysmon(made, "ws-0137.corp.example", "CORP\\jsmith", _GIT_OPENSSL,
               f"\"{_GIT_OPENSSL}\" req -x509 -newkey rsa:2048 -nodes -sha256 -days 365 -keyout cdn.key -out cdn.crt "
               f"-subj \"{MIMICRY_SUBJECT}\" -addext \"subjectAltName=DNS:{MIMICRY_HOST}\" "
               "-addext \"basicConstraints=critical,CA:FALSE\" -addext \"extendedKeyUsage=serverAuth\"",
               "C:\\Program Files\\Git\\usr\\bin\\bash.exe", "/usr/bin/bash --login -i", "C:\\Users\\jsmith\\AppData\\Local\\Temp\\")
    log.sysmon(now - MIMICRY_CREATED + timedelta(minutes=16, seconds=7), "ws-0212.corp.example", "CORP\\dlee", _POWERSHELL,
               "powershell.exe -NoProfile -Command \"New-SelfSignedCertificate -DnsName files-sync.example.net "
               "-CertStoreLocation Cert:\\CurrentUser\\My -NotAfter (Get-Date).AddYears(2)\"",
               _EXPLORER, "C:\\Windows\\Explorer.EXE", "C:\\Users\\dlee\\")
    log.process_4688(now - MIMICRY_CREATED + timedelta(minutes=29, seconds=40), "BUILD-03.corp.example", "CORP", "svc-ci", _KEYTOOL,
                     f"\"{_KEYTOOL}\" -genkeypair -alias tomcat -keyalg RSA -keysize 2048 -validity 825 -keystore D:\\ci\\tomcat.jks "
                     "-dname \"CN=build-03.corp.example, OU=CI, O=Example Corp, C=US\"",
                     "C:\\Program Files\\Jenkins\\jenkins.exe")
    return log.numbered(now)


def _adcs_subject(name: x509.Name) -> str:
    """The subject as AD CS logs it: most specific attribute first, ``S=`` for the state."""
    labels = {"ST": "S"}
    parts = [f"{labels.get(a.rfc4514_attribute_name, a.rfc4514_attribute_name)}={a.value}" for rdn in name.rdns for a in rdn]
    return ", ".join(reversed(parts))


def _iso_z(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def winlogbeat(event: WinEvent) -> dict[str, Any]:
    """The event as Winlogbeat ships it (ECS ``event``/``host`` plus ``winlog``)."""
    provider, guid = _SYSMON_PROVIDER if event.sysmon else _SECURITY_PROVIDER
    channel = "Microsoft-Windows-Sysmon/Operational" if event.sysmon else "Security"
    return {
        "@timestamp": _iso_z(event.ts),
        "agent": {"type": "winlogbeat", "version": "8.13.4"},
        "event": {"code": str(event.event_id), "provider": provider, "kind": "event", "created": _iso_z(event.ts + timedelta(seconds=2))},
        "host": {"name": event.computer.lower()},
        "log": {"level": "information"},
        "winlog": {
            "channel": channel, "computer_name": event.computer, "event_id": str(event.event_id), "provider_name": provider,
            "provider_guid": guid, "record_id": event.record_id, "task": str(_TASKS[event.event_id]),
            "version": _VERSIONS[event.event_id], "event_data": event.data,
        },
    }


def _write_windows(folder: Path, events: list[WinEvent]) -> None:
    for name, chosen in (("sysmon.jsonl", [e for e in events if e.sysmon]), ("security.jsonl", [e for e in events if not e.sysmon])):
        (folder / name).write_text("".join(json.dumps(winlogbeat(e), separators=(",", ":")) + "\n" for e in chosen), encoding="utf-8")


def event_xml(event: WinEvent) -> str:
    """The event as Windows renders it (Event Viewer's XML view, ``wevtutil qe /f:xml``)."""
    provider, guid = _SYSMON_PROVIDER if event.sysmon else _SECURITY_PROVIDER
    channel = "Microsoft-Windows-Sysmon/Operational" if event.sysmon else "Security"
    system_time = event.ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{event.ts.microsecond:06d}0Z"
    data = "\n".join(f"    <Data Name={quoteattr(k)}>{escape(v)}</Data>" for k, v in event.data.items())
    return (
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">\n'
        "  <System>\n"
        f"    <Provider Name={quoteattr(provider)} Guid={quoteattr(guid)} />\n"
        f"    <EventID>{event.event_id}</EventID>\n"
        f"    <Version>{_VERSIONS[event.event_id]}</Version>\n"
        "    <Level>0</Level>\n"
        f"    <Task>{_TASKS[event.event_id]}</Task>\n"
        "    <Opcode>0</Opcode>\n"
        "    <Keywords>0x8020000000000000</Keywords>\n"
        f"    <TimeCreated SystemTime={quoteattr(system_time)} />\n"
        f"    <EventRecordID>{event.record_id}</EventRecordID>\n"
        "    <Correlation />\n"
        '    <Execution ProcessID="744" ThreadID="812" />\n'
        f"    <Channel>{escape(channel)}</Channel>\n"
        f"    <Computer>{escape(event.computer)}</Computer>\n"
        "    <Security />\n"
        "  </System>\n"
        "  <EventData>\n"
        f"{data}\n"
        "  </EventData>\n"
        "</Event>\n"
    )


# ---------------------------------------------------------------- alerts, config


def _first_sighting(sessions: list[Session], cert: x509.Certificate) -> Session:
    return next(s for s in sessions if s.chain and s.chain[0] == cert)


def _write_alerts(paths: LabPaths, sessions: list[Session], windows: list[WinEvent], rogue: x509.Certificate,
                  mimicry: x509.Certificate, built: datetime) -> None:
    stories = {
        "mimicry": (mimicry, "Self-signed certificate whose issuer imitates a public CA", "ws-0137.corp.example"),
        "internal": (rogue, "Internal CA issued a certificate for a name outside the organization", "ws-0161.corp.example"),
    }
    for key, (cert, title, host) in stories.items():
        first = _first_sighting(sessions, cert)
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

    # the mimicry story as the sensors raise it: Suricata's tls event (with the certificate logged) and Zeek's x509 line
    first = _first_sighting(sessions, mimicry)
    eve = _suricata_tls(first)
    eve["tls"]["certificate"] = base64.b64encode(_der(mimicry)).decode("ascii")
    paths.alerts["mimicry-suricata"].write_text(json.dumps(eve) + "\n", encoding="utf-8")
    _zeek_log(paths.alerts["mimicry-zeek"], "x509", _X509_FIELDS, [_x509_row(first.ts, mimicry, host_cert=True)],
              first.ts.replace(minute=0, second=0, microsecond=0), first.ts + timedelta(seconds=1))
    # the internal story as the CA logged it: 4887 for the rogue leaf's serial
    issued = next(e for e in windows if e.event_id == 4887 and e.data["SerialNumber"] == adcs_serial(rogue))
    paths.alerts["internal-adcs"].write_text(event_xml(issued), encoding="utf-8")


def spki_sha256(cert: x509.Certificate) -> str:
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def _write_config(paths: LabPaths, wiki: x509.Certificate, built: datetime) -> None:
    expires = (built + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    paths.config.write_text(_CONFIG_YAML.format(wiki_spki=spki_sha256(wiki), wiki_expires=expires, automation=AUTOMATION_TEMPLATE),
                            encoding="utf-8")


_CONFIG_YAML = """\
# The bundled certsoar lab. Relative paths are resolved against this folder.
state_dir: ..            # the state dir itself
connectors:
  siem: {{type: files, paths: [logs]}}
  ca: {{type: openssl-ca, openssl_config: ca/openssl.cnf}}
  firewall: {{type: nftables, ruleset: firewall/certsoar.nft, apply: false}}
  proxy: {{type: squid, fingerprint_file: proxy/rogue-certs.txt, reconfigure: false}}
  ticket: {{type: local}}
  notify: [{{type: console}}, {{type: file, outbox: outbox}}]
analysts: {{alice: {{roles: [soc-tier2]}}, bob: {{roles: [soc-tier2, soc-lead]}}, carol: {{roles: [soc-l1]}}}}
trust: {{internal_roots: [ca/ca.pem]}}
organization: {{domains: [corp.example]}}
allowlist:
  # wiki.corp.example keeps its key across renewals: vouched for by its key, not by one certificate
  - spki_sha256: {wiki_spki}
    owner: it-ops
    reason: the internal wiki (wiki.corp.example, 10.20.1.11); renewed yearly with the same key
    expires: "{wiki_expires}"
thresholds:
  # Every other threshold is the documented default (E2: 2 unrelated in 1h or 3 in 24h; E3: z 3.5, ratio 3,
  # 10 MB/h, 50 connections/h, beacons of 10+ connections with CV < 0.2).
  creation_burst:
    automation: [{automation}]   # machine autoenrollment
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
logs/      nine days before the lab was built:
           zeek/      conn.log, ssl.log, x509.log (TSV; conn and ssl share uids)
           suricata/  eve.json (tls and dns events)
           windows/   sysmon.jsonl (Sysmon 1) and security.jsonl (4688, AD CS 4886/4887), as Winlogbeat ships them
alerts/    the two stories as alerts: mimicry.json and internal.json (generic JSON), mimicry.suricata.json
           (Suricata eve tls), mimicry.zeek-x509.log (Zeek x509.log line), internal.adcs-4887.xml (Windows Event XML)
"""
