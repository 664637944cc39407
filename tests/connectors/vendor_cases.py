"""What the conformance suites of the connector kinds share about their vendor cases: a fake HTTP vendor served
behind pytest-httpx, and the cases about the HTTP layer left out for the vendors that speak no HTTP."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pytest_httpx import HTTPXMock


def serve(httpx_mock: HTTPXMock, fake: Any) -> None:
    """Answer every request under ``fake.url`` with ``fake`` (a callable taking the request)."""
    httpx_mock.add_callback(fake, url=re.compile(re.escape(fake.url) + "/.*"), is_reusable=True, is_optional=True)


def deselect_unless_http(
    config: pytest.Config, items: list[pytest.Item], *, marker: str, fixture: str, http_vendors: frozenset[str]
) -> None:
    """Leave out the items marked ``marker`` whose ``fixture`` parameter is not one of ``http_vendors``."""
    dropped = [
        item
        for item in items
        if item.get_closest_marker(marker) is not None
        and getattr(getattr(item, "callspec", None), "params", {}).get(fixture) not in http_vendors
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
