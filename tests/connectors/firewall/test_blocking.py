"""What may never be blocked: the one decision (certsoar.blocking), the firewall.block action that
reports refusals, and the nftables connector that checks again before it writes."""

from __future__ import annotations

import asyncio
import ipaddress
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from namespaces import Namespaces

from certsoar.actions.firewall import BlockInput, BlockOutput, block
from certsoar.addresses import network_text, parse_network
from certsoar.blocking import BlockingPolicy, refusal
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.firewall import covers
from certsoar.connectors.firewall.nftables import NftablesFirewall, NftablesSettings
from certsoar.context import ActionContext
from certsoar.errors import ActionError, ConnectorRejected
from certsoar.ledger import EffectLedger
from certsoar.playbook import parse_playbook
from certsoar.registry import get_action
from certsoar.store import RunStore
from certsoar.templating import Templates
from certsoar.validate import check_playbook

NEVER = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("255.255.255.255", "broadcast"),
    ("224.0.0.251", "multicast"),
    ("ff02::1", "multicast"),
    ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("240.0.0.1", "reserved"),
    ("::ffff:127.0.0.1", "IPv4-mapped"),
    ("::ffff:203.0.113.5", "IPv4-mapped"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("0.0.0.0/0", "unspecified"),
    ("::/0", "unspecified"),
    ("126.0.0.0/7", "loopback"),  # a network containing loopback is refused too
    ("fe80::/9", "link-local"),
]
WIDTH = ["10.0.0.0/8", "198.51.0.0/16", "203.0.112.0/23", "2001:db8::/32", "2001:db8::/47"]
ALLOWED = ["203.0.113.7", "10.20.0.5", "192.168.1.0/24", "2001:db8::1", "2001:db8:1::/48", "100.64.0.1"]
PROTECTED = BlockingPolicy(protected=(ipaddress.ip_network("10.0.0.53/32"), ipaddress.ip_network("2001:db8:dc::/64")))


@pytest.mark.parametrize(("address", "why"), NEVER)
def test_never_blocked(address: str, why: str) -> None:
    reason = refusal(address, BlockingPolicy(widest_prefix_v4=0, widest_prefix_v6=0))  # width is not why
    assert reason is not None and why in reason


@pytest.mark.parametrize("network", WIDTH)
def test_wider_than_the_limit_is_refused_unless_the_config_allows_it(network: str) -> None:
    assert "wider than" in (refusal(network, BlockingPolicy()) or "")
    assert refusal(network, BlockingPolicy(widest_prefix_v4=8, widest_prefix_v6=32)) is None


@pytest.mark.parametrize("address", ALLOWED)
def test_ordinary_servers_may_be_blocked(address: str) -> None:
    assert refusal(address, BlockingPolicy()) is None


@pytest.mark.parametrize("address", ["10.0.0.53", "10.0.0.52/31", "10.0.0.0/24", "2001:db8:dc::9", "2001:db8:dc::/48"])
def test_protected_networks_and_any_network_overlapping_them(address: str) -> None:
    assert "protected network" in (refusal(address, PROTECTED) or "")
    assert refusal(address, BlockingPolicy(widest_prefix_v6=48)) is None


