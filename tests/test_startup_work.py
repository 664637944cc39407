"""Start-up of the CLI for a SOAR that calls it once per alert (issue 12): work a one-alert process repeats is done
once. The processes themselves are in tests/e2e/test_startup_imports.py and bench/startup.py."""

from __future__ import annotations

from importlib.metadata import EntryPoints
from typing import Any

import pytest

from certsoar import addresses, logformats, registry

BUILT_IN = {"siem": "files", "ca": "openssl-ca", "firewall": "nftables", "proxy": "squid", "ticket": "local"}


def test_the_installed_entry_points_are_read_once_for_every_group(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[dict[str, Any]] = []
    real = registry.entry_points

    def counted(**params: Any) -> EntryPoints:
        reads.append(params)
        return real(**params)

    monkeypatch.setattr(registry, "entry_points", counted)
    registry.forget_connectors()
    try:
        for kind, type_name in BUILT_IN.items():
            assert registry.connector_class(kind, type_name).__name__
        assert "console" in registry.connector_types("notify")
        assert [ep.name for ep in registry.in_group(registry.ACTION_GROUP)].count("certificate") == 1
    finally:
        registry.forget_connectors()
    assert len(reads) == 1  # every installed distribution's metadata read once, not once a group


def test_an_address_seen_again_is_not_parsed_again() -> None:
    addresses.canonical_ip.cache_clear()
    assert [addresses.canonical_ip(" 2001:DB8::0:1 ") for _ in range(50)] == ["2001:db8::1"] * 50
    assert addresses.canonical_ip.cache_info().misses == 1
    assert addresses.canonical_ip("fe80::1%eth0\n") == "fe80::1"  # the zone id still never travels on
    for _ in range(2):  # what is no address is refused every time, never remembered as something else
        with pytest.raises(ValueError):
            addresses.canonical_ip("10.0.0.256")


@pytest.mark.parametrize(
    ("raw", "value"),
    [("plain", "plain"), (r"a\x09b", "a\tb"), (r"\x5cx41", "\\x41"), ("back\\slash", "back\\slash"), ("", "")],
)
def test_zeek_escapes_are_read_with_or_without_the_regular_expression(raw: str, value: str) -> None:
    assert logformats._unescape(raw) == value
