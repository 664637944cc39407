"""``ticket_vendor``: each ticket connector with the vendor behind it (ticket_vendors.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpx import HTTPXMock
from ticket_vendors import HTTP_VENDORS, TICKET_VENDORS, TicketVendor


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ticket_http: a ticket conformance case about the HTTP layer")


@pytest.fixture(params=sorted(TICKET_VENDORS))
def ticket_vendor(
    request: pytest.FixtureRequest, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[TicketVendor]:
    vendor = TICKET_VENDORS[request.param](monkeypatch, tmp_path)
    assert (vendor.fake is not None) == (vendor.name in HTTP_VENDORS), "HTTP_VENDORS is out of step"
    if vendor.fake is not None:
        httpx_mock.add_callback(
            vendor.fake, url=re.compile(re.escape(vendor.fake.url) + "/.*"), is_reusable=True, is_optional=True
        )
    yield vendor
    vendor.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A case about the HTTP layer is not collected for a connector that speaks no HTTP (local)."""
    dropped = [
        item
        for item in items
        if item.get_closest_marker("ticket_http") is not None
        and getattr(getattr(item, "callspec", None), "params", {}).get("ticket_vendor", "") not in HTTP_VENDORS
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
