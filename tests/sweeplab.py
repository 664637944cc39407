"""A lab ``openssl ca`` with good and bad issuances for the revocation sweep, built with the real openssl."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from certsoar.lab.openssl_ca import build_ca_dir


@dataclass(frozen=True)
class Issuance:
    name: str
    subject: str
    san: str
    newkey: tuple[str, ...] = ("-newkey", "rsa:2048")
    days: int = 397
    extensions: str | None = None
    bad: bool = False


ISSUANCES = (
    Issuance("good-www", "/CN=www.corp.example", "DNS:www.corp.example"),
    Issuance(
        "good-api",
        "/CN=api.corp.example",
        "DNS:api.corp.example",
        newkey=("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
    ),
    Issuance("bad-outside", "/CN=login.evil.example", "DNS:login.evil.example", bad=True),
    Issuance("bad-subca", "/CN=Rogue Sub CA", "DNS:subca.corp.example", extensions="v3_ca", bad=True),
    Issuance("bad-wildcard", "/CN=*.corp.example", "DNS:*.corp.example", bad=True),
    Issuance("bad-5years", "/CN=app.corp.example", "DNS:app.corp.example", days=1826, bad=True),
    Issuance(
        "bad-1024", "/CN=legacy.corp.example", "DNS:legacy.corp.example", newkey=("-newkey", "rsa:1024"), bad=True
    ),
    Issuance(
        "bad-esc1",
        "/CN=lowpriv",
        "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:administrator@corp.example",
        bad=True,
    ),
)

BAD_COUNT = sum(i.bad for i in ISSUANCES)

POLICY = {
    "max_validity_days": 398,
    "min_rsa_bits": 2048,
    "allowed_curves": ["secp256r1", "secp384r1"],
    "forbid": {"ca_true": True, "wildcard": True, "upn_san_mismatch": True},
    "auto_revoke": [
        "outside_domains",
        "max_validity_days",
        "min_rsa_bits",
        "ca_true",
        "wildcard",
        "upn_san_mismatch",
    ],
}


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60
    )


def build_sweep_lab(root: Path) -> dict[str, str]:
    """The CA under ``root/ca`` with every issuance of ISSUANCES; returns name → serial (upper-case hex)."""
    ca_dir = root / "ca"
    build_ca_dir(ca_dir)
    serials = {}
    for item in ISSUANCES:
        csr = ca_dir / f"{item.name}.csr"
        done = openssl(
            "req", "-config", "openssl.cnf", "-new", *item.newkey, "-nodes", "-keyout", f"{item.name}.key",
            "-out", csr.name, "-subj", item.subject, "-addext", f"subjectAltName={item.san}", cwd=ca_dir,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        extensions = ["-extensions", item.extensions] if item.extensions else []
        done = openssl(
            "ca", "-config", "openssl.cnf", "-batch", "-notext", "-in", csr.name, "-out", f"{item.name}.pem",
            "-days", str(item.days), *extensions, cwd=ca_dir,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        serial = openssl("x509", "-in", f"{item.name}.pem", "-noout", "-serial", cwd=ca_dir).stdout
        serials[item.name] = serial.strip().partition("=")[2].upper().lstrip("0")
    done = openssl("ca", "-config", "openssl.cnf", "-batch", "-gencrl", "-out", "crl.pem", cwd=ca_dir)
    assert done.returncode == 0, done.stderr
    return serials


def generate_ca(root: Path, count: int, *, outside_every: int) -> None:
    """A CA directory under ``root/ca`` of ``count`` certificates written with cryptography (openssl per
    certificate is too slow for hundreds): index.txt, newcerts/, ca.pem and an openssl.cnf naming them, no CA
    key (enough for a dry run). Every ``outside_every``-th certificate names a host outside corp.example."""
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_dir = root / "ca"
    (ca_dir / "newcerts").mkdir(parents=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Generated Issuing CA")])
    ca = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - timedelta(days=30)).not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(key, hashes.SHA256())
    )  # fmt: skip
    (ca_dir / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (ca_dir / "openssl.cnf").write_text(
        "[ca]\ndefault_ca = CA_default\n[CA_default]\ndir = .\ndatabase = $dir/index.txt\n"
        "new_certs_dir = $dir/newcerts\ncertificate = $dir/ca.pem\ncrl = $dir/crl.pem\n",
        encoding="utf-8",
    )
    leaf = ec.generate_private_key(ec.SECP256R1()).public_key()
    lines = []
    for i in range(count):
        serial = 0x1000 + i
        host = f"host{i}.evil.example" if i % outside_every == outside_every - 1 else f"host{i}.corp.example"
        cert = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(name).public_key(leaf).serial_number(serial)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        (ca_dir / "newcerts" / f"{serial:X}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        lines.append(f"V\t{(now + timedelta(days=90)).strftime('%y%m%d%H%M%SZ')}\t\t{serial:X}\tunknown\t/CN={host}\n")
    (ca_dir / "index.txt").write_text("".join(lines), encoding="utf-8")


def write_config(
    root: Path,
    *,
    policy: dict[str, object] | None = POLICY,
    sweep: dict[str, object] | None = None,
    schedules: list[dict[str, str]] | None = None,
) -> Path:
    config = {
        "state_dir": "state",
        "connectors": {
            "ca": {"type": "openssl-ca", "openssl_config": "ca/openssl.cnf"},
            "notify": [{"type": "file", "outbox": "outbox"}],
        },
        "analysts": {"alice": {"roles": ["soc-tier2"]}},
        "organization": {"domains": ["corp.example"]},
        **({"policy": policy} if policy is not None else {}),
        "sweeps": {"revocation": sweep or {"max_per_run": 10}},
        "schedules": schedules or [],
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def ca_status(root: Path, serial: str) -> str:
    """What ``openssl ca -status`` says of the serial (Valid, Revoked, ...)."""
    done = openssl("ca", "-config", "openssl.cnf", "-status", serial, cwd=root / "ca")
    return done.stdout + done.stderr


def verify_with_crl(root: Path, name: str) -> subprocess.CompletedProcess[str]:
    ca = root / "ca"
    return openssl(
        "verify", "-crl_check", "-CAfile", "ca.pem", "-CRLfile", "crl.pem", "-purpose", "any", f"{name}.pem", cwd=ca
    )
