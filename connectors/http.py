"""The one HTTP layer of the vendor connectors: settings, authentication, retries, limits, redacted logs.

A vendor connector declares its settings as a subclass of ``HttpSettings``, builds one ``HttpClient``
with an ``httpx.Auth`` and calls ``request``. What the layer guarantees:

- TLS is verified unless the settings turn it off (a CA bundle and a client certificate may be given);
  connect and read timeouts are explicit.
- Transport errors, 429 and 5xx are tried again up to ``attempts`` times, waiting the server's
  ``Retry-After`` (capped at ``max_retry_after``) or else a doubling backoff. A request that is not
  idempotent is tried again only when the connection never opened (nothing was sent) or the answer was
  429 (refused before it was processed), unless the caller passes ``idempotent=True`` because the
  vendor treats a repeat as a no-op.
- At most ``concurrency`` requests of one connector are in flight at once.
- Every request and response is logged at debug with credentials redacted: sensitive headers, query
  parameters and JSON fields by name, and the connector's secret values wherever they appear.
- A failure is ``ConnectorUnavailable`` (transport, timeout, 429 or 5xx after the attempts: worth a
  later retry) or ``ConnectorRejected`` (another 4xx, with the vendor's own message; 401/403 say the
  credentials were refused). No secret appears in an error, a log record or a repr.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import re
import ssl
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import certifi
import httpx
from pydantic import Field, SecretStr, field_validator
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from certsoar.config import secret_from
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.errors import ConfigError, ConnectorRejected, ConnectorUnavailable

log = logging.getLogger("certsoar.connectors.http")
_T = TypeVar("_T")

REDACTED = "***"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "LIST"})
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-vault-token", "x-api-key", "api-key", "sec"}
)
_SENSITIVE_NAME = re.compile(
    r"token|secret|password|passwd|api[-_]?key|apikey|auth|session|signature|^sig$|^ott$", re.I
)
LOGGED_BODY_CHARS = 2000
MESSAGE_CHARS = 300


class HttpSettings(ConnectorSettings):
    """What every HTTP connector's settings share; a vendor's settings model subclasses it."""

    url: str = Field(description="Base URL of the vendor's API, https://host[:port].")
    connect_timeout: float = Field(default=5.0, gt=0, le=120, description="Seconds to open a connection.")
    read_timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds to wait for each read.")
    verify_tls: bool = Field(default=True, description="Verify the server's certificate (keep on outside a lab).")
    ca_bundle: Path | None = Field(
        default=None, description="PEM file of the CAs that issue the server's certificate (default: certifi's)."
    )
    client_cert: Path | None = Field(default=None, description="PEM client certificate for mutual TLS.")
    client_key: Path | None = Field(default=None, description="PEM key of the client certificate (unencrypted).")
    attempts: int = Field(default=4, ge=1, le=10, description="Tries of a request before it is given up.")
    backoff: float = Field(default=0.5, ge=0, le=30, description="First wait between tries, doubled after each.")
    max_retry_after: float = Field(default=60.0, ge=0, le=3600, description="Longest Retry-After honoured, seconds.")
    concurrency: int = Field(default=4, ge=1, le=64, description="Requests of this connector in flight at once.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        return http_url(v).rstrip("/")


def http_url(v: str) -> str:
    """``v`` if it is an http(s) URL with a host and without credentials or a query string (ValueError else)."""
    try:
        parsed = httpx.URL(v)
    except httpx.InvalidURL:
        raise ValueError("not a URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parsed.userinfo or parsed.query:
        raise ValueError("must carry no credentials and no query string (credentials go in their own fields)")
    return v


def secret(reference: str) -> SecretStr:
    """Resolve an ``env:NAME`` / ``file:PATH`` reference to a SecretStr (ConfigError when it cannot be read)."""
    value = secret_from(reference)
    if not value:
        raise ConfigError("secret: the referenced secret is empty")
    return SecretStr(value)


# ------------------------------------------------------------------------------------------------ auth


class HeaderAuth(httpx.Auth):
    """A secret sent in one header: ``Authorization: Bearer …`` or a vendor's API-key header."""

    def __init__(self, header: str, value: SecretStr, *, prefix: str = "") -> None:
        self.header = header
        self._value = value
        self._prefix = prefix

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers[self.header] = self._prefix + self._value.get_secret_value()
        yield request

    def secrets(self) -> list[str]:
        return [self._value.get_secret_value()]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(header={self.header!r})"


