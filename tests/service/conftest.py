"""The real service: `certsoar serve` as a subprocess on a free loopback port, against a copy of the lab
with API tokens in its config, driven with httpx."""

from __future__ import annotations

import pytest
from servicelab import service, service_lab  # noqa: F401 (the fixtures of every test here)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test on the service runs it on the lab, which needs openssl: a real-component test."""
    for item in items:
        if "service" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real)
