"""What every proxy connector must do, against the vendor behind it (``proxy_vendor``, proxy_vendors.py): by
fingerprint where it matches fingerprints, by name where it blocks by name."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from proxy_vendors import ProxyVendor

from certsoar.actions.proxy import (
    BlockCertificateInput,
    UnblockCertificateInput,
    block_certificate,
    unblock_certificate,
)
from certsoar.blocking import BlockingPolicy
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors.proxy import NameBlockingProxy, Proxy, blocks_by
from certsoar.context import ActionContext
from certsoar.errors import ActionError, ConnectorRejected, ConnectorUnavailable
from certsoar.ledger import EffectLedger
from certsoar.store import RunStore

LOCAL = pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
HTTP = pytest.mark.http_proxy
SHA1 = "3b0c5f0e5bd4b1f6a0a5d3c9e8f7a6b5c4d3e2f1"
NAME = "c2.evil-cdn.example"
REFUSED = ["*.com", "co.uk", "github.io", "login.corp.example", "*.corp.example", "203.0.113.7", "localhost"]


def by_name(proxy: Any) -> bool:
    return "name" in blocks_by(proxy)


def targets(proxy: Any, sha1: str = SHA1, name: str = NAME) -> set[str]:
    """What the proxy blocks of a certificate: its SHA-1, its name, or both, as ``blocks_by`` says."""
    return ({sha1} if "fingerprint" in blocks_by(proxy) else set()) | ({name} if by_name(proxy) else set())


def is_sha1(value: str) -> bool:
    return len(value) == 40 and all(c in "0123456789abcdefABCDEF" for c in value)


async def block_one(proxy: Any, value: str, comment: str = "rogue") -> None:
    if is_sha1(value):
        await proxy.block_fingerprint(value, comment)
    else:
        await proxy.block_names([value], comment)


async def unblock_one(proxy: Any, value: str) -> None:
    await (proxy.unblock_fingerprint(value) if is_sha1(value) else proxy.unblock_names([value]))


async def is_blocked(proxy: Any, value: str) -> bool:
    return bool(await (proxy.is_blocked(value) if is_sha1(value) else proxy.is_name_blocked(value)))


def context(tmp_path: Path, proxy: Any, run_id: str, store: RunStore) -> ActionContext:
    config = Config.model_validate(
        {"state_dir": str(tmp_path / "state"), "config_dir": tmp_path, "protected_names": ["corp.example"]}
    )
    return ActionContext(
        run_id=run_id,
        step_id="block_cert",
        dry_run=False,
        now=datetime.now(timezone.utc),
        config=config,
        connectors=Connections(config, overrides={"proxy": {"px": proxy}}),
        ledger=EffectLedger(store, store, run_id, dry_run=False),
        templates=None,  # type: ignore[arg-type]
    )


async def test_the_connector_says_what_it_blocks_by_and_reads_an_empty_list(proxy_vendor: ProxyVendor) -> None:
    proxy = proxy_vendor.build()
    assert blocks_by(proxy) and blocks_by(proxy) <= {"fingerprint", "name"}
    if "fingerprint" in blocks_by(proxy):
        assert isinstance(proxy, Proxy) and await proxy.blocked_fingerprints() == set()
    if by_name(proxy):
        assert isinstance(proxy, NameBlockingProxy) and await proxy.blocked_names() == set()
    for value in targets(proxy):
        assert not await is_blocked(proxy, value)


async def test_block_twice_makes_one_entry_and_the_second_changes_nothing(proxy_vendor: ProxyVendor) -> None:
    proxy = proxy_vendor.build()
    for value in sorted(targets(proxy)):
        await block_one(proxy, value.upper(), "first")  # any case: one canonical entry
        after_first = proxy_vendor.state()
        await block_one(proxy, value, "second")
        assert proxy_vendor.state() == after_first and await is_blocked(proxy, value)
    assert proxy_vendor.listed() == targets(proxy)


async def test_the_block_action_twice_changes_once_verified(proxy_vendor: ProxyVendor, tmp_path: Path) -> None:
    proxy = proxy_vendor.build()
    store = RunStore(tmp_path / "ledger.sqlite3")
    changed: list[list[bool]] = []
    for run_id in ("r1", "r2"):
        inp = BlockCertificateInput(sha1=SHA1, names=[NAME], comment="rogue")
        out = await block_certificate(inp, context(tmp_path, proxy, run_id, store))
        changed.append([e.changed for e in out.effects])
        assert all(e.verified for e in out.effects) and {e.target for e in out.effects} == targets(proxy)
        assert out.names == ([NAME] if by_name(proxy) else [])
    assert changed == [[True] * len(targets(proxy)), [False] * len(targets(proxy))]
    assert proxy_vendor.listed() == targets(proxy)


async def test_the_unblock_action_removes_and_verifies(proxy_vendor: ProxyVendor, tmp_path: Path) -> None:
    proxy = proxy_vendor.build()
    store = RunStore(tmp_path / "ledger.sqlite3")
    others = targets(proxy, "a" * 40, "beacon.evil-cdn.example")
    for other in others:
        await block_one(proxy, other, "another block, made by hand")
    await block_certificate(BlockCertificateInput(sha1=SHA1, names=[NAME]), context(tmp_path, proxy, "r1", store))
    out = await unblock_certificate(
        UnblockCertificateInput(run="r1", sha1=SHA1, names=[NAME]), context(tmp_path, proxy, "rel", store)
    )
    assert {e.target for e in out.effects} == targets(proxy)
    assert all(e.changed and e.verified for e in out.effects)
    for value in targets(proxy):
        assert not await is_blocked(proxy, value)
    assert proxy_vendor.listed() == others  # what the run did not block stays
    again = await unblock_certificate(
        UnblockCertificateInput(run="r1", sha1=SHA1, names=[NAME]), context(tmp_path, proxy, "rel", store)
    )
    assert [e.changed for e in again.effects] == [False] * len(targets(proxy))


async def test_unblock_of_what_was_never_blocked_changes_nothing(proxy_vendor: ProxyVendor) -> None:
    proxy = proxy_vendor.build()
    for value in targets(proxy):
        await block_one(proxy, value)
    before = proxy_vendor.state()
    for value in targets(proxy, "b" * 40, "other.evil-cdn.example"):
        await unblock_one(proxy, value)
    assert proxy_vendor.state() == before and proxy_vendor.listed() == targets(proxy)


async def test_refused_names_never_reach_the_proxy(proxy_vendor: ProxyVendor, tmp_path: Path) -> None:
    proxy = proxy_vendor.build(blocking=BlockingPolicy(protected_names=("corp.example",)))
    store = RunStore(tmp_path / "ledger.sqlite3")
    before = proxy_vendor.state()
    if by_name(proxy):
        for name in REFUSED:
            with pytest.raises(ConnectorRejected, match="refusing to block name"):
                await proxy.block_names([NAME, name], "rogue")
        assert proxy_vendor.state() == before
        if proxy_vendor.fake is not None:
            assert proxy_vendor.fake.requests == []
    with pytest.raises(ActionError, match="nothing was blocked"):
        await block_certificate(BlockCertificateInput(names=REFUSED), context(tmp_path, proxy, "r0", store))
    assert proxy_vendor.state() == before
    out = await block_certificate(
        BlockCertificateInput(sha1=SHA1, names=[*REFUSED, NAME]), context(tmp_path, proxy, "r1", store)
    )
    # a proxy that blocks by fingerprint only has no use for names: they are not judged (nor listed as refused)
    assert sorted(r.name for r in out.refused) == (sorted(REFUSED) if by_name(proxy) else [])
    assert all(r.reason for r in out.refused)
    assert proxy_vendor.listed() == targets(proxy)


@pytest.mark.parametrize(
    "hostile", [NAME + "\nevil.example", NAME + "/path", "http://" + NAME, NAME + " ", "a..b.example", "*.*.example"]
)
async def test_what_is_no_name_is_rejected_before_anything_is_sent(proxy_vendor: ProxyVendor, hostile: str) -> None:
    proxy = proxy_vendor.build()
    if not by_name(proxy):
        pytest.skip(f"{proxy_vendor.name} blocks by fingerprint: its hostile input is test_squid/test_edl's")
    before = proxy_vendor.state()
    with pytest.raises(ConnectorRejected):
        await proxy.block_names([hostile], "rogue")
    with pytest.raises(ConnectorRejected, match="not a DNS name"):
        await proxy.unblock_names([hostile])
    assert proxy_vendor.state() == before
    if proxy_vendor.fake is not None:
        assert proxy_vendor.fake.requests == []


async def test_a_wildcard_and_an_international_name_are_blocked_in_canonical_form(proxy_vendor: ProxyVendor) -> None:
    proxy = proxy_vendor.build()
    if not by_name(proxy):
        pytest.skip(f"{proxy_vendor.name} blocks by fingerprint")
    await proxy.block_names(["*.Evil-CDN.example.", "bücher-login.example"], "rogue")
    assert proxy_vendor.listed() == {"*.evil-cdn.example", "xn--bcher-login-thb.example"}
    assert await proxy.is_name_blocked("*.evil-cdn.example")


# ------------------------------------------------------------------------ the HTTP layer (HTTP vendors only)


@HTTP
async def test_401_is_rejected_naming_the_credentials(proxy_vendor: ProxyVendor) -> None:
    proxy = proxy_vendor.build()
    proxy_vendor.fake.inject(401, errors=["Invalid Credential"])
    with pytest.raises(ConnectorRejected, match="authentication failed"):
        await block_one(proxy, NAME)
    assert len(proxy_vendor.fake.requests) == 1  # a refusal is never tried again
    assert proxy_vendor.listed() == set()


@HTTP
async def test_429_then_200_succeeds(proxy_vendor: ProxyVendor) -> None:
    proxy = proxy_vendor.build()
    proxy_vendor.fake.inject(429, headers={"Retry-After": "1"}, errors=["too many requests"])
    started = time.monotonic()
    await block_one(proxy, NAME)
    assert time.monotonic() - started >= 1.0
    assert proxy_vendor.listed() == {NAME} and await is_blocked(proxy, NAME)


@HTTP
async def test_500_forever_is_unavailable_after_the_attempts(proxy_vendor: ProxyVendor) -> None:
    proxy = proxy_vendor.build(attempts=3)
    proxy_vendor.fake.inject(500, times=10, errors=["internal error"])
    with pytest.raises(ConnectorUnavailable, match="HTTP 500.*after 3 attempts"):
        await block_one(proxy, NAME)
    assert len(proxy_vendor.fake.requests) == 3
    assert proxy_vendor.listed() == set()


@HTTP
@LOCAL
async def test_a_silent_server_times_out_instead_of_hanging(proxy_vendor: ProxyVendor, silent_server: str) -> None:
    proxy = proxy_vendor.build(url=silent_server, read_timeout=0.3, attempts=2)
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable, match="ReadTimeout.*after 2 attempts"):
        await asyncio.wait_for(is_blocked(proxy, NAME), timeout=10)
    assert time.monotonic() - started < 3


@HTTP
async def test_secrets_are_absent_from_logs_errors_and_results(
    proxy_vendor: ProxyVendor, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy = proxy_vendor.build(attempts=2)
    store = RunStore(tmp_path / "ledger.sqlite3")
    out = await block_certificate(BlockCertificateInput(sha1=SHA1, names=[NAME]), context(tmp_path, proxy, "r1", store))
    await unblock_one(proxy, NAME)
    errors: list[str] = []
    for status in (401, 400, 500):
        proxy_vendor.fake.inject(status, times=2, errors=[f"key {' '.join(proxy_vendor.secrets)} refused"])
        with pytest.raises((ConnectorRejected, ConnectorUnavailable)) as caught:
            await block_one(proxy, NAME)
        errors.append(str(caught.value))
    logged = [r.getMessage() for r in caplog.records]
    requests = [line for line in logged if proxy_vendor.fake.url in line and "-> HTTP" in line]
    assert len(requests) >= 6, "requests are logged at debug"
    sessions = [line for line in requests if "authenticatedSession" in line]
    assert sessions and all("***" in line for line in sessions), "credentials and the session cookie are blanked"
    captured = [*logged, *errors, out.model_dump_json(), repr(proxy), repr(vars(proxy))]
    for secret in [*proxy_vendor.secrets, *getattr(proxy_vendor.fake, "issued", [])]:
        assert not any(secret in text for text in captured)
    assert all("***" in e for e in errors)
