"""``panos`` with ``mode: address-objects``: an address object per blocked address in a static address group, committed.

Each blocked address becomes an address object named ``<prefix><address>``, the address written with ``-`` for
``:`` and ``_`` for ``/`` (PAN-OS names take letters, digits, ``.``, ``_``, ``-`` and spaces): ``certsoar-203.0.113.7``,
``certsoar-198.51.100.0_24``, ``certsoar-2001-db8--7``. Its ``ip-netmask`` is the address, its description the
block's comment (``certsoar run <id>``). It joins the static address group ``group``, which the operator creates once
(PAN-OS refuses an empty static group: give it a placeholder member, which certsoar leaves alone) and references in a
deny rule. The group's members named with the prefix are the block list; members someone else added are left alone.

Writes go to the candidate configuration (``type=config``, ``action=set`` merges, so a repeat is a no-op; a
``delete`` of what is gone answers code 7 and counts as done) and take effect with a partial commit of the API
admin's own changes (``type=commit&action=partial``, ``<commit><partial><admin><member>ADMIN</member>…``): other
administrators' pending changes are not committed. A commit answers a job id, polled (``<show><jobs><id>N</id>``)
until ``FIN``; a result other than ``OK`` is an error naming the job's details. A commit refused because another
commit (or an install) is running is tried again until ``commit_timeout``. Reads take the running configuration
(``action=show``); after a commit the group is read back from the candidate (``action=get``) and the running
configuration, which must both hold the change.

Objects live in one virtual system (``vsys``, vsys1 by default) of a firewall. A Panorama device group is out of
scope: its changes reach the firewalls only with a commit-all push, which certsoar does not make.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Protocol

from certsoar.addresses import IpNetwork, network_text
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.firewall import blockable, covers, parse_address
from certsoar.errors import ConnectorRejected, ConnectorUnavailable
from certsoar.fileio import printable_line

if TYPE_CHECKING:
    from certsoar.connectors.firewall.panos import PanosSettings

log = logging.getLogger("certsoar.connectors.panos")

OBJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
DESCRIPTION_MAX_CHARS = 1023
NOT_PRESENT = "7"
"""PAN-OS error code of an object that does not exist (a delete of what is gone)."""
STILL_REFERENCED = "10"
"""PAN-OS error code of a delete refused because something still references the object."""
COMMIT_BUSY = re.compile(r"commit(/validate)? is in progress|install is in progress|commit lock", re.I)
"""A commit refused for now (pan-os-python ``PanCommitInProgress``: "Another commit/validate is in progress. Please try
again later", "A commit is in progress."; an install; another admin's commit lock)."""
DETAIL_CHARS = 500


class Post(Protocol):
    def __call__(
        self, form: dict[str, str], what: str, *, ignorable: Collection[str] = (), checked: bool = True
    ) -> Awaitable[ET.Element]: ...


class PanosAddressObjects:
    """The block list as the prefixed members of one static address group of one virtual system."""

    def __init__(
        self,
        settings: PanosSettings,
        env: ConnectorEnv,
        post: Post,
        refusal: Callable[[ET.Element, str], ConnectorRejected],
    ) -> None:
        self.settings = settings
        self.env = env
        self._post = post
        self._refusal = refusal
        vsys = settings.vsys or "vsys1"
        self.base = f"/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='{vsys}']"
        self.group_xpath = f"{self.base}/address-group/entry[@name='{settings.group}']"
        assert settings.admin is not None  # the settings refuse address-objects without it
        self.admin = settings.admin

    # ----------------------------------------------------------------- read

    async def blocked(self) -> set[str]:
        return self._addresses(await self._members("show"))

    # ---------------------------------------------------------------- write

    async def block(self, addresses: list[str], comment: str) -> None:
        requested = blockable(addresses, self.env)
        listed = await self.blocked()
        wanted: dict[str, IpNetwork] = {}
        for network in requested:
            if not covers(listed, network_text(network)):
                wanted[self.name_of(network)] = network
        if not wanted:
            return
        note = printable_line(comment, DESCRIPTION_MAX_CHARS)
        objects = ""
        for name, network in wanted.items():
            entry = ET.Element("entry", {"name": name})
            ET.SubElement(entry, "ip-netmask").text = f"{network.network_address}/{network.prefixlen}"
            if note:
                ET.SubElement(entry, "description").text = note
            objects += ET.tostring(entry, encoding="unicode")
        await self._config("set", f"{self.base}/address", objects, "set address objects")
        static = ET.Element("static")
        for name in wanted:
            ET.SubElement(static, "member").text = name
        await self._config("set", self.group_xpath, ET.tostring(static, encoding="unicode"), "set group members")
        await self._commit()
        await self._verify(set(wanted), present=True)

    async def unblock(self, addresses: list[str]) -> None:
        unwanted = {network_text(network): network for network in map(parse_address, addresses)}
        listed = await self.blocked()
        names = [self.name_of(network) for text, network in unwanted.items() if text in listed]
        if not names:
            return
        for name in names:
            member = f"{self.group_xpath}/static/member[text()='{name}']"
            await self._config(
                "delete", member, None, f"remove {name} from {self.settings.group}", ignorable=(NOT_PRESENT,)
            )
        for name in names:
            xpath = f"{self.base}/address/entry[@name='{name}']"
            root = await self._config(
                "delete", xpath, None, f"delete {name}", ignorable=(NOT_PRESENT, STILL_REFERENCED)
            )
            if root.get("code") == STILL_REFERENCED:  # the membership was the block; an object used elsewhere stays
                log.info("%s: address object %s kept, still referenced: %s", self.env.name, name, _lines(root))
        await self._commit()
        await self._verify(set(names), present=False)

    # ---------------------------------------------------------------- names

    def name_of(self, network: IpNetwork) -> str:
        return self.settings.prefix + network_text(network).replace(":", "-").replace("/", "_")

    def _addresses(self, members: list[str]) -> set[str]:
        """The addresses the members named by certsoar stand for; members someone else added are left out."""
        found: set[str] = set()
        for name in members:
            if not name.startswith(self.settings.prefix):
                continue
            text = name.removeprefix(self.settings.prefix).replace("-", ":").replace("_", "/")
            try:
                found.add(network_text(parse_address(text)))
            except ConnectorRejected:
                continue
        return found

    # ------------------------------------------------------------- requests

    async def _members(self, action: str) -> list[str]:
        """The static group's members in the running (``show``) or candidate (``get``) configuration."""
        where = "running" if action == "show" else "candidate"
        what = f"read address group {self.settings.group} ({where})"
        root = await self._post(
            {"type": "config", "action": action, "xpath": self.group_xpath}, what, ignorable=(NOT_PRESENT,)
        )
        group = root.find("./result/entry")
        if root.get("status") != "success" or group is None:
            raise ConnectorRejected(
                f"address group {self.settings.group} is not in the {where} configuration of "
                f"{self.settings.vsys or 'vsys1'}: create it once (with a placeholder member) and use it in a deny "
                "rule",
                connector=self.env.name,
            )
        static = group.find("static")
        if static is None:
            raise ConnectorRejected(
                f"address group {self.settings.group} is not a static group (a dynamic one cannot hold objects)",
                connector=self.env.name,
            )
        return [member.text or "" for member in static.findall("member")]

    async def _config(
        self, action: str, xpath: str, element: str | None, what: str, *, ignorable: Collection[str] = ()
    ) -> ET.Element:
        form = {"type": "config", "action": action, "xpath": xpath}
        if element is not None:
            form["element"] = element
        return await self._post(form, what, ignorable=ignorable)

    async def _commit(self) -> None:
        """A partial commit of the admin's own changes, waited for; tried again while another commit runs."""
        partial = ET.Element("commit")
        ET.SubElement(ET.SubElement(ET.SubElement(partial, "partial"), "admin"), "member").text = self.admin
        form = {"type": "commit", "action": "partial", "cmd": ET.tostring(partial, encoding="unicode")}
        deadline = time.monotonic() + self.settings.commit_timeout
        wait = self.settings.poll_interval
        while True:
            root = await self._post(form, "commit", checked=False)
            if root.get("status") == "success":
                break
            message = _lines(root)
            if not COMMIT_BUSY.search(message):
                raise self._refusal(root, "commit")
            if time.monotonic() + wait > deadline:
                raise ConnectorUnavailable(
                    f"commit: another commit still ran after {self.settings.commit_timeout:g}s "
                    f"({message[:DETAIL_CHARS]})",
                    connector=self.env.name,
                )
            log.info("%s: commit refused for now, trying again in %.1fs: %s", self.env.name, wait, message)
            await asyncio.sleep(wait)
            wait = min(wait * 2, 30.0)
        job = (root.findtext("./result/job") or "").strip()
        if not job:
            return  # "There are no changes to commit": another process committed them already
        if not job.isdigit():
            raise ConnectorUnavailable(f"commit: the job id {job[:20]!r} is no number", connector=self.env.name)
        await self._finished(job, deadline)

    async def _finished(self, job: str, deadline: float) -> None:
        cmd = f"<show><jobs><id>{job}</id></jobs></show>"
        while True:
            root = await self._post({"type": "op", "cmd": cmd}, f"show job {job}")
            entry = root.find("./result/job")
            if entry is None:
                raise ConnectorUnavailable(f"show job {job}: the answer holds no job", connector=self.env.name)
            status, result = entry.findtext("status"), entry.findtext("result")
            if status == "FIN":
                if result == "OK":
                    return
                details = "; ".join(" ".join(line.itertext()).strip() for line in entry.findall("./details/line"))
                raise ConnectorRejected(
                    f"commit job {job} finished with result {result}: {details[:DETAIL_CHARS] or 'no details'}",
                    connector=self.env.name,
                )
            if time.monotonic() + self.settings.poll_interval > deadline:
                raise ConnectorUnavailable(
                    f"commit job {job} not finished after {self.settings.commit_timeout:g}s (status {status}, "
                    f"progress {entry.findtext('progress')}%): it may still complete",
                    connector=self.env.name,
                )
            await asyncio.sleep(self.settings.poll_interval)

    async def _verify(self, names: set[str], *, present: bool) -> None:
        """Both configurations hold the change the commit was for."""
        for action in ("get", "show"):
            members = set(await self._members(action))
            wrong = names - members if present else names & members
            if wrong:
                where = "candidate" if action == "get" else "running"
                raise ConnectorUnavailable(
                    f"after the commit, the {where} configuration of {self.settings.group} "
                    f"{'lacks' if present else 'still holds'} {', '.join(sorted(wrong))} (is admin {self.admin} "
                    "the API key's administrator?)",
                    connector=self.env.name,
                )


def _lines(root: ET.Element) -> str:
    lines = [" ".join(part.strip() for part in element.itertext() if part.strip()) for element in root.iter("msg")]
    return "; ".join(line for line in lines if line)


__all__ = ["OBJECT_NAME", "PanosAddressObjects"]
