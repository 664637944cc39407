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
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qs

import httpx
from fake_vendor import InjectingFake

PANOS_URL = "https://pa-fw.example.test"
INVALID_CREDENTIAL = '<response status="error" code="403"><result><msg>Invalid Credential</msg></result></response>'


class FakePanos(InjectingFake):
    url = PANOS_URL

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.registered: dict[str, set[str]] = {}
        self.user_id_requests = 0
        self.unseen: set[str] = set()
        """Addresses the next show leaves out (another client changed them between a read and a write)."""

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
        return sorted((ip, sorted(tags)) for ip, tags in self.registered.items()), self.user_id_requests

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


def _xml(status: int, body: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, content=body.encode(), headers={"Content-Type": "application/xml; charset=UTF-8", **(headers or {})}
    )
