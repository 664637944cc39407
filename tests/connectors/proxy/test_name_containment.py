"""A name block after it is made: the containment sweep finds it gone from the proxy and makes it again, and the
run's report says which name was blocked where."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from certsoar import blocking, feeds
from certsoar.actions.containment_sweep import ContainmentSweepInput, containment
from certsoar.actions.proxy import BlockCertificateInput, block_certificate
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.context import ActionContext
from certsoar.ledger import EffectLedger
from certsoar.report import _effect_line
from certsoar.store import RunStore

NAME = "c2.evil-cdn.example"


def context(tmp_path: Path, store: RunStore, step: str, **extra: Any) -> ActionContext:
    config = Config.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "config_dir": tmp_path,
            "connectors": {"proxy": {"type": "edl", "name": "pulled"}},
            **extra,
        }
    )
    run_id, _ = store.create_run(playbook="p", alert_id=f"a-{step}", trigger="test", alert={})
    return ActionContext(
        run_id=run_id,
        step_id=step,
        dry_run=False,
        now=datetime.now(timezone.utc),
        config=config,
        connectors=Connections(config, store),
        ledger=EffectLedger(store, store, run_id, dry_run=False),
        templates=None,  # type: ignore[arg-type]
    )


async def test_the_containment_sweep_repairs_a_name_block_removed_by_hand(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    out = await block_certificate(BlockCertificateInput(names=[NAME]), context(tmp_path, store, "block"))
    [effect] = out.effects
    assert effect.key == f"proxy:pulled:block_name:{NAME}" and effect.changed and effect.verified
    assert _effect_line(effect.model_dump(), "pulled") == f"blocked name {NAME} at proxy pulled (verified)"

    clean = await containment(ContainmentSweepInput(), context(tmp_path, store, "sweep1"))
    assert (clean.examined, clean.drift) == (1, 0)

    feeds.remove(store, "pulled", "sni", [NAME])  # someone takes it out of the list by hand
    repair = {"sweeps": {"containment": {"repair": True}}}
    swept = await containment(ContainmentSweepInput(), context(tmp_path, store, "sweep2", **repair))
    assert [(d.key, d.problem, d.repaired) for d in swept.findings] == [
        (effect.key, "not in the proxy's list of blocked names", True)
    ]
    assert feeds.entries(store, "sni", "pulled") == [NAME]


async def test_names_are_not_judged_when_no_proxy_blocks_by_name(tmp_path: Path) -> None:
    """Squid matches fingerprints only: the alert's names are left alone, and the public-suffix list (a tenth of a
    second of a one-alert CLI run) is never loaded."""
    blocking._suffixes.cache_clear()
    store = RunStore(tmp_path / "runs.sqlite3")
    ctx = context(tmp_path, store, "block")
    squid = {"type": "squid", "name": "squid", "fingerprint_file": str(tmp_path / "rogue.txt"), "reconfigure": False}
    ctx.config = Config.model_validate({**ctx.config.model_dump(), "connectors": {"proxy": squid}})
    ctx.connectors = Connections(ctx.config, store)
    out = await block_certificate(BlockCertificateInput(sha1="a" * 40, names=[NAME, "com"]), ctx)
    assert [e.action for e in out.effects] == ["proxy.block_certificate"] and out.names == [] and out.refused == []
    assert blocking._suffixes.cache_info().currsize == 0
