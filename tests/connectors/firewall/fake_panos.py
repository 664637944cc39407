"""A PAN-OS XML API (``/api/``) that keeps tag registrations, behind pytest-httpx.

Body shapes, from public sources (no vendor text copied):
- every answer is ``<response status="success|error" [code=…]>``; a refused key is HTTP 403 with
  ``<response status="error" code="403"><result><msg>Invalid Credential</msg></result></response>``
  (docs.paloaltonetworks.com "API Authentication and Security", summed up in vendor-apis.md section 2.1);
- ``type=user-id`` takes a ``uid-message`` (``<version>1.0</version><type>update</type><payload><register>
  <entry ip=…><tag><member timeout=…>T</member></tag></entry>…``), as pan-os-python ``panos/userid.py``
  ``register``/``unregister`` build it; a failed entry comes back under ``./msg/line/uid-response/payload/*/entry``
  with a ``message`` attribute (pan-python ``lib/pan/xapi.py`` ``__get_response_msg``), and the messages
  ``… already exists, ignore`` / ``… does not exist, ignore unreg`` are the ones pan-os-python ignores;
- ``type=op`` ``<show><object><registered-ip>`` with ``<limit>``, ``<start-point>`` and ``<tag><entry name=T/>``
  answers ``./result/entry[@ip]/tag/member`` (what pan-os-python ``get_registered_ip`` reads, paging included).

The configuration (``mode: address-objects``), from docs.paloaltonetworks.com (PAN-OS XML API "Configuration API",
"Commit", "Asynchronous and Synchronous Requests", "XML API error codes") as vendor-apis.md section 2.1 sums them up:
- ``type=config`` ``action=set`` merges the element at the xpath and answers ``status="success" code="20"`` with
  ``<msg>command succeeded</msg>``; ``action=delete`` of a missing node answers ``status="error" code="7"`` (Object
  doesn't exist); a delete of an object a group still references answers ``code="10"`` (Reference count not zero);
- ``action=get`` reads the candidate (a missing node: ``status="success" code="7"`` and an empty ``<result/>``),
  ``action=show`` the running configuration (a missing node: ``status="error" code="7"`` No such node);
- ``type=commit`` answers ``<result><msg><line>Commit job enqueued with jobid N</line></msg><job>N</job></result>``
  (``code="19"``), or ``There are no changes to commit.`` without a job; a partial commit
  (``action=partial``, ``<commit><partial><admin><member>A</member>``) takes only admin A's changes; while another
  commit runs it answers an error "Another commit/validate is in progress. Please try again later" (the text
  pan-os-python's ``PanCommitInProgress`` matches);
- ``type=op`` ``<show><jobs><id>N</id></jobs></show>`` answers ``./result/job`` with ``status`` ACT then FIN and
  ``result`` PEND then OK or FAIL, ``progress`` and ``details/line``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx
from fake_vendor import InjectingFake

PANOS_URL = "https://pa-fw.example.test"
INVALID_CREDENTIAL = '<response status="error" code="403"><result><msg>Invalid Credential</msg></result></response>'
COMMAND_SUCCEEDED = '<response status="success" code="20"><msg>command succeeded</msg></response>'
COMMIT_BUSY = "Another commit/validate is in progress. Please try again later"
_VSYS_XPATH = re.compile(
    r"^/config/devices/entry\[@name='localhost\.localdomain'\]/vsys/entry\[@name='([^']+)'\](/.*)$"
)
_GROUP = re.compile(r"^/address-group/entry\[@name='([^']+)'\](?:/static/member\[text\(\)='([^']+)'\])?$")
_ADDRESS = re.compile(r"^/address(?:/entry\[@name='([^']+)'\])?$")


@dataclass
class PanosConfig:
    """One configuration (candidate or running) of one virtual system: address objects and static groups."""

    objects: dict[str, dict[str, str]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)

    def copy(self) -> PanosConfig:
        return PanosConfig({k: dict(v) for k, v in self.objects.items()}, {k: list(v) for k, v in self.groups.items()})

    def snapshot(self) -> object:
        return sorted((k, sorted(v.items())) for k, v in self.objects.items()), sorted(self.groups.items())


class FakePanos(InjectingFake):
    url = PANOS_URL

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.registered: dict[str, set[str]] = {}
        self.user_id_requests = 0
        self.unseen: set[str] = set()
        """Addresses the next show leaves out (another client changed them between a read and a write)."""
        self.admin = "certsoar-api"
        """The administrator the key belongs to: its changes are the ones a partial commit of it takes."""
        self.vsys = "vsys1"
        self.candidate = PanosConfig()
        self.running = PanosConfig()
        self.dirty: dict[str, set[tuple[str, str]]] = {}
        """Per administrator, the (``object``/``group``, name) pairs it changed and did not commit."""
        self.jobs: dict[int, list[tuple[str, str]]] = {}
        """Per job id, the (status, result) answers its polls still get; the last one stays."""
        self.job_details: dict[int, list[str]] = {}
        self.commits: list[str] = []
        """The cmd of each commit request."""
        self.busy_commits = 0
        """Commits to refuse first, as while another admin's commit runs."""
        self.next_job: list[tuple[str, str]] = [("ACT", "PEND"), ("FIN", "OK")]
        self.next_job_details = ["Configuration committed successfully"]

    def add_group(self, name: str, members: list[str] | None = None, *, running: bool = True) -> None:
        """A static group the operator made (and committed)."""
        self.candidate.groups[name] = list(members or [])
        if running:
            self.running.groups[name] = list(members or [])

    def error_response(
        self, status: int, message: str, headers: dict[str, str], *, code: str | None = None
    ) -> httpx.Response:
        text = ET.Element("msg")
        text.text = message
        root = ET.Element("response", {"status": "error", "code": code or str(status)})
        ET.SubElement(root, "result").append(text)
        return _xml(status, ET.tostring(root, encoding="unicode"), headers)

    def tagged(self, tag: str) -> set[str]:
        return {ip for ip, tags in self.registered.items() if tag in tags}

    def state(self) -> object:
        registrations = sorted((ip, sorted(tags)) for ip, tags in self.registered.items()), self.user_id_requests
        return registrations, self.candidate.snapshot(), self.running.snapshot(), len(self.commits)

    def listed_objects(self, group: str, prefix: str = "certsoar-") -> set[str]:
        """The addresses of the prefixed members of ``group`` in the running configuration, read from the objects."""
        members = [m for m in self.running.groups.get(group, []) if m.startswith(prefix)]
        return {self.running.objects[m]["ip-netmask"].removesuffix("/32").removesuffix("/128") for m in members}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if (fault := self.seen(request)) is not None:
            return fault
        if request.url.path != "/api/" or request.method != "POST":
            return _xml(404, '<response status="error" code="400"><msg>Bad request</msg></response>')
        if request.headers.get("X-PAN-KEY") != self.key:
            return _xml(403, INVALID_CREDENTIAL)
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        cmd = ET.fromstring(form.get("cmd", "<none/>"))
        if form.get("type") == "user-id" and cmd.tag == "uid-message":
            self.user_id_requests += 1
            return self._uid_message(cmd)
        if form.get("type") == "op" and cmd.find("./object/registered-ip") is not None:
            return self._show(cmd)
        if form.get("type") == "config":
            return self._config(form)
        if form.get("type") == "commit":
            return self._commit(form, cmd)
        if form.get("type") == "op" and cmd.find("./jobs/id") is not None:
            return self._job(int(cmd.findtext("./jobs/id") or 0))
        return _xml(200, '<response status="error" code="17"><msg><line>Invalid command</line></msg></response>')

    def _uid_message(self, message: ET.Element) -> httpx.Response:
        failed: list[tuple[str, str, str]] = []
        for operation in ("register", "unregister"):
            for entry in message.findall(f"./payload/{operation}/entry"):
                ip = entry.get("ip", "")
                for member in entry.findall("./tag/member"):
                    tag = member.text or ""
                    tags = self.registered.setdefault(ip, set())
                    if operation == "register" and tag in tags:
                        failed.append((operation, ip, f"tag {tag} already exists, ignore"))
                    elif operation == "unregister" and tag not in tags:
                        failed.append((operation, ip, f"tag {tag} does not exist, ignore unreg"))
                    elif operation == "register":
                        tags.add(tag)
                    else:
                        tags.discard(tag)
                    if not tags:
                        del self.registered[ip]
        if not failed:
            return _xml(
                200,
                '<response status="success"><result><uid-response><version>2.0</version><payload/>'
                "</uid-response></result></response>",
            )
        root = ET.Element("response", {"status": "error"})
        payload = ET.SubElement(
            ET.SubElement(ET.SubElement(ET.SubElement(root, "msg"), "line"), "uid-response"), "payload"
        )
        for operation, ip, text in failed:
            part = payload.find(operation)
            if part is None:
                part = ET.SubElement(payload, operation)
            ET.SubElement(part, "entry", {"ip": ip, "message": text})
        return _xml(200, ET.tostring(root, encoding="unicode"))

    def _show(self, cmd: ET.Element) -> httpx.Response:
        query = cmd.find("./object/registered-ip")
        assert query is not None
        wanted = query.find("./tag/entry")
        limit = int(query.findtext("limit") or 500)
        start = int(query.findtext("start-point") or 1)
        rows = sorted(
            (ip, tags)
            for ip, tags in self.registered.items()
            if (wanted is None or wanted.get("name") in tags) and ip not in self.unseen
        )
        self.unseen = set()
        page = rows[start - 1 : start - 1 + limit]
        root = ET.Element("response", {"status": "success"})
        result = ET.SubElement(root, "result")
        for ip, tags in page:
            entry = ET.SubElement(result, "entry", {"ip": ip, "from_agent": "0", "persistent": "1"})
            tag_element = ET.SubElement(entry, "tag")
            for tag in sorted(tags):
                ET.SubElement(tag_element, "member").text = tag
        ET.SubElement(result, "count").text = str(len(page))
        return _xml(200, ET.tostring(root, encoding="unicode"))

    def _config(self, form: dict[str, str]) -> httpx.Response:
        action, xpath = form.get("action"), form.get("xpath", "")
        found = _VSYS_XPATH.fullmatch(xpath)
        if found is None or found.group(1) != self.vsys:
            return _xml(200, '<response status="error" code="6"><msg><line>Bad xpath</line></msg></response>')
        rest = found.group(2)
        if action in ("get", "show"):
            config = self.candidate if action == "get" else self.running
            group = _GROUP.fullmatch(rest)
            if group is None or group.group(2) is not None:
                return _xml(200, '<response status="error" code="17"><msg>Invalid command</msg></response>')
            members = config.groups.get(group.group(1))
            if members is None:
                if action == "get":
                    return _xml(200, '<response status="success" code="7"><result/></response>')
                return _xml(200, '<response status="error" code="7"><msg><line>No such node</line></msg></response>')
            root = ET.Element("response", {"status": "success", "code": "19"})
            result = ET.SubElement(root, "result", {"total-count": "1", "count": "1"})
            static = ET.SubElement(ET.SubElement(result, "entry", {"name": group.group(1)}), "static")
            for member in members:
                ET.SubElement(static, "member").text = member
            return _xml(200, ET.tostring(root, encoding="unicode"))
        changed = self.dirty.setdefault(self.admin, set())
        if action == "set":
            element = ET.fromstring(f"<element>{form.get('element', '')}</element>")
            if (group := _GROUP.fullmatch(rest)) is not None and group.group(2) is None:
                members = self.candidate.groups.setdefault(group.group(1), [])
                members += [m.text or "" for m in element.findall("./static/member") if m.text not in members]
                changed.add(("group", group.group(1)))
            elif (address := _ADDRESS.fullmatch(rest)) is not None and address.group(1) is None:
                for entry in element.findall("entry"):
                    name = entry.get("name", "")
                    values = {child.tag: child.text or "" for child in entry}
                    self.candidate.objects[name] = {**self.candidate.objects.get(name, {}), **values}
                    changed.add(("object", name))
            else:
                return _xml(200, '<response status="error" code="17"><msg>Invalid command</msg></response>')
            return _xml(200, COMMAND_SUCCEEDED)
        if action == "delete":
            missing = '<response status="error" code="7"><result><msg>Object doesn\'t exist</msg></result></response>'
            if (group := _GROUP.fullmatch(rest)) is not None and group.group(2) is not None:
                members = self.candidate.groups.get(group.group(1), [])
                if group.group(2) not in members:
                    return _xml(200, missing)
                members.remove(group.group(2))
                changed.add(("group", group.group(1)))
            elif (address := _ADDRESS.fullmatch(rest)) is not None and address.group(1) is not None:
                name = address.group(1)
                if name not in self.candidate.objects:
                    return _xml(200, missing)
                if any(name in members for members in self.candidate.groups.values()):
                    return _xml(
                        200,
                        '<response status="error" code="10"><msg><line>Reference count not zero</line></msg>'
                        "</response>",
                    )
                del self.candidate.objects[name]
                changed.add(("object", name))
            else:
                return _xml(200, '<response status="error" code="17"><msg>Invalid command</msg></response>')
            return _xml(200, COMMAND_SUCCEEDED)
        return _xml(200, '<response status="error" code="17"><msg>Invalid command</msg></response>')

    def _commit(self, form: dict[str, str], cmd: ET.Element) -> httpx.Response:
        self.commits.append(form.get("cmd", ""))
        if self.busy_commits:
            self.busy_commits -= 1
            return _xml(200, f'<response status="error" code="13"><msg><line>{COMMIT_BUSY}</line></msg></response>')
        admins = [m.text or "" for m in cmd.findall("./partial/admin/member")]
        if form.get("action") != "partial" or not admins:
            admins = list(self.dirty)
        changes = set().union(*(self.dirty.pop(admin, set()) for admin in admins))
        if not changes:
            return _xml(
                200, '<response status="success" code="19"><msg>There are no changes to commit.</msg></response>'
            )
        job = len(self.jobs) + 1
        self.jobs[job] = list(self.next_job)
        self.job_details[job] = list(self.next_job_details)
        if self.next_job[-1] != ("FIN", "OK"):  # a failed commit leaves the changes pending
            self.dirty.setdefault(self.admin, set()).update(changes)
        else:
            for kind, name in changes:
                source, target = (
                    (self.candidate.objects, self.running.objects)
                    if kind == "object"
                    else (self.candidate.groups, self.running.groups)
                )
                if name in source:
                    target[name] = dict(source[name]) if kind == "object" else list(source[name])  # type: ignore[index]
                else:
                    target.pop(name, None)
        return _xml(
            200,
            f'<response status="success" code="19"><result><msg><line>Commit job enqueued with jobid {job}</line>'
            f"</msg><job>{job}</job></result></response>",
        )

    def _job(self, job: int) -> httpx.Response:
        answers = self.jobs.get(job)
        if answers is None:
            return _xml(200, f'<response status="error"><msg><line>job {job} not found</line></msg></response>')
        status, result = answers.pop(0) if len(answers) > 1 else answers[0]
        root = ET.Element("response", {"status": "success"})
        entry = ET.SubElement(ET.SubElement(root, "result"), "job")
        for tag, text in (
            ("id", str(job)),
            ("user", self.admin),
            ("type", "Commit"),
            ("status", status),
            ("result", result),
            ("progress", "100" if status == "FIN" else "55"),
        ):
            ET.SubElement(entry, tag).text = text
        details = ET.SubElement(entry, "details")
        if status == "FIN":
            for line in self.job_details[job]:
                ET.SubElement(details, "line").text = line
        return _xml(200, ET.tostring(root, encoding="unicode"))


def _xml(status: int, body: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, content=body.encode(), headers={"Content-Type": "application/xml; charset=UTF-8", **(headers or {})}
    )
