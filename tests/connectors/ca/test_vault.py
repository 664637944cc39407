"""The vault connector beyond the conformance suite: AppRole login, namespaces, Vault's serial spelling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ca_vendors import VAULT_TOKEN, VAULT_URL, FakeVault
from pytest_httpx import HTTPXMock

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ca import RevocationReason
from certsoar.connectors.ca.vault import VaultCa, VaultSettings, vault_serial
from certsoar.errors import ConnectorRejected, ConnectorUnavailable


def test_vault_spells_serials_as_colon_separated_lower_case_bytes() -> None:
    assert vault_serial(0x1FA0) == "1f:a0"
    assert vault_serial(0x0A) == "0a"
    assert vault_serial(int("39DD2E90B7", 16)) == "39:dd:2e:90:b7"


async def test_vault_approle_logs_in_once_and_again_after_a_401(
    tmp_path: Path, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_SECRET_ID", "sid-0f1e2d3c")
    fake = FakeVault(VAULT_URL, VAULT_TOKEN)
    fake.approle = ("role-1234", "sid-0f1e2d3c")
    httpx_mock.add_callback(fake, is_reusable=True)
    settings = VaultSettings(
        url=VAULT_URL, approle_role_id="role-1234", approle_secret_id="env:T_SECRET_ID", namespace="soc/pki"
    )
    ca = VaultCa(settings, ConnectorEnv(name="vault", state_dir=tmp_path))
    serial = fake.issue("wiki.corp.example")
    assert await ca.certificate(serial) is not None
    assert await ca.certificate(serial) is not None
    assert fake.logins == 1
    fake.inject(401, errors=["token expired"])
    assert await ca.certificate(serial) is not None
    assert fake.logins == 2
    login = next(r for r in fake.requests if r.url.path == "/v1/auth/approle/login")
    assert login.headers["X-Vault-Namespace"] == "soc/pki"
    assert json.loads(login.content) == {"role_id": "role-1234", "secret_id": "sid-0f1e2d3c"}
    assert all(r.headers.get("X-Vault-Namespace") == "soc/pki" for r in fake.requests)


async def test_a_revocation_the_crl_does_not_show_yet_rotates_the_crl(
    tmp_path: Path, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_TOKEN", VAULT_TOKEN)
    fake = FakeVault(VAULT_URL, VAULT_TOKEN)
    fake.auto_rebuild = True
    httpx_mock.add_callback(fake, is_reusable=True)
    ca = VaultCa(VaultSettings(url=VAULT_URL, token="env:T_TOKEN"), ConnectorEnv(name="vault", state_dir=tmp_path))
    serial = fake.issue("wiki.corp.example")
    status = await ca.revoke(serial, RevocationReason.key_compromise)
    assert status.revoked and status.in_crl and fake.rotations == 1


async def test_an_expired_certificate_vault_refuses_is_rejected_with_its_warning(
    tmp_path: Path, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_TOKEN", VAULT_TOKEN)
    fake = FakeVault(VAULT_URL, VAULT_TOKEN)
    serial = fake.issue("old.corp.example")
    # path_revoke.go: an expired certificate is 200 with no data and a warning (vendor-apis.md 4.1)
    warning = f"certificate with serial {vault_serial(int(serial, 16))} already expired; refusing to add to CRL"
    httpx_mock.add_response(
        url=f"{VAULT_URL}/v1/pki/revoke", method="POST", json={"data": None, "warnings": [warning], "errors": None}
    )
    httpx_mock.add_callback(fake, is_reusable=True)
    ca = VaultCa(VaultSettings(url=VAULT_URL, token="env:T_TOKEN"), ConnectorEnv(name="vault", state_dir=tmp_path))
    with pytest.raises(ConnectorRejected, match="already expired; refusing to add to CRL"):
        await ca.revoke(serial, RevocationReason.key_compromise)


async def test_a_queued_cross_cluster_revocation_is_unavailable_not_done(
    tmp_path: Path, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_TOKEN", VAULT_TOKEN)
    fake = FakeVault(VAULT_URL, VAULT_TOKEN)
    serial = fake.issue("wiki.corp.example")
    # path_revoke.go with the cross-cluster revocation queue: {"data": {"state": "pending"}} plus a warning
    httpx_mock.add_response(
        url=f"{VAULT_URL}/v1/pki/revoke",
        method="POST",
        json={"data": {"state": "pending"}, "warnings": ["revocation request was queued"]},
    )
    httpx_mock.add_callback(fake, is_reusable=True)
    ca = VaultCa(VaultSettings(url=VAULT_URL, token="env:T_TOKEN"), ConnectorEnv(name="vault", state_dir=tmp_path))
    with pytest.raises(ConnectorUnavailable, match="queued the revocation"):
        await ca.revoke(serial, RevocationReason.key_compromise)


def test_the_readme_vault_example_is_valid_settings() -> None:
    import yaml
    from markdown_it import MarkdownIt

    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    blocks = [t.content for t in MarkdownIt().parse(readme) if t.type == "fence" and "type: vault" in t.content]
    [section] = [yaml.safe_load(b)["connectors"]["ca"] for b in blocks if "\n    type: vault" in b]  # the vault one
    settings = VaultSettings.model_validate({k: v for k, v in section.items() if k not in ("type", "name")})
    assert settings.token == "env:VAULT_TOKEN" and settings.namespace == "soc"


async def test_vault_streams_every_certificate_with_the_facts_the_revocation_sweep_judges(
    tmp_path: Path, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_TOKEN", VAULT_TOKEN)
    fake = FakeVault(VAULT_URL, VAULT_TOKEN)
    httpx_mock.add_callback(fake, is_reusable=True)
    ca = VaultCa(VaultSettings(url=VAULT_URL, token="env:T_TOKEN"), ConnectorEnv(name="vault", state_dir=tmp_path))
    serials = {fake.issue("wiki.corp.example"), fake.issue("mail.corp.example")}
    streamed = [cert async for cert in ca.iter_issued(None)]
    assert {c.serial for c in streamed} == {s.replace(":", "").upper() for s in serials}
    for cert in streamed:
        # the same reading of a certificate as the openssl-ca connector (connectors/ca/described.py)
        assert cert.key_type is not None and cert.key_bits and cert.is_ca is not True and cert.san_dns
        assert cert.position is None  # Vault lists serials in no issuance order: no watermark to resume from
