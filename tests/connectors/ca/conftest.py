"""``ca_vendor``: each HTTP CA connector with the fake vendor behind it (tests/connectors/ca/ca_vendors.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ca_vendors import CA_VENDORS, CaVendor
from pytest_httpx import HTTPXMock


@pytest.fixture(params=sorted(CA_VENDORS))
def ca_vendor(
    request: pytest.FixtureRequest, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> CaVendor:
    vendor = CA_VENDORS[request.param](monkeypatch, tmp_path)
    httpx_mock.add_callback(
        vendor.fake, url=re.compile(re.escape(vendor.fake.url) + "/.*"), is_reusable=True, is_optional=True
    )
    return vendor