def bearer_auth(token: SecretStr) -> HeaderAuth:
    return HeaderAuth("Authorization", token, prefix="Bearer ")


class BasicAuth(httpx.BasicAuth):
    def __init__(self, username: str, password: SecretStr) -> None:
        super().__init__(username, password.get_secret_value())
        self._secrets = [password.get_secret_value(), self._auth_header.removeprefix("Basic ")]

    def secrets(self) -> list[str]:
        return list(self._secrets)

    def __repr__(self) -> str:
        return "BasicAuth(***)"


class CachedTokenAuth(httpx.Auth):
    """Fetches a token with a request of its own, keeps it, and fetches a new one ``refresh_margin`` seconds
    before it expires (or after a 401). Subclasses say how to ask for it and how to send it."""

    refresh_margin: float = 30.0

    def __init__(self) -> None:
        self._token: SecretStr | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def token_request(self) -> httpx.Request:
        raise NotImplementedError

    def parse_token(self, response: httpx.Response) -> tuple[SecretStr, float | None]:
        """The token and its lifetime in seconds (None: no expiry given)."""
        raise NotImplementedError

    def apply(self, request: httpx.Request, token: SecretStr) -> None:
        request.headers["Authorization"] = f"Bearer {token.get_secret_value()}"

    def secrets(self) -> list[str]:
        return [self._token.get_secret_value()] if self._token is not None else []

    def _fresh(self) -> bool:
        return self._token is not None and time.monotonic() < self._expires_at - self.refresh_margin

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        async with self._lock:
            if not self._fresh():
                response = yield self.token_request()
                await response.aread()
                self._store(response)
            token = self._token
        assert token is not None
        self.apply(request, token)
        response = yield request
        if response.status_code == 401:  # revoked or expired early: one new token, one more try
            async with self._lock:
                if self._token is token:
                    login = yield self.token_request()
                    await login.aread()
                    self._store(login)
                token = self._token
            assert token is not None
            self.apply(request, token)
            yield request

    def sync_auth_flow(self, request: httpx.Request) -> Any:
        raise ConnectorRejected("a cached-token authentication works with the asynchronous client only")

    def _store(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 429 or status >= 500:
            raise RetryLater(f"the token request: HTTP {status}", connector="", retry_after=retry_after(response))
        if status != 200:
            raise _refusal(response, what="the token request", redactor=Redactor(self.secrets()))
        try:
            token, lifetime = self.parse_token(response)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConnectorRejected(f"the token response is not what was expected ({type(exc).__name__})") from None
        self._token = token
        self._expires_at = time.monotonic() + (lifetime if lifetime else 365 * 86400.0)


class OAuth2ClientCredentials(CachedTokenAuth):
    """OAuth 2.0 client credentials grant (RFC 6749 section 4.4), the secret in the form body."""

    def __init__(self, token_url: str, client_id: str, client_secret: SecretStr, scope: str | None = None) -> None:
        super().__init__()
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope

    def token_request(self) -> httpx.Request:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._client_secret.get_secret_value(),
        }
        if self.scope:
            form["scope"] = self.scope
        return httpx.Request("POST", self.token_url, data=form)

    def parse_token(self, response: httpx.Response) -> tuple[SecretStr, float | None]:
        body = response.json()
        expires = body.get("expires_in")
        return SecretStr(str(body["access_token"])), float(expires) if expires is not None else None

    def secrets(self) -> list[str]:
        return [*super().secrets(), self._client_secret.get_secret_value()]

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r})"


# ------------------------------------------------------------------------------------------- redaction


