"""What is EJBCA's own, beyond the CA suite: its reason names, 409 and 202, paged inventory, serial spelling."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from ca_vendors import EJBCA_ISSUER, EJBCA_TOKEN, NOW, FakeEjbca
from pydantic import ValidationError
from pytest_httpx import HTTPXMock

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ca import RevocationReason
from certsoar.connectors.ca.ejbca import EjbcaCa, EjbcaSettings
from certsoar.errors import ConnectorRejected, ConnectorUnavailable

ISSUER_IN_PATH = "CN%3DExample%20EJBCA%20Issuing%20CA%2CO%3DExample%20Corp%2CC%3DSE"


def ejbca(
    fake: FakeEjbca, httpx_mock: HTTPXMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: Any
) -> EjbcaCa:
    monkeypatch.setenv("CERTSOAR_TEST_EJBCA_TOKEN", EJBCA_TOKEN)
    httpx_mock.add_callback(fake, url=re.compile(re.escape(fake.url) + "/.*"), is_reusable=True, is_optional=True)
    values = {
        "url": fake.url,
        "issuer_dn": EJBCA_ISSUER,
        "ca_name": "ExampleIssuingCA",
        "token": "env:CERTSOAR_TEST_EJBCA_TOKEN",
        "backoff": 0.01,
        **extra,
    }
    return EjbcaCa(EjbcaSettings.model_validate(values), ConnectorEnv(name="ejbca", state_dir=tmp_path))


async def test_revoke_sends_ejbcas_reason_name_to_the_encoded_issuer_path(
    httpx_mock: HTTPXMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeEjbca(EJBCA_TOKEN)
    ca = ejbca(fake, httpx_mock, tmp_path, monkeypatch)
    serial = fake.issue("rogue.corp.example")
    status = await ca.revoke(serial, RevocationReason.privilege_withdrawn)
    [put] = [r for r in fake.requests if r.method == "PUT"]
    assert put.url.raw_path.decode() == (
        f"/ejbca/ejbca-rest-api/v1/certificate/{ISSUER_IN_PATH}/{serial}/revoke?reason=PRIVILEGES_WITHDRAWN"
    )
    assert status.reason == "privilegeWithdrawn" and status.in_crl and fake.crls_created == 1


async def test_a_409_from_a_revocation_made_meanwhile_is_success(
    httpx_mock: HTTPXMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class RevokedMeanwhile(FakeEjbca):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.method == "PUT":  # another operator revoked it after our status read
                serial = int(request.url.path.split("/")[-2], 16)
                self.ca.revoked_at[serial] = self.ca.revoked_at.get(serial) or NOW
                self.reasons[serial] = "KEY_COMPROMISE"
            return super().__call__(request)

    fake = RevokedMeanwhile(EJBCA_TOKEN)
    ca = ejbca(fake, httpx_mock, tmp_path, monkeypatch)
    serial = fake.issue("rogue.corp.example")
    status = await ca.revoke(serial, RevocationReason.key_compromise)
    assert status.revoked and status.in_crl
    assert [r.method for r in fake.requests].count("PUT") == 1 and fake.revocations(serial) == 0


async def test_a_revocation_waiting_for_approval_is_unavailable_not_done(
    httpx_mock: HTTPXMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NeedsApproval(FakeEjbca):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.method == "PUT":  # ExceptionHandler: WaitingForApprovalException
                self.requests.append(request)
                return httpx.Response(202, json={"status_code": 202, "info_message": "Request is waiting for approval"})
            return super().__call__(request)

    fake = NeedsApproval(EJBCA_TOKEN)
    ca = ejbca(fake, httpx_mock, tmp_path, monkeypatch)
    with pytest.raises(ConnectorUnavailable, match="for approval: Request is waiting for approval"):
        await ca.revoke(fake.issue("rogue.corp.example"), RevocationReason.key_compromise)


async def test_the_inventory_pages_through_v2_search_with_requester_and_profile(
    httpx_mock: HTTPXMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeEjbca(EJBCA_TOKEN)
    ca = ejbca(fake, httpx_mock, tmp_path, monkeypatch, page_size=2)
    serials = [fake.issue(f"host{i}.corp.example") for i in range(5)]
    listed = [c async for c in ca.iter_issued()]
    assert [c.serial for c in listed] == serials
    assert {(c.requester, c.template) for c in listed} == {("svc-webops", "1")}
    pages = [r for r in fake.requests if r.url.path.endswith("/v2/certificate/search")]
    assert len(pages) == 3


async def test_an_older_ejbca_gets_decimal_serials(
    httpx_mock: HTTPXMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeEjbca(EJBCA_TOKEN)
    ca = ejbca(fake, httpx_mock, tmp_path, monkeypatch, serial_format="decimal")
    serial = fake.issue("wiki.corp.example")
    await ca.status(serial)
    [read] = [r for r in fake.requests if r.url.path.endswith("/revocationstatus")]
    assert read.url.path.split("/")[-2] == str(int(serial, 16))


def test_settings_demand_a_credential() -> None:
    with pytest.raises(ValidationError, match="client_cert"):
        EjbcaSettings.model_validate({"url": "https://ejbca.example.test", "issuer_dn": "CN=X", "ca_name": "X"})
    with pytest.raises(ValidationError, match="env:NAME or file:PATH"):
        EjbcaSettings.model_validate(
            {"url": "https://ejbca.example.test", "issuer_dn": "CN=X", "ca_name": "X", "token": "eyJraw-token"}
        )


async def test_a_search_that_ignores_paging_is_refused_not_looped(
    httpx_mock: HTTPXMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FirstPageForever(FakeEjbca):
        def _search_v2(self, body: dict[str, Any]) -> httpx.Response:
            return super()._search_v2({**body, "pagination": {**body["pagination"], "current_page": 1}})

    fake = FirstPageForever(EJBCA_TOKEN)
    ca = ejbca(fake, httpx_mock, tmp_path, monkeypatch, page_size=2)
    for i in range(5):
        fake.issue(f"host{i}.corp.example")
    with pytest.raises(ConnectorRejected, match="answered page 2 with page 1 again"):
        [c async for c in ca.iter_issued()]
