"""``opnsense`` beyond the conformance suite: the status inside HTTP 200, add's first-entry quirk, network aliases,
paging, and the list answer of older releases."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fake_opnsense import OPNSENSE_URL, FakeOpnsense
from firewall_vendors import OPNSENSE_KEY, OPNSENSE_SECRET
from pydantic import ValidationError
from pytest_httpx import HTTPXMock

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.firewall.opnsense import OpnsenseFirewall, OpnsenseSettings
from certsoar.errors import ConnectorRejected

ALIAS = "certsoar_rogue_servers"
SERVER = "203.0.113.7"


@pytest.fixture
def fake(httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpnsense]:
    monkeypatch.setenv("OPN_KEY", OPNSENSE_KEY)
    monkeypatch.setenv("OPN_SECRET", OPNSENSE_SECRET)
    opn = FakeOpnsense(OPNSENSE_KEY, OPNSENSE_SECRET)
    httpx_mock.add_callback(opn, url=re.compile(re.escape(OPNSENSE_URL) + "/.*"), is_reusable=True, is_optional=True)
    yield opn


def build(tmp_path: Path, **settings: object) -> OpnsenseFirewall:
    values = {
        "url": OPNSENSE_URL,
        "api_key": "env:OPN_KEY",
        "api_secret": "env:OPN_SECRET",
        "backoff": 0.01,
        **settings,
    }
    return OpnsenseFirewall(OpnsenseSettings.model_validate(values), ConnectorEnv(name="opn", state_dir=tmp_path))


async def test_a_status_other_than_done_is_a_rejection(fake: FakeOpnsense, tmp_path: Path) -> None:
    fake.tables["other_alias"] = set()  # listable, but not a configured alias: add answers failed
    with pytest.raises(ConnectorRejected, match="OPNsense answered status 'failed': non existing alias other_alias"):
        await build(tmp_path, alias="other_alias").block([SERVER], "rogue")


async def test_the_address_that_is_the_first_entry_is_not_added_twice(fake: FakeOpnsense, tmp_path: Path) -> None:
    fake.aliases[ALIAS][1].append(SERVER)
    fake.tables[ALIAS].add(SERVER)
    await build(tmp_path).block([SERVER, "198.51.100.4"], "rogue")
    assert fake.content() == [SERVER, "198.51.100.4"]


async def test_a_network_alias_keeps_masks_and_reads_back_normalized(fake: FakeOpnsense, tmp_path: Path) -> None:
    fake.aliases[ALIAS] = ("network", [])
    fw = build(tmp_path)
    await fw.block([SERVER, "198.51.100.0/24", "2001:db8::7"], "rogue")
    assert fake.content() == [f"{SERVER}/32", "198.51.100.0/24", "2001:db8::7/128"]
    assert await fw.blocked() == {SERVER, "198.51.100.0/24", "2001:db8::7"}
    await fw.unblock([SERVER, "2001:db8::7"])
    assert fake.content() == ["198.51.100.0/24"] and fake.listed() == {"198.51.100.0/24"}


async def test_reads_go_page_by_page(fake: FakeOpnsense, tmp_path: Path) -> None:
    fake.tables[ALIAS] |= {f"203.0.113.{n}" for n in range(1, 6)}
    assert await build(tmp_path, page_size=2).blocked() == {f"203.0.113.{n}" for n in range(1, 6)}
    pages = [json.loads(r.content)["current"] for r in fake.requests]
    assert pages == [1, 2, 3]


async def test_the_list_answer_of_older_releases_is_read(fake: FakeOpnsense, tmp_path: Path) -> None:
    def older(self: FakeOpnsense, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=["198.51.100.0/24", SERVER])

    fake.__class__ = type("Older", (FakeOpnsense,), {"__call__": older})
    assert await build(tmp_path).blocked() == {SERVER, "198.51.100.0/24"}


async def test_only_the_parsed_address_is_sent(fake: FakeOpnsense, tmp_path: Path) -> None:
    await build(tmp_path).block(["2001:0DB8:0000::0007"], "rogue")
    [add] = [r for r in fake.requests if "/add/" in r.url.path]
    assert json.loads(add.content) == {"address": "2001:db8::7"}
    assert add.url.path == f"/api/firewall/alias_util/add/{ALIAS}"


@pytest.mark.parametrize(
    "settings", [{"api_key": "inline"}, {"api_secret": "inline"}, {"alias": "../../core"}, {"alias": "a" * 33}]
)
def test_settings_refuse_what_could_leak_or_break_a_path(settings: dict[str, str]) -> None:
    values = {"url": OPNSENSE_URL, "api_key": "env:OPN_KEY", "api_secret": "env:OPN_SECRET", **settings}
    with pytest.raises(ValidationError):
        OpnsenseSettings.model_validate(values)
