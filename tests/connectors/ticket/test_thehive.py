"""``thehive`` beyond the conformance suite: the alert as TheHive receives it (observables typed), promotion to a
case when containment happened and only then, an alert another process created, the organisation, settings."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_thehive import THEHIVE_URL, FakeTheHive
from pydantic import ValidationError
from pytest_httpx import HTTPXMock

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ticket import Observables
from certsoar.connectors.ticket.thehive import TheHiveSettings, TheHiveTicketing
from certsoar.errors import ConnectorRejected

API_KEY = "th5-test-apikey-c2VjcmV0"
KEY = "3F1D2C5A9B8E7D6C5B4A39281706F5E4D3C2B1A09F8E7D6C5B4A392817060504"


@pytest.fixture
def fake(httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTheHive]:
    monkeypatch.setenv("TH_KEY", API_KEY)
    hive = FakeTheHive(API_KEY, organisation="soc-emea")
    httpx_mock.add_callback(hive, url=re.compile(re.escape(THEHIVE_URL) + "/.*"), is_reusable=True, is_optional=True)
    yield hive


def build(tmp_path: Path, **settings: Any) -> TheHiveTicketing:
    values = {"url": THEHIVE_URL, "api_key": "env:TH_KEY", "organisation": "soc-emea", "backoff": 0.01, **settings}
    return TheHiveTicketing(TheHiveSettings.model_validate(values), ConnectorEnv(name="hive", state_dir=tmp_path))


def sent_alert(fake: FakeTheHive) -> dict[str, Any]:
    [create] = [r for r in fake.requests if r.method == "POST" and r.url.path == "/api/v1/alert"]
    body: dict[str, Any] = json.loads(create.content)
    return body


async def test_the_alert_carries_the_key_and_typed_observables(fake: FakeTheHive, tmp_path: Path) -> None:
    tickets = build(tmp_path)
    observables = Observables(
        hashes=[KEY.lower(), "0f" * 20],
        addresses=["203.0.113.7", "2001:0db8::0007", "203.0.113.7", "203.0.113.7/../x"],
        names=["Login.Example.COM", "evil.example\n<script>alert(1)</script>", "*.cdn.example"],
    )
    ticket = await tickets.open_with_observables(KEY, "Rogue certificate", "Self-signed.", "high", observables)
    alert = sent_alert(fake)
    assert {k: alert[k] for k in ("type", "source", "sourceRef", "severity", "tlp", "pap", "tags")} == {
        "type": "rogue-certificate",
        "source": "certsoar",
        "sourceRef": KEY,
        "severity": 3,
        "tlp": 2,
        "pap": 2,
        "tags": ["T1587.003", "certsoar:open"],
    }
    assert [(o["dataType"], o["data"]) for o in alert["observables"]] == [
        ("hash", KEY.lower()),  # the key and the same hash given again: one observable
        ("hash", "0f" * 20),
        ("ip", "203.0.113.7"),
        ("ip", "2001:db8::7"),
        ("fqdn", "login.example.com"),
        ("fqdn", "*.cdn.example"),
    ]  # what is no address or host name is left out, and the alert is still opened
    assert ticket.key == KEY and ticket.severity == "high" and ticket.url == f"{THEHIVE_URL}/alerts/{ticket.id}/details"
    assert all(r.headers["X-Organisation"] == "soc-emea" for r in fake.requests)


async def test_a_key_that_is_no_hash_makes_no_observable(fake: FakeTheHive, tmp_path: Path) -> None:
    await build(tmp_path).open("serial:4F2A", "Rogue certificate", "body", "low")
    assert sent_alert(fake)["observables"] == [] and sent_alert(fake)["severity"] == 1


async def test_containment_promotes_the_alert_to_one_case(fake: FakeTheHive, tmp_path: Path) -> None:
    tickets = build(tmp_path)
    opened = await tickets.open(KEY, "Rogue certificate", "body", "high")
    await tickets.comment(opened.id, "Approved by alice.")
    assert fake.cases == {}  # approval alone: still an alert
    contained = await tickets.comment(opened.id, "Contained.", "contained")
    [case] = fake.cases.values()
    assert fake.alerts[opened.id]["caseId"] == case["_id"] and fake.alerts[opened.id]["status"] == "Imported"
    assert fake.comments_of(opened.id) == ["Approved by alice."] and fake.comments_of(case["_id"]) == ["Contained."]
    assert contained.id == opened.id and contained.url == f"{THEHIVE_URL}/cases/{case['_id']}/details"
    assert contained.comments == ["Approved by alice.", "Contained."] and contained.status == "contained"
    again = await tickets.comment(opened.id, "Still contained.", "contained")
    assert len(fake.cases) == 1 and again.comments[-1] == "Still contained."
    released = await tickets.close(opened.id, "Released: a false positive.", "released")
    assert case["status"] == "FalsePositive" and case["summary"] == "Released: a false positive."
    assert released.status == "released" and case["stage"] == "Closed"


async def test_a_denied_escalation_is_closed_as_an_alert_without_a_case(fake: FakeTheHive, tmp_path: Path) -> None:
    tickets = build(tmp_path)
    opened = await tickets.open(KEY, "Rogue certificate", "body", "high")
    closed = await tickets.close(opened.id, "Denied by carol: the lab's test server.")
    assert fake.cases == {} and fake.alerts[opened.id]["status"] == "Other" and closed.status == "closed"
    reopened = await tickets.comment(opened.id, "Reopened by run r2.", "open")
    assert fake.alerts[opened.id]["status"] == "New" and reopened.status == "open"


@pytest.mark.parametrize("status", ["contained", "released"])
async def test_a_move_that_fails_leaves_no_comment_and_a_retry_completes_it(
    fake: FakeTheHive, tmp_path: Path, httpx_mock: HTTPXMock, status: str
) -> None:
    """ticket.comment takes a comment it finds as its write done: the comment never stands without its move."""
    tickets = build(tmp_path)
    opened = await tickets.open(KEY, "Rogue certificate", "body", "high")

    def refusing_patches(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            return httpx.Response(400, json={"type": "BadRequest", "message": "Invalid status"})
        return fake(request)

    httpx_mock.reset()
    httpx_mock.add_callback(refusing_patches, url=re.compile(re.escape(THEHIVE_URL) + "/.*"), is_reusable=True)
    with pytest.raises(ConnectorRejected, match="Invalid status"):
        await tickets.comment(opened.id, "Moved.", status)  # type: ignore[arg-type]
    assert fake.comments == []

    httpx_mock.reset()
    httpx_mock.add_callback(fake, url=re.compile(re.escape(THEHIVE_URL) + "/.*"), is_reusable=True)
    moved = await tickets.comment(opened.id, "Moved.", status)  # type: ignore[arg-type]
    assert moved.status == status and moved.comments == ["Moved."]


async def test_a_case_resolved_by_hand_reads_as_closed(fake: FakeTheHive, tmp_path: Path) -> None:
    tickets = build(tmp_path)
    opened = await tickets.open(KEY, "Rogue certificate", "body", "high")
    await tickets.comment(opened.id, "Contained.", "contained")
    [case] = fake.cases.values()
    case["status"] = "TruePositive"  # an analyst resolved it in TheHive
    found = await tickets.find(KEY)
    assert found is not None and found.status == "closed"


async def test_an_alert_another_process_created_meanwhile_is_returned(
    fake: FakeTheHive, tmp_path: Path, httpx_mock: HTTPXMock
) -> None:
    other = await build(tmp_path).open(KEY, "Rogue certificate", "body", "high")
    hidden = fake.alerts.pop(other.id)

    def create_after_the_other(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/api/v1/alert":
            fake.alerts[hidden["_id"]] = hidden  # the other process's create lands first
        return fake(request)

    fake.requests.clear()
    httpx_mock.reset()
    httpx_mock.add_callback(create_after_the_other, url=re.compile(re.escape(THEHIVE_URL) + "/.*"), is_reusable=True)
    again = await build(tmp_path).open(KEY, "Another title", "another body", "high")
    assert again == other and list(fake.alerts) == [other.id]
    assert [r.url.path for r in fake.requests].count("/api/v1/alert") == 1  # refused as a duplicate, not retried


async def test_a_create_refused_for_another_reason_is_rejected(fake: FakeTheHive, tmp_path: Path) -> None:
    with pytest.raises(ConnectorRejected, match="HTTP 400: Attribute title is missing"):
        await build(tmp_path).open(KEY, "", "", "high")
    assert fake.alerts == {}


async def test_another_organisation_is_refused(fake: FakeTheHive, tmp_path: Path) -> None:
    with pytest.raises(ConnectorRejected, match="HTTP 403"):
        await build(tmp_path, organisation="soc-apac").find(KEY)


async def test_an_id_that_is_no_thehive_id_is_refused_before_any_request(fake: FakeTheHive, tmp_path: Path) -> None:
    with pytest.raises(ConnectorRejected, match="not a TheHive id"):
        await build(tmp_path).comment("../case/~1", "hello")
    assert fake.requests == []


@pytest.mark.parametrize(
    "settings",
    [
        {"api_key": API_KEY},
        {"resolutions": {"closed": "FalsePositive"}},  # a release could not be told from a denial
        {"resolutions": {"released": "New"}},
        {"tlp": 5},
    ],
)
def test_settings_refuse_what_could_leak_or_confuse(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TheHiveSettings.model_validate({"url": THEHIVE_URL, "api_key": "env:TH_KEY", **settings})
