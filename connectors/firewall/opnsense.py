"""``opnsense``: an OPNsense firewall, by the entries of one host or network alias (``/api/firewall/alias_util``).

The operator creates the alias once (type host, or network to block networks too) and uses it in a block rule.
``alias_util/add`` and ``alias_util/delete`` change the alias's configured content and its live pf table at once
(no apply step); ``alias_util/list`` reads the live table, page by page. OPNsense answers with HTTP 200 whatever
happened: the ``status`` field says (``done``; ``not_an_address``; ``failed`` with ``status_msg``), and it is
checked on every write. add appends an address that is the alias's first entry a second time (the source tests
``!array_search``): certsoar reads the list first and adds only what is missing.

Authentication: the API key and secret of an OPNsense user as HTTP Basic.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field, field_validator

from certsoar.addresses import network_text
from certsoar.config import required_secrets
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.firewall import blockable, covers, parse_address
from certsoar.connectors.http import BasicAuth, HttpClient, HttpSettings, json_object, secret
from certsoar.errors import ConnectorRejected, ConnectorUnavailable

_ALIAS = re.compile(r"^[A-Za-z0-9_]{1,32}$")
API = "/api/firewall/alias_util"


class OpnsenseSettings(HttpSettings):
    api_key: str = Field(
        description="API key of an OPNsense user, as env:NAME or file:PATH.", json_schema_extra={"secret": True}
    )
    api_secret: str = Field(description="Its API secret, as env:NAME or file:PATH.", json_schema_extra={"secret": True})
    alias: str = Field(default="certsoar_rogue_servers", description="The host or network alias a block rule uses.")
    page_size: int = Field(default=500, ge=1, le=10000, description="Alias entries read per request.")

    _reference = required_secrets("api_key", "api_secret", what="the API key and secret")

    @field_validator("alias")
    @classmethod
    def _alias(cls, v: str) -> str:
        if not _ALIAS.fullmatch(v):
            raise ValueError("an alias name: letters, digits and '_' (at most 32)")
        return v


class OpnsenseFirewall:
    """Firewall on one alias of an OPNsense firewall."""

    settings_model: ClassVar[type[ConnectorSettings]] = OpnsenseSettings

    def __init__(self, settings: OpnsenseSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.env = env
        auth = BasicAuth(secret(settings.api_key).get_secret_value(), secret(settings.api_secret))
        self.http = HttpClient(settings, env, auth=auth)

    def __repr__(self) -> str:
        return f"OpnsenseFirewall(instance={self.env.name!r}, url={self.settings.url!r}, alias={self.settings.alias!r})"

    # ----------------------------------------------------------------- read

    async def blocked(self) -> set[str]:
        found: set[str] = set()
        page = 1
        while True:
            answer = await self._post("list", {"current": page, "rowCount": self.settings.page_size}, read=True)
            if isinstance(answer, list):  # releases before 22.1 answer the whole table as a list
                return found | {e for e in map(self._entry, answer) if e is not None}
            rows = answer.get("rows")
            if not isinstance(rows, list):
                raise ConnectorUnavailable(
                    f"alias_util/list: the answer holds no rows: {answer}", connector=self.env.name
                )
            entries = [self._entry(row.get("ip") if isinstance(row, dict) else None) for row in rows]
            found |= {e for e in entries if e is not None}
            total = answer.get("total")
            if not rows or not isinstance(total, int) or page * self.settings.page_size >= total:
                return found
            page += 1

    async def is_blocked(self, address: str) -> bool:
        return network_text(parse_address(address)) in await self.blocked()

    # ---------------------------------------------------------------- write

    async def block(self, addresses: list[str], comment: str) -> None:
        """Alias entries carry no comment through alias_util: ``comment`` stays in the run record only."""
        requested = blockable(addresses, self.env)
        listed = await self.blocked()
        for network in requested:
            text = network_text(network)
            if not covers(listed, text):
                self._done(await self._post("add", {"address": text}), "add", text)
                listed.add(text)

    async def unblock(self, addresses: list[str]) -> None:
        unwanted = {network_text(parse_address(text)) for text in addresses}
        for text in sorted(unwanted & await self.blocked()):
            self._done(await self._post("delete", {"address": text}), "delete", text)

    # ---------------------------------------------------------------- helpers

    async def _post(self, operation: str, body: dict[str, Any], *, read: bool = False) -> Any:
        response = await self.http.request(
            "POST", f"{API}/{operation}/{self.settings.alias}", json_body=body, idempotent=True
        )
        if read:
            try:
                return response.json()
            except ValueError:
                raise ConnectorUnavailable(
                    f"alias_util/{operation}: the answer is not JSON", connector=self.env.name
                ) from None
        return json_object(response, self.env.name)

    def _done(self, answer: dict[str, Any], operation: str, address: str) -> None:
        status = answer.get("status")
        if status != "done":
            why = answer.get("status_msg") or answer.get("message") or ""
            raise ConnectorRejected(
                f"alias_util/{operation} {address} on alias {self.settings.alias}: OPNsense answered status {status!r}"
                + (f": {str(why)[:300]}" if why else ""),
                connector=self.env.name,
            )

    def _entry(self, value: object) -> str | None:
        """An entry as certsoar writes addresses; None for a range or a name someone else put in the alias."""
        if not isinstance(value, str):
            raise ConnectorUnavailable(
                f"alias_util/list: an entry that is no address: {value!r}", connector=self.env.name
            )
        try:
            return network_text(parse_address(value))
        except ConnectorRejected:
            return None


__all__ = ["OpnsenseFirewall", "OpnsenseSettings"]
