"""The ``edl`` proxy connector: certificate fingerprints and server names kept in the run store for
/v1/feeds/sha1.txt and /v1/feeds/sni.txt."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from certsoar import feeds
from certsoar.actions.proxy import BlockCertificateInput, block_certificate
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.proxy import Proxy
from certsoar.connectors.proxy.edl import EdlProxy, EdlProxySettings
from certsoar.context import ActionContext
from certsoar.errors import ConnectorRejected
from certsoar.ledger import EffectLedger
from certsoar.store import RunStore

SHA1 = "3b0c5f0e5bd4b1f6a0a5d3c9e8f7a6b5c4d3e2f1"


def proxy(store: RunStore, name: str = "pulled") -> EdlProxy:
    return EdlProxy(EdlProxySettings(), ConnectorEnv(name=name, state_dir=Path(store.path).parent, store=store))


async def test_block_twice_is_one_line_and_unblock_takes_it_out(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    edl = proxy(store)
    assert isinstance(edl, Proxy)
    await edl.block_fingerprint(SHA1.upper(), "rogue")
    await edl.block_fingerprint(":".join(SHA1[i : i + 2] for i in range(0, 40, 2)), "again")
    assert feeds.text(store, "sha1") == f"{SHA1}\n"
    assert await edl.is_blocked(SHA1) and await edl.blocked_fingerprints() == {SHA1}
    await edl.unblock_fingerprint(SHA1)
    await edl.unblock_fingerprint(SHA1)  # absent: left absent
    assert feeds.text(store, "sha1") == "" and not await edl.is_blocked(SHA1)


async def test_another_instance_keeps_its_own_entry(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    first, second = proxy(store, "first"), proxy(store, "second")
    await first.block_fingerprint(SHA1, "rogue")
    await second.block_fingerprint(SHA1, "rogue")
    await first.unblock_fingerprint(SHA1)
    assert feeds.text(store, "sha1") == f"{SHA1}\n" and not await first.is_blocked(SHA1)


@pytest.mark.parametrize("hostile", [SHA1 + "\n" + "0" * 40, SHA1[:-1], "g" * 40, SHA1 + " "])
async def test_what_is_no_fingerprint_never_reaches_the_list(tmp_path: Path, hostile: str) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    with pytest.raises(ConnectorRejected, match="not a SHA-1"):
        await proxy(store).block_fingerprint(hostile, "x")
    assert feeds.text(store, "sha1") == ""


async def test_the_block_action_twice_changes_once(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    edl = proxy(store)
    config = Config.model_validate({"state_dir": str(tmp_path / "state"), "config_dir": tmp_path})
    changed = []
    for run_id in ("r1", "r2"):
        ctx = ActionContext(
            run_id=run_id,
            step_id="block_cert",
            dry_run=False,
            now=datetime.now(timezone.utc),
            config=config,
            connectors=Connections(config, overrides={"proxy": {"pulled": edl}}),
            ledger=EffectLedger(store, store, run_id, dry_run=False),
            templates=None,  # type: ignore[arg-type]
        )
        out = await block_certificate(BlockCertificateInput(sha1=SHA1), ctx)
        changed.append((out.effect.changed, out.effect.verified))
    assert changed == [(True, True), (False, True)]
    assert feeds.text(store, "sha1") == f"{SHA1}\n"


async def test_names_go_to_the_sni_feed_in_canonical_form_each_once(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    first, second = proxy(store, "first"), proxy(store, "second")
    await first.block_names(["C2.Evil.example.", "*.evil-cdn.example", "bücher.example"], "rogue")
    await second.block_names(["c2.evil.example"], "rogue")
    assert feeds.text(store, "sni") == "*.evil-cdn.example\nc2.evil.example\nxn--bcher-kva.example\n"
    await first.unblock_names(["c2.evil.example"])
    assert await first.blocked_names() == {"*.evil-cdn.example", "xn--bcher-kva.example"}
    assert "c2.evil.example\n" in feeds.text(store, "sni")  # the second instance still lists it
    out = tmp_path / "published"
    assert feeds.write(store, out)["sni"] == 3
    assert (out / "sni.txt").read_text() == feeds.text(store, "sni")


@pytest.mark.parametrize("refused", ["*.com", "co.uk", "localhost", "203.0.113.7", "evil.example\nx.example"])
async def test_a_refused_name_never_reaches_the_sni_feed(tmp_path: Path, refused: str) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    with pytest.raises(ConnectorRejected, match="refusing to block name"):
        await proxy(store).block_names(["c2.evil.example", refused], "x")
    assert feeds.text(store, "sni") == ""
