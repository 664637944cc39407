"""``panos``: a Palo Alto Networks firewall over the PAN-OS XML API, in one of two modes.

``mode: tag`` (the default; a firewall or a Panorama): certsoar registers each blocked address with one tag
(User-ID API, ``type=user-id``, a ``uid-message`` ``register`` / ``unregister``); a Dynamic Address Group
matching that tag, used by a deny rule, is set up once by the operator. Registrations take effect at once: no
commit. Reads list the addresses registered with the tag (``type=op``, ``<show><object><registered-ip>``, page by
page).

PAN-OS answers most errors with HTTP 200 and ``<response status="error">``: the body is checked on every
answer. A register of an address already tagged answers an error whose entry message ends in ``already
exists, ignore`` (an unregister of one not tagged: ``does not exist, ignore unreg``); both mean the list is
as asked (pan-os-python ``panos/userid.py`` ignores them the same way). The API key goes in ``X-PAN-KEY``.

``mode: address-objects``: an address object per blocked address in a static address group, committed
(``panos_objects.py``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Collection
from typing import ClassVar, Literal

import httpx
from pydantic import Field, field_validator, model_validator

from certsoar.addresses import network_text
from certsoar.config import required_secrets
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.firewall import blockable, covers, parse_address
from certsoar.connectors.firewall.panos_objects import OBJECT_NAME, PanosAddressObjects
from certsoar.connectors.http import HeaderAuth, HttpClient, HttpSettings, secret
from certsoar.errors import ConnectorRejected, ConnectorUnavailable

_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,126}$")
_VSYS = re.compile(r"^vsys[0-9]{1,3}$")
ALREADY_TAGGED = "already exists, ignore"
NOT_TAGGED = "does not exist, ignore unreg"
AUTH_CODES = frozenset({"403", "16"})
"""PAN-OS error codes of a refused key: 403 (Forbidden, Invalid Credential) and 16 (Unauthorized)."""
MESSAGE_CHARS = 300


class PanosSettings(HttpSettings):
    api_key: str = Field(
        description="PAN-OS API key (type=keygen) as env:NAME or file:PATH.", json_schema_extra={"secret": True}
    )
    tag: str = Field(
        default="certsoar-rogue-cert", description="The tag registered on blocked addresses (the DAG's match)."
    )
    vsys: str | None = Field(default=None, description="Virtual system of a multi-vsys firewall (vsys1, vsys2…).")
    page_size: int = Field(default=500, ge=1, le=5000, description="Registered addresses read per request.")
    mode: Literal["tag", "address-objects"] = Field(
        default="tag",
        description="tag: User-ID tag registrations for a Dynamic Address Group (no commit); address-objects: an "
        "address object per address in a static address group, then a partial commit of the API admin's changes.",
    )
    group: str = Field(
        default="certsoar-rogue-servers",
        description="address-objects: the static address group a deny rule references (created by the operator).",
    )
    prefix: str = Field(
        default="certsoar-", description="address-objects: start of the names of the address objects certsoar makes."
    )
    admin: str | None = Field(
        default=None,
        description="address-objects: the administrator the API key belongs to; the commit is limited to its changes.",
    )
    commit_timeout: float = Field(
        default=300.0, gt=0, le=3600, description="address-objects: seconds a commit may wait and run before it fails."
    )
    poll_interval: float = Field(default=1.0, gt=0, le=60, description="address-objects: seconds between job polls.")

    _key_reference = required_secrets("api_key", what="the API key")

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str) -> str:
        if not _TAG.fullmatch(v):
            raise ValueError("a tag of letters, digits, '.', '_' and '-' (at most 127)")
        return v

    @field_validator("vsys")
    @classmethod
    def _vsys(cls, v: str | None) -> str | None:
        if v is not None and not _VSYS.fullmatch(v):
            raise ValueError("a virtual system's name such as vsys1")
        return v

    @field_validator("group", "admin")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not OBJECT_NAME.fullmatch(v):
            raise ValueError("letters, digits, '.', '_' and '-' (at most 63), starting with a letter or digit")
        return v

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,19}", v):
            raise ValueError("letters, digits, '.', '_' and '-' (at most 20), starting with a letter or digit")
        return v

    @model_validator(mode="after")
    def _admin_for_objects(self) -> PanosSettings:
        if self.mode == "address-objects" and self.admin is None:
            raise ValueError("mode address-objects needs admin: the administrator whose changes the commit takes")
        return self


class PanosFirewall:
    """Firewall on the tag registrations, or the address objects of a static group, of one PAN-OS device."""

    settings_model: ClassVar[type[ConnectorSettings]] = PanosSettings

    def __init__(self, settings: PanosSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.env = env
        self.http = HttpClient(settings, env, auth=HeaderAuth("X-PAN-KEY", secret(settings.api_key)))
        self.objects = (
            PanosAddressObjects(settings, env, self.post, self.refusal) if settings.mode == "address-objects" else None
        )

    def __repr__(self) -> str:
        return (
            f"PanosFirewall(instance={self.env.name!r}, url={self.settings.url!r}, mode={self.settings.mode!r}, "
            f"tag={self.settings.tag!r})"
        )

    # ----------------------------------------------------------------- read

    async def blocked(self) -> set[str]:
        if self.objects is not None:
            return await self.objects.blocked()
        found: set[str] = set()
        start = 1
        while True:
            show = ET.Element("show")
            query = ET.SubElement(ET.SubElement(show, "object"), "registered-ip")
            ET.SubElement(query, "limit").text = str(self.settings.page_size)
            ET.SubElement(query, "start-point").text = str(start)
            ET.SubElement(ET.SubElement(query, "tag"), "entry", {"name": self.settings.tag})
            root = await self._call("op", show, "show registered-ip")
            page = root.findall("./result/entry")
            for entry in page:
                tags = {member.text for member in entry.findall("./tag/member")}
                address = _registered(entry.get("ip"), self.env.name)
                if self.settings.tag in tags and address is not None:
                    found.add(address)
            if len(page) < self.settings.page_size:
                return found
            start += len(page)

    async def is_blocked(self, address: str) -> bool:
        return network_text(parse_address(address)) in await self.blocked()

    # ---------------------------------------------------------------- write

    async def block(self, addresses: list[str], comment: str) -> None:
        """Registrations carry no comment on PAN-OS: ``comment`` stays in the run record only (an address
        object's description carries it)."""
        if self.objects is not None:
            return await self.objects.block(addresses, comment)
        requested = blockable(addresses, self.env)
        listed = await self.blocked()
        wanted = list(dict.fromkeys(network_text(n) for n in requested if not covers(listed, network_text(n))))
        if wanted:
            await self._call("user-id", self._uid_message("register", wanted), "register")

    async def unblock(self, addresses: list[str]) -> None:
        if self.objects is not None:
            return await self.objects.unblock(addresses)
        unwanted = {network_text(parse_address(text)) for text in addresses}
        present = sorted(unwanted & await self.blocked())
        if present:
            await self._call("user-id", self._uid_message("unregister", present), "unregister")

    # ---------------------------------------------------------------- helpers

    def _uid_message(self, operation: str, addresses: list[str]) -> ET.Element:
        message = ET.Element("uid-message")
        ET.SubElement(message, "version").text = "1.0"
        ET.SubElement(message, "type").text = "update"
        entries = ET.SubElement(ET.SubElement(message, "payload"), operation)
        for address in addresses:
            tag = ET.SubElement(ET.SubElement(entries, "entry", {"ip": address}), "tag")
            member = ET.SubElement(tag, "member")
            member.text = self.settings.tag
            if operation == "register":
                member.set("timeout", "0")  # never expires: an unregister takes it back
        return message

    async def _call(self, kind: str, cmd: ET.Element, what: str) -> ET.Element:
        form = {"type": kind, "cmd": ET.tostring(cmd, encoding="unicode")}
        if self.settings.vsys is not None:
            form["vsys"] = self.settings.vsys
        return await self.post(form, what)

    async def post(
        self, form: dict[str, str], what: str, *, ignorable: Collection[str] = (), checked: bool = True
    ) -> ET.Element:
        """POST ``form`` to ``/api/``: the ``<response>`` of a successful answer, or of one whose error code is in
        ``ignorable`` (of any answer unless ``checked``); ConnectorRejected naming PAN-OS's message otherwise. Every
        PAN-OS request certsoar sends leaves the device as it is when repeated, so each is tried again on a 429 or
        5xx."""
        response = await self.http.request("POST", "/api/", form=form, idempotent=True)
        root = self._parsed(response, what)
        if not checked or root.get("status") == "success" or root.get("code") in ignorable:
            return root
        return self._checked(root, what)

    def _parsed(self, response: httpx.Response, what: str) -> ET.Element:
        """The ``<response>`` element of an answer, whatever its status."""
        name = self.env.name
        if b"<!DOCTYPE" in response.content or b"<!ENTITY" in response.content:
            raise ConnectorRejected(f"{what}: the answer declares a DOCTYPE; refusing to parse it", connector=name)
        try:
            root = ET.fromstring(response.content)
        except ET.ParseError:
            raise ConnectorUnavailable(f"{what}: the answer is not XML", connector=name) from None
        if root.tag != "response":
            raise ConnectorUnavailable(f"{what}: the answer is not a PAN-OS <response>", connector=name)
        return root

    def _checked(self, root: ET.Element, what: str) -> ET.Element:
        """``root`` when it says success or the list is already as asked; ConnectorRejected otherwise."""
        if root.get("status") == "success":
            return root
        ignorable = ALREADY_TAGGED if what == "register" else NOT_TAGGED if what == "unregister" else None
        failed = [entry.get("message") or "" for entry in root.findall("./msg/line/uid-response/payload/*/entry")]
        if ignorable is not None and failed and all(message.endswith(ignorable) for message in failed):
            return root  # already as asked
        raise self.refusal(root, what, failed)

    def refusal(self, root: ET.Element, what: str, failed: list[str] | None = None) -> ConnectorRejected:
        """The rejection an error ``<response>`` stands for, with PAN-OS's message (redacted, shortened)."""
        name = self.env.name
        message = self.http.redactor.text(message_of(root, failed or []))[:MESSAGE_CHARS]
        code = root.get("code")
        if code in AUTH_CODES:
            return ConnectorRejected(
                f"{what}: authentication failed, PAN-OS refused the API key (code {code}): {message}", connector=name
            )
        return ConnectorRejected(
            f"{what}: PAN-OS answered status error (code {code or 'none'}): {message}", connector=name
        )


def message_of(root: ET.Element, failed: list[str]) -> str:
    """PAN-OS's error text: the failed entries of a uid-response, else the msg lines (as pan-python reads them)."""
    if failed:
        return "; ".join(failed)
    lines = [" ".join(part.strip() for part in element.itertext() if part.strip()) for element in root.iter("msg")]
    return "; ".join(line for line in lines if line) or "no message"


def _registered(ip: str | None, connector: str) -> str | None:
    """A registered address as certsoar writes addresses; None for a range (certsoar registers none)."""
    if ip is None:
        raise ConnectorUnavailable("show registered-ip: an entry without an ip attribute", connector=connector)
    try:
        return network_text(parse_address(ip))
    except ConnectorRejected:
        return None


__all__ = ["PanosFirewall", "PanosSettings"]