class Redactor:
    """Blanks credentials in what is logged or put in an error: sensitive names, and known secret values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for value in secrets:
            if value and value not in self._secrets:
                self._secrets.append(value)
        self._secrets.sort(key=len, reverse=True)

    def text(self, value: str) -> str:
        for known in self._secrets:
            value = value.replace(known, REDACTED)
        return value

    def headers(self, headers: httpx.Headers) -> dict[str, str]:
        return {
            name: REDACTED if name.lower() in SENSITIVE_HEADERS or _SENSITIVE_NAME.search(name) else self.text(value)
            for name, value in headers.items()
        }

    def url(self, url: httpx.URL) -> str:
        if not url.query:
            return self.text(str(url))
        params = [(k, REDACTED if _SENSITIVE_NAME.search(k) else v) for k, v in url.params.multi_items()]
        return self.text(str(url.copy_with(params=params)))

    def body(self, content: bytes, content_type: str) -> str:
        if not content:
            return ""
        if "json" not in content_type and "text" not in content_type and "form" not in content_type:
            return f"<{len(content)} bytes {content_type or 'unknown type'}>"
        text = content.decode("utf-8", errors="replace")
        if "json" in content_type:
            try:
                text = json.dumps(_redact_fields(json.loads(text)), separators=(",", ":"))
            except ValueError:
                pass
        elif "form" in content_type:
            pairs = httpx.QueryParams(text).multi_items()
            text = str(httpx.QueryParams([(k, REDACTED if _SENSITIVE_NAME.search(k) else v) for k, v in pairs]))
        text = self.text(text)
        return text if len(text) <= LOGGED_BODY_CHARS else text[:LOGGED_BODY_CHARS] + "…"


def _redact_fields(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if _SENSITIVE_NAME.search(str(k)) else _redact_fields(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_fields(v) for v in value]
    return value


# ----------------------------------------------------------------------------------------------- client


class RetryLater(ConnectorUnavailable):
    """A failure worth another try: a transport error, a timeout, 429 or 5xx; after ``retry_after`` seconds
    when the other side said how long to wait. Every connector's retry loop retries on this one class."""

    def __init__(self, message: str, *, connector: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, connector=connector)
        self.retry_after = retry_after


def retry_wait(state: RetryCallState, *, longest_retry_after: float, backoff: float, longest_backoff: float) -> float:
    """tenacity's wait: the Retry-After the failure carried (capped), else ``backoff`` doubling per attempt."""
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, RetryLater) and exc.retry_after is not None:
        return min(max(exc.retry_after, 0.0), longest_retry_after)
    return float(min(backoff * 2 ** (state.attempt_number - 1), longest_backoff))


