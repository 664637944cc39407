"""Several firewalls: containment blocks at every configured instance (a perimeter and an internal firewall, two
real nftables tables in one network namespace), one effect per instance under a key that names it; a store
written before instances had lists (single section, key ``firewall:<type>:block:<address>``) still matches. The
firewalls are blocked at once, each one's result and error kept apart."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from namespaces import Namespaces

from certsoar.actions.containment import PriorInput, prior
from certsoar.actions.containment_sweep import ContainmentSweepInput, containment
from certsoar.actions.firewall import BlockInput, block
from certsoar.alert import CertificateAlert
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.context import ActionContext
from certsoar.errors import ActionError, ConnectorRejected, ConnectorUnavailable
from certsoar.ledger import EffectLedger
from certsoar.store import RunStore

SERVER = "198.51.100.23"


def context(
    tmp_path: Path,
    store: RunStore,
    firewalls: Any,
    step: str = "block",
    *,
    overrides: dict[str, Any] | None = None,
    **extra: Any,
) -> ActionContext:
    config = Config.model_validate(
        {"state_dir": str(tmp_path / "state"), "config_dir": tmp_path, "connectors": {"firewall": firewalls}, **extra}
    )
    run_id, _ = store.create_run(playbook="p", alert_id=f"a-{step}", trigger="test", alert={})
    return ActionContext(
        run_id=run_id,
        step_id=step,
        dry_run=False,
        now=datetime.now(timezone.utc),
        config=config,
        connectors=Connections(config, store, overrides=overrides),
        ledger=EffectLedger(store, store, run_id, dry_run=False),
        templates=None,  # type: ignore[arg-type]
    )


def live_set(netns: Namespaces, ns: str, table: str) -> str:
    return netns.run(ns, "nft", "list", "set", "inet", table, "blocked_servers").stdout


def alert() -> CertificateAlert:
    return CertificateAlert.model_validate(
        {"id": "A1", "time": "2026-05-30T01:02:03Z", "source_format": "generic", "dst_ip": SERVER, "sha1": "ab" * 20}
    )


@pytest.mark.real
async def test_containment_blocks_at_the_perimeter_and_the_internal_firewall(tmp_path: Path, netns: Namespaces) -> None:
    ns = netns.add()
    nft = netns.nft_wrapper(ns, tmp_path)
    firewalls = [
        {
            "type": "nftables",
            "name": "perimeter",
            "ruleset": "perimeter.nft",
            "table": "perimeter",
            "apply": True,
            "nft": nft,
        },
        {
            "type": "nftables",
            "name": "internal",
            "ruleset": "internal.nft",
            "table": "internal",
            "apply": True,
            "nft": nft,
        },
    ]
    store = RunStore(tmp_path / "runs.sqlite3")

    first = await block(BlockInput(addresses=[SERVER], comment="c2"), context(tmp_path, store, firewalls))
    assert [(e.key, e.changed, e.verified) for e in first.effects] == [
        (f"firewall:perimeter:block:{SERVER}", True, True),
        (f"firewall:internal:block:{SERVER}", True, True),
    ]
    assert first.blocked == [SERVER]
    for table in ("perimeter", "internal"):  # the kernel's own sets, read back with nft
        assert SERVER in live_set(netns, ns, table)

    # the internal firewall lost its entry (a reboot without the ruleset): the next run blocks only there
    netns.run(ns, "nft", "delete", "table", "inet", "internal")
    again = await block(BlockInput(addresses=[SERVER], comment="c2"), context(tmp_path, store, firewalls, "again"))
    assert [(e.key, e.changed) for e in again.effects] == [
        (f"firewall:perimeter:block:{SERVER}", False),
        (f"firewall:internal:block:{SERVER}", True),
    ]
    assert SERVER in live_set(netns, ns, "internal")

    seen = await prior(PriorInput(alert=alert(), addresses=[SERVER]), context(tmp_path, store, firewalls, "prior"))
    assert seen.uncontained == [] and {e.key for e in seen.effects} == set()  # a server alone does not contain
    assert not seen.contained

    # the containment sweep checks each block at its own firewall: only the perimeter's drifted, only it is repaired
    netns.run(ns, "nft", "delete", "table", "inet", "perimeter")
    repair = {"sweeps": {"containment": {"repair": True}}}
    swept = await containment(ContainmentSweepInput(), context(tmp_path, store, firewalls, "sweep", **repair))
    assert [(d.key, d.repaired) for d in swept.findings] == [(f"firewall:perimeter:block:{SERVER}", True)]
    assert (swept.examined, swept.drift, swept.repaired, swept.errors) == (2, 1, 1, [])
    assert SERVER in live_set(netns, ns, "perimeter") and SERVER in live_set(netns, ns, "internal")


async def test_a_store_from_before_instance_lists_still_matches(tmp_path: Path) -> None:
    """The key a single-section config wrote before (``firewall:nftables:block:...``: the instance is the type
    when the section has no name) is this config's key now: the block is not made again, and a list whose first
    firewall keeps that name reads it too."""
    store = RunStore(tmp_path / "runs.sqlite3")
    single = {"type": "nftables", "ruleset": "blocked.nft"}
    old = context(tmp_path, store, single, "old")
    # what the previous version recorded, written as it wrote it: the literal key, done and verified
    await old.ledger.apply(
        f"firewall:nftables:block:{SERVER}",
        step_id="old",
        action="firewall.block",
        target=SERVER,
        is_done=lambda: _listed(old),
        write=lambda: old.connectors.firewall.block([SERVER], "old version"),
    )
    ruleset = (tmp_path / "blocked.nft").read_bytes()

    now = await block(BlockInput(addresses=[SERVER]), context(tmp_path, store, single, "new"))
    assert [(e.key, e.changed, e.verified) for e in now.effects] == [(f"firewall:nftables:block:{SERVER}", False, True)]
    assert (tmp_path / "blocked.nft").read_bytes() == ruleset  # not written again

    listed = [dict(single, name="nftables"), {"type": "nftables", "name": "internal", "ruleset": "internal.nft"}]
    seen = await prior(PriorInput(alert=alert(), addresses=[SERVER]), context(tmp_path, store, listed, "prior"))
    assert seen.uncontained == [f"firewall:internal:{SERVER}"]
    assert [e.key for e in seen.effects] == []  # servers alone never make the certificate contained
    assert not seen.all_contained


async def _listed(ctx: ActionContext) -> tuple[bool, dict[str, object]]:
    return SERVER in await ctx.connectors.firewall.blocked(), {"address": SERVER}


# ------------------------------------------------------------------------------------- at once

FILE_FIREWALLS = [
    {"type": "nftables", "name": "perimeter", "ruleset": "perimeter.nft", "table": "perimeter"},
    {"type": "nftables", "name": "internal", "ruleset": "internal.nft", "table": "internal"},
]


class Gated:
    """A firewall whose ``block`` first awaits ``gate`` (which may wait, or raise), then blocks at ``inner``."""

    def __init__(self, inner: Any, gate: Callable[[], Awaitable[None]]) -> None:
        self.inner, self.gate = inner, gate

    async def blocked(self) -> set[str]:
        return set(await self.inner.blocked())

    async def block(self, addresses: list[str], comment: str) -> None:
        await self.gate()
        await self.inner.block(addresses, comment)

    async def unblock(self, addresses: list[str]) -> None:
        await self.inner.unblock(addresses)

    async def is_blocked(self, address: str) -> bool:
        return bool(await self.inner.is_blocked(address))


def gated(
    tmp_path: Path,
    store: RunStore,
    gate: Callable[[], Awaitable[None]],
    step: str,
    internal_writing: asyncio.Event | None = None,
) -> ActionContext:
    """Real nftables firewalls (ruleset files): the perimeter gated by ``gate``, the internal one setting
    ``internal_writing`` as its write starts."""
    config = Config.model_validate(
        {"state_dir": str(tmp_path / "state"), "config_dir": tmp_path, "connectors": {"firewall": FILE_FIREWALLS}}
    )
    real = dict(Connections(config, store).each("firewall"))
    writing = internal_writing or asyncio.Event()

    async def announce() -> None:
        writing.set()

    firewalls = {"perimeter": Gated(real["perimeter"], gate), "internal": Gated(real["internal"], announce)}
    return context(tmp_path, store, FILE_FIREWALLS, step, overrides={"firewall": firewalls})


def listed(tmp_path: Path, name: str) -> bool:
    ruleset = tmp_path / f"{name}.nft"
    return ruleset.exists() and SERVER in ruleset.read_text()


async def test_the_firewalls_block_at_once(tmp_path: Path) -> None:
    """The perimeter (first in the config) writes only once the internal firewall has started writing: one after
    the other, the perimeter would wait for it forever (here: fail after 5 s)."""
    store = RunStore(tmp_path / "runs.sqlite3")
    internal_started = asyncio.Event()

    async def after_the_internal_one_started() -> None:
        try:
            await asyncio.wait_for(internal_started.wait(), timeout=5)
        except TimeoutError:
            raise ConnectorUnavailable(
                "the internal firewall never started: the blocks ran one after another"
            ) from None

    ctx = gated(tmp_path, store, after_the_internal_one_started, "block", internal_started)
    out = await block(BlockInput(addresses=[SERVER], comment="c2"), ctx)
    assert [(e.key, e.changed, e.verified) for e in out.effects] == [
        (f"firewall:perimeter:block:{SERVER}", True, True),
        (f"firewall:internal:block:{SERVER}", True, True),
    ]
    assert out.blocked == [SERVER] and listed(tmp_path, "perimeter") and listed(tmp_path, "internal")


@pytest.mark.parametrize(
    ("error", "raised"),
    [(ConnectorUnavailable, ConnectorUnavailable), (ConnectorRejected, ActionError)],
    ids=["unavailable-is-retryable", "rejected-is-not"],
)
async def test_one_firewall_failing_does_not_hide_the_others_block(
    tmp_path: Path, error: type[Exception], raised: type[Exception]
) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")

    async def refuse() -> None:
        raise error("the device said no", connector="perimeter")

    ctx = gated(tmp_path, store, refuse, "block")
    with pytest.raises(raised, match="blocking failed at perimeter .*the device said no.*; blocked at internal$"):
        await block(BlockInput(addresses=[SERVER], comment="c2"), ctx)
    assert listed(tmp_path, "internal") and not listed(tmp_path, "perimeter")
    recorded = {row.key: row.verified for row in store.run_effects(ctx.run_id)}
    assert recorded == {f"firewall:internal:block:{SERVER}": True}  # the internal block is on record, verified

    async def healthy() -> None:
        return None

    again = gated(tmp_path, store, healthy, "again")  # the step run again: only the perimeter is written
    out = await block(BlockInput(addresses=[SERVER], comment="c2"), again)
    assert [(e.key, e.changed) for e in out.effects] == [
        (f"firewall:perimeter:block:{SERVER}", True),
        (f"firewall:internal:block:{SERVER}", False),
    ]
    assert out.blocked == [SERVER] and listed(tmp_path, "perimeter")
