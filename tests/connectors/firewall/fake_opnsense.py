"""OPNsense's ``/api/firewall/alias_util`` on one alias, behind pytest-httpx.

Behaviour as opnsense/core ``controllers/OPNsense/Firewall/Api/AliasUtilController.php`` (current master) has
it, and vendor-apis.md section 2.3 sums it up: every answer is HTTP 200 with a ``status`` (``done``;
``not_an_address`` for anything but ``[0-9a-f:./_]``; ``failed`` with ``status_msg`` "non existing alias X");
add appends to the alias's content unless ``array_search`` finds the address at an index other than 0 (so
the first entry is appended again) and adds to the live pf table; a network alias gets ``/32`` or ``/128`` on a
bare address; delete removes the address (and its masked form) from both; list answers
``{"total", "rowCount", "current", "rows": [{"ip"}]}`` from the live table, sorted, paged by the ``current`` and
``rowCount`` POST fields. A refused key is 401 ``{"status": 401, "message": "Authentication Failed"}``
(ApiControllerBase.php).
"""

from __future__ import annotations

import base64
import json
import re

import httpx
from fake_vendor import InjectingFake

OPNSENSE_URL = "https://opnsense.example.test"
_NOT_AN_ADDRESS = re.compile(r"[^0-9a-f:./_]")


class FakeOpnsense(InjectingFake):
    url = OPNSENSE_URL

    def __init__(self, key: str, secret: str, alias: str = "certsoar_rogue_servers", kind: str = "host") -> None:
        super().__init__()
        self.credentials = base64.b64encode(f"{key}:{secret}".encode()).decode()
        self.aliases: dict[str, tuple[str, list[str]]] = {alias: (kind, [])}
        self.tables: dict[str, set[str]] = {alias: set()}
        self.writes = 0

    def error_response(self, status: int, message: str, headers: dict[str, str]) -> httpx.Response:
        return httpx.Response(status, headers=headers, json={"status": status, "message": message})

    def listed(self, alias: str = "certsoar_rogue_servers") -> set[str]:
        return set(self.tables[alias])

    def content(self, alias: str = "certsoar_rogue_servers") -> list[str]:
        return list(self.aliases[alias][1])

    def state(self) -> object:
        return (
            json.dumps({k: v[1] for k, v in self.aliases.items()}),
            sorted(self.tables["certsoar_rogue_servers"]),
            self.writes,
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if (fault := self.seen(request)) is not None:
            return fault
        if request.headers.get("Authorization") != f"Basic {self.credentials}":
            return httpx.Response(401, json={"status": 401, "message": "Authentication Failed"})
        parts = request.url.path.removeprefix("/api/firewall/alias_util/").split("/")
        if request.method != "POST" or len(parts) != 2:
            return httpx.Response(200, json={"status": "failed"})
        operation, alias = parts
        post = json.loads(request.content or b"{}")
        if operation == "list":
            return self._list(alias, post)
        if "address" not in post:
            return httpx.Response(200, json={"status": "failed"})
        self.writes += 1
        address = str(post["address"])
        if operation == "add":
            return self._add(alias, address)
        if operation == "delete":
            return self._delete(alias, address)
        return httpx.Response(200, json={"status": "failed"})

    def _list(self, alias: str, post: dict[str, object]) -> httpx.Response:
        per_page = int(str(post.get("rowCount", 9999)))
        current = int(str(post.get("current", 1)))
        entries = sorted(self.tables.get(alias, set()))
        rows = [{"ip": ip} for ip in entries[(current - 1) * per_page : current * per_page]]
        return httpx.Response(200, json={"total": len(entries), "rowCount": per_page, "current": current, "rows": rows})

    def _add(self, alias: str, address: str) -> httpx.Response:
        if _NOT_AN_ADDRESS.search(address):
            return httpx.Response(200, json={"status": "not_an_address"})
        if alias not in self.aliases:
            return httpx.Response(200, json={"status": "failed", "status_msg": f"non existing alias {alias}"})
        kind, items = self.aliases[alias]
        if "/" not in address and kind == "network":
            address += "/128" if ":" in address else "/32"
        if not (items.index(address) if address in items else 0):  # PHP: !array_search(...)
            items.append(address)
        self.tables[alias].add(_bare(address))
        return httpx.Response(200, json={"status": "done"})

    def _delete(self, alias: str, address: str) -> httpx.Response:
        if alias in self.aliases:
            items = self.aliases[alias][1]
            masked = address if "/" in address else address + ("/128" if ":" in address else "/32")
            for item in (masked, address):
                if item in items:
                    items.remove(item)
        self.tables.get(alias, set()).discard(_bare(address))
        return httpx.Response(200, json={"status": "done"})


def _bare(address: str) -> str:
    """pfctl -T show prints a host without its mask."""
    ip, _, length = address.partition("/")
    return ip if length in ("", "32" if ":" not in ip else "128") else address
