"""Fake CA vendors behind pytest-httpx, for the CA conformance suite (tests/connectors/ca/test_ca_conformance.py).

Each fake keeps a real CA (a key, a certificate, issued certificates, a CRL signed by cryptography) and
answers the vendor's API from that state, in the body formats the vendor documents; ``inject`` puts
failures (401, 429 with Retry-After, 500) in front of the next requests. A new CA connector adds a fake
here and a case to ``CA_VENDORS``.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol
from urllib.parse import unquote

import httpx
from cfssl_server import CfsslServer
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from vendor_faults import Fault

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ca import CertificateAuthority
from certsoar.connectors.ca.adcs import AdcsCa, AdcsSettings
from certsoar.connectors.ca.cfssl import CfsslCa, CfsslSettings
from certsoar.connectors.ca.ejbca import EjbcaCa, EjbcaSettings
from certsoar.connectors.ca.psrp import Completed, winrm_failure
from certsoar.connectors.ca.stepca import StepCa, StepCaSettings
from certsoar.connectors.ca.vault import VaultCa, VaultSettings, vault_serial

NOW = datetime.now(timezone.utc).replace(microsecond=0)
CA_SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Vault Issuing CA")])


class RealCa:
    """A CA made with cryptography: issues certificates and signs CRLs of what it revoked."""

    def __init__(self, subject: x509.Name = CA_SUBJECT) -> None:
        self.subject = subject
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
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
            .issuer_name(self.subject)
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
            .issuer_name(self.subject)
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
            return fault.response()
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
    refused_text: str = "permission denied"
    """What the vendor says when it refuses them."""
    unrefusable: str = "its credential is a client certificate, refused in the TLS handshake"
    """Why ``refuse_credentials`` is None."""
    numbers_crls: bool = True
    """The CA's CRLs carry a CRL number."""
    reads: bool = True
    """The CA hands back what it issued (``certificate``, ``list_issued``); step-ca's API cannot."""
    close: Callable[[], None] = lambda: None

    async def read(self, ca: CertificateAuthority, serial: str) -> object:
        """The cheapest read of ``serial`` through the vendor's API."""
        return await (ca.certificate(serial) if self.reads else ca.status(serial))


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


class InjectingFake:
    """What the fakes share: faults answered in front of the next requests, the requests seen, and the
    revocations each serial got. A subclass says how its vendor spells an error (``error_body``)."""

    def __init__(self, ca: RealCa | None) -> None:
        self._ca = ca
        self.faults: list[Fault] = []
        self.requests: list[httpx.Request] = []
        self.revoke_posts: dict[int, int] = {}

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def inject(
        self, status: int, *, times: int = 1, headers: dict[str, str] | None = None, errors: list[str] | None = None
    ) -> None:
        body = self.error_body(status, "; ".join(errors or []))
        self.faults += [Fault(status, headers or {}, body) for _ in range(times)]

    @property
    def ca(self) -> RealCa:
        assert self._ca is not None, "this fake keeps no CA of its own"
        return self._ca

    def issue(self, dns: str) -> str:
        return format(self.ca.issue(dns).serial_number, "X")

    def revocations(self, serial: str) -> int:
        return self.revoke_posts.get(int(serial, 16), 0)

    def fault(self, request: httpx.Request) -> httpx.Response | None:
        """Record ``request``; the injected fault it meets, if any."""
        self.requests.append(request)
        if not self.faults:
            return None
        fault = self.faults.pop(0)
        return fault.response()


EJBCA_ISSUER = "CN=Example EJBCA Issuing CA,O=Example Corp,C=SE"


