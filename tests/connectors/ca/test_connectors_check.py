"""`connectors check` reports each configured instance on its own: whether its target answered, whether it took
the credentials, and for a CA whether it can list what it issued (one ``iter_issued`` read)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from ca_vendors import CaVendor
from test_ca_routing import OpensslCa

from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.health import _check_all, facets


def config_of(tmp_path: Path, **connectors: Any) -> Config:
    return Config.model_validate(
        {"state_dir": str(tmp_path / "state"), "config_dir": tmp_path, "connectors": connectors}
    )


async def test_each_instance_is_reported_on_its_own(ca_vendor: CaVendor, tmp_path: Path) -> None:
    lab = OpensslCa(tmp_path / "a", "issuing")
    (tmp_path / "logs").mkdir()
    ca_vendor.fake.issue("wiki.corp.example")
    secret = {"token": "env:CERTSOAR_TEST_TOKEN"}  # the sections name a secret: the vendor can refuse it
    config = config_of(
        tmp_path,
        siem=[
            {"type": "files", "name": "zeek", "paths": ["logs"]},
            {"type": "files", "name": "gone", "paths": ["no-such-logs"]},
        ],
        ca=[
            {"type": "openssl-ca", "name": "issuing", "openssl_config": "a/openssl.cnf"},
            {"type": ca_vendor.name, "name": "pki", **secret},
        ],
    )
    cas = {"issuing": lab.connector, "pki": ca_vendor.build()}
    checks = {c.instance: c for c in await _check_all(config, Connections(config, overrides={"ca": cas}))}
    assert list(checks) == ["zeek", "gone", "issuing", "pki"]

    assert checks["zeek"].ok and checks["zeek"].reachable and checks["zeek"].authenticated is None
    assert checks["zeek"].can_list is None  # a question for CAs only
    assert not checks["gone"].ok and checks["gone"].reachable is False
    assert "none of the configured log paths exist" in checks["gone"].detail

    assert checks["issuing"].ok and checks["issuing"].can_list and checks["issuing"].reachable
    assert checks["issuing"].detail == "1 CA certificate(s); lists what it issued"
    assert checks["pki"].ok and checks["pki"].reachable and checks["pki"].authenticated
    assert checks["pki"].can_list is ca_vendor.reads  # step-ca's API cannot list: said, and still ok (it revokes)
    assert facets(checks["pki"]) == f"reachable, authenticated, {'can' if ca_vendor.reads else 'cannot'} list"


@pytest.mark.refuses_credentials
@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
async def test_refused_credentials_and_an_unreachable_ca(ca_vendor: CaVendor, tmp_path: Path) -> None:
    config = config_of(
        tmp_path,
        ca=[
            {"type": ca_vendor.name, "name": "refusing", "token": "env:CERTSOAR_TEST_TOKEN"},
            {"type": ca_vendor.name, "name": "down", "token": "env:CERTSOAR_TEST_TOKEN"},
        ],
    )
    cas = {"refusing": ca_vendor.build(), "down": ca_vendor.build(url="https://127.0.0.1:1")}
    assert ca_vendor.refuse_credentials is not None
    ca_vendor.refuse_credentials()
    checks = {c.instance: c for c in await _check_all(config, Connections(config, overrides={"ca": cas}))}

    refusing = checks["refusing"]
    assert not refusing.ok and refusing.reachable and refusing.authenticated is False
    assert facets(refusing).startswith("reachable, credentials refused")  # at the first read that needs them
    down = checks["down"]
    assert not down.ok and down.reachable is False and down.authenticated is None
    assert facets(down).startswith("unreachable")
    assert all(secret not in json.dumps([c.model_dump() for c in checks.values()]) for secret in ca_vendor.secrets)


def test_json_names_every_instance(tmp_path: Path) -> None:
    """The CLI's --json: one object per instance, a broken one making the exit 1."""
    import subprocess

    import yaml

    (tmp_path / "logs").mkdir()
    config = tmp_path / "config.yaml"
    siems = [{"type": "files", "name": "zeek", "paths": ["logs"]}, {"type": "files", "name": "gone", "paths": ["nope"]}]
    config.write_text(yaml.safe_dump({"state_dir": "state", "connectors": {"siem": siems}}), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "certsoar", "connectors", "check", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    found = {c["instance"]: c for c in json.loads(done.stdout)}
    assert (found["zeek"]["ok"], found["zeek"]["reachable"]) == (True, True)
    assert (found["gone"]["ok"], found["gone"]["reachable"]) == (False, False)
    assert set(found["zeek"]) >= {"kind", "type", "reachable", "authenticated", "can_list", "detail"}
