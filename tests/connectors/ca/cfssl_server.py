"""A live ``cfssl serve`` on loopback with a SQLite certdb (Debian's golang-cfssl), for the cfssl connector's tests."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from realcomponents import require_tool

SCHEMA = Path(__file__).parents[2] / "data" / "cfssl" / "certdb.sql"
CA_NAME = "Example CFSSL Issuing CA"


def make_ca(folder: Path, name: str = CA_NAME) -> tuple[Path, Path]:
    """A CA certificate and key (PEM files) made with cryptography; cfssl signs with them."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "ca.pem", folder / "ca-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class CfsslServer:
    """``cfssl serve`` started on a free loopback port over a fresh certdb; ``stop()`` ends it."""

    def __init__(self, folder: Path) -> None:
        cfssl = require_tool("cfssl")
        self.folder = folder
        self.ca_cert, self.ca_key = make_ca(folder / "ca")
        self.certdb = folder / "certdb.sqlite"
        with sqlite3.connect(self.certdb) as db:
            db.executescript(SCHEMA.read_text())
        (folder / "db.json").write_text(json.dumps({"driver": "sqlite3", "data_source": str(self.certdb)}))
        (folder / "config.json").write_text(
            json.dumps({"signing": {"default": {"expiry": "720h", "usages": ["digital signature", "server auth"]}}})
        )
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = (folder / "serve.log").open("wb")
        self.process = subprocess.Popen(
            [cfssl, "serve", "-address", "127.0.0.1", "-port", str(self.port), "-ca", str(self.ca_cert)]
            + ["-ca-key", str(self.ca_key), "-config", str(folder / "config.json")]
            + ["-db-config", str(folder / "db.json")],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"cfssl serve exited: {(self.folder / 'serve.log').read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("cfssl serve did not listen within 60 s")

    def call(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST ``body`` to the server directly (urllib: pytest-httpx does not intercept it)."""
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def issue(self, dns: str) -> x509.Certificate:
        """A certificate for ``dns`` through ``/api/v1/cfssl/newcert`` (stored in the certdb by cfssl)."""
        status, body = self.call(
            "/api/v1/cfssl/newcert",
            {"request": {"CN": dns, "hosts": [dns], "key": {"algo": "ecdsa", "size": 256}}},
        )
        assert status == 200 and body["success"], body
        return x509.load_pem_x509_certificate(body["result"]["certificate"].encode())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
