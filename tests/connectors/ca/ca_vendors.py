"""Fake CA vendors behind pytest-httpx, for the CA conformance suite (tests/connectors/ca/test_ca_conformance.py).

Each fake keeps a real CA (a key, a certificate, issued certificates, a CRL signed by cryptography) and
answers the vendor's API from that state, in the body formats the vendor documents; ``inject`` puts
failures (401, 429 with Retry-After, 500) in front of the next requests. A new CA connector adds a fake
here and a case to ``CA_VENDORS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import httpx
from cfssl_server import CfsslServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ca import CertificateAuthority
from certsoar.connectors.ca.cfssl import CfsslCa, CfsslSettings
from certsoar.connectors.ca.vault import VaultCa, VaultSettings, vault_serial

NOW = datetime.now(timezone.utc).replace(microsecond=0)
CA_SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Vault Issuing CA")])


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)


class RealCa:
    """A CA made with cryptography: issues certificates and signs CRLs of what it revoked."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(CA_SUBJECT)
            .issuer_name(CA_SUBJECT)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.issued: dict[int, x509.Certificate] = {}
        self.revoked_at: dict[int, datetime] = {}
        self.crl_number = 0

    def issue(self, dns: str) -> x509.Certificate:
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns)]))
            .issuer_name(CA_SUBJECT)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(hours=1))
            .not_valid_after(NOW + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.issued[cert.serial_number] = cert
        return cert

    def crl_der(self, revoked: dict[int, datetime]) -> bytes:
        self.crl_number += 1
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(CA_SUBJECT)
            .last_update(NOW)
            .next_update(NOW + timedelta(hours=72))
            .add_extension(x509.CRLNumber(self.crl_number), critical=False)
        )
        for serial, when in revoked.items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


