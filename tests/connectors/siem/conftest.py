"""``siem_vendor``: each SIEM connector holding the conformance story (tests/connectors/siem/siem_vendors.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pytest_httpx import HTTPXMock
from siem_vendors import SIEM_VENDORS, SiemVendor


@pytest.fixture(params=list(SIEM_VENDORS))
def siem_vendor(
    request: pytest.FixtureRequest, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> SiemVendor:
    vendor = SIEM_VENDORS[request.param](monkeypatch, tmp_path)
    gap = vendor.gaps.get(request.node.name)
    if gap:
        request.node.add_marker(pytest.mark.xfail(reason=gap, strict=True))
    if vendor.fake is not None:
        for url in vendor.fake.urls:
            httpx_mock.add_callback(
                vendor.fake, url=re.compile(re.escape(url) + "/.*"), is_reusable=True, is_optional=True
            )
    return vendor


@pytest.fixture
def http_siem_vendor(siem_vendor: SiemVendor) -> SiemVendor:
    """The vendors reached over HTTP (the files SIEM makes no requests to fail)."""
    if siem_vendor.fake is None:
        pytest.skip(f"{siem_vendor.name} makes no HTTP requests")
    return siem_vendor