class FakeEjbca(InjectingFake):
    """EJBCA's REST API (CE 8/9) for one CA, under /ejbca/ejbca-rest-api.

    Body formats, from Keyfactor's generated OpenAPI clients (ejbca-python-client-sdk models
    revoke_status_rest_response.py, search_certificates_rest_response.py, certificate_rest_response.py,
    certificate_rest_response_v2.py, search_certificates_rest_response_v2.py, pagination_summary.py,
    crl_rest_response.py, create_crl_rest_response.py) and ejbca-ce's ExceptionHandler.java, as summed up in
    the project's vendor-apis.md section 4.3:
    - errors are {"error_code": <status>, "error_message": "..."}; 409 = already revoked, 404 = no such
      certificate, 403 = not authorized;
    - revoke and revocationstatus answer {"issuer_dn", "serial_number" (hex), "revocation_reason",
      "revocation_date", "message", "revoked"};
    - v1 search answers {"certificates": [{"certificate" (base64 DER), "serial_number", "response_format":
      "DER", "certificate_profile", "end_entity_profile"}], "more_results": false};
    - v2 search answers {"certificates": [{"serialNumber", "issuerDN", "subjectDN", "username", "status" (20
      active, 40 revoked), "revocationDate" (ms, -1), "revocationReason", "certificateProfileId",
      "notBefore", "expireDate", "base64Cert", ...}], "pagination_summary": {"page_size", "current_page",
      "total_certs"}};
    - getLatestCrl answers {"crl": base64 DER, "response_format": "DER"}; the CA does not issue a new CRL on
      revoke (createcrl does);
    - certificate/download answers the CA chain as PEM.
    The bearer token stands for the credential (EJBCA Enterprise OAuth); a client certificate is checked in
    the TLS handshake, which pytest-httpx cannot see.
    """

    url = "https://ejbca.example.test:8443"
    base = "/ejbca/ejbca-rest-api"

    def __init__(self, token: str) -> None:
        super().__init__(RealCa(x509.Name.from_rfc4514_string(EJBCA_ISSUER)))
        self.token = token
        self.reasons: dict[int, str] = {}
        self.crl_revoked: dict[int, datetime] = {}
        self.crls_created = 0
        self.profile = "ENDUSER"

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error_code": status, "error_message": message}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if (fault := self.fault(request)) is not None:
            return fault
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _ejbca_error(403, "Not authorized to resource /ca_functionality/view_certificate.")
        raw = request.url.raw_path.decode().split("?")[0]
        if not raw.startswith(self.base + "/"):
            return _ejbca_error(404, "Not found")
        parts = [unquote(p) for p in raw.removeprefix(self.base + "/").split("/")]
        method = request.method
        if method == "GET" and parts[:2] == ["v1", "ca"] and parts[3:] == ["certificate", "download"]:
            if parts[2] != EJBCA_ISSUER:
                return _ejbca_error(404, f"CA with DN: {parts[2]} does not exist.")
            return httpx.Response(200, content=self.ca.cert.public_bytes(serialization.Encoding.PEM))
        if method == "GET" and parts[:2] == ["v1", "ca"] and parts[3:] == ["getLatestCrl"]:
            crl = base64.b64encode(self.ca.crl_der(self.crl_revoked)).decode()
            return httpx.Response(200, json={"crl": crl, "response_format": "DER"})
        if method == "POST" and parts[:2] == ["v1", "ca"] and parts[3:] == ["createcrl"]:
            self.crls_created += 1
            self.crl_revoked = dict(self.ca.revoked_at)
            return httpx.Response(
                200,
                json={
                    "issuer_dn": EJBCA_ISSUER,
                    "latest_crl_version": self.ca.crl_number + 1,
                    "latest_delta_crl_version": 0,
                    "all_success": True,
                },
            )
        if method == "POST" and parts == ["v1", "certificate", "search"]:
            return self._search_v1(json.loads(request.content))
        if method == "POST" and parts == ["v2", "certificate", "search"]:
            return self._search_v2(json.loads(request.content))
        if parts[:2] == ["v1", "certificate"] and len(parts) == 5 and parts[2] == EJBCA_ISSUER:
            try:
                serial = int(parts[3], 16)
            except ValueError:
                return _ejbca_error(
                    400, "Invalid serial number format. Should be HEX encoded (optionally with '0x' prefix)"
                )
            if serial not in self.ca.issued:
                return _ejbca_error(404, "Could not find certificate with serial number " + parts[3])
            if method == "GET" and parts[4] == "revocationstatus":
                return httpx.Response(200, json=self._revoke_status(serial, "Revocation status"))
            if method == "PUT" and parts[4] == "revoke":
                if serial in self.ca.revoked_at:
                    return _ejbca_error(409, "Certificate is already revoked.")
                reason = request.url.params.get("reason", "UNSPECIFIED")
                self.revoke_posts[serial] = self.revoke_posts.get(serial, 0) + 1
                self.ca.revoked_at[serial] = NOW
                self.reasons[serial] = reason
                return httpx.Response(200, json=self._revoke_status(serial, "Successfully revoked"))
        return _ejbca_error(404, "Not found")

    def _revoke_status(self, serial: int, message: str) -> dict[str, Any]:
        revoked = self.ca.revoked_at.get(serial)
        return {
            "issuer_dn": EJBCA_ISSUER,
            "serial_number": format(serial, "X"),
            "revocation_reason": self.reasons.get(serial, "NOT_REVOKED"),
            "revocation_date": revoked.isoformat().replace("+00:00", "Z") if revoked else None,
            "message": message,
            "revoked": revoked is not None,
        }

    def _search_v1(self, body: dict[str, Any]) -> httpx.Response:
        query = next((c["value"] for c in body.get("criteria", []) if c.get("property") == "QUERY"), None)
        matches = [c for s, c in self.ca.issued.items() if query is None or format(s, "X") == query.upper()]
        return httpx.Response(
            200,
            json={
                "certificates": [
                    {
                        "certificate": base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode(),
                        "serial_number": format(c.serial_number, "X"),
                        "response_format": "DER",
                        "certificate_profile": self.profile,
                        "end_entity_profile": "TLS_SERVER",
                    }
                    for c in matches[: int(body.get("max_number_of_results", 100))]
                ],
                "more_results": len(matches) > int(body.get("max_number_of_results", 100)),
            },
        )

    def _search_v2(self, body: dict[str, Any]) -> httpx.Response:
        pagination = body.get("pagination") or {}
        size, page = int(pagination.get("page_size", 100)), int(pagination.get("current_page", 1))
        every = list(self.ca.issued.values())
        chosen = every[(page - 1) * size : page * size]
        return httpx.Response(
            200,
            json={
                "certificates": [self._v2_entry(c) for c in chosen],
                "pagination_summary": {"page_size": size, "current_page": page, "total_certs": len(every)},
            },
        )

    def _v2_entry(self, cert: x509.Certificate) -> dict[str, Any]:
        revoked = self.ca.revoked_at.get(cert.serial_number)
        return {
            "fingerprint": cert.fingerprint(hashes.SHA1()).hex(),
            "cAFingerprint": self.ca.cert.fingerprint(hashes.SHA1()).hex(),
            "certificateProfileId": 1,
            "endEntityProfileId": 1,
            "expireDate": int(cert.not_valid_after_utc.timestamp() * 1000),
            "issuerDN": EJBCA_ISSUER,
            "notBefore": int(cert.not_valid_before_utc.timestamp() * 1000),
            "revocationDate": int(revoked.timestamp() * 1000) if revoked else -1,
            "revocationReason": 1 if revoked else -1,
            "serialNumber": format(cert.serial_number, "X"),
            "status": 40 if revoked else 20,
            "subjectDN": cert.subject.rfc4514_string(),
            "username": "svc-webops",
            "base64Cert": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
        }


