"""What only the ``splunk`` connector does: session login, the concurrency-quota 503, messages as warnings, the
job API's states and pages, a streamed export, and SPL that an indicator cannot break out of."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from pytest_httpx import HTTPXMock
from siem_records import BY_TIME, EVIL_SHA256, T0, X509
from siem_vendors import SPLUNK_TOKEN, SPLUNK_URL, FakeSplunk, SplunkSearch, splunk_results

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.siem import SiemQuery, search_with_warnings
from certsoar.connectors.siem.remote import Plan
from certsoar.connectors.siem.splunk import SplunkSettings, SplunkSiem
from certsoar.errors import ConnectorRejected, ConnectorUnavailable
from certsoar.registry import connector_class

LOCAL = pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
PASSWORD = "splunk-Conformance-pw-31337"


@pytest.fixture
def fake(httpx_mock: HTTPXMock) -> FakeSplunk:
    splunk = FakeSplunk(SPLUNK_URL, SPLUNK_TOKEN)
    httpx_mock.add_callback(splunk, url=re.compile(re.escape(SPLUNK_URL) + "/.*"), is_reusable=True, is_optional=True)
    return splunk


def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: object) -> SplunkSiem:
    monkeypatch.setenv("T_SPLUNK_TOKEN", SPLUNK_TOKEN)
    monkeypatch.setenv("T_SPLUNK_PASSWORD", PASSWORD)
    values = {"url": SPLUNK_URL, "backoff": 0.01, "poll_interval": 0.01, **settings}
    if "username" not in values:
        values.setdefault("token", "env:T_SPLUNK_TOKEN")
    return SplunkSiem(SplunkSettings.model_validate(values), ConnectorEnv(name="splunk", state_dir=tmp_path))


def query(**indicators: list[str]) -> SiemQuery:
    return SiemQuery(indicators=indicators, start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1))


def test_registered_under_the_entry_point() -> None:
    assert connector_class("siem", "splunk") is SplunkSiem


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"token": "hunter2-inline"}, "env:NAME or file:PATH"),
        ({}, "either token or username with password"),
        ({"token": "env:X", "username": "svc", "password": "env:Y"}, "either token or username"),
        ({"username": "svc"}, "needs both username and password"),
        ({"token": "env:X", "search": "index=main"}, "must start with 'search '"),
        ({"token": "env:X", "search": "search index=main | delete"}, "no pipe"),
        ({"token": "env:X", "kind_filters": {"conn": "x | delete"}}, "without a pipe"),
        ({"token": "env:X", "fields": {"colour": ["c"]}}, "unknown event fields"),
        ({"token": "env:X", "url": "https://admin:pw@splunk:8089"}, "no credentials"),
    ],
)
def test_settings_refuse_what_cannot_work(settings: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        SplunkSettings.model_validate({"url": SPLUNK_URL, **settings})


async def test_a_session_login_is_made_once_and_its_key_sent(
    fake: FakeSplunk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.credentials = ("svc-certsoar", PASSWORD)
    siem = build(tmp_path, monkeypatch, username="svc-certsoar", password="env:T_SPLUNK_PASSWORD")
    for _ in range(2):
        assert [BY_TIME[e.time] for e in await siem.search(query(sni=["evil.example"]))] == ["ssl", "suricata"]
    assert fake.logins == 1
    searches = [r for r in fake.requests if r.url.path.endswith("/export")]
    assert all(r.headers["Authorization"] == f"Splunk {fake.session_key}" for r in searches)


async def test_a_refused_login_names_the_credentials(
    fake: FakeSplunk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.credentials = ("svc-certsoar", "another password")
    siem = build(tmp_path, monkeypatch, username="svc-certsoar", password="env:T_SPLUNK_PASSWORD")
    with pytest.raises(ConnectorRejected, match="authentication failed.*HTTP 401.*Login failed") as caught:
        await siem.search(query(sni=["evil.example"]))
    assert PASSWORD not in str(caught.value)


async def test_the_concurrency_quota_503_is_waited_out(
    fake: FakeSplunk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quota = (
        "Search not executed: The maximum number of concurrent historical searches on this instance has been "
        'reached. concurrency_category="historical"'
    )
    fake.inject(503, times=2, message=quota)
    events = await build(tmp_path, monkeypatch).search(query(sni=["evil.example"]))
    assert len(events) == 2 and len(fake.requests) == 3


async def test_error_messages_in_the_answer_are_warnings(
    fake: FakeSplunk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.messages = [
        {"type": "INFO", "text": "Your timerange was substituted."},
        {"type": "FATAL", "text": "Search auto-canceled: indexer idx02 is down"},
    ]
    report = await search_with_warnings(build(tmp_path, monkeypatch), query(sni=["evil.example"]))
    assert len(report.events) == 2
    assert report.warnings == ["splunk: Splunk: Search auto-canceled: indexer idx02 is down"]


async def test_max_results_keeps_the_earliest_and_is_a_warning(
    fake: FakeSplunk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = await search_with_warnings(build(tmp_path, monkeypatch, max_results=2), query(server=["203.0.113.7:443"]))
    assert [BY_TIME[e.time] for e in report.events] == ["ssl", "suricata"]
    assert report.warnings == [
        "splunk: Splunk sent its max_results (2) results: later events of the window are missing"
    ]


async def test_the_job_api_is_polled_and_paged(
    fake: FakeSplunk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.polls_before_done = 3
    siem = build(tmp_path, monkeypatch, mode="job", page_size=2)
    events = await siem.search(query(server=["203.0.113.7:443"]))
    assert [BY_TIME[e.time] for e in events] == ["ssl", "suricata", "conn"]
    polls = [r for r in fake.requests if re.fullmatch(r"/services/search/jobs/[0-9.]+", r.url.path)]
    pages = [r.url.params["offset"] for r in fake.requests if r.url.path.endswith("/results")]
    assert len(polls) == 4 and pages == ["0", "2"]


async def test_a_job_that_never_finishes_is_cancelled(
    fake: FakeSplunk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.polls_before_done = 10_000
    siem = build(tmp_path, monkeypatch, mode="job", job_timeout=0.1)
    with pytest.raises(ConnectorUnavailable, match=r"still RUNNING after 0.1s: cancelled"):
        await siem.search(query(sni=["evil.example"]))
    assert fake.requests[-1].url.path.endswith("/control") and b"action=cancel" in fake.requests[-1].content


async def test_a_failed_job_is_rejected_with_splunks_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=f"{SPLUNK_URL}/services/search/jobs", status_code=201, json={"sid": "1780000000.7"})
    failed = {"dispatchState": "FAILED", "messages": [{"type": "FATAL", "text": "Unknown search command 'tstatz'."}]}
    httpx_mock.add_response(
        url=re.compile(re.escape(SPLUNK_URL) + r"/services/search/jobs/1780000000\.7\?.*"),
        json={"entry": [{"name": "1780000000.7", "content": failed}]},
    )
    with pytest.raises(ConnectorRejected, match="search job 1780000000.7 failed: Unknown search command 'tstatz'"):
        await build(tmp_path, monkeypatch, mode="job").search(query(sni=["evil.example"]))


def test_an_indicator_cannot_break_out_of_its_term(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = 'x" OR index=* | delete | search "'
    spl = build(tmp_path, monkeypatch).spl(Plan.of(query(sni=[hostile], ja3=["a*b\\c"])))
    assert spl is not None and spl.count("|") == 2 and spl.endswith("| sort 0 _time | head 100000")
    command = spl.partition("|")[0]
    assert re.findall(r'"[^"]*"', command) == ['"x or index=  delete  search "', '"abc"']
    assert {'"x or index=  delete  search "', '"abc"'} <= set(SplunkSearch(spl).tokens)  # each one quoted term


def test_an_export_query_is_what_the_fake_evaluates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SPL written for each kind of query selects what a search of the story needs (a check of the fake)."""
    siem = build(tmp_path, monkeypatch)
    spl = siem.spl(Plan.of(query(sha256=[EVIL_SHA256])))
    assert spl is not None and EVIL_SHA256 in spl and EVIL_SHA256.upper() in spl
    selected = [r for r in splunk_results() if SplunkSearch(spl).matches(r)]
    assert [r["sourcetype"] for r in selected] == ["bro:x509:json", "bro:ssl:json"]
    assert siem.spl(Plan.of(query())) is None


@LOCAL
async def test_the_export_is_read_as_it_arrives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server sends the first result and holds the rest back until the connector has handed that result on:
    a client that waited for the whole body would never see it."""
    first_seen = asyncio.Event()
    line = json.dumps({"preview": False, "offset": 0, "result": {**splunk_results()[0], "_raw": X509.line()}})

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = (line + "\n").encode()
        writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        await writer.drain()
        await first_seen.wait()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    siem = build(tmp_path, monkeypatch, url=f"http://127.0.0.1:{port}")
    records: AsyncIterator = siem.iter_certificates(None, [])
    try:
        record = await asyncio.wait_for(anext(records), timeout=5)
        assert record.format == "zeek-x509" and record.event.sha256 == EVIL_SHA256
        first_seen.set()
        assert [r async for r in records] == []
    finally:
        server.close()
        await server.wait_closed()
