"""``zscaler``: Zscaler Internet Access (ZIA), which blocks by name: the names go into a custom URL category.

ZIA cannot match a certificate's fingerprint, so it blocks the server's names (``blocks_by = {"name"}``): each
blocked name is an entry of one custom URL category (``category``, its id such as ``CUSTOM_01``) that the
operator creates once and references in a URL filtering rule that blocks it. A name ``*.evil.example`` is
written as ZIA's ``.evil.example`` (the domain and every name below it). Entries that are no plain name (a URL
with a path, added by someone else) are left alone.

Authentication is the ZIA API session (``POST /api/v1/authenticatedSession``): the admin's user name and
password, and the API key obfuscated with the current time as Zscaler documents it (``obfuscate_api_key``);
the ``JSESSIONID`` cookie is sent on each call and the session is logged out (``DELETE``) when the operation
ends. OAuth 2.0 through ZIdentity (OneAPI) is not implemented.

A change is made with ``PUT /urlCategories/{id}?action=ADD_TO_LIST`` (or ``REMOVE_FROM_LIST``) carrying only the
names that change, read back with ``GET``, and put in force with ``POST /status/activate``, whose result is
checked with ``GET /status``. 409 (another admin holds the edit lock) and 429 (the wait is in the
``Retry-After`` header or in the JSON body as ``"N seconds"``) are tried again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import Field, field_validator

from certsoar.config import required_secrets
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.http import (
    HttpClient,
    HttpSettings,
    RetryLater,
    json_object,
    retry_after,
    secret,
    vendor_message,
)
from certsoar.connectors.proxy import BlockBy, blockable_names, parse_name
from certsoar.errors import ConfigError, ConnectorError, ConnectorRejected, ConnectorUnavailable

log = logging.getLogger("certsoar.connectors.zscaler")

API = "/api/v1"
SESSION = f"{API}/authenticatedSession"
SESSION_COOKIE = "JSESSIONID"
API_KEY_CHARS = 12
RETRIED = (409, 429)
"""Edit lock held by another admin, rate limit: both worth another try after a wait."""
_BODY_WAIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:s|sec|secs|second|seconds)?\s*$", re.I)
_CATEGORY = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class ZscalerSettings(HttpSettings):
    url: str = Field(description="The ZIA API of the tenant's cloud, https://zsapi.<cloud>.net.")
    username: str = Field(min_length=1, max_length=256, description="The API admin's login name.")
    password: str = Field(
        description="The API admin's password as env:NAME or file:PATH.", json_schema_extra={"secret": True}
    )
    api_key: str = Field(
        description="The cloud service API key (12 characters) as env:NAME or file:PATH.",
        json_schema_extra={"secret": True},
    )
    category: str = Field(
        description="Id of the custom URL category certsoar fills (e.g. CUSTOM_01), blocked by a URL filtering rule."
    )
    activation_checks: int = Field(
        default=5, ge=1, le=60, description="Reads of GET /status after an activation before it is given up."
    )
    activation_wait: float = Field(default=1.0, ge=0, le=60, description="Seconds between those reads.")

    _secret_reference = required_secrets("password", "api_key", what="the secret")

    @field_validator("category")
    @classmethod
    def _category_id(cls, v: str) -> str:
        if not _CATEGORY.fullmatch(v):
            raise ValueError("a URL category id: letters, digits and '_' (e.g. CUSTOM_01)")
        return v


def obfuscate_api_key(api_key: str, now_ms: str) -> str:
    """The API key as ``authenticatedSession`` wants it: picked apart by the last six digits of the time (``n``)
    and by ``n >> 1`` (six digits, zero-padded), offset by two (Zscaler's "About Cloud Service API Key")."""
    n = now_ms[-6:]
    r = str(int(n) >> 1).zfill(6)
    return "".join(api_key[int(d)] for d in n) + "".join(api_key[int(d) + 2] for d in r)


def zia_entry(name: str) -> str:
    """A canonical name as a URL category entry: ``*.x`` is ZIA's ``.x``."""
    return "." + name.removeprefix("*.") if name.startswith("*.") else name


def name_of(entry: object) -> str | None:
    """The canonical name a category entry stands for; None for an entry that is no plain name."""
    if not isinstance(entry, str) or not entry:
        return None
    text = "*" + entry if entry.startswith(".") else entry
    try:
        return parse_name(text)
    except ConnectorRejected:
        return None


def body_retry_after(response: httpx.Response) -> float | None:
    """ZIA's 429 says how long to wait in its JSON body (``"Retry-After": "0 seconds"``); "0" is taken as 1 s."""
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get("Retry-After") if isinstance(body, dict) else None
    match = _BODY_WAIT.match(str(value)) if value is not None else None
    return max(float(match.group(1)), 1.0) if match else None


class ZscalerProxy:
    """Names blocked through one custom URL category of a ZIA tenant."""

    settings_model: ClassVar[type[ConnectorSettings]] = ZscalerSettings
    blocks_by: ClassVar[frozenset[BlockBy]] = frozenset({"name"})

    def __init__(self, settings: ZscalerSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.env = env
        self._password = secret(settings.password)
        self._api_key = secret(settings.api_key)
        if len(self._api_key.get_secret_value()) < API_KEY_CHARS:
            raise ConfigError(f"{env.name}: api_key: a ZIA API key has {API_KEY_CHARS} characters")
        self.http = HttpClient(settings, env)
        self.http.redactor.add([self._password.get_secret_value(), self._api_key.get_secret_value()])
        self._session_id: str | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return (
            f"ZscalerProxy(instance={self.env.name!r}, url={self.settings.url!r}, category={self.settings.category!r})"
        )

    # ----------------------------------------------------------------- read

    async def blocked_names(self) -> set[str]:
        async with self._session():
            return self._names(await self._category())

    async def is_name_blocked(self, name: str) -> bool:
        return parse_name(name) in await self.blocked_names()

    # ---------------------------------------------------------------- write

    async def block_names(self, names: list[str], comment: str) -> None:
        # ZIA keeps no note per entry: the run that blocked a name is in certsoar's effect ledger.
        wanted = blockable_names(names, self.env)
        async with self._session():
            category = await self._category()
            missing = [name for name in wanted if name not in self._names(category)]
            if not missing:
                return
            await self._change(category, "ADD_TO_LIST", missing)
            if not set(missing) <= self._names(await self._category()):
                raise ConnectorUnavailable(
                    f"category {self.settings.category}: the added names are not listed when read back",
                    connector=self.env.name,
                )
            await self._activate()

    async def unblock_names(self, names: list[str]) -> None:
        unwanted = list(dict.fromkeys(parse_name(name) for name in names))
        async with self._session():
            category = await self._category()
            present = [name for name in unwanted if name in self._names(category)]
            if not present:
                return
            await self._change(category, "REMOVE_FROM_LIST", present)
            if set(present) & self._names(await self._category()):
                raise ConnectorUnavailable(
                    f"category {self.settings.category}: the removed names are still listed when read back",
                    connector=self.env.name,
                )
            await self._activate()

    # -------------------------------------------------------------- helpers

    def _path(self) -> str:
        return f"{API}/urlCategories/{quote(self.settings.category, safe='')}"

    async def _category(self) -> dict[str, Any]:
        response = await self._call("GET", self._path(), ok=(404,))
        if response.status_code == 404:
            raise ConnectorRejected(
                f"URL category {self.settings.category} does not exist: create a custom URL category once, block it "
                "in a URL filtering rule, and set its id",
                connector=self.env.name,
            )
        category = json_object(response, self.env.name)
        if category.get("customCategory") is not True:
            raise ConnectorRejected(
                f"URL category {self.settings.category} is not a custom category: certsoar writes only its own",
                connector=self.env.name,
            )
        if not isinstance(category.get("urls", []), list):
            raise ConnectorUnavailable(f"{self._path()}: the answer holds no list of urls", connector=self.env.name)
        return category

    @staticmethod
    def _names(category: dict[str, Any]) -> set[str]:
        return {name for name in map(name_of, category.get("urls") or []) if name is not None}

    async def _change(self, category: dict[str, Any], action: str, names: list[str]) -> None:
        body = {
            "id": self.settings.category,
            "customCategory": True,
            "configuredName": category.get("configuredName", self.settings.category),
            "urls": [zia_entry(name) for name in names],  # only the delta: ADD/REMOVE_FROM_LIST
        }
        await self._call("PUT", self._path(), params={"action": action}, json_body=lambda: body)

    async def _activate(self) -> None:
        """Put the staged change in force, then read ``/status`` until it says ACTIVE."""
        await self._call("POST", f"{API}/status/activate")
        status: object = None
        for check in range(self.settings.activation_checks):
            if check:
                await asyncio.sleep(self.settings.activation_wait)
            status = json_object(await self._call("GET", f"{API}/status"), self.env.name).get("status")
            if status == "ACTIVE":
                return
        raise ConnectorUnavailable(
            f"the change is staged but not active: GET /status still says {status!r}", connector=self.env.name
        )

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[None]:
        """One API session for one operation: logged in first, logged out after, whatever happened."""
        async with self._lock:
            await self._login()
            try:
                yield
            finally:
                await self._logout()

    async def _login(self) -> None:
        def credentials() -> dict[str, str]:  # a fresh timestamp for each try
            now = str(int(time.time() * 1000))
            return {
                "username": self.settings.username,
                "password": self._password.get_secret_value(),
                "apiKey": obfuscate_api_key(self._api_key.get_secret_value(), now),
                "timestamp": now,
            }

        response = await self._call("POST", SESSION, json_body=credentials)
        session = response.cookies.get(SESSION_COOKIE)
        if not session:
            raise ConnectorRejected(
                f"POST {SESSION}: the answer holds no {SESSION_COOKIE} cookie", connector=self.env.name
            )
        self.http.redactor.add([session])
        self._session_id = session

    async def _logout(self) -> None:
        if self._session_id is None:
            return
        try:
            await self._call("DELETE", SESSION)
        except ConnectorError as exc:  # the session expires by itself; the operation's own outcome stands
            log.warning("%s: logging out of the ZIA session failed: %s", self.env.name, exc)
        finally:
            self._session_id = None

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Callable[[], Any] | None = None,
        ok: tuple[int, ...] = (),
    ) -> httpx.Response:
        """One call of the API, tried again on 409 and 429 (transport errors and 5xx are the HTTP layer's).
        Every call is safe to repeat: ADD/REMOVE_FROM_LIST of the same names and a second activation change
        nothing, so POSTs are sent as idempotent."""
        headers = {"Cookie": f"{SESSION_COOKIE}={self._session_id}"} if self._session_id else {}

        async def attempt() -> httpx.Response:
            response = await self.http.request(
                method,
                path,
                params=params,
                json_body=json_body() if json_body is not None else None,
                headers=headers,
                idempotent=True,
                ok=(*RETRIED, *ok),
            )
            if response.status_code in RETRIED:
                message = self.http.redactor.text(vendor_message(response))
                wait = retry_after(response)
                raise RetryLater(
                    f"{method} {path}: HTTP {response.status_code}" + (f": {message}" if message else ""),
                    connector=self.env.name,
                    retry_after=wait if wait is not None else body_retry_after(response),
                )
            return response

        return await self.http.retried(attempt)


__all__ = ["ZscalerProxy", "ZscalerSettings", "obfuscate_api_key"]
