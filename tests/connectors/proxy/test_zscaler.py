"""The ``zscaler`` connector's own ways, beyond the proxy conformance suite: the API key's obfuscation, the
session's life, the edit lock, ZIA's Retry-After in the body, activation, and the category it may write."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_zscaler import CATEGORY, SOMEONE_ELSES, FakeZscaler, obfuscated
from proxy_vendors import ZIA_API_KEY, ProxyVendor, zscaler_vendor
from pytest_httpx import HTTPXMock

from certsoar.connectors.proxy.zscaler import ZscalerSettings, obfuscate_api_key
from certsoar.errors import ConfigError, ConnectorRejected, ConnectorUnavailable

NAME = "c2.evil-cdn.example"


@pytest.fixture
def zia(httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ProxyVendor]:
    vendor = zscaler_vendor(monkeypatch, tmp_path)
    httpx_mock.add_callback(
        vendor.fake, url=re.compile(re.escape(vendor.fake.url) + "/.*"), is_reusable=True, is_optional=True
    )
    yield vendor


def test_the_api_key_is_obfuscated_as_zscaler_documents() -> None:
    # n = "123456", r = 123456 >> 1 = "061728": key[1..6] then key[0+2], key[6+2], key[1+2], key[7+2], ...
    assert obfuscate_api_key("abcdefghijkl", "1700000123456") == "bcdefg" + "cidjek"
    for now in ("1733050000000", "1733059999999", "1700000000001"):
        assert obfuscate_api_key(ZIA_API_KEY, now) == obfuscated(ZIA_API_KEY, now)


def test_a_short_api_key_or_an_inline_secret_is_refused_at_load(
    zia: ProxyVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTSOAR_TEST_ZIA_KEY", "tooshort")
    with pytest.raises(ConfigError, match="12 characters"):
        zia.build()
    with pytest.raises(ValueError, match="env:NAME or file:PATH"):
        ZscalerSettings.model_validate(
            {
                "url": "https://zsapi.zscaler.test",
                "username": "u",
                "password": "hunter2",
                "api_key": "env:K",
                "category": "CUSTOM_01",
            }
        )


async def test_every_operation_logs_in_and_out_even_when_it_fails(zia: ProxyVendor) -> None:
    fake: FakeZscaler = zia.fake
    await zia.build().block_names([NAME], "rogue")
    assert await zia.build().is_name_blocked(NAME)
    assert fake.logins == fake.logouts == 2 and fake.sessions == set()
    with pytest.raises(ConnectorRejected, match="CUSTOM_99 does not exist"):
        await zia.build(category="CUSTOM_99").block_names(["other.evil-cdn.example"], "rogue")
    assert fake.logins == fake.logouts == 3 and fake.sessions == set()


async def test_the_change_is_in_force_only_once_activated(zia: ProxyVendor) -> None:
    fake: FakeZscaler = zia.fake
    proxy = zia.build()
    await proxy.block_names([NAME, "*.evil-cdn.example"], "rogue")
    assert fake.activations == 1 and zia.listed() == {NAME, "*.evil-cdn.example"}
    assert ".evil-cdn.example" in fake.active[CATEGORY]["urls"]  # ZIA's form of the wildcard
    assert SOMEONE_ELSES in fake.active[CATEGORY]["urls"]  # left alone
    await proxy.unblock_names([NAME])
    puts = [r for r in fake.requests if r.method == "PUT"]
    assert [r.url.params["action"] for r in puts] == ["ADD_TO_LIST", "REMOVE_FROM_LIST"]
    assert json.loads(puts[0].content)["urls"] == [NAME, ".evil-cdn.example"]  # only the delta
    assert json.loads(puts[1].content)["urls"] == [NAME]
    assert zia.listed() == {"*.evil-cdn.example"} and fake.activations == 2
    assert fake.active[CATEGORY]["urls"] == [SOMEONE_ELSES, ".evil-cdn.example"]


async def test_an_activation_that_stays_pending_is_unavailable(zia: ProxyVendor) -> None:
    fake: FakeZscaler = zia.fake
    fake.activation_stuck = True
    with pytest.raises(ConnectorUnavailable, match="staged but not active.*PENDING"):
        await zia.build(activation_checks=2).block_names([NAME], "rogue")
    assert zia.listed() == set() and fake.sessions == set()
    assert len([r for r in fake.requests if r.url.path.endswith("/status")]) == 2


async def test_the_edit_lock_is_waited_out(zia: ProxyVendor) -> None:
    proxy = zia.build()
    zia.fake.inject(409, times=2, errors=["Edit lock is not available"])
    await proxy.block_names([NAME], "rogue")
    assert zia.listed() == {NAME}


async def test_429_without_a_header_waits_what_the_body_says(zia: ProxyVendor) -> None:
    proxy = zia.build(backoff=0)
    zia.fake.inject(429, errors=["Rate Limit (1/SECOND) exceeded"])  # body: "Retry-After": "0 seconds"
    started = time.monotonic()
    await proxy.block_names([NAME], "rogue")
    assert time.monotonic() - started >= 1.0  # "0 seconds" is taken as one second
    assert zia.listed() == {NAME}


async def test_only_a_custom_category_is_written(zia: ProxyVendor) -> None:
    proxy = zia.build(category="NEWS_AND_MEDIA")
    with pytest.raises(ConnectorRejected, match="not a custom category"):
        await proxy.block_names([NAME], "rogue")
    assert not [r for r in zia.fake.requests if r.method == "PUT"]


def test_the_readme_example_is_valid_settings() -> None:
    import yaml
    from markdown_it import MarkdownIt

    readme = Path(__file__).parents[3] / "README.md"
    fences = [t.content for t in MarkdownIt().parse(readme.read_text(encoding="utf-8")) if t.type == "fence"]
    [example] = [f for f in fences if "type: zscaler\n" in f]
    section = yaml.safe_load(example)["connectors"]["proxy"]
    settings = ZscalerSettings.model_validate({k: v for k, v in section.items() if k not in ("type", "name")})
    assert settings.model_dump(exclude_unset=True).keys() == set(section) - {"type", "name"}