# IPv6 forms that carry an IPv4 address are judged by it too (the Teredo client is stored inverted).
CARRIERS = [
    ("2002:7f00:1::/48", "127.0.0.1/32 (6to4): loopback"),
    ("2002:7f00:1::1", "127.0.0.1/32 (6to4): loopback"),
    ("2002:a00:35::/48", "10.0.0.53/32 (6to4): protected network"),
    ("2001:0:7f00:1::1", "127.0.0.1/32 (Teredo server): loopback"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1/32 (Teredo client): loopback"),
    ("2001:0:4136:e378:8000:63bf:f5ff:ffca", "10.0.0.53/32 (Teredo client): protected network"),
    ("2001:0:4136:e378::/64", "0.0.0.0/0 (Teredo client)"),  # every client behind that server
    ("64:ff9b::a00:35", "10.0.0.53/32 (NAT64): protected network"),
]


@pytest.mark.parametrize(("address", "why"), CARRIERS)
def test_ipv6_forms_carrying_a_never_blocked_or_protected_ipv4_are_refused(address: str, why: str) -> None:
    reason = refusal(address, PROTECTED) or ""
    assert f"carries IPv4 {why}" in reason


@pytest.mark.parametrize(
    "address", ["2002:cb00:7107::1", "2002:cb00:7107::/48", "2001:0:4136:e378:8000:63bf:34ff:8ef8"]
)
def test_ipv6_forms_carrying_an_ordinary_server_may_be_blocked(address: str) -> None:
    assert refusal(address, PROTECTED) is None


def test_a_protected_network_written_ipv4_mapped_protects_the_ipv4_network() -> None:
    config = Config.model_validate({"protected_networks": ["::ffff:10.0.0.53", "::ffff:192.0.2.0/120"]})
    policy = BlockingPolicy.from_config(config)
    for address in ["10.0.0.53", "10.0.0.52/31", "192.0.2.9", "::ffff:10.0.0.53"]:
        assert refusal(address, policy) is not None, address
    assert refusal("10.0.0.54", policy) is None


@pytest.mark.parametrize(
    "text", ["fe80::1%x\n}\nflush ruleset", "203.0.113.7%eth0", "203.0.113.7/24", " 203.0.113.7", "x"]
)
def test_unparseable_or_ambiguous_text_is_refused(text: str) -> None:
    assert "not an IP address" in (refusal(text, BlockingPolicy()) or "")


def test_config_keys() -> None:
    config = Config.model_validate(
        {"protected_networks": ["10.0.0.53", "2001:db8:dc::1/64"], "blocking": {"widest_prefix_v4": 16}}
    )
    policy = BlockingPolicy.from_config(config)
    assert [str(n) for n in policy.protected] == ["10.0.0.53/32", "2001:db8:dc::/64"]
    assert (policy.widest_prefix_v4, policy.widest_prefix_v6) == (16, 48)
    for bad in (
        {"protected_networks": ["dc1.corp"]},
        {"protected_networks": ["fe80::1%eth0"]},
        {"blocking": {"widest_prefix_v4": 33}},
        {"blocking": {"widest": 8}},
    ):
        with pytest.raises(ValueError):
            Config.model_validate(bad)


# ------------------------------------------------------------------ the action


def action_context(tmp_path: Path, **config: object) -> tuple[ActionContext, RunStore]:
    cfg = Config.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "config_dir": tmp_path,
            "connectors": {"firewall": {"type": "nftables", "name": "fw", "ruleset": "blocked.nft"}},
            **config,
        }
    )
    store = RunStore(tmp_path / "runs.sqlite3")
    run_id, _ = store.create_run(playbook="p", alert_id="a", trigger="test", alert={})
    ctx = ActionContext(
        run_id=run_id,
        step_id="block",
        dry_run=False,
        now=datetime.now(timezone.utc),
        config=cfg,
        connectors=Connections(cfg, store),
        ledger=EffectLedger(store, store, run_id, dry_run=False),
        templates=None,
    )  # type: ignore[arg-type]
    return ctx, store


async def test_action_blocks_the_allowed_and_reports_the_refused(tmp_path: Path) -> None:
    ctx, store = action_context(tmp_path, protected_networks=["203.0.113.53"])
    requested = [
        "203.0.113.7",
        "127.0.0.1",
        "::ffff:127.0.0.1",
        "203.0.113.53",
        "0.0.0.0/0",
        "2001:db8::1",
        "fe80::1%x\n}\nflush ruleset",
    ]
    out = await block(BlockInput(addresses=requested, comment="x"), ctx)
    assert out.blocked == ["203.0.113.7", "2001:db8::1"]
    assert [(r.address, r.reason.split(":")[0].split(" (")[0]) for r in out.refused] == [
        ("127.0.0.1", "loopback"),
        ("::ffff:7f00:1", "IPv4-mapped IPv6"),
        ("203.0.113.53", "protected network 203.0.113.53/32"),
        ("0.0.0.0/0", "wider than /24"),
        ("fe80::1%x } flush ruleset", "not an IP address or network"),
    ]
    assert [e.target for e in out.effects] == ["203.0.113.7", "2001:db8::1"]  # no effect for a refused one
    assert {row.target for row in store.run_effects(ctx.run_id)} == {"203.0.113.7", "2001:db8::1"}
    text = (tmp_path / "blocked.nft").read_text()
    assert "127.0.0.1" not in text and "flush" not in text and "0.0.0.0" not in text


