"""``ca_vendor``: each HTTP CA connector with the fake vendor behind it (tests/connectors/ca/ca_vendors.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from ca_vendors import CA_VENDORS, REAL_VENDORS, CaVendor
from pytest_httpx import HTTPXMock


@pytest.fixture(
    params=[pytest.param(name, marks=[pytest.mark.real] if name in REAL_VENDORS else []) for name in sorted(CA_VENDORS)]
)
def ca_vendor(
    request: pytest.FixtureRequest, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[CaVendor]:
    vendor = CA_VENDORS[request.param](monkeypatch, tmp_path)
    httpx_mock.add_callback(
        vendor.fake, url=re.compile(re.escape(vendor.fake.url) + "/.*"), is_reusable=True, is_optional=True
    )
    yield vendor
    vendor.close()
