"""The firewall connectors for the conformance suite (test_firewall_conformance.py), each with a way to read
the vendor's own state behind the connector's back.

A vendor gives ``build(**settings)`` (the connector; ``blocking=`` sets the policy it checks again),
``listed()`` (what the vendor holds, read without the connector) and ``state()`` (a snapshot that changes
whenever the vendor is written to). An HTTP vendor also has a ``fake`` behind pytest-httpx that can
``inject`` failures, and the ``secrets`` its credentials are made of. A new firewall connector adds a case
to ``FIREWALL_VENDORS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fake_fortigate import FakeFortigate
from fake_opnsense import FakeOpnsense
from fake_panos import FakePanos

from certsoar.blocking import BlockingPolicy
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.firewall import Firewall
from certsoar.connectors.firewall.edl import EdlFirewall, EdlSettings
from certsoar.connectors.firewall.fortigate import FortigateFirewall, FortigateSettings
from certsoar.connectors.firewall.nftables import NftablesFirewall, NftablesSettings
from certsoar.connectors.firewall.opnsense import OpnsenseFirewall, OpnsenseSettings
from certsoar.connectors.firewall.panos import PanosFirewall, PanosSettings
from certsoar.store import RunStore

_NFT_ELEMENT = re.compile(r"^\t\t\t([0-9a-f.:/]+)(?: comment \"[^\"]*\")?,$", re.M)


@dataclass
class FirewallVendor:
    name: str
    build: Callable[..., Firewall]
    listed: Callable[[], set[str]]
    state: Callable[[], object]
    fake: Any = None
    """The fake HTTP vendor (``inject``, ``requests``, ``url``); None for a connector that speaks no HTTP."""
    secrets: list[str] = field(default_factory=list)
    close: Callable[[], None] = lambda: None


def nftables_vendor(monkeypatch: Any, tmp_path: Path) -> FirewallVendor:
    ruleset = tmp_path / "certsoar.nft"

    def build(blocking: BlockingPolicy | None = None, **settings: Any) -> Firewall:
        env = ConnectorEnv(name="nft", state_dir=tmp_path, config_dir=tmp_path, blocking=blocking or BlockingPolicy())
        values = {"ruleset": str(ruleset), "nft": "/nonexistent/nft", **settings}  # apply off: nft never runs
        return NftablesFirewall(NftablesSettings.model_validate(values), env)

    def listed() -> set[str]:
        return set(_NFT_ELEMENT.findall(ruleset.read_text())) if ruleset.exists() else set()

    def state() -> object:
        if not ruleset.exists():
            return None
        info = ruleset.stat()
        return ruleset.read_bytes(), info.st_ino, info.st_mtime_ns

    return FirewallVendor(name="nftables", build=build, listed=listed, state=state)


def edl_vendor(monkeypatch: Any, tmp_path: Path) -> FirewallVendor:
    store = RunStore(tmp_path / "runs.sqlite3")

    def build(blocking: BlockingPolicy | None = None, **settings: Any) -> Firewall:
        env = ConnectorEnv(name="edl", state_dir=tmp_path, store=store, blocking=blocking or BlockingPolicy())
        return EdlFirewall(EdlSettings.model_validate(settings), env)

    def rows() -> list[tuple[str, str, str, str]]:
        try:
            return [tuple(r) for r in store.db.execute("SELECT instance, feed, value, added FROM feed_entries")]
        except Exception:  # noqa: BLE001 - no table yet: nothing listed
            return []

    def listed() -> set[str]:
        return {value for instance, feed, value, _ in rows() if (instance, feed) == ("edl", "addresses")}

    return FirewallVendor(
        name="edl",
        build=build,
        listed=listed,
        state=lambda: (sorted(rows()), store.db.total_changes),
        close=store.close,
    )


PANOS_KEY = "LUFRPT1conformance0key0b9c8d7e6f5a4b3c2d1e0f=="


def panos_vendor(monkeypatch: Any, tmp_path: Path) -> FirewallVendor:
    monkeypatch.setenv("CERTSOAR_TEST_PANOS_KEY", PANOS_KEY)
    fake = FakePanos(PANOS_KEY)

    def build(blocking: BlockingPolicy | None = None, url: str | None = None, **settings: Any) -> Firewall:
        values = {"url": url or fake.url, "api_key": "env:CERTSOAR_TEST_PANOS_KEY", "backoff": 0.01, **settings}
        env = ConnectorEnv(name="panos", state_dir=tmp_path, blocking=blocking or BlockingPolicy())
        return PanosFirewall(PanosSettings.model_validate(values), env)

    return FirewallVendor(
        name="panos",
        build=build,
        listed=lambda: fake.tagged("certsoar-rogue-cert"),
        state=fake.state,
        fake=fake,
        secrets=[PANOS_KEY],
    )


PANOS_GROUP = "certsoar-rogue-servers"


def panos_objects_vendor(monkeypatch: Any, tmp_path: Path) -> FirewallVendor:
    """``panos`` with ``mode: address-objects``: objects in a static group, a partial commit, job polling."""
    monkeypatch.setenv("CERTSOAR_TEST_PANOS_KEY", PANOS_KEY)
    fake = FakePanos(PANOS_KEY)
    fake.add_group(PANOS_GROUP, ["placeholder-192.0.2.255"])
    fake.candidate.objects["placeholder-192.0.2.255"] = fake.running.objects["placeholder-192.0.2.255"] = {
        "ip-netmask": "192.0.2.255/32"
    }

    def build(blocking: BlockingPolicy | None = None, url: str | None = None, **settings: Any) -> Firewall:
        values = {
            "url": url or fake.url,
            "api_key": "env:CERTSOAR_TEST_PANOS_KEY",
            "mode": "address-objects",
            "admin": fake.admin,
            "poll_interval": 0.01,
            "backoff": 0.01,
            **settings,
        }
        env = ConnectorEnv(name="panos-objects", state_dir=tmp_path, blocking=blocking or BlockingPolicy())
        return PanosFirewall(PanosSettings.model_validate(values), env)

    return FirewallVendor(
        name="panos-objects",
        build=build,
        listed=lambda: fake.listed_objects(PANOS_GROUP),
        state=fake.state,
        fake=fake,
        secrets=[PANOS_KEY],
    )


FORTIGATE_TOKEN = "fgt-conformance-token-4s7xq0b9wz1k3m5n"


def fortigate_vendor(monkeypatch: Any, tmp_path: Path) -> FirewallVendor:
    monkeypatch.setenv("CERTSOAR_TEST_FORTIGATE_TOKEN", FORTIGATE_TOKEN)
    fake = FakeFortigate(FORTIGATE_TOKEN)

    def build(blocking: BlockingPolicy | None = None, url: str | None = None, **settings: Any) -> Firewall:
        values = {"url": url or fake.url, "token": "env:CERTSOAR_TEST_FORTIGATE_TOKEN", "backoff": 0.01, **settings}
        env = ConnectorEnv(name="fortigate", state_dir=tmp_path, blocking=blocking or BlockingPolicy())
        return FortigateFirewall(FortigateSettings.model_validate(values), env)

    return FirewallVendor(
        name="fortigate", build=build, listed=fake.listed, state=fake.state, fake=fake, secrets=[FORTIGATE_TOKEN]
    )


OPNSENSE_KEY = "w86XNZob/8Oq8aC5r0kbNarNtdpoQU781fyoeaOBQsBwkXUt"
OPNSENSE_SECRET = "XeD26XVrJ5ilAc/EmZBVvGZqz4XZ2SPBsVbLwRpS0Ce8u/X3"


def opnsense_vendor(monkeypatch: Any, tmp_path: Path) -> FirewallVendor:
    monkeypatch.setenv("CERTSOAR_TEST_OPN_KEY", OPNSENSE_KEY)
    monkeypatch.setenv("CERTSOAR_TEST_OPN_SECRET", OPNSENSE_SECRET)
    fake = FakeOpnsense(OPNSENSE_KEY, OPNSENSE_SECRET)

    def build(blocking: BlockingPolicy | None = None, url: str | None = None, **settings: Any) -> Firewall:
        values = {
            "url": url or fake.url,
            "api_key": "env:CERTSOAR_TEST_OPN_KEY",
            "api_secret": "env:CERTSOAR_TEST_OPN_SECRET",
            "backoff": 0.01,
            **settings,
        }
        env = ConnectorEnv(name="opnsense", state_dir=tmp_path, blocking=blocking or BlockingPolicy())
        return OpnsenseFirewall(OpnsenseSettings.model_validate(values), env)

    return FirewallVendor(
        name="opnsense", build=build, listed=fake.listed, state=fake.state, fake=fake, secrets=[OPNSENSE_SECRET]
    )


FIREWALL_VENDORS: dict[str, Callable[[Any, Path], FirewallVendor]] = {
    "nftables": nftables_vendor,
    "edl": edl_vendor,
    "panos": panos_vendor,
    "panos-objects": panos_objects_vendor,
    "fortigate": fortigate_vendor,
    "opnsense": opnsense_vendor,
}
HTTP_VENDORS = frozenset({"panos", "panos-objects", "fortigate", "opnsense"})
"""Vendors behind an HTTP API: the cases marked ``http_vendor`` are collected for these only."""
