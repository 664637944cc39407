"""connectors/http.py: auth (cached tokens), retries only where safe, redaction, TLS verification."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from pytest_httpx import HTTPXMock

from certsoar.config import format_validation_error
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ca.vault import VaultSettings
from certsoar.connectors.http import (
    BasicAuth,
    HttpClient,
    HttpSettings,
    OAuth2ClientCredentials,
    Redactor,
    bearer_auth,
)
from certsoar.errors import ConnectorRejected, ConnectorUnavailable

API = "https://api.example.test"
CLIENT_SECRET = "cs-0123456789-oauth-client-secret"
ACCESS_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.access"


def client(tmp_path: Path, auth: httpx.Auth | None = None, **settings: object) -> HttpClient:
    values: dict[str, object] = {"url": API, "backoff": 0.01, **settings}
    return HttpClient(HttpSettings.model_validate(values), ConnectorEnv(name="t", state_dir=tmp_path), auth=auth)


def token_answer(token: str = ACCESS_TOKEN, expires_in: int = 3600) -> dict[str, object]:
    # RFC 6749 section 5.1 successful access token response
    return {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}


async def test_oauth2_client_credentials_token_is_fetched_once_and_sent(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{API}/oauth/token", method="POST", json=token_answer())
    httpx_mock.add_response(url=f"{API}/items", json={"items": []}, is_reusable=True)
    auth = OAuth2ClientCredentials(f"{API}/oauth/token", "certsoar", SecretStr(CLIENT_SECRET), scope="read")
    http = client(tmp_path, auth)
    await asyncio.gather(*(http.request("GET", "/items") for _ in range(3)))
    token_requests = httpx_mock.get_requests(url=f"{API}/oauth/token")
    assert len(token_requests) == 1
    form = httpx.QueryParams(token_requests[0].content.decode())
    assert form["grant_type"] == "client_credentials" and form["client_secret"] == CLIENT_SECRET
    assert all(
        r.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}" for r in httpx_mock.get_requests(url=f"{API}/items")
    )


async def test_oauth2_token_is_refreshed_before_it_expires(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{API}/oauth/token", method="POST", json=token_answer("first", expires_in=20))
    httpx_mock.add_response(url=f"{API}/oauth/token", method="POST", json=token_answer("second", expires_in=3600))
    httpx_mock.add_response(url=f"{API}/items", json={}, is_reusable=True)
    http = client(tmp_path, OAuth2ClientCredentials(f"{API}/oauth/token", "c", SecretStr(CLIENT_SECRET)))
    await http.request("GET", "/items")  # 20 s left is inside the 30 s margin: the next call fetches anew
    await http.request("GET", "/items")
    await http.request("GET", "/items")
    sent = [r.headers["Authorization"] for r in httpx_mock.get_requests(url=f"{API}/items")]
    assert sent == ["Bearer first", "Bearer second", "Bearer second"]


async def test_a_refused_token_request_is_rejected_without_the_secret(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    # RFC 6749 section 5.2 error response
    httpx_mock.add_response(
        url=f"{API}/oauth/token",
        status_code=401,
        json={"error": "invalid_client", "error_description": f"bad secret {CLIENT_SECRET}"},
    )
    http = client(tmp_path, OAuth2ClientCredentials(f"{API}/oauth/token", "c", SecretStr(CLIENT_SECRET)))
    with pytest.raises(ConnectorRejected, match="token request: authentication failed") as caught:
        await http.request("GET", "/items")
    assert CLIENT_SECRET not in str(caught.value) and "bad secret ***" in str(caught.value)


async def test_a_post_is_not_tried_again_after_a_500_unless_declared_safe(
    tmp_path: Path, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=f"{API}/create", method="POST", status_code=500, is_reusable=True)
    http = client(tmp_path, attempts=3)
    with pytest.raises(ConnectorUnavailable, match="may have been applied"):
        await http.request("POST", "/create", json_body={"name": "x"})
    assert len(httpx_mock.get_requests()) == 1
    with pytest.raises(ConnectorUnavailable, match="after 3 attempts"):
        await http.request("POST", "/create", json_body={"name": "x"}, idempotent=True)
    assert len(httpx_mock.get_requests()) == 4


async def test_a_post_refused_with_429_is_sent_again_after_the_wait(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    """A 429 means the request was turned away before it was processed (RFC 6585), so even a create is sent again:
    without it, a busy Jira or ServiceNow would fail the opening of a ticket on the first throttle."""
    httpx_mock.add_response(url=f"{API}/create", method="POST", status_code=429, headers={"Retry-After": "0"})
    httpx_mock.add_response(url=f"{API}/create", method="POST", status_code=201, json={"id": "7"})
    http = client(tmp_path, attempts=3)
    created = await http.request("POST", "/create", json_body={"name": "x"})
    assert created.json() == {"id": "7"} and len(httpx_mock.get_requests()) == 2


async def test_a_post_is_tried_again_when_the_connection_never_opened(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=f"{API}/create")
    httpx_mock.add_response(url=f"{API}/create", method="POST", status_code=201, json={"id": 1})
    response = await client(tmp_path).request("POST", "/create", json_body={})
    assert response.status_code == 201


async def test_retry_after_as_an_http_date_is_honoured(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=2)
    httpx_mock.add_response(
        url=f"{API}/x", status_code=503, headers={"Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S GMT")}
    )
    httpx_mock.add_response(url=f"{API}/x", json={})
    started = time.monotonic()
    await client(tmp_path).request("GET", "/x")
    assert time.monotonic() - started >= 0.9  # the date has a one-second resolution


async def test_the_concurrency_limit_holds(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    in_flight, most = 0, 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return httpx.Response(200, json={})

    httpx_mock.add_callback(slow, url=f"{API}/x", is_reusable=True)
    http = client(tmp_path, concurrency=2)
    await asyncio.gather(*(http.request("GET", "/x") for _ in range(6)))
    assert most == 2


async def test_debug_logs_redact_headers_queries_and_bodies(
    tmp_path: Path, httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="certsoar.connectors.http")
    httpx_mock.add_response(
        url=f"{API}/search?q=evil.example&api_key=qk-123456",
        json={"session_token": "st-abcdef", "hits": ["evil.example"], "echo": "Basic creds pw-xyz-9876"},
        headers={"Set-Cookie": "sid=cookie-42"},
    )
    http = client(tmp_path, BasicAuth("svc", SecretStr("pw-xyz-9876")))
    await http.request(
        "GET", "/search", params={"q": "evil.example", "api_key": "qk-123456"}, headers={"X-Api-Key": "hk-555"}
    )
    [line] = [r.getMessage() for r in caplog.records]
    for secret in ("qk-123456", "st-abcdef", "pw-xyz-9876", "cookie-42", "hk-555", "c3ZjOnB3LXh5ei05ODc2"):
        assert secret not in line
    assert "evil.example" in line and "session_token" in line and "***" in line


def test_redactor_keeps_binary_bodies_out_of_the_log() -> None:
    assert Redactor().body(b"\x30\x82\x01\x00", "application/pkix-crl") == "<4 bytes application/pkix-crl>"


def test_settings_refuse_credentials_in_the_url() -> None:
    with pytest.raises(ValidationError, match="no credentials"):
        HttpSettings(url="https://user:pw@vault.example.test")
    with pytest.raises(ValidationError, match="http:// or https://"):
        HttpSettings(url="ftp://vault.example.test")
    with pytest.raises(ValidationError, match="not a URL"):
        HttpSettings(url="https://[::1")


def test_vault_settings_take_secrets_only_by_reference() -> None:
    with pytest.raises(ValidationError, match="env:NAME or file:PATH") as caught:
        VaultSettings(url="https://v.example.test", token="hvs.inline-token")
    assert "hvs.inline-token" not in format_validation_error(caught.value)  # how the config edge reports it
    with pytest.raises(ValidationError, match="either token or approle"):
        VaultSettings(url="https://v.example.test")


async def test_bearer_auth_sends_the_token_and_keeps_it_out_of_its_repr(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{API}/x", json={})
    auth = bearer_auth(SecretStr("tok-777"))
    await client(tmp_path, auth).request("GET", "/x")
    assert httpx_mock.get_requests()[0].headers["Authorization"] == "Bearer tok-777"
    assert "tok-777" not in repr(auth)


# ------------------------------------------------------------------------------------ real TLS


@pytest.fixture
async def tls_server(loopback_certificate: tuple[Path, Path]) -> AsyncIterator[tuple[str, Path]]:
    """An HTTPS server on loopback with a self-signed certificate; yields its URL and the certificate."""
    cert_file, key_file = loopback_certificate
    bundle = cert_file
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    yield f"https://127.0.0.1:{port}", bundle
    server.close()
    await server.wait_closed()


LOCAL = pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")


@LOCAL
async def test_tls_is_verified_by_default_and_a_ca_bundle_makes_it_pass(
    tmp_path: Path, tls_server: tuple[str, Path]
) -> None:
    url, bundle = tls_server
    with pytest.raises(ConnectorRejected, match="TLS: the server's certificate does not verify"):
        await client(tmp_path, url=url, attempts=3).request("GET", "/x")
    response = await client(tmp_path, url=url, ca_bundle=bundle).request("GET", "/x")
    assert response.json() == {}
