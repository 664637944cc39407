"""A FortiOS REST API (``/api/v2/cmdb/firewall/...``) that keeps address objects and address groups, per VDOM.

Body shapes, as vendor-apis.md section 2.2 sums them up from public sources:
- the envelope ``{"http_method", "results"?, "vdom", "path", "name", "mkey"?, "status", "http_status", "serial",
  "version", "build"}`` (rapid7/insightconnect-plugins fortinet_fortigate unit-test payloads
  ``create_address_object_ipv4.json.resp`` and ``get_address_group.json.resp``);
- a group's ``results[0].member`` is ``[{"name", "q_origin_key"}]``; one member is added with
  ``POST …/addrgrp/{name}/member {"name"}`` and removed with ``DELETE …/addrgrp/{name}/member/{member}``;
- a create of an existing name is HTTP 500 with ``"error": -5`` (terraform-provider-fortios#244: "object
  already exists … API error -5"; the exact body layout is inferred from the error envelope: open item 5);
- a missing entry is 404; a member that names no address object is 424 (Failed Dependency); a refused
  token is 401.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

import httpx
from fake_vendor import InjectingFake

FORTIGATE_URL = "https://fgt.example.test"
PREFIX = "/api/v2/cmdb/firewall/"


class FakeFortigate(InjectingFake):
    url = FORTIGATE_URL

    def __init__(self, token: str, vdom: str = "root") -> None:
        super().__init__()
        self.token = token
        self.vdom = vdom
        self.objects: dict[str, dict[str, dict[str, str]]] = {"address": {}, "address6": {}}
        self.groups: dict[str, dict[str, list[str]]] = {
            "addrgrp": {"certsoar-rogue-servers": []},
            "addrgrp6": {"certsoar-rogue-servers6": []},
        }
        self.writes = 0

    def error_response(self, status: int, message: str, headers: dict[str, str]) -> httpx.Response:
        body = {"http_method": "GET", "status": "error", "http_status": status, "vdom": self.vdom, "message": message}
        return httpx.Response(status, headers=headers, json=body)

    def members(self, kind: str = "addrgrp", group: str | None = None) -> list[str]:
        name = group or next(iter(self.groups[kind]))
        return list(self.groups[kind][name])

    def listed(self) -> set[str]:
        found = set()
        for kind, objects, key in (("addrgrp", "address", "subnet"), ("addrgrp6", "address6", "ip6")):
            for members in self.groups[kind].values():
                for member in members:
                    value = self.objects[objects][member][key]
                    address, _, length = value.partition("/")
                    full = 32 if kind == "addrgrp" else 128
                    found.add(address if int(length) == full else value)
        return found

    def state(self) -> object:
        return json.dumps([self.objects, self.groups], sort_keys=True), self.writes

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if (fault := self.seen(request)) is not None:
            return fault
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return httpx.Response(401)
        parts = [unquote(p) for p in request.url.path.removeprefix(PREFIX).split("/")]
        if request.url.params.get("vdom") != self.vdom or not request.url.path.startswith(PREFIX):
            return self._answer(request, 404, parts)
        if request.method != "GET":
            self.writes += 1
        kind = parts[0]
        if kind in self.groups:
            return self._group(request, parts)
        if kind in self.objects:
            return self._object(request, parts)
        return self._answer(request, 404, parts)

    def _group(self, request: httpx.Request, parts: list[str]) -> httpx.Response:
        kind, groups = parts[0], self.groups[parts[0]]
        if len(parts) < 2 or parts[1] not in groups:
            return self._answer(request, 404, parts)
        members = groups[parts[1]]
        if request.method == "GET" and len(parts) == 2:
            listed = [{"name": m, "q_origin_key": m} for m in members]
            return self._answer(
                request, 200, parts, results=[{"name": parts[1], "q_origin_key": parts[1], "member": listed}]
            )
        if request.method == "POST" and parts[2:] == ["member"]:
            name = json.loads(request.content)["name"]
            objects = self.objects["address" if kind == "addrgrp" else "address6"]
            if name not in objects:
                return self._answer(request, 424, parts, error=-3)
            if name in members:
                return self._answer(request, 500, parts, error=-5)
            members.append(name)
            return self._answer(request, 200, parts, mkey=name)
        if request.method == "DELETE" and len(parts) == 4 and parts[2] == "member":
            if parts[3] not in members:
                return self._answer(request, 404, parts, error=-3)
            members.remove(parts[3])
            return self._answer(request, 200, parts)
        return self._answer(request, 405, parts)

    def _object(self, request: httpx.Request, parts: list[str]) -> httpx.Response:
        objects = self.objects[parts[0]]
        if request.method == "POST" and len(parts) == 1:
            body = json.loads(request.content)
            if body["name"] in objects:
                return self._answer(request, 500, parts, error=-5)
            objects[body["name"]] = body
            return self._answer(request, 200, parts, mkey=body["name"])
        if len(parts) == 2 and parts[1] not in objects:
            return self._answer(request, 404, parts, error=-3)
        if request.method == "GET" and len(parts) == 2:
            return self._answer(request, 200, parts, results=[objects[parts[1]]])
        if request.method == "DELETE" and len(parts) == 2:
            if any(parts[1] in members for groups in self.groups.values() for members in groups.values()):
                return self._answer(request, 500, parts, error=-23)
            del objects[parts[1]]
            return self._answer(request, 200, parts)
        return self._answer(request, 405, parts)

    def _answer(self, request: httpx.Request, status: int, parts: list[str], **extra: object) -> httpx.Response:
        body: dict[str, object] = {
            "http_method": request.method,
            "vdom": request.url.params.get("vdom", "root"),
            "path": "firewall",
            "name": parts[0] if parts else "",
            "status": "success" if status == 200 else "error",
            "http_status": status,
            "serial": "FGVM02TM20001791",
            "version": "v7.2.5",
            "build": 1517,
            **extra,
        }
        return httpx.Response(status, json=body)
