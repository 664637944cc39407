"""``panos`` beyond the conformance suite: PAN-OS answers errors inside HTTP 200, registrations other clients
made in between, paging, other tags on the same address, and what the request carries."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from fake_panos import PANOS_URL, FakePanos
from firewall_vendors import PANOS_KEY
from pydantic import ValidationError
from pytest_httpx import HTTPXMock

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.firewall.panos import PanosFirewall, PanosSettings
from certsoar.errors import ConnectorRejected, ConnectorUnavailable

TAG = "certsoar-rogue-cert"


@pytest.fixture
def fake(httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePanos]:
    monkeypatch.setenv("PANOS_KEY", PANOS_KEY)
    panos = FakePanos(PANOS_KEY)
    httpx_mock.add_callback(panos, url=re.compile(re.escape(PANOS_URL) + "/.*"), is_reusable=True, is_optional=True)
    yield panos


def build(tmp_path: Path, **settings: object) -> PanosFirewall:
    values = {"url": PANOS_URL, "api_key": "env:PANOS_KEY", "backoff": 0.01, **settings}
    return PanosFirewall(PanosSettings.model_validate(values), ConnectorEnv(name="pa", state_dir=tmp_path))


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


async def test_a_refused_key_in_a_200_answer_is_rejected_naming_authentication(
    fake: FakePanos, tmp_path: Path, httpx_mock: HTTPXMock
) -> None:
    fake.key = "another key"  # the fake answers 403 Invalid Credential
    with pytest.raises(ConnectorRejected, match="not authorized.*HTTP 403.*Invalid Credential"):
        await build(tmp_path).blocked()
    fake.key = PANOS_KEY
    fake.faults.append(fake.error_response(200, "Invalid Credential", {}, code="403"))
    with pytest.raises(
        ConnectorRejected, match="authentication failed, PAN-OS refused the API key.*Invalid Credential"
    ):
        await build(tmp_path).blocked()


async def test_a_status_error_on_register_is_a_rejection_with_the_vendor_message(
    fake: FakePanos, tmp_path: Path
) -> None:
    fw = build(tmp_path)
    await fw.blocked()  # the read before the write succeeds; the register is answered with an error
    body = (
        '<response status="error"><msg><line><uid-response><version>2.0</version><payload><register>'
        '<entry ip="203.0.113.7" message="register failed: too many registered addresses"/>'
        "</register></payload></uid-response></line></msg></response>"
    )
    original = FakePanos.__call__

    def failing_register(self: FakePanos, request: httpx.Request) -> httpx.Response:
        if form(request).get("type") == "user-id":
            self.requests.append(request)
            return httpx.Response(200, content=body.encode(), headers={"Content-Type": "application/xml"})
        return original(self, request)

    fake.__class__ = type("Refusing", (FakePanos,), {"__call__": failing_register})
    with pytest.raises(ConnectorRejected, match="register: PAN-OS answered status error.*too many registered"):
        await fw.block(["203.0.113.7"], "rogue")


async def test_a_registration_made_in_between_counts_as_done(fake: FakePanos, tmp_path: Path) -> None:
    fw = build(tmp_path)
    fake.registered["203.0.113.7"] = {TAG}
    fake.unseen = {"203.0.113.7"}  # the read misses it: another client registered it just now
    await fw.block(["203.0.113.7"], "rogue")  # PAN-OS answers "already exists, ignore": success
    assert fake.user_id_requests == 1 and fake.tagged(TAG) == {"203.0.113.7"}
    fake.registered.clear()
    fake.registered["203.0.113.7"] = {"other"}
    await fw.unblock(["203.0.113.7"])  # nothing of ours listed: nothing sent
    assert fake.user_id_requests == 1


async def test_an_unregister_of_one_gone_in_between_counts_as_done(fake: FakePanos, tmp_path: Path) -> None:
    fw = build(tmp_path)
    await fw.block(["203.0.113.7"], "rogue")
    original = FakePanos.__call__

    def unregister_first(self: FakePanos, request: httpx.Request) -> httpx.Response:
        if form(request).get("type") == "user-id":
            self.registered.pop("203.0.113.7", None)  # another client took it away first
        return original(self, request)

    fake.__class__ = type("Racing", (FakePanos,), {"__call__": unregister_first})
    await fw.unblock(["203.0.113.7"])
    assert not await fw.is_blocked("203.0.113.7")


async def test_other_tags_on_the_same_address_are_left_alone(fake: FakePanos, tmp_path: Path) -> None:
    fake.registered["203.0.113.7"] = {"quarantine"}
    fake.registered["198.51.100.4"] = {"quarantine"}
    fw = build(tmp_path)
    assert await fw.blocked() == set()  # only what carries certsoar's tag is certsoar's
    await fw.block(["203.0.113.7"], "rogue")
    assert fake.registered["203.0.113.7"] == {"quarantine", TAG}
    await fw.unblock(["203.0.113.7"])
    assert fake.registered == {"203.0.113.7": {"quarantine"}, "198.51.100.4": {"quarantine"}}


async def test_reads_go_page_by_page(fake: FakePanos, tmp_path: Path) -> None:
    for n in range(5):
        fake.registered[f"203.0.113.{n + 1}"] = {TAG}
    fw = build(tmp_path, page_size=2)
    assert await fw.blocked() == {f"203.0.113.{n + 1}" for n in range(5)}
    starts = [ET.fromstring(form(r)["cmd"]).findtext("./object/registered-ip/start-point") for r in fake.requests]
    assert starts == ["1", "3", "5"]


async def test_the_request_carries_the_key_in_a_header_and_the_vsys(fake: FakePanos, tmp_path: Path) -> None:
    fw = build(tmp_path, vsys="vsys2", tag="rogue.certs")
    await fw.block(["2001:DB8::7"], "rogue")
    register = next(r for r in fake.requests if form(r)["type"] == "user-id")
    sent = form(register)
    assert register.headers["X-PAN-KEY"] == PANOS_KEY and PANOS_KEY not in str(register.url)
    assert sent["vsys"] == "vsys2"
    message = ET.fromstring(sent["cmd"])
    [entry] = message.findall("./payload/register/entry")
    assert entry.get("ip") == "2001:db8::7"
    assert [(m.text, m.get("timeout")) for m in entry.findall("./tag/member")] == [("rogue.certs", "0")]


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        ('<!DOCTYPE r [<!ENTITY a "aaaa">]><response status="success"/>', ConnectorRejected, "DOCTYPE"),
        ("<html><body>Login</body></html>", ConnectorUnavailable, "not a PAN-OS <response>"),
        ("not xml at all", ConnectorUnavailable, "not XML"),
    ],
)
async def test_an_answer_that_is_no_pan_os_response_is_refused(
    fake: FakePanos, tmp_path: Path, body: str, error: type[Exception], match: str
) -> None:
    def odd(self: FakePanos, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body.encode(), headers={"Content-Type": "text/html"})

    fake.__class__ = type("Odd", (FakePanos,), {"__call__": odd})
    with pytest.raises(error, match=match):
        await build(tmp_path).blocked()


@pytest.mark.parametrize(
    "settings",
    [
        {"api_key": "LUFRPT1inline"},
        {"tag": "has space"},
        {"tag": "x" * 128},
        {"tag": "<member>"},
        {"vsys": "vsys1'/>"},
        {"url": "https://admin:pw@pa-fw.example.test"},
    ],
)
def test_settings_refuse_what_could_leak_or_break_the_xml(settings: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        PanosSettings.model_validate({"url": PANOS_URL, "api_key": "env:PANOS_KEY", **settings})
