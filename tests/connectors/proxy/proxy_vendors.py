"""The proxy connectors for the conformance suite (test_proxy_conformance.py), each with a way to read the
vendor's own state behind the connector's back.

A vendor gives ``build(**settings)`` (the connector; ``blocking=`` sets the policy it checks again),
``listed()`` (what the vendor holds in force: fingerprints or names, as the connector ``blocks_by``) and
``state()`` (a snapshot that changes whenever the vendor is written to). An HTTP vendor also has a ``fake``
behind pytest-httpx that can ``inject`` failures, and the ``secrets`` its credentials are made of. A new proxy
connector adds a case to ``PROXY_VENDORS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fake_zscaler import FakeZscaler

from certsoar.blocking import BlockingPolicy
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.proxy.edl import EdlProxy, EdlProxySettings
from certsoar.connectors.proxy.squid import SquidProxy, SquidSettings
from certsoar.connectors.proxy.zscaler import ZscalerProxy, ZscalerSettings
from certsoar.store import RunStore

_SQUID_LINE = re.compile(r"^([0-9A-F]{2}(?::[0-9A-F]{2}){19})$", re.M)


@dataclass
class ProxyVendor:
    name: str
    build: Callable[..., Any]
    listed: Callable[[], set[str]]
    state: Callable[[], object]
    fake: Any = None
    """The fake HTTP vendor (``inject``, ``requests``, ``url``); None for a connector that speaks no HTTP."""
    secrets: list[str] = field(default_factory=list)
    close: Callable[[], None] = lambda: None


def squid_vendor(monkeypatch: Any, tmp_path: Path) -> ProxyVendor:
    path = tmp_path / "rogue_fp.txt"

    def build(blocking: BlockingPolicy | None = None, **settings: Any) -> SquidProxy:
        env = ConnectorEnv(name="squid", state_dir=tmp_path, config_dir=tmp_path, blocking=blocking or BlockingPolicy())
        return SquidProxy(SquidSettings.model_validate({"fingerprint_file": str(path), **settings}), env)

    def listed() -> set[str]:
        return {m.replace(":", "").lower() for m in _SQUID_LINE.findall(path.read_text())} if path.exists() else set()

    def state() -> object:
        if not path.exists():
            return None
        info = path.stat()
        return path.read_bytes(), info.st_ino, info.st_mtime_ns

    return ProxyVendor(name="squid", build=build, listed=listed, state=state)


def edl_vendor(monkeypatch: Any, tmp_path: Path) -> ProxyVendor:
    store = RunStore(tmp_path / "runs.sqlite3")

    def build(blocking: BlockingPolicy | None = None, **settings: Any) -> EdlProxy:
        env = ConnectorEnv(name="edl", state_dir=tmp_path, store=store, blocking=blocking or BlockingPolicy())
        return EdlProxy(EdlProxySettings.model_validate(settings), env)

    def rows() -> list[tuple[str, str, str, str]]:
        try:
            return [tuple(r) for r in store.db.execute("SELECT instance, feed, value, added FROM feed_entries")]
        except Exception:  # noqa: BLE001 - no table yet: nothing listed
            return []

    def listed() -> set[str]:
        return {value for instance, feed, value, _ in rows() if instance == "edl"}

    return ProxyVendor(
        name="edl",
        build=build,
        listed=listed,
        state=lambda: (sorted(rows()), store.db.total_changes),
        close=store.close,
    )


ZIA_USER = "certsoar-api@corp.example"
ZIA_PASSWORD = "zia-conformance-Passw0rd-7q2x"
ZIA_API_KEY = "Zk3mQ9vT2xLp"


def zscaler_vendor(monkeypatch: Any, tmp_path: Path) -> ProxyVendor:
    monkeypatch.setenv("CERTSOAR_TEST_ZIA_PASSWORD", ZIA_PASSWORD)
    monkeypatch.setenv("CERTSOAR_TEST_ZIA_KEY", ZIA_API_KEY)
    fake = FakeZscaler(ZIA_USER, ZIA_PASSWORD, ZIA_API_KEY)

    def build(blocking: BlockingPolicy | None = None, url: str | None = None, **settings: Any) -> ZscalerProxy:
        values = {
            "url": url or fake.url,
            "username": ZIA_USER,
            "password": "env:CERTSOAR_TEST_ZIA_PASSWORD",
            "api_key": "env:CERTSOAR_TEST_ZIA_KEY",
            "category": "CUSTOM_01",
            "backoff": 0.01,
            "activation_wait": 0.01,
            **settings,
        }
        env = ConnectorEnv(name="zscaler", state_dir=tmp_path, blocking=blocking or BlockingPolicy())
        return ZscalerProxy(ZscalerSettings.model_validate(values), env)

    return ProxyVendor(
        name="zscaler",
        build=build,
        listed=fake.listed,
        state=fake.state,
        fake=fake,
        secrets=[ZIA_PASSWORD, ZIA_API_KEY],
    )


PROXY_VENDORS: dict[str, Callable[[Any, Path], ProxyVendor]] = {
    "squid": squid_vendor,
    "edl": edl_vendor,
    "zscaler": zscaler_vendor,
}
HTTP_VENDORS = frozenset({"zscaler"})
"""Vendors behind an HTTP API: the cases marked ``http_vendor`` are collected for these only."""
