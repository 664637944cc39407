"""``servicenow`` beyond the conformance suite: the correlation id a hostile key becomes, the fields and states
written (incident and sn_si_incident), a record another process made, journal markup, OAuth, settings."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_servicenow import SERVICENOW_URL, FakeServiceNow, parse_query
from pydantic import ValidationError
from pytest_httpx import HTTPXMock

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ticket.servicenow import ServiceNowSettings, ServiceNowTicketing
from certsoar.errors import ConnectorRejected, ConnectorUnavailable

PASSWORD = "sn-test-Pa55w0rd-93b1"
CLIENT_SECRET = "sn-oauth-client-secret-5f0a1c"
KEY = "3f1d2c5a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817060504"


@pytest.fixture
def fake(httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServiceNow]:
    monkeypatch.setenv("SN_PASSWORD", PASSWORD)
    monkeypatch.setenv("SN_CLIENT_SECRET", CLIENT_SECRET)
    instance = FakeServiceNow(password=PASSWORD, client=("certsoar-client", CLIENT_SECRET))
    httpx_mock.add_callback(
        instance, url=re.compile(re.escape(SERVICENOW_URL) + "/.*"), is_reusable=True, is_optional=True
    )
    yield instance


def build(tmp_path: Path, **settings: Any) -> ServiceNowTicketing:
    values = {"url": SERVICENOW_URL, "username": "certsoar.integration", "password": "env:SN_PASSWORD", **settings}
    values = {k: v for k, v in values.items() if v is not None}
    return ServiceNowTicketing(ServiceNowSettings.model_validate(values), ConnectorEnv(name="sn", state_dir=tmp_path))


@pytest.mark.parametrize(
    "key",
    [
        "alert:x^ORcorrelation_idISNOTEMPTY",  # a caret would add conditions to the encoded query
        "alert:" + "a" * 120,  # longer than correlation_id holds
        "alert:évènement 42",
    ],
)
async def test_a_key_the_field_cannot_hold_as_it_is_becomes_its_hash(
    fake: FakeServiceNow, tmp_path: Path, key: str
) -> None:
    fake.tables["incident"]["0" * 32] = {"sys_id": "0" * 32, "correlation_id": "someone-else", "state": "1"}
    tickets = build(tmp_path)
    assert await tickets.find(key) is None  # the record someone else made is not taken for it
    opened = await tickets.open(key, "Rogue certificate", "body", "high")
    cid = "certsoar:sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert fake.tables["incident"][opened.id]["correlation_id"] == cid and opened.key == key
    assert await tickets.open(key, "again", "again", "high") == opened
    assert len(fake.records()) == 2
    sent = [
        parse_query(r.url.params["sysparm_query"])
        for r in fake.requests
        if r.method == "GET" and r.url.path.endswith("/incident")
    ]
    assert sent and all(conditions[0] == ("correlation_id", cid) for conditions, _ in sent if conditions)


async def test_a_certificate_hash_is_the_correlation_id_as_it_is(fake: FakeServiceNow, tmp_path: Path) -> None:
    await build(tmp_path).open(KEY, "Rogue certificate", "body", "high")
    [record] = fake.records()
    assert record["correlation_id"] == f"certsoar:{KEY}"
    query = next(r for r in fake.requests if r.method == "GET").url.params["sysparm_query"]
    assert query == f"correlation_id=certsoar:{KEY}^ORDERBYsys_created_on^ORDERBYsys_id"


async def test_open_writes_the_documented_fields(fake: FakeServiceNow, tmp_path: Path) -> None:
    tickets = build(tmp_path, caller_id="soar.integration", assignment_group="SOC Tier 2")
    ticket = await tickets.open(KEY, "Rogue certificate " + "x" * 200, "Self-signed.\nServers: 203.0.113.7", "critical")
    [record] = fake.records()
    assert record["short_description"] == "Rogue certificate " + "x" * 141 + "…"  # the field holds 160
    assert record["description"] == "Self-signed.\nServers: 203.0.113.7"
    assert (record["urgency"], record["impact"], record["state"]) == ("1", "1", "1")
    assert (record["caller_id"], record["assignment_group"], record["correlation_display"]) == (
        "soar.integration",
        "SOC Tier 2",
        "certsoar",
    )
    assert ticket.severity == "critical" and ticket.url is not None and record["sys_id"] in ticket.url
    for request in fake.requests:
        if request.url.path.startswith("/api/now/table/incident"):
            assert request.url.params["sysparm_display_value"] == "false"
            assert request.url.params["sysparm_exclude_reference_link"] == "true"


async def test_a_security_incident_moves_through_its_own_states(fake: FakeServiceNow, tmp_path: Path) -> None:
    tickets = build(tmp_path, table="sn_si_incident", journal="comments")
    opened = await tickets.open(KEY, "Rogue certificate", "body", "high")
    record = fake.tables["sn_si_incident"][opened.id]
    assert record["state"] == "16" and not fake.records("incident")
    assert (await tickets.comment(opened.id, "Blocking some.", "partially-contained")).status == "partially-contained"
    assert record["state"] == "18"
    assert (await tickets.comment(opened.id, "Contained.", "contained")).status == "contained"
    assert record["state"] == "19"
    released = await tickets.close(opened.id, "Released: a false positive.", "released")
    assert (record["state"], record["close_code"], record["close_notes"]) == (
        "3",
        "Solution provided",
        "Released: a false positive.",
    )
    assert released.status == "released"
    assert fake.notes(opened.id, "comments") == ["Blocking some.", "Contained.", "Released: a false positive."]
    assert fake.notes(opened.id, "work_notes") == []


async def test_states_and_close_codes_follow_the_settings(fake: FakeServiceNow, tmp_path: Path) -> None:
    tickets = build(tmp_path, states={"partially-contained": "2"}, close_codes={"closed": "Duplicate"})
    opened = await tickets.open(KEY, "Rogue certificate", "body", "high")
    await tickets.comment(opened.id, "Some blocked.", "partially-contained")
    assert fake.tables["incident"][opened.id]["state"] == "2"
    closed = await tickets.close(opened.id, "Denied.")
    assert fake.tables["incident"][opened.id]["close_code"] == "Duplicate" and closed.status == "closed"


async def test_a_state_set_by_hand_reads_as_the_case_it_means(fake: FakeServiceNow, tmp_path: Path) -> None:
    tickets = build(tmp_path)
    opened = await tickets.open(KEY, "Rogue certificate", "body", "high")
    fake.tables["incident"][opened.id].update(state="7", close_code="Resolved by caller")  # an analyst closed it
    found = await tickets.find(KEY)
    assert found is not None and found.status == "closed"
    fake.tables["incident"][opened.id]["state"] = "8"  # canceled
    assert (await tickets.find(KEY) or opened).status == "closed"


async def test_the_oldest_record_is_the_ticket_when_another_process_made_a_second(
    fake: FakeServiceNow, tmp_path: Path
) -> None:
    tickets = build(tmp_path)
    first = await tickets.open(KEY, "Rogue certificate", "body", "high")
    # another process, between its find and its create, made a second record with the same correlation_id
    fake.tables["incident"]["f" * 32] = {
        **fake.tables["incident"][first.id],
        "sys_id": "f" * 32,
        "sys_created_on": "2030-01-01 00:00:00",
    }
    assert await tickets.find(KEY) == first
    assert await build(tmp_path).open(KEY, "x", "y", "low") == first


async def test_a_code_tag_in_a_journal_entry_never_turns_into_html(fake: FakeServiceNow, tmp_path: Path) -> None:
    tickets = build(tmp_path)
    opened = await tickets.open(KEY, "Rogue certificate", "body", "high")
    await tickets.comment(opened.id, "CN=[code]<img src=x onerror=alert(1)>[/CODE]")
    [note] = fake.notes(opened.id)
    assert "[code]" not in note.lower() and "[/code]" not in note.lower()
    assert "<img src=x onerror=alert(1)>" in note  # the rest stays, as text


async def test_an_unknown_record_is_refused_with_the_instance_s_message(fake: FakeServiceNow, tmp_path: Path) -> None:
    tickets = build(tmp_path)
    with pytest.raises(ConnectorRejected, match="HTTP 404: No Record found"):
        await tickets.comment("0" * 32, "hello")
    with pytest.raises(ConnectorRejected, match="a sys_id is 32 hex digits"):
        await tickets.comment("../../sys_user", "hello")
    assert [r.method for r in fake.requests] == ["PATCH"]


async def test_an_oauth_client_fetches_a_token_and_never_logs_it(
    fake: FakeServiceNow, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tickets = build(
        tmp_path, username=None, password=None, client_id="certsoar-client", client_secret="env:SN_CLIENT_SECRET"
    )
    await tickets.open(KEY, "Rogue certificate", "body", "high")
    [token] = fake.issued
    assert [r.url.path for r in fake.requests].count("/oauth_token.do") == 1
    assert all(r.headers.get("Authorization") == f"Bearer {token}" for r in fake.requests[1:])
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert token not in logged and CLIENT_SECRET not in logged and "/oauth_token.do" in logged


@pytest.mark.parametrize(
    "settings",
    [
        {"password": PASSWORD},  # inline
        {"token": "env:SN_TOKEN"},  # two ways in
        {"password": None},  # a user without a password
        {"close_codes": {"closed": "Solution provided"}},  # a release could not be told from a denial
        {"states": {"contained": "In Progress"}},
        {"correlation_prefix": "a^b"},
        {"table": "sys_user"},
    ],
)
def test_settings_refuse_what_could_leak_or_confuse(settings: dict[str, Any]) -> None:
    values = {"url": SERVICENOW_URL, "username": "u", "password": "env:SN_PASSWORD", **settings}
    with pytest.raises(ValidationError):
        ServiceNowSettings.model_validate({k: v for k, v in values.items() if v is not None})


async def test_a_comment_that_may_have_been_applied_is_not_sent_again(fake: FakeServiceNow, tmp_path: Path) -> None:
    tickets = build(tmp_path, backoff=0.01)
    opened = await tickets.open(KEY, "Rogue certificate", "body", "high")
    fake.inject(502, errors=["Bad gateway"])
    with pytest.raises(ConnectorUnavailable, match="not tried again"):
        await tickets.comment(opened.id, "Contained.", "contained")
    assert [r.method for r in fake.requests].count("PATCH") == 1  # a retry could double the journal entry