def _ejbca_error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error_code": status, "error_message": message})


EJBCA_TOKEN = "eyJhbGciOiJSUzI1NiJ9.conformance-ejbca-token.c2lnbmF0dXJl"


def ejbca_vendor(monkeypatch: Any, tmp_path: Any) -> CaVendor:
    monkeypatch.setenv("CERTSOAR_TEST_EJBCA_TOKEN", EJBCA_TOKEN)
    fake = FakeEjbca(EJBCA_TOKEN)

    def build(url: str | None = None, **settings: Any) -> CertificateAuthority:
        values = {
            "url": url or fake.url,
            "issuer_dn": EJBCA_ISSUER,
            "ca_name": "ExampleIssuingCA",
            "token": "env:CERTSOAR_TEST_EJBCA_TOKEN",
            "backoff": 0.01,
            **settings,
        }
        return EjbcaCa(EjbcaSettings.model_validate(values), ConnectorEnv(name="ejbca", state_dir=tmp_path))

    def refuse() -> None:
        fake.token = "another-token"

    return CaVendor(
        name="ejbca",
        fake=fake,
        build=build,
        secrets=[EJBCA_TOKEN],
        refuse_credentials=refuse,
        refused_text="Not authorized to resource",
    )


STEP_URL = "https://ca.corp.example:9000"
STEP_PROVISIONER = "soc-revoker"
STEP_KID = "nEnVaXeF3Xqgeyt3WCLOi4ePbG8EGCB1-MIrDnnd0QU"


