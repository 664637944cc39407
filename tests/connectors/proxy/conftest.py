"""``proxy_vendor``: each proxy connector with the vendor behind it (proxy_vendors.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from proxy_vendors import HTTP_VENDORS, PROXY_VENDORS, ProxyVendor
from pytest_httpx import HTTPXMock
from vendor_cases import deselect_unless_http, serve


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "http_proxy: a proxy conformance case about the HTTP layer")


@pytest.fixture(params=sorted(PROXY_VENDORS))
def proxy_vendor(
    request: pytest.FixtureRequest, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[ProxyVendor]:
    vendor = PROXY_VENDORS[request.param](monkeypatch, tmp_path)
    assert (vendor.fake is not None) == (vendor.name in HTTP_VENDORS), "HTTP_VENDORS is out of step"
    if vendor.fake is not None:
        serve(httpx_mock, vendor.fake)
    yield vendor
    vendor.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A case about the HTTP layer is not collected for a connector that speaks no HTTP (squid, edl)."""
    deselect_unless_http(config, items, marker="http_proxy", fixture="proxy_vendor", http_vendors=HTTP_VENDORS)
