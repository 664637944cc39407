"""``ticket_vendor``: each ticket connector with the vendor behind it (ticket_vendors.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpx import HTTPXMock
from ticket_vendors import HTTP_VENDORS, TICKET_VENDORS, TicketVendor
from vendor_cases import deselect_unless_http, serve


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ticket_http: a ticket conformance case about the HTTP layer")


@pytest.fixture(params=sorted(TICKET_VENDORS))
def ticket_vendor(
    request: pytest.FixtureRequest, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[TicketVendor]:
    vendor = TICKET_VENDORS[request.param](monkeypatch, tmp_path)
    assert (vendor.fake is not None) == (vendor.name in HTTP_VENDORS), "HTTP_VENDORS is out of step"
    if vendor.fake is not None:
        serve(httpx_mock, vendor.fake)
    yield vendor
    vendor.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A case about the HTTP layer is not collected for a connector that speaks no HTTP (local)."""
    deselect_unless_http(config, items, marker="ticket_http", fixture="ticket_vendor", http_vendors=HTTP_VENDORS)