async def test_action_fails_when_every_address_is_refused(tmp_path: Path) -> None:
    ctx, store = action_context(tmp_path)
    with pytest.raises(ActionError, match="nothing was blocked: every address was refused.*127.0.0.1: loopback"):
        await block(BlockInput(addresses=["127.0.0.1", "10.0.0.0/8"], comment="x"), ctx)
    assert store.run_effects(ctx.run_id) == []
    assert not (tmp_path / "blocked.nft").exists()


async def test_action_wider_network_when_the_config_allows_it(tmp_path: Path) -> None:
    ctx, _ = action_context(tmp_path, blocking={"widest_prefix_v4": 16})
    out = await block(BlockInput(addresses=["198.51.0.0/16"], comment="x"), ctx)
    assert out.blocked == ["198.51.0.0/16"] and out.refused == []


@pytest.mark.parametrize("action", ["firewall.block", "proxy.block_certificate"])
def test_a_custom_playbook_blocking_without_a_gate_fails_validate(action: str) -> None:
    with_ = "addresses: ['0.0.0.0/0']" if action == "firewall.block" else "sha1: '" + "ab" * 20 + "'"
    text = f"id: t\ntrigger: {{alert: certificate}}\nsteps:\n  - id: block\n    action: {action}\n    with:\n      {with_}\n"
    playbook, raw = parse_playbook(text, "pb.yaml")
    assert [str(e).split(": ")[0] for e in check_playbook(playbook, raw, "pb.yaml") if "approv" in str(e)] == [
        "pb.yaml:4"
    ]


def test_the_whole_internet_is_refused_as_too_wide_whatever_the_limit_allows() -> None:
    assert (refusal("0.0.0.0/0", BlockingPolicy()) or "").startswith("wider than /24")
    assert "which is never blocked" in (refusal("0.0.0.0/0", BlockingPolicy(widest_prefix_v4=0)) or "")
    assert "which is never blocked" in (refusal("::/0", BlockingPolicy(widest_prefix_v6=0)) or "")


def test_block_actions_need_an_approval_gate() -> None:
    assert get_action("firewall.block").needs_approval
    assert get_action("proxy.block_certificate").needs_approval
    assert "refused" in BlockOutput.model_json_schema()["properties"]


# --------------------------------------------------------------- the connector


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "::1", "0.0.0.0/0", "255.255.255.255", "::ffff:127.0.0.1", "10.0.0.53"]
)
async def test_connector_refuses_on_its_own_and_writes_nothing(tmp_path: Path, address: str) -> None:
    env = ConnectorEnv(name="fw", state_dir=tmp_path, config_dir=tmp_path, blocking=PROTECTED)
    fw = NftablesFirewall(NftablesSettings(ruleset=Path("blocked.nft")), env)
    with pytest.raises(ConnectorRejected, match="refusing to block"):
        await fw.block(["203.0.113.9", address], "x")
    assert not fw.path.exists()


# ------------------------------------------- hypothesis: no input ever reaches the ruleset


def _zone(address: ipaddress.IPv6Address, zone: str) -> str:
    return f"{address}%{zone}"


ADDRESS_TEXT = st.one_of(
    st.text(max_size=60),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.ip_addresses(v=6).map(lambda a: a.exploded.upper()),
    st.builds(_zone, st.ip_addresses(v=6), st.text(min_size=1, max_size=30)),
    st.builds(_zone, st.ip_addresses(v=6), st.sampled_from(["x\n}\nflush ruleset", 'eth0" ; drop', "0}"])),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.ip_addresses(v=4).map(lambda a: f"::{a}"),
    st.builds(
        lambda a, p: str(ipaddress.ip_network(f"{a}/{p}", strict=False)), st.ip_addresses(v=4), st.integers(0, 32)
    ),
    st.builds(
        lambda a, p: str(ipaddress.ip_network(f"{a}/{p}", strict=False)), st.ip_addresses(v=6), st.integers(0, 128)
    ),
    st.builds(lambda a, p: f"{a}/{p}", st.ip_addresses(), st.integers(0, 128)),
)


