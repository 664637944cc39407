"""``panos`` with ``mode: address-objects`` beyond the conformance suite: what the objects and the commit look like,
a commit job that fails or never finishes, a commit refused while another runs, the group checked in ``connectors
check``, and what other administrators have in the same group and candidate configuration."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from fake_panos import PANOS_URL, FakePanos
from firewall_vendors import PANOS_GROUP, PANOS_KEY
from pydantic import ValidationError
from pytest_httpx import HTTPXMock

from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.firewall.panos import PanosFirewall, PanosSettings
from certsoar.errors import ConnectorRejected, ConnectorUnavailable
from certsoar.health import _check_all

SERVER = "203.0.113.7"
PLACEHOLDER = "placeholder-192.0.2.255"


@pytest.fixture
def fake(httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePanos]:
    monkeypatch.setenv("PANOS_KEY", PANOS_KEY)
    panos = FakePanos(PANOS_KEY)
    panos.add_group(PANOS_GROUP, [PLACEHOLDER])
    httpx_mock.add_callback(panos, url=re.compile(re.escape(PANOS_URL) + "/.*"), is_reusable=True, is_optional=True)
    yield panos


def settings(**values: Any) -> PanosSettings:
    return PanosSettings.model_validate(
        {
            "url": PANOS_URL,
            "api_key": "env:PANOS_KEY",
            "mode": "address-objects",
            "admin": "certsoar-api",
            "poll_interval": 0.01,
            "backoff": 0.01,
            **values,
        }
    )


def build(tmp_path: Path, **values: Any) -> PanosFirewall:
    return PanosFirewall(settings(**values), ConnectorEnv(name="pa", state_dir=tmp_path))


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


async def test_objects_carry_the_address_and_the_run_and_join_the_group(fake: FakePanos, tmp_path: Path) -> None:
    await build(tmp_path).block([SERVER, "198.51.100.0/24", "2001:db8::7"], "certsoar run r-42 <b>\n&")
    assert fake.running.objects == {
        "certsoar-203.0.113.7": {"ip-netmask": "203.0.113.7/32", "description": "certsoar run r-42 <b> &"},
        "certsoar-198.51.100.0_24": {"ip-netmask": "198.51.100.0/24", "description": "certsoar run r-42 <b> &"},
        "certsoar-2001-db8--7": {"ip-netmask": "2001:db8::7/128", "description": "certsoar run r-42 <b> &"},
    }
    assert fake.running.groups[PANOS_GROUP] == [
        PLACEHOLDER,
        "certsoar-203.0.113.7",
        "certsoar-198.51.100.0_24",
        "certsoar-2001-db8--7",
    ]
    assert fake.candidate.snapshot() == fake.running.snapshot()


async def test_the_commit_is_partial_to_the_api_admin_and_leaves_other_admins_changes(
    fake: FakePanos, tmp_path: Path
) -> None:
    fake.candidate.objects["alice-draft"] = {"ip-netmask": "198.51.100.99/32"}
    fake.dirty["alice"] = {("object", "alice-draft")}  # another administrator's change, not committed
    await build(tmp_path).block([SERVER], "certsoar run r1")
    [commit] = [form(r) for r in fake.requests if form(r)["type"] == "commit"]
    assert commit["action"] == "partial"
    sent = ET.fromstring(commit["cmd"])
    assert [m.text for m in sent.findall("./partial/admin/member")] == ["certsoar-api"]
    assert ET.tostring(sent, encoding="unicode") == (
        "<commit><partial><admin><member>certsoar-api</member></admin></partial></commit>"
    )
    assert "alice-draft" not in fake.running.objects and fake.dirty == {"alice": {("object", "alice-draft")}}
    polls = [form(r)["cmd"] for r in fake.requests if form(r)["type"] == "op"]
    assert polls == ["<show><jobs><id>1</id></jobs></show>"] * 2  # ACT/PEND, then FIN/OK


async def test_a_failed_commit_job_is_a_rejection_naming_its_details(fake: FakePanos, tmp_path: Path) -> None:
    fake.next_job = [("ACT", "PEND"), ("FIN", "FAIL")]
    fake.next_job_details = ["Validation Error:", "address-group -> certsoar-rogue-servers is invalid"]
    fw = build(tmp_path)
    with pytest.raises(
        ConnectorRejected, match=r"commit job 1 finished with result FAIL: Validation Error:.*is invalid"
    ):
        await fw.block([SERVER], "certsoar run r1")
    assert not await fw.is_blocked(SERVER) and "certsoar-203.0.113.7" not in fake.running.objects


async def test_a_commit_refused_while_another_runs_is_tried_again(fake: FakePanos, tmp_path: Path) -> None:
    fake.busy_commits = 2
    fw = build(tmp_path)
    await fw.block([SERVER], "certsoar run r1")
    assert len(fake.commits) == 3 and await fw.is_blocked(SERVER)


async def test_a_commit_lock_that_outlasts_the_timeout_is_unavailable(fake: FakePanos, tmp_path: Path) -> None:
    fake.busy_commits = 1000
    fw = build(tmp_path, commit_timeout=0.2)
    with pytest.raises(ConnectorUnavailable, match="another commit still ran after 0.2s.*Another commit/validate"):
        await fw.block([SERVER], "certsoar run r1")
    assert 2 <= len(fake.commits) < 10  # waited, with growing pauses, then gave up
    fake.busy_commits = 0
    await fw.block([SERVER], "certsoar run r1")  # a later try commits what the first one set
    assert await fw.is_blocked(SERVER)


async def test_a_job_that_never_finishes_is_unavailable_after_the_timeout(fake: FakePanos, tmp_path: Path) -> None:
    fake.next_job = [("ACT", "PEND")]
    fw = build(tmp_path, commit_timeout=0.3)
    with pytest.raises(
        ConnectorUnavailable, match=r"commit job 1 not finished after 0.3s \(status ACT, progress 55%\)"
    ):
        await fw.block([SERVER], "certsoar run r1")


async def test_a_commit_that_took_nothing_fails_the_verification(fake: FakePanos, tmp_path: Path) -> None:
    fw = build(tmp_path, admin="someone-else")  # the changes are the key's admin's: a partial commit of another's
    with pytest.raises(ConnectorUnavailable, match="running configuration .* lacks certsoar-203.0.113.7"):
        await fw.block([SERVER], "certsoar run r1")


async def test_unblock_keeps_members_and_objects_of_others(fake: FakePanos, tmp_path: Path) -> None:
    fw = build(tmp_path)
    await fw.block([SERVER, "198.51.100.4"], "certsoar run r1")
    fake.candidate.groups["soc-watch"] = fake.running.groups["soc-watch"] = ["certsoar-198.51.100.4"]
    await fw.unblock([SERVER, "198.51.100.4"])
    assert fake.running.groups[PANOS_GROUP] == [PLACEHOLDER]
    assert "certsoar-203.0.113.7" not in fake.running.objects
    assert "certsoar-198.51.100.4" in fake.running.objects  # still referenced (code 10): kept
    assert await fw.blocked() == set()
    deletes = [form(r)["xpath"] for r in fake.requests if form(r).get("action") == "delete"]
    assert deletes[0].endswith(
        f"/address-group/entry[@name='{PANOS_GROUP}']/static/member[text()='certsoar-203.0.113.7']"
    )


async def test_a_status_error_in_a_200_answer_to_a_set_is_a_rejection(fake: FakePanos, tmp_path: Path) -> None:
    fw = build(tmp_path)
    original = FakePanos.__call__

    def refusing_set(self: FakePanos, request: httpx.Request) -> httpx.Response:
        if form(request).get("action") == "set":
            self.requests.append(request)
            body = '<response status="error" code="12"><msg><line>address -> x is invalid</line></msg></response>'
            return httpx.Response(200, content=body.encode())
        return original(self, request)

    fake.__class__ = type("Refusing", (FakePanos,), {"__call__": refusing_set})
    with pytest.raises(ConnectorRejected, match=r"set address objects: PAN-OS answered status error \(code 12\)"):
        await fw.block([SERVER], "certsoar run r1")
    assert fake.commits == []


async def test_the_vsys_is_in_every_xpath(fake: FakePanos, tmp_path: Path) -> None:
    fake.vsys = "vsys2"
    await build(tmp_path, vsys="vsys2").block([SERVER], "certsoar run r1")
    xpaths = [form(r)["xpath"] for r in fake.requests if "xpath" in form(r)]
    assert xpaths and all("/vsys/entry[@name='vsys2']/" in x for x in xpaths)


@pytest.mark.parametrize(
    ("group", "match"),
    [
        (None, "address group certsoar-rogue-servers is not in the running configuration of vsys1: create it"),
        ("dynamic", "is not a static group"),
    ],
)
async def test_connectors_check_says_whether_the_group_is_there(
    fake: FakePanos, tmp_path: Path, group: str | None, match: str
) -> None:
    del fake.running.groups[PANOS_GROUP]
    if group == "dynamic":
        original = FakePanos.__call__

        def dynamic(self: FakePanos, request: httpx.Request) -> httpx.Response:
            if form(request).get("action") == "show":
                self.requests.append(request)
                body = (
                    '<response status="success"><result><entry name="certsoar-rogue-servers"><dynamic>'
                    "<filter>'x'</filter></dynamic></entry></result></response>"
                )
                return httpx.Response(200, content=body.encode())
            return original(self, request)

        fake.__class__ = type("Dynamic", (FakePanos,), {"__call__": dynamic})
    section = {"type": "panos", "name": "pa", "url": PANOS_URL, "api_key": "env:PANOS_KEY"}
    section |= {"mode": "address-objects", "admin": "certsoar-api"}
    config = Config.model_validate(
        {"state_dir": str(tmp_path / "state"), "config_dir": tmp_path, "connectors": {"firewall": [section]}}
    )
    [check] = await _check_all(config, Connections(config, overrides={"firewall": {"pa": build(tmp_path)}}))
    assert not check.ok and check.reachable and match in check.detail
    fake.__class__ = FakePanos
    fake.running.groups[PANOS_GROUP] = [PLACEHOLDER]
    [check] = await _check_all(config, Connections(config, overrides={"firewall": {"pa": build(tmp_path)}}))
    assert check.ok and check.detail == "0 address(es) blocked"


@pytest.mark.parametrize(
    "values",
    [{"admin": None}, {"admin": "admin'/>"}, {"group": "a group"}, {"group": "x']/../entry"}, {"prefix": "-x"}],
)
def test_settings_refuse_what_could_break_an_xpath(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        settings(**values)


def test_the_tag_mode_needs_no_admin() -> None:
    assert PanosSettings.model_validate({"url": PANOS_URL, "api_key": "env:PANOS_KEY"}).mode == "tag"
