"""What is step-ca's own, beyond the CA suite: the provisioner token, "already revoked", no inventory."""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from ca_vendors import STEP_KID, STEP_PROVISIONER, FakeStepCa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError
from pytest_httpx import HTTPXMock
from vendor_faults import Fault

from certsoar.actions.revocation import FindInput, find_violations
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ca import RevocationReason
from certsoar.connectors.ca.stepca import StepCa, StepCaSettings
from certsoar.context import ActionContext
from certsoar.errors import ConfigError, ConnectorRejected, ConnectorUnavailable
from certsoar.ledger import EffectLedger
from certsoar.store import RunStore


@pytest.fixture
def fake(httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch) -> FakeStepCa:
    step = FakeStepCa()
    monkeypatch.setenv("T_STEP_KEY", step.private_jwk())
    httpx_mock.add_callback(step, url=re.compile(re.escape(step.url) + "/.*"), is_reusable=True, is_optional=True)
    return step


def stepca(tmp_path: Path, **extra: Any) -> StepCa:
    values = {
        "url": FakeStepCa.url,
        "provisioner": STEP_PROVISIONER,
        "provisioner_kid": STEP_KID,
        "provisioner_key": "env:T_STEP_KEY",
        "backoff": 0.01,
        **extra,
    }
    return StepCa(StepCaSettings.model_validate(values), ConnectorEnv(name="stepca", state_dir=tmp_path))


def claims_of(request: httpx.Request) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    body = json.loads(request.content)
    head, payload, _ = body["ott"].split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    return body, decode(head), decode(payload)


async def test_the_revoke_carries_a_one_time_token_step_ca_accepts(fake: FakeStepCa, tmp_path: Path) -> None:
    ca = stepca(tmp_path)
    serial = fake.issue("rogue.corp.example")
    status = await ca.revoke(serial, RevocationReason.key_compromise)
    assert status.revoked and status.in_crl and fake.revocations(serial) == 1
    [post] = [r for r in fake.requests if r.method == "POST"]
    body, header, claims = claims_of(post)
    assert body["serial"] == str(int(serial, 16)) and body["passive"] is True and body["reasonCode"] == 1
    assert header == {"alg": "ES256", "kid": STEP_KID, "typ": "JWT"}
    assert claims["iss"] == STEP_PROVISIONER and claims["sub"] == body["serial"]
    assert claims["aud"] == f"{fake.url}/1.0/revoke" and len(claims["jti"]) == 32
    assert claims["nbf"] <= time.time() < claims["exp"] <= claims["nbf"] + 300


async def test_already_revoked_is_done_even_without_a_crl(fake: FakeStepCa, tmp_path: Path) -> None:
    fake.crl_enabled = False
    ca = stepca(tmp_path)
    serial = fake.issue("rogue.corp.example")
    await ca.revoke(serial, RevocationReason.key_compromise)
    again = await ca.revoke(serial, RevocationReason.key_compromise)
    assert again.revoked and not again.in_crl and "is already revoked" in again.evidence["revoke"]
    assert "no CRL" in again.evidence["crl_check"] and fake.revocations(serial) == 1
    tokens = [claims_of(r)[2]["jti"] for r in fake.requests if r.method == "POST"]
    assert len(tokens) == 2 and len(set(tokens)) == 2  # each try signs a fresh token


async def test_a_token_the_provisioner_key_did_not_sign_is_refused(fake: FakeStepCa, tmp_path: Path) -> None:
    fake.provisioner_key = ec.generate_private_key(ec.SECP256R1())  # ca.json holds another key now
    ca = stepca(tmp_path)
    with pytest.raises(ConnectorRejected, match="authentication failed.*HTTP 401.*lacked necessary authorization"):
        await ca.revoke(fake.issue("rogue.corp.example"), RevocationReason.key_compromise)


