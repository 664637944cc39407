"""certsoar.feeds: the block lists kept in the run store, as served and written."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

import pytest

from certsoar import feeds
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.firewall.edl import EdlFirewall, EdlSettings
from certsoar.store import RunStore


def test_entries_are_ordered_by_address_and_listed_once_across_instances(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    feeds.prepare(store)
    feeds.add(store, "a", "addresses", ["2001:db8::1", "198.51.100.0/24", "10.0.0.9"], "x")
    feeds.add(store, "b", "addresses", ["10.0.0.9", "9.9.9.9"], "y")
    assert feeds.text(store, "addresses") == "9.9.9.9\n10.0.0.9\n198.51.100.0/24\n2001:db8::1\n"
    assert feeds.entries(store, "addresses", "b") == ["9.9.9.9", "10.0.0.9"]
    assert feeds.remove(store, "a", "addresses", ["10.0.0.9", "10.0.0.10"]) == ["10.0.0.9"]
    assert "10.0.0.9\n" in feeds.text(store, "addresses")  # instance b still lists it


@pytest.mark.parametrize(
    ("feed", "value"),
    [
        ("addresses", "10.0.0.9\n10.0.0.10"),
        ("addresses", "2001:DB8::1"),
        ("addresses", "10.0.0.9/32"),
        ("addresses", "10.0.0.9 "),
        ("sha1", "AB" * 20),
        ("sha1", "ab" * 20 + "\n"),
        ("sni", "Evil.example"),
        ("sni", "evil.example."),
        ("sni", "evil.example\nother.example"),
        ("sni", "bücher.example"),
    ],
)
def test_only_normalized_values_enter_a_feed(tmp_path: Path, feed: feeds.Feed, value: str) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    feeds.prepare(store)
    with pytest.raises(ValueError):
        feeds.add(store, "a", feed, [value], "x")
    assert feeds.text(store, feed) == ""


def test_write_replaces_every_feed_file(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    feeds.prepare(store)
    feeds.add(store, "a", "sha1", ["ab" * 20], "x")
    out = tmp_path / "out"
    (out).mkdir()
    (out / "addresses.txt").write_text("stale\n")
    assert feeds.write(store, out) == {"addresses": 0, "sha1": 1, "sni": 0}
    assert (out / "addresses.txt").read_text() == "" and (out / "sha1.txt").read_text() == "ab" * 20 + "\n"


def test_a_read_only_store_that_never_held_a_feed_reads_empty(tmp_path: Path) -> None:
    RunStore(tmp_path / "runs.sqlite3").close()
    with RunStore(tmp_path / "runs.sqlite3", read_only=True) as store:
        feeds.prepare(store)
        assert feeds.text(store, "addresses") == ""


def _block_from_another_process(state: str, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    store = RunStore(Path(state) / "runs.sqlite3")
    edl = EdlFirewall(EdlSettings(), ConnectorEnv(name="edl", state_dir=Path(state), store=store))
    asyncio.run(edl.block(["203.0.113.7", "198.51.100.0/24"], "rogue"))


def test_processes_blocking_at_once_list_each_address_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(4)
    workers = [context.Process(target=_block_from_another_process, args=(str(tmp_path), start)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    rows = RunStore(tmp_path / "runs.sqlite3").db.execute("SELECT value FROM feed_entries ORDER BY value").fetchall()
    assert [r[0] for r in rows] == ["198.51.100.0/24", "203.0.113.7"]