class FakeVault:
    """Vault's PKI secrets engine at /v1/pki and AppRole at /v1/auth/approle.

    Body formats, from Vault's API documentation (developer.hashicorp.com/vault/api-docs/secret/pki and
    /auth/approle) and its source (builtin/logical/pki path_fetch.go, path_revoke.go), as summed up in
    the project's vendor-apis.md section 4.1:
    - every JSON answer is the envelope {"request_id", "lease_id", "renewable", "lease_duration", "data",
      "wrap_info", "warnings", "auth"}; errors are {"errors": [...]};
    - a bad or missing token is 403 {"errors": ["permission denied"]}.
    """

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.ca = RealCa()
        self.faults: list[Fault] = []
        self.revoke_posts: dict[int, int] = {}
        self.rotations = 0
        self.auto_rebuild = False  # config/crl auto_rebuild: the CRL is rebuilt later, not on revoke
        self.crl_revoked: dict[int, datetime] = {}  # what the current CRL lists
        self.approle: tuple[str, str] | None = None
        self.logins = 0
        self.lease_duration = 1200
        self.requests: list[httpx.Request] = []

    def inject(
        self, status: int, *, times: int = 1, headers: dict[str, str] | None = None, errors: list[str] | None = None
    ) -> None:
        for _ in range(times):
            self.faults.append(Fault(status, headers or {}, {"errors": errors or []}))

    def issue(self, dns: str) -> str:
        return format(self.ca.issue(dns).serial_number, "X")

    def revocations(self, serial: str) -> int:
        return self.revoke_posts.get(int(serial, 16), 0)

    # ------------------------------------------------------------------ the API

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            fault = self.faults.pop(0)
            return httpx.Response(fault.status, headers=fault.headers, json=fault.body)
        path = request.url.path
        if request.method == "POST" and path == "/v1/auth/approle/login":
            return self._login(request)
        if path == "/v1/pki/ca/pem":  # unauthenticated; answers bare PEM (API docs, "Read issuer certificate")
            return httpx.Response(200, content=self.ca.cert.public_bytes(serialization.Encoding.PEM))
        if path == "/v1/pki/crl":  # unauthenticated; bare DER, application/pkix-crl (API docs, "Read CRL")
            return httpx.Response(
                200, content=self.ca.crl_der(self.crl_revoked), headers={"Content-Type": "application/pkix-crl"}
            )
        if request.headers.get("X-Vault-Token") != self.token:
            return _envelope(403, errors=["permission denied"])
        if request.method == "LIST" and path == "/v1/pki/certs":
            # API docs "List certificates": {"data": {"keys": ["17:67:16:b0:b9:45:58:c0:3a:29:e3:cb:d6:98:33:7a:a6:3b:..."]}}
            # (hyphen form in real answers: gist petems/46f17923, "22-d0-f7-...")
            keys = ["-".join(vault_serial(s).split(":")) for s in self.ca.issued]
            return _envelope(200, data={"keys": keys})
        if request.method == "GET" and path.startswith("/v1/pki/cert/"):
            return self._read_cert(path.removeprefix("/v1/pki/cert/"))
        if request.method == "POST" and path == "/v1/pki/revoke":
            return self._revoke(json.loads(request.content))
        if request.method == "GET" and path == "/v1/pki/crl/rotate":
            # path_revoke.go pathRotateCRLRead: {"data": {"success": true}}
            self.rotations += 1
            self.crl_revoked = dict(self.ca.revoked_at)
            return _envelope(200, data={"success": True})
        return _envelope(404, errors=[])

    def _serial(self, text: str) -> int | None:
        try:
            return int(text.replace(":", "").replace("-", ""), 16)
        except ValueError:
            return None

    def _read_cert(self, text: str) -> httpx.Response:
        # API docs "Read certificate" + path_fetch.go: {"data": {"certificate": PEM, "revocation_time": 0,
        # "revocation_time_rfc3339": ""}}; an unknown serial is 404 {"errors": []}.
        serial = self._serial(text)
        cert = self.ca.issued.get(serial) if serial is not None else None
        if cert is None or serial is None:
            return _envelope(404, errors=[])
        revoked = self.ca.revoked_at.get(serial)
        return _envelope(
            200,
            data={
                "certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
                "revocation_time": int(revoked.timestamp()) if revoked else 0,
                "revocation_time_rfc3339": revoked.isoformat().replace("+00:00", "Z") if revoked else "",
            },
        )

    def _revoke(self, body: dict[str, Any]) -> httpx.Response:
        # API docs "Revoke certificate": POST {"serial_number": "39:dd:2e:..."} → {"data": {"revocation_time":
        # 1433269787}}; current versions add "revocation_time_rfc3339" and "state": "revoked" (path_revoke.go).
        # An unknown serial is 400 {"errors": ["certificate with serial X not found."]}; a second revoke
        # answers the first revocation time.
        text = str(body.get("serial_number", ""))
        serial = self._serial(text)
        if serial is None or serial not in self.ca.issued:
            return _envelope(400, errors=[f"certificate with serial {text} not found."])
        self.revoke_posts[serial] = self.revoke_posts.get(serial, 0) + 1
        when = self.ca.revoked_at.setdefault(serial, NOW)
        if not self.auto_rebuild:
            self.crl_revoked = dict(self.ca.revoked_at)
        return _envelope(
            200,
            data={
                "revocation_time": int(when.timestamp()),
                "revocation_time_rfc3339": when.isoformat().replace("+00:00", "Z"),
                "state": "revoked",
            },
        )

    def _login(self, request: httpx.Request) -> httpx.Response:
        # API docs auth/approle "Login with AppRole": POST {"role_id", "secret_id"} → {"auth": {"client_token":
        # "...", "accessor": "...", "policies": [...], "lease_duration": 1200, "renewable": true, ...}}
        body = json.loads(request.content)
        if self.approle is None or (body.get("role_id"), body.get("secret_id")) != self.approle:
            return _envelope(400, errors=["invalid role or secret ID"])
        self.logins += 1
        return _envelope(
            200,
            auth={
                "client_token": self.token,
                "accessor": "0e9e354a-520f-df04-6867-ee81cae3d42d",
                "policies": ["default", "pki-revoke"],
                "token_policies": ["default", "pki-revoke"],
                "metadata": {},
                "lease_duration": self.lease_duration,
                "renewable": True,
            },
        )


def _envelope(
    status: int,
    *,
    data: dict[str, Any] | None = None,
    errors: list[str] | None = None,
    auth: dict[str, Any] | None = None,
) -> httpx.Response:
    if errors is not None:
        return httpx.Response(status, json={"errors": errors})
    return httpx.Response(
        status,
        json={
            "request_id": "a3b4c5d6-0000-4000-8000-000000000001",
            "lease_id": "",
            "renewable": False,
            "lease_duration": 0,
            "data": data,
            "wrap_info": None,
            "warnings": None,
            "auth": auth,
        },
    )


class FakeCa(Protocol):
    """What the suite asks of a fake vendor."""

    url: str
    requests: list[httpx.Request]
    revoke_posts: dict[int, int]

    def __call__(self, request: httpx.Request) -> httpx.Response: ...

    def inject(
        self, status: int, *, times: int = 1, headers: dict[str, str] | None = None, errors: list[str] | None = None
    ) -> None: ...

    def issue(self, dns: str) -> str: ...

    def revocations(self, serial: str) -> int: ...


