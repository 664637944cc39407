"""``fortigate`` beyond the conformance suite: the VDOM, objects made before, other members of the group, IPv6,
a missing group and a 500 that is no duplicate."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fake_fortigate import FORTIGATE_URL, FakeFortigate
from firewall_vendors import FORTIGATE_TOKEN
from pydantic import ValidationError
from pytest_httpx import HTTPXMock

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.firewall.fortigate import FortigateFirewall, FortigateSettings
from certsoar.errors import ConnectorRejected, ConnectorUnavailable

GROUP = "certsoar-rogue-servers"


@pytest.fixture
def fake(httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFortigate]:
    monkeypatch.setenv("FGT_TOKEN", FORTIGATE_TOKEN)
    fgt = FakeFortigate(FORTIGATE_TOKEN, vdom="branch")
    httpx_mock.add_callback(fgt, url=re.compile(re.escape(FORTIGATE_URL) + "/.*"), is_reusable=True, is_optional=True)
    yield fgt


def build(tmp_path: Path, **settings: object) -> FortigateFirewall:
    values = {"url": FORTIGATE_URL, "token": "env:FGT_TOKEN", "vdom": "branch", "backoff": 0.01, **settings}
    return FortigateFirewall(FortigateSettings.model_validate(values), ConnectorEnv(name="fgt", state_dir=tmp_path))


async def test_every_request_names_the_vdom(fake: FakeFortigate, tmp_path: Path) -> None:
    fw = build(tmp_path)
    await fw.block(["203.0.113.7", "2001:db8::7"], "rogue cert")
    await fw.unblock(["203.0.113.7"])
    assert fake.requests and all(r.url.params["vdom"] == "branch" for r in fake.requests)
    assert all(r.headers["Authorization"] == f"Bearer {FORTIGATE_TOKEN}" for r in fake.requests)
    assert all("access_token" not in str(r.url) for r in fake.requests)


async def test_another_vdom_has_no_such_group(fake: FakeFortigate, tmp_path: Path) -> None:
    with pytest.raises(ConnectorRejected, match=f"address group {GROUP} is not in VDOM root: create it"):
        await build(tmp_path, vdom="root").block(["203.0.113.7"], "rogue")
    assert fake.writes == 0


async def test_objects_and_ipv6_land_where_fortios_keeps_them(fake: FakeFortigate, tmp_path: Path) -> None:
    await build(tmp_path).block(["203.0.113.7", "198.51.100.0/24", "2001:db8::7"], 'rogue "cert"\n{{ 7*7 }}')
    objects = fake.objects
    assert objects["address"]["certsoar-203.0.113.7"] == {
        "name": "certsoar-203.0.113.7",
        "type": "ipmask",
        "subnet": "203.0.113.7/32",
        "comment": 'rogue "cert" {{ 7*7 }}',
    }
    assert objects["address"]["certsoar-198.51.100.0_24"]["subnet"] == "198.51.100.0/24"
    assert objects["address6"]["certsoar-2001:db8::7"]["ip6"] == "2001:db8::7/128"
    assert fake.members("addrgrp") == ["certsoar-203.0.113.7", "certsoar-198.51.100.0_24"]
    assert fake.members("addrgrp6") == ["certsoar-2001:db8::7"]


async def test_an_object_left_by_an_earlier_attempt_is_used(fake: FakeFortigate, tmp_path: Path) -> None:
    # a crash after the object was made and before it joined the group: the create answers -5
    fake.objects["address"]["certsoar-203.0.113.7"] = {"name": "certsoar-203.0.113.7", "subnet": "203.0.113.7/32"}
    fw = build(tmp_path)
    await fw.block(["203.0.113.7"], "rogue")
    assert fake.members() == ["certsoar-203.0.113.7"] and await fw.is_blocked("203.0.113.7")


async def test_members_someone_else_added_are_left_alone(fake: FakeFortigate, tmp_path: Path) -> None:
    fake.objects["address"]["soc-manual"] = {"name": "soc-manual", "subnet": "198.51.100.77/32"}
    fake.groups["addrgrp"][GROUP] = ["soc-manual"]
    fw = build(tmp_path)
    assert await fw.blocked() == set()
    await fw.block(["203.0.113.7"], "rogue")
    await fw.unblock(["203.0.113.7", "198.51.100.77"])
    assert fake.members() == ["soc-manual"] and "soc-manual" in fake.objects["address"]
    assert "certsoar-203.0.113.7" not in fake.objects["address"]  # the object goes with the membership


async def test_a_500_that_is_no_duplicate_is_unavailable(fake: FakeFortigate, tmp_path: Path) -> None:
    fw = build(tmp_path)
    await fw.blocked()
    original = FakeFortigate.__call__

    def failing_create(self: FakeFortigate, request: object) -> object:
        if getattr(request, "method", "") == "POST":
            return httpx.Response(
                500, json={"http_method": "POST", "status": "error", "http_status": 500, "error": -651}
            )
        return original(self, request)  # type: ignore[arg-type]

    fake.__class__ = type("Failing", (FakeFortigate,), {"__call__": failing_create})
    with pytest.raises(ConnectorUnavailable, match="FortiOS error -651"):
        await fw.block(["203.0.113.7"], "rogue")
    assert fake.members() == []


@pytest.mark.parametrize(
    "settings", [{"token": "inline-token"}, {"vdom": "root/../x"}, {"group": "a group"}, {"prefix": "-x"}]
)
def test_settings_refuse_what_could_leak_or_break_a_path(settings: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        FortigateSettings.model_validate({"url": FORTIGATE_URL, "token": "env:FGT_TOKEN", **settings})


def test_the_fake_answers_in_the_documented_envelope() -> None:
    fake = FakeFortigate("t")
    answer = fake(
        httpx.Request(
            "GET",
            f"{FORTIGATE_URL}/api/v2/cmdb/firewall/addrgrp/{GROUP}?vdom=root",
            headers={"Authorization": "Bearer t"},
        )
    )
    body = json.loads(answer.content)
    assert body["status"] == "success" and body["results"][0]["member"] == [] and body["http_status"] == 200
