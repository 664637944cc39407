"""nftables connector: the generated script, and the real nft inside throw-away network namespaces."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
import textwrap
import time
import uuid
from multiprocessing.synchronize import Barrier as BarrierType
from pathlib import Path

import pytest
from namespaces import Namespaces
from pydantic import ValidationError

from certsoar.blocking import BlockingPolicy
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.firewall import Firewall
from certsoar.connectors.firewall.nftables import NftablesFirewall, NftablesSettings, sanitize_comment
from certsoar.errors import ConnectorRejected

DEFAULT_POLICY = BlockingPolicy()


def make_firewall(
    tmp_path: Path, *, blocking: BlockingPolicy = DEFAULT_POLICY, **overrides: object
) -> NftablesFirewall:
    settings = NftablesSettings.model_validate({"ruleset": "certsoar.nft", **overrides})
    env = ConnectorEnv(name="fw", state_dir=tmp_path / "state", config_dir=tmp_path, blocking=blocking)
    return NftablesFirewall(settings, env)


# ------------------------------------------------------------------ file only (no nft)


async def test_satisfies_protocol_and_resolves_relative_path(tmp_path: Path) -> None:
    fw = make_firewall(tmp_path)
    assert isinstance(fw, Firewall)
    assert fw.path == tmp_path / "certsoar.nft"


async def test_file_format(tmp_path: Path) -> None:
    fw = make_firewall(tmp_path, nft="/nonexistent/nft")  # apply is off: nft must never run
    await fw.block(["203.0.113.7", "2001:db8::1", "198.51.100.0/24"], "rogue cert on c2.example")
    text = fw.path.read_text()
    assert text.splitlines()[1:4] == [
        "table inet certsoar {}",
        "delete table inet certsoar",
        "table inet certsoar {",
    ]
    assert '\t\t\t203.0.113.7 comment "rogue cert on c2.example",\n' in text
    assert '\t\t\t198.51.100.0/24 comment "rogue cert on c2.example",\n' in text
    assert '\t\t\t2001:db8::1 comment "rogue cert on c2.example",\n' in text
    assert "\tset blocked_servers {\n\t\ttype ipv4_addr\n" in text
    assert "\tset blocked_servers6 {\n\t\ttype ipv6_addr\n" in text
    for rule in (
        "ip daddr @blocked_servers drop",
        "ip6 daddr @blocked_servers6 drop",
        "ip saddr @blocked_servers drop",
    ):
        assert rule in text
    for hook in ("input", "forward", "output"):
        assert f"type filter hook {hook} priority filter; policy accept;" in text
    assert await fw.blocked() == {"203.0.113.7", "2001:db8::1", "198.51.100.0/24"}


async def test_ipv6_goes_to_the_v6_set_and_is_normalized(tmp_path: Path) -> None:
    fw = make_firewall(tmp_path, set_name="bad")
    await fw.block(["2001:0DB8:0000::0001", "2001:db8:aa::/48", "192.0.2.1/32"], "x")
    text = fw.path.read_text()
    v4_part, v6_part = text.split("\tset bad6 {")
    assert "2001:db8::1" in v6_part and "2001:db8:aa::/48" in v6_part
    assert "2001:db8" not in v4_part
    assert "\t\t\t192.0.2.1 comment" in v4_part
    assert await fw.blocked() == {"2001:db8::1", "2001:db8:aa::/48", "192.0.2.1"}


async def test_idempotent_same_bytes_and_no_rewrite(tmp_path: Path) -> None:
    fw = make_firewall(tmp_path, nft="/nonexistent/nft")
    await fw.block(["192.0.2.10"], "first")
    first = fw.path.read_bytes()
    stamp = fw.path.stat().st_mtime_ns
    inode = fw.path.stat().st_ino
    await fw.block(["192.0.2.10"], "other reason")
    await fw.block([], "nothing")
    assert fw.path.read_bytes() == first
    assert (fw.path.stat().st_mtime_ns, fw.path.stat().st_ino) == (stamp, inode)
    await fw.block(["192.0.2.11"], "second")
    assert await fw.blocked() == {"192.0.2.10", "192.0.2.11"}
    assert 'comment "first"' in fw.path.read_text()  # existing entries keep their reason


async def test_unblock_removes_exactly_the_entries_named(tmp_path: Path) -> None:
    fw = make_firewall(tmp_path, nft="/nonexistent/nft", blocking=BlockingPolicy(widest_prefix_v4=16))
    await fw.block(["192.0.2.10", "2001:db8::10", "10.99.0.0/16"], "rogue")
    await fw.block(["192.0.2.11"], "kept")
    assert await fw.is_blocked("192.0.2.10") and await fw.is_blocked("2001:DB8::10")
    await fw.unblock(["192.0.2.10", "2001:db8:0::10", "10.99.7.1"])  # a host inside a listed network is no entry
    assert await fw.blocked() == {"192.0.2.11", "10.99.0.0/16"}
    assert not await fw.is_blocked("192.0.2.10") and not await fw.is_blocked("2001:db8::10")
    assert not await fw.is_blocked("10.99.7.1") and await fw.is_blocked("10.99.0.0/16")
    assert 'comment "kept"' in fw.path.read_text()


async def test_unblock_of_an_absent_address_rewrites_nothing(tmp_path: Path) -> None:
    fw = make_firewall(tmp_path, nft="/nonexistent/nft")
    await fw.block(["192.0.2.10"], "first")
    stat = fw.path.stat()
    await fw.unblock(["192.0.2.99"])
    assert (fw.path.stat().st_mtime_ns, fw.path.stat().st_ino) == (stat.st_mtime_ns, stat.st_ino)
    with pytest.raises(ConnectorRejected):
        await fw.unblock(["192.0.2.10; flush ruleset"])
    assert await fw.blocked() == {"192.0.2.10"}


async def test_addresses_inside_a_listed_network_are_already_blocked(tmp_path: Path) -> None:
    fw = make_firewall(tmp_path, blocking=BlockingPolicy(widest_prefix_v4=16))
    await fw.block(["10.99.7.1", "10.99.8.1"], "hosts")
    await fw.block(["10.99.0.0/16"], "whole net")  # swallows both hosts (nft refuses overlaps)
    assert await fw.blocked() == {"10.99.0.0/16"}
    before = fw.path.read_bytes()
    await fw.block(["10.99.3.3"], "covered")
    assert fw.path.read_bytes() == before


@pytest.mark.parametrize(
    "hostile",
    [
        "1.2.3.4; flush ruleset",
        "1.2.3.4 }\nflush ruleset",
        "1.2.3.4/8",  # host bits set: refuse rather than guess
        " 1.2.3.4",
        "example.com",
        "",
        "1.2.3.4\n",
        '::1 comment "x"',
    ],
)
async def test_hostile_addresses_are_rejected_and_nothing_is_written(tmp_path: Path, hostile: str) -> None:
    fw = make_firewall(tmp_path)
    with pytest.raises(ConnectorRejected):
        await fw.block(["192.0.2.1", hostile], "x")
    assert not fw.path.exists()


async def test_hostile_comment_is_sanitized(tmp_path: Path) -> None:
    fw = make_firewall(tmp_path)
    await fw.block(["192.0.2.5"], 'evil" }\nflush ruleset\\ # ' + "é" * 3 + "x" * 300)
    line = next(line for line in fw.path.read_text().splitlines() if "192.0.2.5" in line)
    comment = line.split(' comment "', 1)[1].removesuffix('",')
    assert '"' not in comment and "\\" not in comment and "\n" not in comment
    assert len(comment) <= 120 and comment.endswith("...")
    assert comment.startswith("evil' } flush ruleset/ #")
    assert await fw.blocked() == {"192.0.2.5"}


def test_sanitize_comment_keeps_plain_text() -> None:
    assert sanitize_comment("  CN=evil.example  sha1 ab:cd ") == "CN=evil.example sha1 ab:cd"
    assert sanitize_comment("tab\there") == "tab here"


@pytest.mark.parametrize("field", ["table", "set_name"])
@pytest.mark.parametrize("bad", ["certsoar; flush ruleset", "1abc", "a b", "x" * 40, ""])
def test_names_must_be_identifiers(field: str, bad: str) -> None:
    with pytest.raises(ValidationError):
        NftablesSettings.model_validate({"ruleset": "x.nft", field: bad})


def test_family_is_inet_only() -> None:
    with pytest.raises(ValidationError):
        NftablesSettings.model_validate({"ruleset": "x.nft", "family": "ip"})


async def test_hand_edited_file_is_refused(tmp_path: Path) -> None:
    fw = make_firewall(tmp_path)
    await fw.block(["192.0.2.1"], "x")
    text = fw.path.read_text().replace("\t\t\t192.0.2.1", "\t\t\t192.0.2.1 }; flush ruleset; {")
    fw.path.write_text(text)
    with pytest.raises(ConnectorRejected, match="not an element line"):
        await fw.blocked()


async def test_file_mode_is_kept(tmp_path: Path) -> None:
    fw = make_firewall(tmp_path)
    await fw.block(["192.0.2.1"], "x")
    assert fw.path.stat().st_mode & 0o777 == 0o644
    fw.path.chmod(0o640)
    await fw.block(["192.0.2.2"], "x")
    assert fw.path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# ------------------------------------------------------------ real nft in namespaces


@pytest.mark.real
async def test_nft_check_accepts_generated_file(tmp_path: Path, netns: Namespaces) -> None:
    ns = netns.add()
    fw = make_firewall(tmp_path)
    await fw.block(["192.0.2.1", "198.51.100.0/24", "2001:db8::1", "2001:db8:1::/48"], 'quote " and ; } chars')
    checked = netns.run(ns, "nft", "-c", "-f", str(fw.path), check=False)
    assert checked.returncode == 0, checked.stderr
    # Loading twice (table present the second time) must also be accepted.
    for _ in range(2):
        loaded = netns.run(ns, "nft", "-f", str(fw.path), check=False)
        assert loaded.returncode == 0, loaded.stderr
    listing = netns.run(ns, "nft", "list", "table", "inet", "certsoar").stdout
    assert "192.0.2.1" in listing and "2001:db8:1::/48" in listing
    assert "hook output" in listing


@pytest.mark.real
async def test_apply_loads_the_live_set(tmp_path: Path, netns: Namespaces) -> None:
    ns = netns.add()
    fw = make_firewall(tmp_path, apply=True, nft=netns.nft_wrapper(ns, tmp_path))
    assert await fw.blocked() == set()  # no table yet: nothing is blocked
    await fw.block(["192.0.2.77", "2001:db8::77", "198.51.100.0/24"], "c2 server")
    assert await fw.blocked() == {"192.0.2.77", "2001:db8::77", "198.51.100.0/24"}
    live = netns.run(ns, "nft", "list", "set", "inet", "certsoar", "blocked_servers").stdout
    assert '192.0.2.77 comment "c2 server"' in live

    # The file is unchanged but the kernel lost the table (reboot): block() loads it again.
    netns.run(ns, "nft", "delete", "table", "inet", "certsoar")
    assert await fw.blocked() == set()
    before = fw.path.read_bytes()
    await fw.block(["192.0.2.77"], "again")
    assert fw.path.read_bytes() == before
    assert "192.0.2.77" in await fw.blocked()


@pytest.mark.real
async def test_apply_with_failing_nft_keeps_old_file(tmp_path: Path, netns: Namespaces) -> None:
    ns = netns.add()
    fw = make_firewall(tmp_path, apply=True, nft=netns.nft_wrapper(ns, tmp_path))
    await fw.block(["192.0.2.1"], "x")
    before = fw.path.read_bytes()
    failing = tmp_path / "nft-fails"
    failing.write_text('#!/bin/sh\necho "Error: boom" >&2\nexit 1\n')
    failing.chmod(0o755)
    broken = make_firewall(tmp_path, apply=True, nft=str(failing))
    with pytest.raises(ConnectorRejected, match="boom"):
        await broken.block(["192.0.2.2"], "y")
    assert fw.path.read_bytes() == before


LISTENER = textwrap.dedent(
    """
    import socket, sys
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((sys.argv[1], int(sys.argv[2])))
    server.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        conn.sendall(b"hello\\n")
        conn.close()
    """
)

CONNECT = textwrap.dedent(
    """
    import socket, sys
    try:
        with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as conn:
            sys.exit(0 if conn.recv(16) == b"hello\\n" else 3)
    except OSError as exc:
        print(type(exc).__name__, exc)
        sys.exit(1)
    """
)


@pytest.mark.real
async def test_block_stops_real_traffic_between_namespaces(tmp_path: Path, netns: Namespaces) -> None:
    server_ns, client_ns = netns.add(), netns.add()
    veth = f"v{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "link", "add", veth + "a", "type", "veth", "peer", "name", veth + "b"], check=True)
    subprocess.run(["ip", "link", "set", veth + "a", "netns", server_ns], check=True)
    subprocess.run(["ip", "link", "set", veth + "b", "netns", client_ns], check=True)
    netns.run(server_ns, "ip", "addr", "add", "10.99.0.2/24", "dev", veth + "a")
    netns.run(client_ns, "ip", "addr", "add", "10.99.0.1/24", "dev", veth + "b")
    netns.run(server_ns, "ip", "link", "set", veth + "a", "up")
    netns.run(client_ns, "ip", "link", "set", veth + "b", "up")

    listener = subprocess.Popen(
        ["ip", "netns", "exec", server_ns, sys.executable, "-c", LISTENER, "10.99.0.2", "8443"],
        stdout=subprocess.PIPE,
    )
    netns.processes.append(listener)
    assert listener.stdout is not None
    assert listener.stdout.readline() == b"ready\n"

    def connect() -> subprocess.CompletedProcess[str]:
        return netns.run(client_ns, sys.executable, "-c", CONNECT, "10.99.0.2", "8443", check=False)

    deadline = time.monotonic() + 10  # the veth link may need a moment to come up
    while (before := connect()).returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert before.returncode == 0, before.stdout

    fw = make_firewall(tmp_path, apply=True, nft=netns.nft_wrapper(client_ns, tmp_path))
    await fw.block(["10.99.0.2"], "server presents rogue certificate")
    assert "10.99.0.2" in await fw.blocked()

    after = connect()
    assert after.returncode == 1, after.stdout
    assert os.path.exists(f"/run/netns/{client_ns}")

    # released: the kernel set no longer holds it and the server answers again
    await fw.unblock(["10.99.0.2"])
    assert not await fw.is_blocked("10.99.0.2") and await fw.blocked() == set()
    assert "10.99.0.2" not in netns.run(client_ns, "nft", "list", "set", "inet", "certsoar", "blocked_servers").stdout
    released = connect()
    assert released.returncode == 0, released.stdout


# ------------------------------------------------- concurrent writers in separate processes

WRITERS = 8
TRIALS = 10


def _block_from_a_process(
    settings: dict[str, object],
    folder: Path,
    address: str,
    start: BarrierType,
    results: "multiprocessing.Queue[tuple[str, bool | str]]",
) -> None:
    """One approval's worth of work in its own process: block one address, then read it back."""
    fw = make_firewall(folder, **settings)

    async def block_and_read_back() -> bool:
        await fw.block([address], f"run for {address}")
        return address in await fw.blocked()

    start.wait()  # every process is released at the same instant
    try:
        results.put((address, asyncio.run(block_and_read_back())))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((address, f"{type(exc).__name__}: {exc}"))