@dataclass
class CaVendor:
    """A CA connector and the fake vendor behind it."""

    name: str
    fake: FakeCa
    build: Callable[..., CertificateAuthority]
    """``build(url=None, **settings)``: the connector, against the fake unless ``url`` is given."""
    secrets: list[str]
    refuse_credentials: Callable[[], None] | None = None
    """Make the fake refuse the connector's credentials (None: they are a client certificate, checked by TLS)."""
    numbers_crls: bool = True
    """The CA's CRLs carry a CRL number."""
    close: Callable[[], None] = lambda: None


VAULT_TOKEN = "hvs.CAESIJ1x-conformance-token-9f8e7d6c5b4a"
VAULT_URL = "https://vault.example.test:8200"


def vault_vendor(monkeypatch: Any, tmp_path: Any) -> CaVendor:
    monkeypatch.setenv("CERTSOAR_TEST_VAULT_TOKEN", VAULT_TOKEN)
    fake = FakeVault(VAULT_URL, VAULT_TOKEN)

    def build(url: str | None = None, **settings: Any) -> CertificateAuthority:
        values = {"url": url or VAULT_URL, "token": "env:CERTSOAR_TEST_VAULT_TOKEN", "backoff": 0.01, **settings}
        return VaultCa(VaultSettings.model_validate(values), ConnectorEnv(name="vault", state_dir=tmp_path))

    def refuse() -> None:
        fake.token = "hvs.another-token"

    return CaVendor(name="vault", fake=fake, build=build, secrets=[VAULT_TOKEN], refuse_credentials=refuse)


class CfsslFront:
    """A live ``cfssl serve`` (tests/connectors/ca/cfssl_server.py) behind pytest-httpx: each request is
    forwarded to it unchanged, unless a fault was injected in front. Fault bodies use cfssl's envelope
    (api/api.go, ``{"success": false, "result": null, "errors": [{"code", "message"}], "messages": []}``),
    which the live server answers with too."""

    url = "http://cfssl.example.test:8888"

    def __init__(self, server: CfsslServer) -> None:
        self.server = server
        self.faults: list[Fault] = []
        self.requests: list[httpx.Request] = []
        self.revoke_posts: dict[int, int] = {}

    def inject(
        self, status: int, *, times: int = 1, headers: dict[str, str] | None = None, errors: list[str] | None = None
    ) -> None:
        body = {
            "success": False,
            "result": None,
            "errors": [{"code": status * 10, "message": m} for m in errors or []],
            "messages": [],
        }
        self.faults += [Fault(status, headers or {}, body) for _ in range(times)]

    def issue(self, dns: str) -> str:
        return format(self.server.issue(dns).serial_number, "X")

    def revocations(self, serial: str) -> int:
        return self.revoke_posts.get(int(serial, 16), 0)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            fault = self.faults.pop(0)
            return httpx.Response(fault.status, headers=fault.headers, json=fault.body)
        body = json.loads(request.content or b"{}")
        status, answer = self.server.call(request.url.path, body)
        if request.url.path == "/api/v1/cfssl/revoke" and status == 200:
            serial = int(body["serial"])
            self.revoke_posts[serial] = self.revoke_posts.get(serial, 0) + 1
        return httpx.Response(status, json=answer)


def cfssl_vendor(monkeypatch: Any, tmp_path: Any) -> CaVendor:
    server = CfsslServer(tmp_path / "cfssl")
    fake = CfsslFront(server)

    def build(url: str | None = None, **settings: Any) -> CertificateAuthority:
        values = {
            "url": url or fake.url,
            "certdb": str(server.certdb),
            "ca_key": str(server.ca_key),
            "crl": str(tmp_path / "published" / "cfssl.crl"),
            "backoff": 0.01,
            **settings,
        }
        return CfsslCa(CfsslSettings.model_validate(values), ConnectorEnv(name="cfssl", state_dir=tmp_path))

    # cfssl serve 1.2.0 checks no credential: mutual TLS in front of it is the only one (HttpSettings.client_cert)
    return CaVendor(name="cfssl", fake=fake, build=build, secrets=[], numbers_crls=False, close=server.stop)


CA_VENDORS: dict[str, Callable[[Any, Any], CaVendor]] = {"vault": vault_vendor, "cfssl": cfssl_vendor}
REAL_VENDORS = frozenset({"cfssl"})
"""Vendors whose fake is a live server: their cases are marked ``real``."""
