"""A real ``openssl ca`` directory: the CA certificate (backdated), leaves issued by ``openssl ca``, the CRL."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509

from certsoar.errors import ConfigError
from certsoar.lab.paths import LabPaths
from certsoar.lab.story import CA_BACKDATE, CA_SUBJECT, LEAVES

_OPENSSL_TIMEOUT = 60
_ROOT_BOOKKEEPING = ".root-signing"


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
            openssl,
            ca_dir,
            "req",
            "-config",
            "openssl.cnf",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "private/ca.key",
            "-out",
            f"{_ROOT_BOOKKEEPING}/ca.csr",
            "-subj",
            CA_SUBJECT,
        )
        (ca_dir / "private" / "ca.key").chmod(0o600)
        _openssl(
            openssl,
            ca_dir,
            "ca",
            "-config",
            "openssl.cnf",
            "-name",
            "CA_root",
            "-selfsign",
            "-batch",
            "-notext",
            "-keyfile",
            "private/ca.key",
            "-in",
            f"{_ROOT_BOOKKEEPING}/ca.csr",
            "-out",
            "ca.pem",
            "-startdate",
            start.strftime("%Y%m%d%H%M%SZ"),
            "-days",
            "3650",
        )
    finally:
        shutil.rmtree(bookkeeping, ignore_errors=True)
    return cnf


def issue_leaf(
    ca_dir: Path,
    *,
    name: str,
    subject: str,
    key_type: str,
    not_before: datetime,
    cert_out: Path,
    key_out: Path,
    openssl: str = "openssl",
) -> x509.Certificate:
    """Issue a TLS server certificate for ``name`` (also the SAN) with ``openssl ca``."""
    newkey = ["-newkey", "rsa:2048"] if key_type == "rsa" else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    csr = ca_dir / f".{name}.csr"
    try:
        _openssl(
            openssl,
            ca_dir,
            "req",
            "-config",
            "openssl.cnf",
            "-new",
            *newkey,
            "-nodes",
            "-keyout",
            str(key_out.absolute()),
            "-out",
            str(csr),
            "-subj",
            subject,
            "-addext",
            f"subjectAltName=DNS:{name}",
        )
        _openssl(
            openssl,
            ca_dir,
            "ca",
            "-config",
            "openssl.cnf",
            "-batch",
            "-notext",
            "-in",
            str(csr),
            "-out",
            str(cert_out.absolute()),
            "-startdate",
            not_before.strftime("%Y%m%d%H%M%SZ"),
            "-days",
            "397",
        )
    finally:
        csr.unlink(missing_ok=True)
    key_out.chmod(0o600)
    return x509.load_pem_x509_certificate(cert_out.read_bytes())


def generate_crl(ca_dir: Path, openssl: str = "openssl", days: int = 30) -> None:
    _openssl(
        openssl, ca_dir, "ca", "-config", "openssl.cnf", "-batch", "-gencrl", "-crldays", str(days), "-out", "crl.pem"
    )


def build_lab_ca(paths: LabPaths, openssl: str, now: datetime) -> dict[str, x509.Certificate]:
    build_ca_dir(paths.ca_dir, openssl, not_before=now - CA_BACKDATE)
    issued = {}
    for leaf in LEAVES:
        issued[leaf.name] = issue_leaf(
            paths.ca_dir,
            name=leaf.name,
            subject=leaf.subject,
            key_type=leaf.key,
            not_before=now - leaf.start,
            cert_out=paths.certs_dir / f"{leaf.name}.pem",
            key_out=paths.keys_dir / f"{leaf.name}.key",
            openssl=openssl,
        )
    generate_crl(paths.ca_dir, openssl)
    return issued


def _openssl(openssl: str, cwd: Path, *args: str) -> None:
    try:
        subprocess.run(
            [openssl, *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=True,
            timeout=_OPENSSL_TIMEOUT,
            start_new_session=True,
        )
    except subprocess.CalledProcessError as exc:
        raise ConfigError(
            f"building the lab: openssl {args[0]} failed: {exc.stderr.decode(errors='replace').strip()}"
        ) from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"building the lab: cannot run openssl {args[0]}: {exc}") from exc


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
