"""The ``netns`` fixture (see namespaces.py; a plain module, since every tests folder has its own conftest) and
``firewall_vendor``: each firewall connector with the vendor behind it (firewall_vendors.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from firewall_vendors import FIREWALL_VENDORS, HTTP_VENDORS, FirewallVendor
from namespaces import netns
from pytest_httpx import HTTPXMock
from vendor_cases import deselect_unless_http, serve

__all__ = ["netns", "firewall_vendor"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "http_vendor: a firewall conformance case about the HTTP layer")


@pytest.fixture(params=sorted(FIREWALL_VENDORS))
def firewall_vendor(
    request: pytest.FixtureRequest, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[FirewallVendor]:
    vendor = FIREWALL_VENDORS[request.param](monkeypatch, tmp_path)
    assert (vendor.fake is not None) == (vendor.name in HTTP_VENDORS), "HTTP_VENDORS is out of step"
    if vendor.fake is not None:
        serve(httpx_mock, vendor.fake)
    yield vendor
    vendor.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A case about the HTTP layer is not collected for a connector that speaks no HTTP (nftables, edl)."""
    deselect_unless_http(config, items, marker="http_vendor", fixture="firewall_vendor", http_vendors=HTTP_VENDORS)
