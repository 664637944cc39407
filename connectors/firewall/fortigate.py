"""``fortigate``: a FortiGate over the FortiOS REST API (``/api/v2/cmdb``), by address objects in an address group.

Each blocked address becomes an address object named ``<prefix><address>`` (a network ``<prefix><address>_<len>``)
in ``firewall/address`` (IPv6: ``firewall/address6``), made a member of the address group ``group`` (IPv6:
``group6``, an ``addrgrp6``); the operator creates the groups once and references them in a deny policy.
FortiOS applies a change at once: there is no commit. The groups' members named with the prefix are the block
list; members someone else added are left alone.

FortiOS answers a create of a name that exists with HTTP 500 and ``"error": -5`` (a duplicate entry): the
object is there, which is what was asked. Every request names the VDOM (``?vdom=``); the API token goes in
``Authorization: Bearer``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, field_validator

from certsoar.addresses import IpNetwork, network_text
from certsoar.config import required_secrets
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.firewall import blockable, covers, parse_address
from certsoar.connectors.http import HttpClient, HttpSettings, bearer_auth, json_object, secret
from certsoar.errors import ConnectorError, ConnectorRejected, ConnectorUnavailable
from certsoar.fileio import printable_line

log = logging.getLogger("certsoar.connectors.fortigate")

DUPLICATE = -5
"""FortiOS error code of a create whose name exists already."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
COMMENT_MAX_CHARS = 255
API = "/api/v2/cmdb/firewall"


class FortigateSettings(HttpSettings):
    token: str = Field(
        description="REST API administrator token as env:NAME or file:PATH.", json_schema_extra={"secret": True}
    )
    vdom: str = Field(default="root", description="The VDOM the objects and groups live in.")
    group: str = Field(default="certsoar-rogue-servers", description="Address group (IPv4) a deny policy uses.")
    group6: str = Field(
        default="certsoar-rogue-servers6", description="IPv6 address group (addrgrp6) a deny policy uses."
    )
    prefix: str = Field(default="certsoar-", description="Start of the names of the address objects certsoar makes.")

    _token_reference = required_secrets("token", what="the token")

    @field_validator("vdom", "group", "group6", "prefix")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.fullmatch(v):
            raise ValueError("letters, digits, '.', '_' and '-' (at most 63), starting with a letter or digit")
        return v