class HttpClient:
    """Requests to one vendor API on behalf of one connector instance."""

    def __init__(self, settings: HttpSettings, env: ConnectorEnv, *, auth: httpx.Auth | None = None) -> None:
        self.settings = settings
        self.connector = env.name
        self.auth = auth
        self.redactor = Redactor(_auth_secrets(auth))
        self._verify = _tls_context(settings, env)
        self._limit = asyncio.Semaphore(settings.concurrency)

    def __repr__(self) -> str:
        return f"HttpClient(connector={self.connector!r}, url={self.settings.url!r})"

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        authenticated: bool = True,
        ok: Iterable[int] = (),
    ) -> httpx.Response:
        """Send ``method path`` and return the 2xx response (or one whose status is in ``ok``).

        ``form`` is sent x-www-form-urlencoded. ``idempotent`` defaults to what the method promises (GET,
        PUT, DELETE, LIST…: yes; POST: no).
        """
        async with self._client() as client:
            return await self._send(
                client, method, path, json_body, form, params, headers, idempotent, authenticated, set(ok), stream=False
            )

    async def stream_lines(
        self,
        method: str,
        path: str,
        *,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> AsyncGenerator[str, None]:
        """The 2xx response's body line by line as it arrives (never held whole). The request is tried again
        like ``request`` until the response starts; a body that breaks off is ``ConnectorUnavailable``."""
        async with self._client() as client:
            response = await self._send(
                client, method, path, None, form, params, headers, idempotent, True, set(), stream=True
            )
            try:
                async for line in response.aiter_lines():
                    yield line
            except httpx.TransportError as exc:
                raise ConnectorUnavailable(
                    f"{method.upper()} {path}: the answer broke off ({type(exc).__name__})", connector=self.connector
                ) from None
            finally:
                await response.aclose()

    async def _send(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        json_body: Any,
        form: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        idempotent: bool | None,
        authenticated: bool,
        accepted: set[int],
        *,
        stream: bool,
    ) -> httpx.Response:
        method = method.upper()
        repeatable = method in IDEMPOTENT_METHODS if idempotent is None else idempotent

        async def attempt() -> httpx.Response:
            request = client.build_request(
                method, path, json=json_body, data=form, params=params, headers=dict(headers or {})
            )
            return await self._once(client, request, repeatable, accepted, authenticated, stream)

        return await self.retried(attempt)

    async def retried(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """``call()`` tried again while it raises RetryLater, up to ``attempts`` times with this connector's waits;
        ConnectorUnavailable after the last. (A vendor whose own answers ask for another try, such as an edit
        lock, raises RetryLater from ``call``.)"""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(RetryLater),
            reraise=True,
        )
        try:
            return await retrying(call)
        except RetryLater as exc:
            raise ConnectorUnavailable(
                f"{exc.args[0].removeprefix(f'{self.connector}: ')} (gave up after {self.settings.attempts} attempts)",
                connector=self.connector,
            ) from None

    def _client(self) -> httpx.AsyncClient:
        s = self.settings
        return httpx.AsyncClient(
            base_url=s.url,
            timeout=httpx.Timeout(s.read_timeout, connect=s.connect_timeout),
            verify=self._verify,
            follow_redirects=False,
            trust_env=False,
        )

    async def _once(
        self,
        client: httpx.AsyncClient,
        request: httpx.Request,
        repeatable: bool,
        accepted: set[int],
        authenticated: bool,
        stream: bool = False,
    ) -> httpx.Response:
        where = f"{request.method} {request.url.path}"
        started = time.monotonic()
        async with self._limit:
            try:
                response = await client.send(request, auth=self.auth if authenticated else None, stream=stream)
                if stream and not 200 <= response.status_code < 300:
                    await response.aread()  # an error's body is small and says why
            except httpx.ConnectError as exc:
                if _tls_verification_failed(exc):
                    raise ConnectorRejected(
                        f"{where}: TLS: the server's certificate does not verify (set ca_bundle to the CA that issued it)",
                        connector=self.connector,
                    ) from None
                raise RetryLater(
                    f"{where}: cannot connect ({type(exc).__name__})", connector=self.connector, retry_after=None
                ) from None
            except httpx.ConnectTimeout as exc:
                # nothing reached the server: trying again is safe whatever the method
                raise RetryLater(
                    f"{where}: cannot connect ({type(exc).__name__})", connector=self.connector, retry_after=None
                ) from None
            except httpx.TransportError as exc:
                message = f"{where}: {type(exc).__name__} after {time.monotonic() - started:.1f}s"
                if repeatable:
                    raise RetryLater(message, connector=self.connector, retry_after=None) from None
                raise ConnectorUnavailable(
                    message + " (not tried again: the request may have been applied)", connector=self.connector
                ) from None
            except RetryLater as exc:  # the auth's own token request met a 429 or 5xx
                raise RetryLater(
                    self.redactor.text(str(exc)), connector=self.connector, retry_after=exc.retry_after
                ) from None
            except ConnectorRejected as exc:  # the auth's own token request was refused
                raise ConnectorRejected(self.redactor.text(str(exc)), connector=self.connector) from None
        self.redactor.add(_auth_secrets(self.auth))
        self._log(request, response, time.monotonic() - started, streamed=stream and response.is_success)
        status = response.status_code
        if 200 <= status < 300 or status in accepted:
            return response
        if status == 429 or status >= 500:
            message = f"{where}: HTTP {status}{self._vendor_message(response)}"
            if repeatable or status == 429:  # a 429 is refused before it is processed (RFC 6585): safe to send again
                raise RetryLater(message, connector=self.connector, retry_after=retry_after(response))
            raise ConnectorUnavailable(
                message + " (not tried again: the request may have been applied)", connector=self.connector
            )
        raise _refusal(response, what=where, redactor=self.redactor, connector=self.connector)

    def _vendor_message(self, response: httpx.Response) -> str:
        message = vendor_message(response)
        return f": {self.redactor.text(message)}" if message else ""

    def _wait(self, state: RetryCallState) -> float:
        return retry_wait(
            state,
            longest_retry_after=self.settings.max_retry_after,
            backoff=self.settings.backoff,
            longest_backoff=30.0,
        )

    def _log(self, request: httpx.Request, response: httpx.Response, seconds: float, *, streamed: bool) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        r = self.redactor
        content_type = response.headers.get("content-type", "")
        body = f"<streamed {content_type or 'unknown type'}>" if streamed else r.body(response.content, content_type)
        log.debug(
            "%s: %s %s headers=%s body=%s -> HTTP %d in %.0f ms headers=%s body=%s",
            self.connector,
            request.method,
            r.url(request.url),
            r.headers(request.headers),
            r.body(request.content, request.headers.get("content-type", "")),
            response.status_code,
            seconds * 1000,
            r.headers(response.headers),
            body,
        )


def vendor_message(response: httpx.Response) -> str:
    """The error text a vendor put in its body (Vault's ``errors``, Splunk's ``messages[].text``,
    Elasticsearch's ``error.reason``, ``message``, ``error_description``…)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:MESSAGE_CHARS] if text and "html" not in response.headers.get("content-type", "") else ""
    found: list[str] = []
    if isinstance(body, dict):
        for key in (
            "errorMessages",  # Jira's, beside its field-keyed "errors"
            "errors",
            "messages",
            "error_description",
            "error_message",
            "message",
            "detail",
            "error",
        ):
            value = body.get(key)
            if isinstance(value, list):
                found += [_message_of(v) if isinstance(v, dict) else str(v) for v in value]
            elif isinstance(value, dict):
                found.append(_message_of(value))
            elif value:
                found.append(str(value))
            if any(found):
                break
    return "; ".join(f for f in found if f)[:MESSAGE_CHARS]


def _message_of(item: dict[str, Any]) -> str:
    for key in ("message", "text", "reason"):
        if item.get(key):
            return str(item[key])
    return "" if "type" in item else str(item)


def json_object(response: httpx.Response, connector: str = "") -> dict[str, Any]:
    """A 2xx answer's JSON object; ConnectorUnavailable when the body is something else (a proxy's page)."""
    try:
        body = response.json()
    except ValueError:
        raise ConnectorUnavailable(
            f"{response.request.url.path}: the answer is not JSON", connector=connector
        ) from None
    if not isinstance(body, dict):
        raise ConnectorUnavailable(f"{response.request.url.path}: the answer is not a JSON object", connector=connector)
    return body


def _refusal(response: httpx.Response, *, what: str, redactor: Redactor, connector: str = "") -> ConnectorRejected:
    status = response.status_code
    message = redactor.text(vendor_message(response))
    detail = f": {message}" if message else ""
    if status == 401:
        return ConnectorRejected(
            f"{what}: authentication failed, the credentials were refused (HTTP 401){detail}", connector=connector
        )
    if status == 403:
        return ConnectorRejected(
            f"{what}: not authorized, the credentials lack the permission (HTTP 403){detail}", connector=connector
        )
    return ConnectorRejected(f"{what}: HTTP {status}{detail}", connector=connector)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the answer's Retry-After asks for (a number or an HTTP date), None without one."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


def _tls_verification_failed(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _auth_secrets(auth: httpx.Auth | None) -> list[str]:
    secrets = getattr(auth, "secrets", None)
    return list(secrets()) if callable(secrets) else []


def _tls_context(settings: HttpSettings, env: ConnectorEnv) -> ssl.SSLContext | bool:
    if not settings.verify_tls:
        if settings.client_cert is None:
            return False
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        bundle = env.resolve(settings.ca_bundle) if settings.ca_bundle else Path(certifi.where())
        try:
            context = ssl.create_default_context(cafile=str(bundle))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{env.name}: ca_bundle {bundle}: cannot load it ({exc})") from None
    if settings.client_cert is not None:
        cert = env.resolve(settings.client_cert)
        key = env.resolve(settings.client_key) if settings.client_key else None
        try:
            context.load_cert_chain(str(cert), str(key) if key else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{env.name}: client_cert {cert}: cannot load it ({type(exc).__name__})") from None
    return context


__all__ = [
    "HttpSettings",
    "HttpClient",
    "HeaderAuth",
    "BasicAuth",
    "CachedTokenAuth",
    "OAuth2ClientCredentials",
    "Redactor",
    "bearer_auth",
    "secret",
    "http_url",
    "vendor_message",
    "json_object",
]
