"""Fixtures of the certificate analysis tests; the builders live in certfactory.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from certfactory import NOW, Issued, build, dn


@pytest.fixture(scope="session")
def make_cert() -> Callable[..., Issued]:
    return build


@pytest.fixture(scope="session")
def test_ca() -> Issued:
    return build(
        dn(CN="Example Internal Root CA", O="Example Corp"), ca=True, days=3650, not_before=NOW - timedelta(days=30)
    )


@pytest.fixture()
def analyze() -> Callable[..., Any]:
    from certsoar.certs import analyze_certificate

    def run(pem: bytes, **kw: Any) -> Any:
        kw.setdefault("at", NOW)
        kw.setdefault("internal_roots", [])
        kw.setdefault("managed_cas", [])
        kw.setdefault("org_domains", ["example.com"])
        return analyze_certificate(pem, **kw)

    return run