@pytest.mark.real
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    requests=st.lists(st.lists(ADDRESS_TEXT, min_size=1, max_size=4), min_size=1, max_size=3),
    comment=st.text(max_size=150),
)
def test_any_input_through_the_block_path_leaves_a_valid_ruleset_of_allowed_addresses(
    netns: Namespaces, requests: list[list[str]], comment: str
) -> None:
    ns = netns.names[0] if netns.names else netns.add()
    with tempfile.TemporaryDirectory() as folder:
        ctx, _ = action_context(Path(folder), protected_networks=["203.0.113.53"])
        allowed: set[str] = set()
        for addresses in requests:
            try:
                out = asyncio.run(block(BlockInput(addresses=addresses, comment=comment), ctx))
            except ActionError as exc:
                assert "every address was refused" in str(exc)
                continue
            allowed |= set(out.blocked)
            for refused in out.refused:
                assert refused.address not in out.blocked
        ruleset = Path(folder) / "blocked.nft"
        if not ruleset.exists():
            assert allowed == set()
            return
        listed = asyncio.run(ctx.connectors.firewall.blocked())  # certsoar re-reads its own file
        assert listed <= allowed  # nothing that was not requested and allowed (a network may swallow a host)
        assert all(covers(listed, address) for address in allowed)
        assert all(refusal(entry, BlockingPolicy.from_config(ctx.config)) is None for entry in listed)
        checked = netns.run(ns, "nft", "-c", "-f", str(ruleset), check=False)
        assert checked.returncode == 0, checked.stderr + ruleset.read_text()


@pytest.mark.parametrize("template", ["outcome/containment.md.j2", "ticket/update.md.j2"])
def test_outcome_and_ticket_list_refused_addresses_as_refused(template: str) -> None:
    effect = {
        "key": "firewall:fw:block:203.0.113.7",
        "action": "firewall.block",
        "target": "203.0.113.7",
        "changed": True,
        "verified": True,
        "planned": False,
        "evidence": {},
    }
    steps = {
        "cert": {"subject_cn": "c2.example", "sha256": None, "sha1": None, "issuer": "CN=x", "self_signed": True},
        "approval": {
            "approved": True,
            "status": "approved",
            "decisions": [{"analyst": "alice", "decision": "approved"}],
        },
        "revoke": {"skipped": True},
        "block_servers": {
            "effects": [effect],
            "blocked": ["203.0.113.7"],
            "refused": [{"address": "127.0.0.1", "reason": "loopback: overlaps 127.0.0.0/8, which is never blocked"}],
        },
        "block_cert": {"skipped": True},
        "ticket": {"ticket": None},
    }
    text = Templates().render(template, {"run": {"id": "r1", "dry_run": False}, "steps": steps})
    # values are quoted the way the channel needs (that is the templates' business): compare the words
    firewall = next(line for line in text.splitlines() if line.startswith("- **Firewall**")).replace("`", "")
    assert "203.0.113.7 blocked (verified)" in firewall
    assert "Refused, NOT blocked: 127.0.0.1 (loopback" in firewall
    assert "127.0.0.1 blocked" not in text.replace("`", "")


@pytest.mark.real
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(addresses=st.lists(ADDRESS_TEXT, min_size=1, max_size=4), comment=st.text(max_size=150))
def test_the_connector_alone_refuses_or_writes_a_valid_ruleset(
    netns: Namespaces, addresses: list[str], comment: str
) -> None:
    """Defence in depth: text that never went through the action or intake."""
    ns = netns.names[0] if netns.names else netns.add()
    with tempfile.TemporaryDirectory() as folder:
        env = ConnectorEnv(name="fw", state_dir=Path(folder), config_dir=Path(folder), blocking=PROTECTED)
        fw = NftablesFirewall(NftablesSettings(ruleset=Path("blocked.nft")), env)
        try:
            asyncio.run(fw.block(addresses, comment))
        except ConnectorRejected:
            assert not fw.path.exists()  # all or nothing
            return
        assert all(refusal(address, PROTECTED) is None for address in addresses)
        listed = asyncio.run(fw.blocked())
        assert listed <= {network_text(parse_network(address)) for address in addresses}
        assert all(covers(listed, address) for address in addresses)
        checked = netns.run(ns, "nft", "-c", "-f", str(fw.path), check=False)
        assert checked.returncode == 0, checked.stderr + fw.path.read_text()