class FakeStepCa(InjectingFake):
    """Smallstep step-ca (0.25+) with a JWK provisioner and the CRL enabled (generateOnRevoke).

    Body formats, from smallstep/certificates (api/api.go RootsResponse/IntermediatesResponse
    ``{"crts": [PEM]}``, api/revoke.go, api/crl.go, errs/error.go, authority/provisioner/jwk.go
    authorizeToken and AuthorizeRevoke, authority/tls.go Revoke), as summed up in the project's
    vendor-apis.md section 4.2:
    - POST /1.0/revoke {"serial", "ott", "reasonCode", "reason", "passive"} → 200 {"status": "ok"};
      passive false → 501; a second revocation → 400 "… is already revoked.";
    - errors are {"status": N, "message": "..."}; a token that does not verify → 401;
      a token whose sub is not the serial → 403;
    - GET /1.0/crl → the DER CRL (application/pkix-crl), 404 {"status":404,"message":"no CRL available"}
      when the CRL is disabled.
    The token is verified as step-ca does: JWS signature with the provisioner's public key, iss = the
    provisioner name, aud = the revoke URL, nbf/exp (one minute leeway), a jti never seen before.
    """

    url = STEP_URL

    def __init__(self) -> None:
        super().__init__(
            RealCa(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Smallstep Intermediate CA")]))
        )
        self.provisioner_key = ec.generate_private_key(ec.SECP256R1())
        self.seen_jti: set[str] = set()
        self.crl_enabled = True
        self.intermediates = True  # False: a step-ca before 0.25 (no /intermediates)
        self.revoke_faults: list[Fault] = []  # answered to the next revoke requests only

    def private_jwk(self) -> str:
        numbers = self.provisioner_key.private_numbers()
        b64 = lambda n: base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()  # noqa: E731
        return json.dumps(
            {
                "use": "sig",
                "kty": "EC",
                "kid": STEP_KID,
                "crv": "P-256",
                "alg": "ES256",
                "x": b64(numbers.public_numbers.x),
                "y": b64(numbers.public_numbers.y),
                "d": b64(numbers.private_value),
            }
        )

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"status": status, "message": message}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if (fault := self.fault(request)) is not None:
            return fault
        path = request.url.path
        pem = self.ca.cert.public_bytes(serialization.Encoding.PEM).decode()
        if request.method == "GET" and path == "/intermediates" and self.intermediates:
            return httpx.Response(200, json={"crts": [pem]})
        if request.method == "GET" and path == "/roots":
            return httpx.Response(200, json={"crts": [pem]})
        if request.method == "GET" and path in ("/crl", "/1.0/crl"):
            if not self.crl_enabled:
                return httpx.Response(404, json={"status": 404, "message": "no CRL available"})
            return httpx.Response(
                200, content=self.ca.crl_der(self.ca.revoked_at), headers={"Content-Type": "application/pkix-crl"}
            )
        if request.method == "POST" and path in ("/revoke", "/1.0/revoke"):
            if self.revoke_faults:
                fault = self.revoke_faults.pop(0)
                self._verified(json.loads(request.content).get("ott", ""))  # step-ca spends the token first
                return fault.response()
            return self._revoke(json.loads(request.content))
        return httpx.Response(404, json={"status": 404, "message": "The requested resource could not be found."})

    def _revoke(self, body: dict[str, Any]) -> httpx.Response:
        if not body.get("passive"):
            return httpx.Response(501, json={"status": 501, "message": "non-passive revocation not implemented"})
        claims = self._verified(str(body.get("ott", "")))
        if claims is None:
            return httpx.Response(
                401, json={"status": 401, "message": "The request lacked necessary authorization to be completed."}
            )
        serial = int(str(body.get("serial")))
        if claims.get("sub") != str(serial):
            return httpx.Response(
                403,
                json={
                    "status": 403,
                    "message": "The request was forbidden by the certificate authority: request serial number "
                    f"{serial} and token subject {claims.get('sub')} do not match",
                },
            )
        if serial in self.ca.revoked_at:
            return httpx.Response(
                400,
                json={
                    "status": 400,
                    "message": "The request could not be completed: certificate with serial number "
                    f"'{serial}' is already revoked.",
                },
            )
        self.revoke_posts[serial] = self.revoke_posts.get(serial, 0) + 1
        self.ca.revoked_at[serial] = NOW
        return httpx.Response(200, json={"status": "ok"})

    def _verified(self, token: str) -> dict[str, Any] | None:
        try:
            head, payload, signature = token.split(".")
            header = json.loads(_unb64(head))
            claims = json.loads(_unb64(payload))
            raw = _unb64(signature)
            if header.get("alg") != "ES256" or header.get("kid") != STEP_KID or len(raw) != 64:
                return None
            der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
            self.provisioner_key.public_key().verify(der, f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        except (ValueError, InvalidSignature):
            return None
        now = time.time()
        fresh = claims.get("nbf", 0) - 60 <= now <= claims.get("exp", 0) + 60
        if claims.get("iss") != STEP_PROVISIONER or claims.get("aud") != f"{self.url}/1.0/revoke" or not fresh:
            return None
        if not claims.get("jti") or claims["jti"] in self.seen_jti:
            return None
        self.seen_jti.add(claims["jti"])
        return dict(claims)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def stepca_vendor(monkeypatch: Any, tmp_path: Any) -> CaVendor:
    fake = FakeStepCa()
    monkeypatch.setenv("CERTSOAR_TEST_STEP_KEY", fake.private_jwk())

    def build(url: str | None = None, **settings: Any) -> CertificateAuthority:
        values = {
            "url": url or fake.url,
            "provisioner": STEP_PROVISIONER,
            "provisioner_kid": STEP_KID,
            "provisioner_key": "env:CERTSOAR_TEST_STEP_KEY",
            "backoff": 0.01,
            **settings,
        }
        return StepCa(StepCaSettings.model_validate(values), ConnectorEnv(name="stepca", state_dir=tmp_path))

    d_value = json.loads(fake.private_jwk())["d"]
    # the credential is the provisioner key (its one-time tokens are signed per request): no refusal to stage
    return CaVendor(
        name="stepca",
        fake=fake,
        build=build,
        secrets=[d_value],
        reads=False,
        unrefusable="its reads need no credential (a refused token on revoke: test_stepca.py)",
    )


ADCS_URL = "https://ca01.corp.example:5986/wsman"
ADCS_PASSWORD = "Winter2026!conformance-adcs-password"
ADCS_HEADERS = {
    "en": {
        "RequestID": "Issued Request ID",
        "SerialNumber": "Serial Number",
        "Request.Disposition": "Request Disposition",
        "Request.RequesterName": "Requester Name",
        "CertificateTemplate": "Certificate Template",
        "Request.RevokedWhen": "Revocation Date",
        "Request.RevokedReason": "Revocation Reason",
        "RawCertificate": "Binary Certificate",
    },
    # illustrative translations (not recorded from a German CA): the connector must not depend on them
    "de": {
        "RequestID": "Ausgestellte Anforderungs-ID",
        "SerialNumber": "Seriennummer",
        "Request.Disposition": "Anforderungsverfügung",
        "Request.RequesterName": "Name des Antragstellers",
        "CertificateTemplate": "Zertifikatvorlage",
        "Request.RevokedWhen": "Sperrdatum",
        "Request.RevokedReason": "Sperrgrund",
        "RawCertificate": "Binäres Zertifikat",
    },
}
ADCS_DISPOSITIONS = {9: "Pending", 15: "CA Cert", 20: "Issued", 21: "Revoked", 31: "Denied"}
ADCS_REASONS = {
    0: "Unspecified",
    1: "Key Compromise",
    2: "CA Compromise",
    3: "Affiliation Changed",
    4: "Superseded",
    5: "Cessation of Operation",
    6: "Certificate Hold",
    8: "Remove From CRL",
}
E_ACCESSDENIED = -2147024891  # 0x80070005
CRYPT_E_NOT_FOUND = -2146885628  # 0x80092004


@dataclass
class AdcsRow:
    """A row of the AD CS database (MS-CSRA 3.1.1.1: the Request table joined with the certificate)."""

    request_id: int
    disposition: int
    requester: str
    template: str | None
    cert: x509.Certificate | None
    revoked_when: datetime | None = None
    reason: int | None = None


@dataclass
class Sent:
    """A certutil command the fake was asked to run, as the suite compares requests (``method``, ``url``)."""

    method: str
    url: str


class FakeAdcs:
    """An AD CS CA behind the connector's transport interface (connectors/ca/psrp.py ``CertutilTransport``):
    it keeps the CA database, answers ``certutil -view … csv`` in certutil's format, applies ``-revoke`` as AD
    CS does (a second one overwrites the date and reason), signs a CRL on ``-crl`` and hands back the
    published one on ``-getcrl`` and its certificate on ``-ca.cert``. The format facts and where each comes
    from: tests/data/adcs/SOURCE.txt. ``inject`` puts failures of the WinRM endpoint (HTTP statuses, mapped by
    the production ``winrm_failure``) in front of the next commands."""

    url = ADCS_URL

    def __init__(self) -> None:
        self.ca = RealCa(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Corp Issuing CA")]))
        self.faults: list[Fault] = []
        self.requests: list[Sent] = []
        self.revoke_posts: dict[int, int] = {}
        self.language = "en"
        self.access_denied = False
        self.published: dict[int, tuple[datetime, int]] = {}  # what the published CRL lists
        self.crl = self.ca.crl_der({})
        self.rows: dict[int, AdcsRow] = {}
        self.rows[1] = AdcsRow(1, 15, "CORP\\CA01$", None, self.ca.cert)  # the CA's own certificate (DB_DISP_CA_CERT)
        self.rows[2] = AdcsRow(2, 31, "CORP\\mallory", "WebServer", None)  # denied: no certificate
        self.next_id = 3

    def inject(
        self, status: int, *, times: int = 1, headers: dict[str, str] | None = None, errors: list[str] | None = None
    ) -> None:
        self.faults += [Fault(status, headers or {}, {"message": "; ".join(errors or [])}) for _ in range(times)]

    def issue(self, dns: str, requester: str = "CORP\\svc-webops", template: str = "WebServer") -> str:
        cert = self.ca.issue(dns)
        self.rows[self.next_id] = AdcsRow(self.next_id, 20, requester, template, cert)
        self.next_id += 1
        return format(cert.serial_number, "X")

    def pend(self, requester: str = "CORP\\alice", template: str = "SubCA") -> int:
        """A request held for a CA manager's approval (DB_DISP_PENDING): its request ID."""
        self.rows[self.next_id] = AdcsRow(self.next_id, 9, requester, template, None)
        self.next_id += 1
        return self.next_id - 1

    def approve(self, request_id: int, dns: str) -> str:
        """The CA manager issues the pending request (certutil -resubmit)."""
        cert = self.ca.issue(dns)
        row = self.rows[request_id]
        row.disposition, row.cert = 20, cert
        return format(cert.serial_number, "X")

    def revocations(self, serial: str) -> int:
        return self.revoke_posts.get(int(serial, 16), 0)

    # ------------------------------------------------------------------ certutil

    async def certutil(self, args: Sequence[str]) -> Completed:
        self.requests.append(Sent("certutil", " ".join(args)))
        if self.faults:
            fault = self.faults.pop(0)
            retry_after = fault.headers.get("Retry-After")
            raise winrm_failure(fault.status, fault.body["message"], float(retry_after) if retry_after else None)
        argv = list(args)
        if argv[:1] == ["-config"]:
            argv = argv[2:]
        argv = [a for a in argv if a not in ("-gmt", "-seconds")]
        verb = argv[0] if argv else ""
        if self.access_denied:
            return self._failed(verb, E_ACCESSDENIED, "0x80070005 (WIN32: 5 ERROR_ACCESS_DENIED)", "Access is denied.")
        if verb == "-view":
            options = dict(zip(argv[1:-1:2], argv[2:-1:2], strict=True))
            return Completed(0, self._view(options["-restrict"], options["-out"].split(",")))
        if verb == "-revoke":
            return self._revoke(argv[1], int(argv[2]))
        if verb == "-crl":
            self.published = {
                r.cert.serial_number: (r.revoked_when, r.reason or 0)
                for r in self.rows.values()
                if r.disposition == 21 and r.cert is not None and r.revoked_when is not None
            }
            self.crl = self._crl()
            return Completed(0, "CertUtil: -CRL command completed successfully.")
        if verb == "-getcrl":
            return Completed(0, "CertUtil: -GetCRL command completed successfully.", self.crl)
        if verb == "-ca.cert":
            der = self.ca.cert.public_bytes(serialization.Encoding.DER)
            return Completed(0, "CA cert[0]: 3 -- Valid\nCertUtil: -ca.cert command completed successfully.", der)
        return Completed(-2147024809, f"CertUtil: Unknown arg: {verb}\nCertUtil: The parameter is incorrect.")

    def _failed(self, verb: str, code: int, hresult: str, text: str) -> Completed:
        return Completed(code, f"CertUtil: {verb} command FAILED: {hresult}\nCertUtil: {text}")

    def _revoke(self, serial_text: str, reason: int) -> Completed:
        # MS-CSRA: plain hex, an even number of digits
        if len(serial_text) % 2 or not all(c in "0123456789abcdefABCDEF" for c in serial_text):
            return self._failed(
                "-revoke", -2147024809, "0x80070057 (WIN32: 87 ERROR_INVALID_PARAMETER)", "The parameter is incorrect."
            )
        serial = int(serial_text, 16)
        said = f'Revoking "{serial_text}" -- Reason: {ADCS_REASONS.get(reason, "Unrevoke")}\n'
        row = next((r for r in self.rows.values() if r.cert is not None and r.cert.serial_number == serial), None)
        if row is not None and reason == -1:  # MS-CSRA: only a certificate on hold is released
            if row.disposition != 21 or row.reason != 6:
                failed = self._failed(
                    "-revoke",
                    -2147024809,
                    "0x80070057 (WIN32: 87 ERROR_INVALID_PARAMETER)",
                    "The parameter is incorrect.",
                )
                return Completed(failed.exit_code, said + failed.output)
            row.disposition, row.reason, row.revoked_when = 20, None, None
            return Completed(0, said + "CertUtil: -revoke command completed successfully.")
        if row is None or row.disposition not in (20, 21):
            failed = self._failed(
                "-revoke",
                CRYPT_E_NOT_FOUND,
                "0x80092004 (-2146885628 CRYPT_E_NOT_FOUND)",
                "Cannot find object or property.",
            )
            return Completed(failed.exit_code, said + failed.output)
        self.revoke_posts[serial] = self.revoke_posts.get(serial, 0) + 1
        row.disposition, row.reason = 21, reason
        row.revoked_when = datetime.now(timezone.utc).replace(microsecond=0)  # a repeat overwrites date and reason
        return Completed(0, said + "CertUtil: -revoke command completed successfully.")

    def _crl(self) -> bytes:
        self.ca.crl_number += 1
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca.subject)
            .last_update(NOW)
            .next_update(NOW + timedelta(days=7))
            .add_extension(x509.CRLNumber(self.ca.crl_number), critical=False)
        )
        for serial, (when, reason) in self.published.items():
            entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
            if reason in _CRL_REASONS:
                entry = entry.add_extension(x509.CRLReason(_CRL_REASONS[reason]), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        return builder.sign(self.ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def _view(self, restrict: str, columns: list[str]) -> str:
        rows = [r for r in self.rows.values() if all(_adcs_matches(r, term) for term in restrict.split(","))]
        header = ",".join(f'"{ADCS_HEADERS[self.language][c]}"' for c in columns)
        lines = [header] + [",".join(_adcs_field(r, c) for c in columns) for r in rows]
        return "\n".join(lines) + "\n"


_CRL_REASONS = {
    1: x509.ReasonFlags.key_compromise,
    2: x509.ReasonFlags.ca_compromise,
    3: x509.ReasonFlags.affiliation_changed,
    4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation,
    6: x509.ReasonFlags.certificate_hold,
    8: x509.ReasonFlags.remove_from_crl,
}


def _adcs_matches(row: AdcsRow, term: str) -> bool:
    """One restriction of ``-restrict`` (the column, a relational operator, a constant), as the fake needs them."""
    name, op, value = re.fullmatch(r"\s*([A-Za-z.]+)\s*(<=|>=|<|>|=)\s*(.+?)\s*", term).groups()  # type: ignore[union-attr]
    if name == "SerialNumber":
        return row.cert is not None and op == "=" and f"{row.cert.serial_number:x}".zfill(len(value)) == value.lower()
    assert name == "RequestID", f"the fake does not restrict on {name}"
    left, right = row.request_id, int(value)
    return {"<=": left <= right, ">=": left >= right, "<": left < right, ">": left > right, "=": left == right}[op]


def _adcs_field(row: AdcsRow, column: str) -> str:
    """A value as certutil's csv prints it: strings quoted, numbers decorated, EMPTY for nothing."""
    if column == "RequestID":
        return f"0x{row.request_id:x}"
    if column == "SerialNumber":
        if row.cert is None:
            return "EMPTY"
        digits = f"{row.cert.serial_number:x}"
        return f'"{digits.zfill(len(digits) + len(digits) % 2)}"'
    if column == "Request.Disposition":
        return f"0x{row.disposition:x} ({row.disposition}) -- {ADCS_DISPOSITIONS[row.disposition]}"
    if column == "Request.RequesterName":
        return '"' + row.requester.replace('"', '""') + '"'
    if column == "CertificateTemplate":
        return "EMPTY" if row.template is None else f'"{row.template}"'
    if column == "Request.RevokedWhen":
        if row.revoked_when is None:
            return "EMPTY"
        return row.revoked_when.strftime("%-m/%-d/%Y %-I:%M:%S.000 %p") + " GMT"
    if column == "Request.RevokedReason":
        return "EMPTY" if row.reason is None else f"0x{row.reason:x} -- {ADCS_REASONS[row.reason]}"
    if column == "RawCertificate":
        if row.cert is None:
            return "EMPTY"
        return '"' + row.cert.public_bytes(serialization.Encoding.PEM).decode().replace("\n", "\r\n") + '"'
    raise AssertionError(f"the fake does not print {column}")


def adcs_vendor(monkeypatch: Any, tmp_path: Any) -> CaVendor:
    monkeypatch.setenv("CERTSOAR_TEST_ADCS_PASSWORD", ADCS_PASSWORD)
    fake = FakeAdcs()

    def build(url: str | None = None, **settings: Any) -> CertificateAuthority:
        values = {
            "url": url or fake.url,
            "username": "CORP\\svc-certsoar",
            "password": "env:CERTSOAR_TEST_ADCS_PASSWORD",
            "auth": "ntlm",
            "ca_config": "ca01.corp.example\\Corp Issuing CA",
            "backoff": 0.01,
            **settings,
        }
        env = ConnectorEnv(name="adcs", state_dir=tmp_path)
        # a url of its own: the real transport (pypsrp) goes there
        return AdcsCa(AdcsSettings.model_validate(values), env, transport=None if url else fake)

    return CaVendor(
        name="adcs",
        fake=fake,  # type: ignore[arg-type]
        build=build,
        secrets=[ADCS_PASSWORD],
        unrefusable="WinRM refuses a password with 401 (the 401 case); a missing CA right is certutil's "
        "access denied (test_adcs.py)",
    )


class CfsslFront(InjectingFake):
    """A live ``cfssl serve`` (tests/connectors/ca/cfssl_server.py) behind pytest-httpx: each request is
    forwarded to it unchanged, unless a fault was injected in front. Fault bodies use cfssl's envelope
    (api/api.go, ``{"success": false, "result": null, "errors": [{"code", "message"}], "messages": []}``),
    which the live server answers with too."""

    url = "http://cfssl.example.test:8888"

    def __init__(self, server: CfsslServer) -> None:
        super().__init__(None)
        self.server = server

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        errors = [{"code": status * 10, "message": message}] if message else []
        return {"success": False, "result": None, "errors": errors, "messages": []}

    def issue(self, dns: str) -> str:
        return format(self.server.issue(dns).serial_number, "X")

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if (fault := self.fault(request)) is not None:
            return fault
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


CA_VENDORS: dict[str, Callable[[Any, Any], CaVendor]] = {
    "adcs": adcs_vendor,
    "vault": vault_vendor,
    "cfssl": cfssl_vendor,
    "ejbca": ejbca_vendor,
    "stepca": stepca_vendor,
}
REAL_VENDORS = frozenset({"cfssl"})
UNREFUSABLE = frozenset({"adcs", "cfssl", "stepca"})
"""Vendors whose fake cannot be made to refuse the connector's credentials (``refuse_credentials`` None): the
tests marked ``refuses_credentials`` are not collected for them (tests/connectors/ca/conftest.py)."""
"""Vendors whose fake is a live server: their cases are marked ``real``."""