def block_concurrently(folder: Path, addresses: list[str], **settings: object) -> dict[str, bool | str]:
    """Each address blocked by its own process, all released together; each one's read-back."""
    context = multiprocessing.get_context("fork")
    start = context.Barrier(len(addresses))
    results: multiprocessing.Queue[tuple[str, bool | str]] = context.Queue()
    processes = [
        context.Process(target=_block_from_a_process, args=(settings, folder, address, start, results))
        for address in addresses
    ]
    for process in processes:
        process.start()
    try:
        seen = dict(results.get(timeout=60) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=60)
    return seen


def test_concurrent_processes_lose_no_block_in_the_file(tmp_path: Path) -> None:
    for trial in range(TRIALS):
        folder = tmp_path / f"trial{trial}"
        folder.mkdir()
        addresses = [f"192.0.2.{trial * WRITERS + n + 1}" for n in range(WRITERS)]
        read_backs = block_concurrently(folder, addresses, nft="/nonexistent/nft")
        assert read_backs == {address: True for address in addresses}, f"trial {trial}"
        assert await_blocked(make_firewall(folder)) == set(addresses), f"trial {trial}"


@pytest.mark.real
def test_concurrent_processes_lose_no_block_in_the_kernel(tmp_path: Path, netns: Namespaces) -> None:
    ns = netns.add()
    nft = netns.nft_wrapper(ns, tmp_path)
    wanted: set[str] = set()
    for trial in range(TRIALS):
        addresses = [f"198.51.100.{trial * WRITERS + n + 1}" for n in range(WRITERS - 1)] + [
            f"2001:db8::{trial + 1:x}:{WRITERS}"
        ]
        wanted |= set(addresses)
        read_backs = block_concurrently(tmp_path, addresses, apply=True, nft=nft)
        assert read_backs == {address: True for address in addresses}, f"trial {trial}"
        live = set(netns.run(ns, "nft", "-j", "list", "table", "inet", "certsoar").stdout.replace('"', " ").split())
        assert wanted <= live, f"trial {trial}: the kernel lacks {sorted(wanted - live)}"
        assert await_blocked(make_firewall(tmp_path)) == wanted, f"trial {trial}: the file"
        assert await_blocked(make_firewall(tmp_path, apply=True, nft=nft)) == wanted, f"trial {trial}: the live set"


def await_blocked(fw: NftablesFirewall) -> set[str]:
    return asyncio.run(fw.blocked())