class FortigateFirewall:
    """Firewall on two address groups of one FortiGate VDOM."""

    settings_model: ClassVar[type[ConnectorSettings]] = FortigateSettings

    def __init__(self, settings: FortigateSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.env = env
        self.http = HttpClient(settings, env, auth=bearer_auth(secret(settings.token)))

    def __repr__(self) -> str:
        return f"FortigateFirewall(instance={self.env.name!r}, url={self.settings.url!r}, vdom={self.settings.vdom!r})"

    # ----------------------------------------------------------------- read

    async def blocked(self) -> set[str]:
        found: set[str] = set()
        for version in (4, 6):
            group = self._group(version)
            body = await self._call("GET", f"{self._group_path(version)}/{quote(group, safe='')}", ok=(404,))
            if body.get("http_status") == 404 or body.get("status") != "success":
                raise ConnectorRejected(
                    f"address group {group} is not in VDOM {self.settings.vdom}: create it once and use it in a deny "
                    "policy",
                    connector=self.env.name,
                )
            results = body.get("results")
            if not isinstance(results, list) or not results or not isinstance(results[0], dict):
                raise ConnectorUnavailable(f"{group}: the answer holds no group", connector=self.env.name)
            for member in results[0].get("member") or []:
                address = self._address_of(member.get("name") if isinstance(member, dict) else None)
                if address is not None:
                    found.add(address)
        return found

    async def is_blocked(self, address: str) -> bool:
        return network_text(parse_address(address)) in await self.blocked()

    # ---------------------------------------------------------------- write

    async def block(self, addresses: list[str], comment: str) -> None:
        requested = blockable(addresses, self.env)
        listed = await self.blocked()
        note = printable_line(comment, COMMENT_MAX_CHARS)
        for network in requested:
            if covers(listed, network_text(network)):
                continue
            name = self._name_of(network)
            await self._create(self._object_path(network.version), self._object(network, name, note))
            await self._create(
                f"{self._group_path(network.version)}/{quote(self._group(network.version), safe='')}/member",
                {"name": name},
            )
            listed.add(network_text(network))

    async def unblock(self, addresses: list[str]) -> None:
        unwanted = {network_text(parse_address(text)): parse_address(text) for text in addresses}
        listed = await self.blocked()
        for text, network in unwanted.items():
            if text not in listed:
                continue
            name = quote(self._name_of(network), safe="")
            group = quote(self._group(network.version), safe="")
            await self._call("DELETE", f"{self._group_path(network.version)}/{group}/member/{name}", ok=(404,))
            try:  # the membership was the block; an object someone else also uses stays
                await self._call("DELETE", f"{self._object_path(network.version)}/{name}", ok=(404,))
            except ConnectorError as exc:
                log.info("%s: address object %s kept: %s", self.env.name, name, exc)

    # ---------------------------------------------------------------- helpers

    def _group(self, version: int) -> str:
        return self.settings.group if version == 4 else self.settings.group6

    @staticmethod
    def _group_path(version: int) -> str:
        return f"{API}/addrgrp" if version == 4 else f"{API}/addrgrp6"

    @staticmethod
    def _object_path(version: int) -> str:
        return f"{API}/address" if version == 4 else f"{API}/address6"

    def _name_of(self, network: IpNetwork) -> str:
        return self.settings.prefix + network_text(network).replace("/", "_")

    def _address_of(self, name: object) -> str | None:
        """The address a member named by certsoar stands for; None for a member someone else added."""
        if not isinstance(name, str) or not name.startswith(self.settings.prefix):
            return None
        try:
            return network_text(parse_address(name.removeprefix(self.settings.prefix).replace("_", "/")))
        except ConnectorRejected:
            return None

    @staticmethod
    def _object(network: IpNetwork, name: str, comment: str) -> dict[str, str]:
        if network.version == 4:
            return {
                "name": name,
                "type": "ipmask",
                "subnet": f"{network.network_address}/{network.prefixlen}",
                "comment": comment,
            }
        return {
            "name": name,
            "type": "ipprefix",
            "ip6": f"{network.network_address}/{network.prefixlen}",
            "comment": comment,
        }

    async def _create(self, path: str, body: dict[str, str]) -> None:
        """POST a new entry; one that exists already (error -5) is what was asked."""
        response = await self.http.request(
            "POST", path, json_body=body, params={"vdom": self.settings.vdom}, idempotent=True, ok=(500,)
        )
        answer = json_object(response, self.env.name)
        if response.status_code == 500:
            if answer.get("error") == DUPLICATE:
                return
            raise ConnectorUnavailable(
                f"POST {path}: HTTP 500 (FortiOS error {answer.get('error')})", connector=self.env.name
            )
        self._succeeded(answer, f"POST {path}")

    async def _call(self, method: str, path: str, *, ok: tuple[int, ...] = ()) -> dict[str, Any]:
        response = await self.http.request(method, path, params={"vdom": self.settings.vdom}, ok=ok)
        answer = json_object(response, self.env.name)
        if response.status_code not in ok:
            self._succeeded(answer, f"{method} {path}")
        return answer

    def _succeeded(self, answer: dict[str, Any], what: str) -> None:
        if answer.get("status") != "success":
            raise ConnectorRejected(
                f"{what}: FortiOS answered status {answer.get('status')!r} (error {answer.get('error')})",
                connector=self.env.name,
            )


__all__ = ["FortigateFirewall", "FortigateSettings"]
