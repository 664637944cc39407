"""What every firewall connector must do, against the vendor behind it (``firewall_vendor``, firewall_vendors.py)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from firewall_vendors import FirewallVendor

from certsoar.actions.firewall import BlockInput, UnblockInput, block, unblock
from certsoar.blocking import BlockingPolicy
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors.firewall import Firewall
from certsoar.context import ActionContext
from certsoar.errors import ConnectorRejected, ConnectorUnavailable
from certsoar.ledger import EffectLedger
from certsoar.store import RunStore

LOCAL = pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
HTTP = pytest.mark.http_vendor
SERVER = "203.0.113.7"


def context(tmp_path: Path, firewall: Firewall, run_id: str, store: RunStore, instance: str) -> ActionContext:
    config = Config.model_validate({"state_dir": str(tmp_path / "state"), "config_dir": tmp_path})
    return ActionContext(
        run_id=run_id,
        step_id="block",
        dry_run=False,
        now=datetime.now(timezone.utc),
        config=config,
        connectors=Connections(config, overrides={"firewall": {instance: firewall}}),
        ledger=EffectLedger(store, store, run_id, dry_run=False),
        templates=None,  # type: ignore[arg-type]
    )


async def test_the_connector_is_a_firewall_and_reads_an_empty_list(firewall_vendor: FirewallVendor) -> None:
    fw = firewall_vendor.build()
    assert isinstance(fw, Firewall)
    assert await fw.blocked() == set()
    assert not await fw.is_blocked(SERVER)


async def test_block_lists_normalized_addresses_and_networks(firewall_vendor: FirewallVendor) -> None:
    fw = firewall_vendor.build()
    await fw.block([SERVER, "2001:0DB8:0000::0007", "198.51.100.0/24"], "rogue cert on c2.example")
    expected = {SERVER, "2001:db8::7", "198.51.100.0/24"}
    assert firewall_vendor.listed() == expected
    assert await fw.blocked() == expected
    assert await fw.is_blocked("2001:db8::7") and await fw.is_blocked("198.51.100.0/24")
    before = firewall_vendor.state()
    await fw.block(["198.51.100.9"], "inside a listed network")  # covered: no second object
    assert firewall_vendor.state() == before and firewall_vendor.listed() == expected


async def test_block_twice_makes_one_object_and_the_second_changes_nothing(firewall_vendor: FirewallVendor) -> None:
    fw = firewall_vendor.build()
    await fw.block([SERVER], "first")
    after_first = firewall_vendor.state()
    await fw.block([SERVER], "second")
    assert firewall_vendor.state() == after_first
    assert firewall_vendor.listed() == {SERVER}


async def test_the_block_action_twice_changes_once_verified(firewall_vendor: FirewallVendor, tmp_path: Path) -> None:
    fw = firewall_vendor.build()
    store = RunStore(tmp_path / "ledger.sqlite3")
    effects = []
    for run_id in ("r1", "r2"):
        out = await block(BlockInput(addresses=[SERVER], comment="rogue"), context(tmp_path, fw, run_id, store, "fw"))
        assert out.blocked == [SERVER]
        effects += out.effects
    assert [e.changed for e in effects] == [True, False] and all(e.verified for e in effects)
    assert firewall_vendor.listed() == {SERVER}


async def test_the_unblock_action_removes_and_verifies(firewall_vendor: FirewallVendor, tmp_path: Path) -> None:
    fw = firewall_vendor.build()
    store = RunStore(tmp_path / "ledger.sqlite3")
    await block(BlockInput(addresses=[SERVER, "198.51.100.0/24"]), context(tmp_path, fw, "r1", store, "fw"))
    out = await unblock(UnblockInput(run="r1", addresses=[SERVER]), context(tmp_path, fw, "rel", store, "fw"))
    assert out.unblocked == [SERVER]
    [effect] = out.effects
    assert effect.changed and effect.verified
    assert not await fw.is_blocked(SERVER)
    assert firewall_vendor.listed() == {"198.51.100.0/24"}  # the other entry stays


async def test_unblock_of_an_address_never_blocked_changes_nothing(firewall_vendor: FirewallVendor) -> None:
    fw = firewall_vendor.build()
    await fw.block([SERVER], "rogue")
    before = firewall_vendor.state()
    await fw.unblock(["198.51.100.23", "2001:db8::99"])
    assert firewall_vendor.state() == before
    assert firewall_vendor.listed() == {SERVER}


async def test_unblock_leaves_a_wider_listed_network_alone(firewall_vendor: FirewallVendor) -> None:
    fw = firewall_vendor.build()
    await fw.block(["198.51.100.0/24"], "rogue")
    before = firewall_vendor.state()
    await fw.unblock(["198.51.100.9"])
    assert firewall_vendor.state() == before and await fw.is_blocked("198.51.100.0/24")


@pytest.mark.parametrize(
    "request_addresses",
    [
        [SERVER, "127.0.0.1"],
        ["10.0.0.0/8"],
        [SERVER, "10.0.0.53"],  # protected
        ["64:ff9b::a00:35"],  # NAT64 form of the protected DNS server
        ["::ffff:203.0.113.7"],
        ["fe80::1"],
    ],
)
async def test_refused_addresses_never_reach_the_vendor(
    firewall_vendor: FirewallVendor, request_addresses: list[str]
) -> None:
    fw = firewall_vendor.build(blocking=BlockingPolicy(protected=(ipaddress.ip_network("10.0.0.53/32"),)))
    before = firewall_vendor.state()
    with pytest.raises(ConnectorRejected, match="refusing to block"):
        await fw.block(request_addresses, "rogue")
    assert firewall_vendor.state() == before and firewall_vendor.listed() == set()


@pytest.mark.parametrize(
    "hostile",
    ["203.0.113.7\n198.51.100.1", "203.0.113.7</ip><ip>198.51.100.1", "203.0.113.7 ", "fe80::1%eth0", "203.0.113.7/24"],
)
async def test_what_is_no_address_is_rejected_before_anything_is_sent(
    firewall_vendor: FirewallVendor, hostile: str
) -> None:
    fw = firewall_vendor.build()
    before = firewall_vendor.state()
    with pytest.raises(ConnectorRejected, match="not an IP address or network"):
        await fw.block([hostile], "rogue")
    with pytest.raises(ConnectorRejected, match="not an IP address or network"):
        await fw.unblock([hostile])
    assert firewall_vendor.state() == before
    if firewall_vendor.fake is not None:
        assert firewall_vendor.fake.requests == []


async def test_the_comment_never_breaks_the_vendor_format(firewall_vendor: FirewallVendor) -> None:
    fw = firewall_vendor.build()
    await fw.block([SERVER], 'x" }\n</member><member>evil</member> {{ 7*7 }} \x00')
    assert firewall_vendor.listed() == {SERVER} and await fw.blocked() == {SERVER}


# ------------------------------------------------------------------------ the HTTP layer (HTTP vendors only)


@HTTP
async def test_401_is_rejected_naming_the_credentials(firewall_vendor: FirewallVendor) -> None:
    fw = firewall_vendor.build()
    firewall_vendor.fake.inject(401, errors=["Invalid Credential"])
    with pytest.raises(ConnectorRejected, match="authentication failed"):
        await fw.block([SERVER], "rogue")
    assert len(firewall_vendor.fake.requests) == 1  # a refusal is never tried again
    assert firewall_vendor.listed() == set()


@HTTP
async def test_429_then_200_succeeds(firewall_vendor: FirewallVendor) -> None:
    fw = firewall_vendor.build()
    firewall_vendor.fake.inject(429, headers={"Retry-After": "1"}, errors=["too many requests"])
    started = time.monotonic()
    await fw.block([SERVER], "rogue")
    assert time.monotonic() - started >= 1.0
    assert firewall_vendor.listed() == {SERVER} and await fw.is_blocked(SERVER)


@HTTP
async def test_500_forever_is_unavailable_after_the_attempts(firewall_vendor: FirewallVendor) -> None:
    fw = firewall_vendor.build(attempts=3)
    firewall_vendor.fake.inject(500, times=10, errors=["internal error"])
    with pytest.raises(ConnectorUnavailable, match="HTTP 500.*after 3 attempts"):
        await fw.block([SERVER], "rogue")
    assert len(firewall_vendor.fake.requests) == 3
    assert firewall_vendor.listed() == set()


@HTTP
@LOCAL
async def test_a_silent_server_times_out_instead_of_hanging(
    firewall_vendor: FirewallVendor, silent_server: str
) -> None:
    fw = firewall_vendor.build(url=silent_server, read_timeout=0.3, attempts=2)
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable, match="ReadTimeout.*after 2 attempts"):
        await asyncio.wait_for(fw.is_blocked(SERVER), timeout=10)
    assert time.monotonic() - started < 3


@HTTP
async def test_secrets_are_absent_from_logs_errors_and_reprs(
    firewall_vendor: FirewallVendor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fw = firewall_vendor.build(attempts=2)
    await fw.block([SERVER], "rogue")
    await fw.unblock([SERVER])
    errors: list[str] = []
    [secret] = firewall_vendor.secrets
    for status in (401, 400, 500):
        firewall_vendor.fake.inject(status, times=2, errors=[f"key {secret} refused"])
        with pytest.raises((ConnectorRejected, ConnectorUnavailable)) as caught:
            await fw.block([SERVER], "rogue")
        errors.append(str(caught.value))
    logged = [r.getMessage() for r in caplog.records]
    requests = [line for line in logged if firewall_vendor.fake.url in line and "-> HTTP" in line]
    assert len(requests) >= 6, "requests are logged at debug"
    assert all("***" in line for line in requests), "the credential in logged requests is blanked"
    assert not any(secret in line for line in logged)
    assert not any(secret in e for e in errors) and all("***" in e for e in errors)
    assert secret not in repr(fw) and secret not in repr(vars(fw))
