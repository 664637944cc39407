"""Who is calling the service: bearer tokens and their scopes, the trusted SSO proxy, page passwords, and
the limit on refused attempts.

For the page and Slack (and any router added to the app):

- ``Principal`` — the checked identity of a request: ``name`` (the credential's name: a token's name, a
  page login, a Slack user id), ``analyst`` (the analyst it acts as, or None), ``scopes`` and ``via``
  (the entry point: api, page, slack, cli). Pass ``via`` and ``name`` to ``certsoar.api.decide`` as
  ``via=`` and ``credential=``.
- ``token_principal(config, authorization_header)`` — the Principal of an ``Authorization: Bearer``
  header; AccessError when there is none or it matches no configured token. A token is compared by its
  SHA-256 against every configured hash in constant time.
- ``require(scope)`` — the FastAPI dependency of the API routes: the Principal, or AccessError /
  ScopeError (the app answers 401 / 403 with ``{"error": ...}``); ``authorize(request, header, scope)`` is its
  check for a route that reads the credential from elsewhere (the feeds take a Basic password). Every refusal is audited
  (``auth.refused``: client address, reason, never the token) and counts against the client address;
  past ``REFUSALS_ALLOWED`` in ``REFUSAL_WINDOW`` seconds the address gets RateLimited (429).
- ``proxy_user(config, client_host, headers)`` — the analyst named by ``service.trusted_proxy.header``,
  believed only when the request comes from one of ``trusted_proxy.from``; None otherwise.
- ``hash_password`` / ``verify_password`` — argon2id (argon2-cffi), for ``certsoar passwd`` and the page.
- ``refusals(request)`` — the app's ``RefusalLimiter``: ``check(address)`` before verifying a login,
  ``refused(address)`` after a failed one (the page's login uses the same limiter as the API).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from fastapi import Request

from certsoar import api
from certsoar.config import Config
from certsoar.errors import AccessError, RateLimited, ScopeError

Via = Literal["api", "page", "slack", "cli"]

REFUSALS_ALLOWED = 10
"""Refused attempts one client address may make within REFUSAL_WINDOW before it is refused outright."""

REFUSAL_WINDOW = 60.0
"""Seconds over which refused attempts are counted."""


@dataclass(frozen=True)
class Principal:
    """A checked identity: the credential's name, the analyst it acts as, its scopes and its entry point."""

    name: str
    analyst: str | None
    scopes: frozenset[str]
    via: Via


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_principal(config: Config, authorization: str | None) -> Principal:
    """The Principal of an ``Authorization: Bearer <token>`` header; AccessError otherwise."""
    if not authorization:
        raise AccessError("no credential: send Authorization: Bearer <token>")
    scheme, _, presented = authorization.strip().partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise AccessError("the Authorization header must be: Bearer <token>")
    digest = token_digest(presented)
    found = None
    for entry in config.service.tokens:  # every hash compared, in constant time, whatever matches
        if hmac.compare_digest(digest, entry.sha256):
            found = entry
    if found is None:
        raise AccessError("the token is not valid")
    return Principal(name=found.name, analyst=found.analyst, scopes=frozenset(found.scopes), via="api")


def new_token(name: str, *, analyst: str | None, scopes: list[str]) -> tuple[str, str]:
    """A fresh random token and the ``service.tokens`` entry (YAML flow mapping) that holds its hash."""
    secret = "cs_" + secrets.token_urlsafe(32)
    fields = [f"name: {name}", f"sha256: {token_digest(secret)}", f"scopes: [{', '.join(scopes)}]"]
    if analyst is not None:
        fields.append(f"analyst: {analyst}")
    return secret, "{" + ", ".join(fields) + "}"


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return PasswordHasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def proxy_user(config: Config, client_host: str | None, headers: Mapping[str, str]) -> str | None:
    """The analyst the trusted SSO proxy names, only for a request that comes from the proxy itself."""
    proxy = config.service.trusted_proxy
    if proxy is None or not client_host:
        return None
    try:
        address = ipaddress.ip_address(client_host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack socket's form of an IPv4 peer
    if not any(address in ipaddress.ip_network(net) for net in proxy.from_):
        return None
    user = headers.get(proxy.header)
    return user.strip() if user and user.strip() else None


class RefusalLimiter:
    """Refused attempts per client address over a sliding window, in memory (one service process)."""

    def __init__(self, allowed: int = REFUSALS_ALLOWED, window: float = REFUSAL_WINDOW) -> None:
        self.allowed = allowed
        self.window = window
        self._seen: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._seen.setdefault(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._seen[address]
            return deque()
        return times

    def check(self, address: str) -> None:
        """RateLimited while ``address`` has used up its refusals in the window."""
        now = time.monotonic()
        times = self._recent(address, now)
        if len(times) >= self.allowed:
            wait = max(1, int(times[0] + self.window - now) + 1)
            raise RateLimited(f"too many refused attempts from {address}; try again in {wait} s", retry_after=wait)

    def refused(self, address: str) -> None:
        now = time.monotonic()
        self._recent(address, now)
        self._seen.setdefault(address, deque()).append(now)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def refusals(request: Request) -> RefusalLimiter:
    limiter: RefusalLimiter = request.app.state.refusals
    return limiter


def refuse(request: Request, event: str, reason: str, **data: str | None) -> None:
    """Count a refusal against the client address and audit it (no secrets in ``data``)."""
    address = client_address(request)
    refusals(request).refused(address)
    api.record_refusal(
        request.app.state.config,
        event,
        {"client": address, "path": request.url.path, "reason": reason, **data},
    )


def authorize(request: Request, authorization: str | None, scope: str) -> Principal:
    """The Principal of ``authorization`` (a Bearer header) when its token carries ``scope``; every refusal is
    audited and counted against the client address, which is refused outright past the limit."""
    config: Config = request.app.state.config
    refusals(request).check(client_address(request))
    try:
        principal = token_principal(config, authorization)
    except AccessError as exc:
        refuse(request, "auth.refused", str(exc))
        raise
    if scope not in principal.scopes:
        reason = f"the token {principal.name} lacks scope {scope}"
        refuse(request, "auth.refused", reason, credential=principal.name)
        raise ScopeError(reason)
    return principal


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """FastAPI dependency: the request's Principal when its token carries ``scope``."""

    async def dependency(request: Request) -> Principal:
        return authorize(request, request.headers.get("authorization"), scope)

    return dependency