async def test_a_failed_revoke_is_not_resent_with_the_same_token(fake: FakeStepCa, tmp_path: Path) -> None:
    """step-ca spends a token when it reads it: the same body again would be refused as a replay."""
    ca = stepca(tmp_path)
    serial = fake.issue("rogue.corp.example")
    message = "The certificate authority encountered an Internal Server Error."
    fake.revoke_faults.append(Fault(500, {}, {"status": 500, "message": message}))
    with pytest.raises(ConnectorUnavailable, match="HTTP 500.*not tried again"):
        await ca.revoke(serial, RevocationReason.key_compromise)
    assert [r.method for r in fake.requests].count("POST") == 1
    assert (await ca.revoke(serial, RevocationReason.key_compromise)).in_crl  # a new token, accepted
    assert fake.revocations(serial) == 1


async def test_step_ca_cannot_be_enumerated_or_read_by_serial(fake: FakeStepCa, tmp_path: Path) -> None:
    ca = stepca(tmp_path)
    with pytest.raises(ConnectorRejected, match="cannot be enumerated: step-ca's API serves no issued certificate"):
        [c async for c in ca.iter_issued(None)]
    with pytest.raises(ConnectorRejected, match="cannot read serial"):
        await ca.certificate(fake.issue("wiki.corp.example"))
    assert fake.requests == []


async def test_an_older_step_ca_gives_its_roots(fake: FakeStepCa, tmp_path: Path) -> None:
    fake.intermediates = False
    [pem] = await stepca(tmp_path).ca_certificates()
    assert pem.encode() == fake.ca.cert.public_bytes(serialization.Encoding.PEM)
    assert [r.url.path for r in fake.requests] == ["/intermediates", "/roots"]


async def test_the_token_and_the_key_never_reach_the_logs(
    fake: FakeStepCa, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ca = stepca(tmp_path)
    await ca.revoke(fake.issue("rogue.corp.example"), RevocationReason.key_compromise)
    [post] = [r for r in fake.requests if r.method == "POST"]
    ott = json.loads(post.content)["ott"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/1.0/revoke" in logged and ott not in logged and ott.split(".")[2] not in logged
    assert json.loads(fake.private_jwk())["d"] not in logged + repr(ca) + repr(vars(ca))


def test_the_key_must_be_a_reference_and_a_signing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"url": FakeStepCa.url, "provisioner": "p", "provisioner_kid": "k"}
    with pytest.raises(ValidationError, match="env:NAME or file:PATH"):
        StepCaSettings.model_validate({**base, "provisioner_key": '{"kty": "EC"}'})
    monkeypatch.setenv("T_PUBLIC_ONLY", json.dumps({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}))
    with pytest.raises(ConfigError, match="provisioner_key: a private EC"):
        stepca(tmp_path, provisioner_key="env:T_PUBLIC_ONLY")


async def test_the_revocation_sweep_says_step_ca_cannot_be_enumerated_and_sweeps_the_other_cas(
    fake: FakeStepCa, tmp_path: Path
) -> None:
    from sweeplab import generate_ca

    generate_ca(tmp_path, 20, outside_every=10)  # 20 certificates, 2 of them outside corp.example
    config = Config.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "config_dir": tmp_path,
            "organization": {"domains": ["corp.example"]},
            "policy": {"max_validity_days": 398},
            "connectors": {
                "ca": [
                    {
                        "name": "step",
                        "type": "stepca",
                        "url": FakeStepCa.url,
                        "provisioner": STEP_PROVISIONER,
                        "provisioner_kid": STEP_KID,
                        "provisioner_key": "env:T_STEP_KEY",
                    },
                    {"name": "lab", "type": "openssl-ca", "openssl_config": "ca/openssl.cnf"},
                ]
            },
        }
    )
    store = RunStore(tmp_path / "store.db")
    ctx = ActionContext(
        run_id="sweep",
        step_id="find",
        dry_run=True,
        now=datetime.now(timezone.utc),
        config=config,
        connectors=Connections(config),
        ledger=EffectLedger(store, store, "sweep", dry_run=True),
        templates=None,  # type: ignore[arg-type]
    )
    found = await find_violations(FindInput(), ctx)
    [why] = found.not_listed
    assert why.startswith("step: cannot be enumerated: step-ca's API serves no issued certificate")
    assert (found.examined, len(found.violations), {v.ca for v in found.violations}) == (20, 2, {"lab"})
    assert list(found.watermarks) == ["ca:lab"]  # nothing recorded for the CA that was not read
