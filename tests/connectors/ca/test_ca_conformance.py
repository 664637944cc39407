"""What every HTTP CA connector must do, against its fake vendor (``ca_vendor``, see ca_vendors.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from ca_vendors import CaVendor

from certsoar.actions.ca import ExpectedCertificate, RevokeInput, revoke
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors.ca import CertificateAuthority, RevocationReason
from certsoar.context import ActionContext
from certsoar.errors import ConnectorRejected, ConnectorUnavailable
from certsoar.ledger import EffectLedger
from certsoar.store import RunStore

LOCAL = pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")


def needs_reads(vendor: CaVendor) -> None:
    if not vendor.reads:
        pytest.skip(f"{vendor.name}: its API cannot hand back what it issued (see test_{vendor.name}.py)")


async def test_the_connector_is_a_certificate_authority(ca_vendor: CaVendor) -> None:
    ca = ca_vendor.build()
    assert isinstance(ca, CertificateAuthority)
    serial = ca_vendor.fake.issue("wiki.corp.example")
    [pem] = await ca.ca_certificates()
    assert "BEGIN CERTIFICATE" in pem
    needs_reads(ca_vendor)
    [listed] = await ca.list_issued()
    assert listed.serial == serial and listed.san_dns == ["wiki.corp.example"] and listed.status == "valid"
    assert await ca.certificate("0A" + "FF" * 8) is None


async def test_status_after_revoke_is_revoked_and_in_the_signed_crl(ca_vendor: CaVendor) -> None:
    ca = ca_vendor.build()
    serial = ca_vendor.fake.issue("wiki.corp.example")
    before = await ca.status(serial)
    assert before.known == ca_vendor.reads and not before.revoked and not before.in_crl
    await ca.revoke(serial, RevocationReason.key_compromise)
    after = await ca.status(serial)
    assert after.revoked and after.in_crl and after.revoked_at is not None
    assert "signature valid; serial listed" in after.evidence["crl_check"]
    assert (after.crl_number is not None) == ca_vendor.numbers_crls


async def test_revoke_twice_revokes_once(ca_vendor: CaVendor) -> None:
    ca = ca_vendor.build()
    serial = ca_vendor.fake.issue("wiki.corp.example")
    first = await ca.revoke(serial, RevocationReason.key_compromise)
    second = await ca.revoke(serial, RevocationReason.key_compromise)
    assert first.revoked and second.revoked and first.revoked_at == second.revoked_at
    assert ca_vendor.fake.revocations(serial) == 1


async def test_the_revoke_action_twice_changes_once(ca_vendor: CaVendor, tmp_path: Path) -> None:
    needs_reads(ca_vendor)
    ca = ca_vendor.build()
    serial = ca_vendor.fake.issue("wiki.corp.example")
    held = await ca.certificate(serial)
    assert held is not None and held.sha256 is not None
    store = RunStore(tmp_path / "store.db")
    config = Config.model_validate({"state_dir": str(tmp_path / "state"), "config_dir": tmp_path})
    inp = RevokeInput(serial=serial, expect=ExpectedCertificate(sha256=held.sha256))
    effects = []
    for run_id in ("r1", "r2"):
        ctx = ActionContext(
            run_id=run_id,
            step_id="revoke",
            dry_run=False,
            now=datetime.now(timezone.utc),
            config=config,
            connectors=Connections(config, overrides={"ca": ca}),
            ledger=EffectLedger(store, store, run_id, dry_run=False),
            templates=None,  # type: ignore[arg-type]
        )
        effects.append((await revoke(inp, ctx)).effect)
    assert [e.changed for e in effects] == [True, False] and all(e.verified for e in effects)
    assert ca_vendor.fake.revocations(serial) == 1


async def test_revoking_a_serial_the_ca_never_issued_is_rejected(ca_vendor: CaVendor) -> None:
    needs_reads(ca_vendor)
    ca = ca_vendor.build()
    with pytest.raises(ConnectorRejected, match="1234ABCD was not issued by this CA"):
        await ca.revoke("12:34:ab:cd", RevocationReason.key_compromise)
    assert sum(ca_vendor.fake.revoke_posts.values()) == 0


async def test_401_is_rejected_naming_the_credentials(ca_vendor: CaVendor) -> None:
    ca = ca_vendor.build()
    serial = ca_vendor.fake.issue("wiki.corp.example")
    ca_vendor.fake.inject(401, errors=["missing client token"])
    with pytest.raises(ConnectorRejected, match="authentication failed.*HTTP 401.*missing client token"):
        await ca_vendor.read(ca, serial)
    assert len(ca_vendor.fake.requests) == 1  # a refusal is never tried again


@pytest.mark.refuses_credentials
async def test_a_wrong_token_is_rejected_naming_the_permission(ca_vendor: CaVendor) -> None:
    assert ca_vendor.refuse_credentials is not None
    ca_vendor.refuse_credentials()
    ca = ca_vendor.build()
    with pytest.raises(ConnectorRejected, match=f"not authorized.*HTTP 403.*{ca_vendor.refused_text}"):
        await ca.certificate(ca_vendor.fake.issue("wiki.corp.example"))


async def test_429_then_200_succeeds_after_the_retry_after(ca_vendor: CaVendor) -> None:
    ca = ca_vendor.build()
    serial = ca_vendor.fake.issue("wiki.corp.example")
    ca_vendor.fake.inject(429, headers={"Retry-After": "1"}, errors=["rate limit quota exceeded"])
    started = time.monotonic()
    assert await ca_vendor.read(ca, serial) is not None
    assert time.monotonic() - started >= 1.0
    first, again = ca_vendor.fake.requests[:2]  # the request answered 429 was sent again
    assert (first.method, first.url) == (again.method, again.url)


async def test_a_long_retry_after_is_capped(ca_vendor: CaVendor) -> None:
    ca = ca_vendor.build(max_retry_after=0.2)
    serial = ca_vendor.fake.issue("wiki.corp.example")
    ca_vendor.fake.inject(429, headers={"Retry-After": "3600"})
    started = time.monotonic()
    assert await ca_vendor.read(ca, serial) is not None
    assert 0.2 <= time.monotonic() - started < 2


async def test_500_forever_is_unavailable_after_the_configured_attempts(ca_vendor: CaVendor) -> None:
    ca = ca_vendor.build(attempts=3)
    serial = ca_vendor.fake.issue("wiki.corp.example")
    ca_vendor.fake.inject(500, times=10, errors=["internal error"])
    with pytest.raises(ConnectorUnavailable, match="HTTP 500.*internal error.*after 3 attempts"):
        await ca_vendor.read(ca, serial)
    assert len(ca_vendor.fake.requests) == 3


@LOCAL
async def test_a_silent_server_times_out_instead_of_hanging(ca_vendor: CaVendor, silent_server: str) -> None:
    ca = ca_vendor.build(url=silent_server, read_timeout=0.3, attempts=2)
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable, match="ReadTimeout.*after 2 attempts"):
        await asyncio.wait_for(ca_vendor.read(ca, "1001"), timeout=10)
    assert time.monotonic() - started < 3


async def test_secrets_are_absent_from_logs_errors_and_reprs(
    ca_vendor: CaVendor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ca = ca_vendor.build(attempts=2)
    serial = ca_vendor.fake.issue("wiki.corp.example")
    await ca.revoke(serial, RevocationReason.key_compromise)
    errors: list[str] = []
    echoed = ca_vendor.secrets[0] if ca_vendor.secrets else "(no credential)"
    for status in (401, 400, 500):
        ca_vendor.fake.inject(status, times=2, errors=[f"token {echoed} refused"])
        with pytest.raises((ConnectorRejected, ConnectorUnavailable)) as caught:
            await ca_vendor.read(ca, serial)
        errors.append(str(caught.value))
    logged = [r.getMessage() for r in caplog.records]
    requests = [line for line in logged if ca_vendor.fake.url in line and "-> HTTP" in line]
    assert requests, "requests are logged at debug"
    if ca_vendor.secrets:
        assert any("***" in line for line in requests), "the credential in logged requests is blanked"
    for secret in ca_vendor.secrets:
        assert not any(secret in line for line in logged)
        assert not any(secret in e for e in errors)
        assert secret not in repr(ca) and secret not in repr(vars(ca))
    if ca_vendor.secrets:
        assert all("***" in e for e in errors)  # the vendor echoed the token; the error blanks it
