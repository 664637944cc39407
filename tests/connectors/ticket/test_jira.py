"""``jira`` beyond the conformance suite: what Cloud and Data Center are sent, the label, the local record, the
transitions mapping, a status someone changed in Jira, priorities and the settings it refuses."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fake_jira import JIRA_URL, FakeJira
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from pytest_httpx import HTTPXMock
from ticket_vendors import JIRA_API_TOKEN, JIRA_EMAIL, JIRA_PAT

from certsoar.config import load_config
from certsoar.connections import Connections
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ticket.jira import (
    PROPERTY,
    JiraSettings,
    JiraTicketing,
    adf_document,
    adf_text,
    wiki_literal,
    wiki_text,
)
from certsoar.errors import ConfigError, ConnectorRejected, ConnectorUnavailable

KEY = "3f1d2c5a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817060504"
LABEL = "certsoar-" + hashlib.sha256(KEY.encode()).hexdigest()[:32]


@pytest.fixture(params=["cloud", "datacenter"])
def fake(request: pytest.FixtureRequest, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeJira]:
    token = JIRA_API_TOKEN if request.param == "cloud" else JIRA_PAT
    monkeypatch.setenv("JIRA_TOKEN", token)
    jira = FakeJira(request.param, email=JIRA_EMAIL, token=token)

    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # as a network would, let other tasks run between request and answer
        return jira(request)

    httpx_mock.add_callback(answer, url=re.compile(re.escape(JIRA_URL) + "/.*"), is_reusable=True, is_optional=True)
    yield jira


def settings(fake: FakeJira, **values: Any) -> JiraSettings:
    credentials: dict[str, Any] = (
        {"email": JIRA_EMAIL, "api_token": "env:JIRA_TOKEN"} if fake.cloud else {"token": "env:JIRA_TOKEN"}
    )
    return JiraSettings.model_validate(
        {
            "url": JIRA_URL,
            "deployment": "cloud" if fake.cloud else "datacenter",
            "project": "SEC",
            "backoff": 0.01,
            **credentials,
            **values,
        }
    )


def build(fake: FakeJira, state_dir: Path, **values: Any) -> JiraTicketing:
    return JiraTicketing(settings(fake, **values), ConnectorEnv(name="jira", state_dir=state_dir))


def sent(fake: FakeJira, method: str, path_end: str) -> list[Any]:
    return [json.loads(r.content) for r in fake.requests if r.method == method and r.url.path.endswith(path_end)]


async def test_what_cloud_and_data_center_are_sent(fake: FakeJira, tmp_path: Path) -> None:
    tickets = build(fake, tmp_path)
    ticket = await tickets.open(KEY, "Rogue certificate\nCN=x", "Line one\n\nLine *three*", "high")
    [create] = sent(fake, "POST", "/issue")
    fields = create["fields"]
    assert fields["project"] == {"key": "SEC"} and fields["issuetype"] == {"name": "Task"}
    assert fields["summary"] == "Rogue certificate CN=x"
    assert fields["labels"] == ["certsoar", LABEL] and "priority" not in fields
    api = "/rest/api/3/" if fake.cloud else "/rest/api/2/"
    assert all(r.url.path.startswith(api) for r in fake.requests)
    if fake.cloud:
        assert fields["description"] == {
            "type": "doc",
            "version": 1,
            "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "Line one"}]},
                {"type": "paragraph", "content": []},
                {"type": "paragraph", "content": [{"type": "text", "text": "Line *three*"}]},
            ],
        }
        basic = base64.b64encode(f"{JIRA_EMAIL}:{JIRA_API_TOKEN}".encode()).decode()
        assert all(r.headers["Authorization"] == f"Basic {basic}" for r in fake.requests)
    else:
        assert fields["description"] == "{noformat}Line one\n\nLine *three*{noformat}"
        assert all(r.headers["Authorization"] == f"Bearer {JIRA_PAT}" for r in fake.requests)
    assert ticket.id == "SEC-24" and ticket.url == f"{JIRA_URL}/browse/SEC-24"
    assert ticket.severity == "high" and ticket.key == KEY


async def test_a_brace_in_the_text_cannot_open_or_close_a_wiki_macro(fake: FakeJira, tmp_path: Path) -> None:
    text = "a{noformat}b{code}c{noformat:title=x}d\\{e}"
    assert wiki_literal(text) == (
        "{noformat}a{noformat}\\{{noformat}noformat}b{noformat}\\{{noformat}code}c{noformat}\\{"
        "{noformat}noformat:title=x}d\\{noformat}\\{{noformat}e}{noformat}"
    )
    tickets = build(fake, tmp_path)
    opened = await tickets.open(KEY, "t", "body", "low")
    moved = await tickets.comment(opened.id, text, "contained")
    assert moved.comments == [text]
    assert [fake.shown(c) for c in next(iter(fake.issues.values())).comments] == [text]


@given(st.text())
def test_bodies_read_back_as_the_text_they_were_written_from(text: str) -> None:
    assert adf_text(adf_document(text)) == text
    markup = wiki_literal(text)
    assert wiki_text(markup) == text
    assert "{" not in markup.replace("{noformat}", "").replace("\\{", "")


async def test_the_label_is_the_hashed_key_and_jql_finds_an_issue_another_machine_made(
    fake: FakeJira, tmp_path: Path
) -> None:
    first = await build(fake, tmp_path / "a").open(KEY, "t", "b", "high")
    fake.search_lag = 0
    for issue in fake.issues.values():
        issue.searches_until_indexed = 0
    elsewhere = build(fake, tmp_path / "b")  # no local record there: only the label finds it
    assert await elsewhere.find(KEY) == first
    assert await elsewhere.open(KEY, "t", "b", "high") == first
    assert len(fake.issues) == 1
    [search, *_] = [r for r in fake.requests if "/search" in r.url.path]
    assert search.url.params["jql"] == f'project = "SEC" AND labels = "{LABEL}" ORDER BY created ASC'
    assert json.loads((tmp_path / "b" / "jira-jira.json").read_text()) == {KEY: "SEC-24"}


async def test_concurrent_opens_of_one_key_make_one_issue(fake: FakeJira, tmp_path: Path) -> None:
    fake.search_lag = 10  # the search never sees them: only the record and its lock keep them one
    opened = await asyncio.gather(*(build(fake, tmp_path).open(KEY, "t", "b", "high") for _ in range(5)))
    assert len({t.id for t in opened}) == 1 and len(fake.issues) == 1


async def test_an_issue_deleted_in_jira_is_opened_again(fake: FakeJira, tmp_path: Path) -> None:
    tickets = build(fake, tmp_path)
    first = await tickets.open(KEY, "t", "b", "high")
    fake.issues.clear()
    assert await tickets.find(KEY) is None
    second = await tickets.open(KEY, "t", "b", "high")
    assert second.id != first.id and [i.key for i in fake.issues.values()] == [second.id]


async def test_a_missing_transition_is_named_and_nothing_is_written(fake: FakeJira, tmp_path: Path) -> None:
    tickets = build(fake, tmp_path, transitions={"contained": "Contain"})
    opened = await tickets.open(KEY, "t", "b", "high")
    before = fake.state()
    with pytest.raises(
        ConnectorRejected,
        match="no transition named 'Contain' \\(for status contained\\); this issue offers 'In Progress', 'Done'",
    ):
        await tickets.comment(opened.id, "contained", "contained")
    assert fake.state() == before


async def test_the_transitions_mapping_is_followed(fake: FakeJira, tmp_path: Path) -> None:
    tickets = build(fake, tmp_path, transitions={"contained": "done"})
    opened = await tickets.open(KEY, "t", "b", "high")
    moved = await tickets.comment(opened.id, "contained", "contained")
    assert moved.status == "contained" and fake.issues["10024"].status == "Done"
    [transition] = sent(fake, "POST", "/transitions")
    assert transition == {"transition": {"id": "31"}}
    again = await tickets.comment(opened.id, "still contained", "contained")  # in Done already: no transition
    assert again.status == "contained" and len(sent(fake, "POST", "/transitions")) == 1


async def test_a_move_that_fails_leaves_no_comment_and_a_retry_completes_it(fake: FakeJira, tmp_path: Path) -> None:
    """ticket.comment reads its write back by the comment: a comment must never stand without its move."""
    tickets = build(fake, tmp_path, attempts=1)
    opened = await tickets.open(KEY, "t", "b", "high")
    fake.inject_at("POST", "/transitions", 503)
    with pytest.raises(ConnectorUnavailable):
        await tickets.comment(opened.id, "Contained.", "contained")
    assert fake.issues["10024"].comments == [] and fake.issues["10024"].status == "To Do"
    fake.inject_at("POST", "/comment", 503)
    with pytest.raises(ConnectorUnavailable):
        await tickets.comment(opened.id, "Contained.", "contained")
    moved = await tickets.comment(opened.id, "Contained.", "contained")
    assert moved.status == "contained" and moved.comments == ["Contained."]
    assert len(sent(fake, "POST", "/transitions")) == 2  # the one refused, the one made; none after


async def test_an_open_cut_short_after_the_create_is_completed_by_the_next(fake: FakeJira, tmp_path: Path) -> None:
    fake.inject_at("PUT", f"/properties/{PROPERTY}", 503)
    with pytest.raises(ConnectorUnavailable):
        await build(fake, tmp_path, attempts=1).open(KEY, "t", "b", "high")
    assert len(fake.issues) == 1 and fake.issues["10024"].properties == {}
    tickets = build(fake, tmp_path)
    ticket = await tickets.open(KEY, "t", "b", "high")
    assert len(fake.issues) == 1 and ticket.key == KEY and ticket.severity == "high" and ticket.status == "open"
    moved = await tickets.comment(ticket.id, "Contained.", "contained")
    assert moved.key == KEY and moved.status == "contained" and await tickets.find(KEY) == moved


async def test_a_status_someone_changed_in_jira_is_read_from_its_category(fake: FakeJira, tmp_path: Path) -> None:
    tickets = build(fake, tmp_path)
    opened = await tickets.open(KEY, "t", "b", "high")
    await tickets.comment(opened.id, "contained", "contained")
    fake.issues["10024"].status = "Done"  # an analyst resolved it in Jira
    found = await tickets.find(KEY)
    assert found is not None and found.status == "closed"
    fake.issues["10024"].status = "To Do"
    found = await tickets.find(KEY)
    assert found is not None and found.status == "open"


async def test_priorities_are_sent_when_mapped(fake: FakeJira, tmp_path: Path) -> None:
    tickets = build(fake, tmp_path, priorities={"high": "Highest"})
    await tickets.open(KEY, "t", "b", "high")
    await tickets.open("bb" * 32, "t", "b", "low")
    fields = [body["fields"] for body in sent(fake, "POST", "/issue")]
    assert fields[0]["priority"] == {"name": "Highest"} and "priority" not in fields[1]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"api_token": "ATATT3xinline"}, "write the token as env:NAME or file:PATH"),
        ({"email": None}, "Jira Cloud signs in with email and api_token"),
        ({"deployment": "datacenter"}, "Jira Data Center signs in with token"),
        ({"project": "sec; DROP"}, "a project key"),
        ({"labels": ["two words"]}, "no white space"),
        ({"label_prefix": 'x" OR project != "SEC'}, "no white space, quote or backslash"),
        ({"transitions": {"escalated": "To Do"}}, "transitions.escalated"),
        ({"url": "https://user:pw@jira.example.test"}, "must carry no credentials"),
    ],
)
def test_settings_refuse_what_cannot_work(values: dict[str, Any], message: str) -> None:
    base = {"url": JIRA_URL, "project": "SEC", "email": JIRA_EMAIL, "api_token": "env:JIRA_TOKEN"}
    with pytest.raises(ValidationError, match=re.escape(message)):
        JiraSettings.model_validate({**base, **values})


def test_a_comment_names_an_issue_key_or_nothing_is_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIRA_TOKEN", JIRA_PAT)
    tickets = JiraTicketing(
        JiraSettings.model_validate(
            {"url": JIRA_URL, "deployment": "datacenter", "project": "SEC", "token": "env:JIRA_TOKEN"}
        ),
        ConnectorEnv(name="jira", state_dir=tmp_path),
    )
    with pytest.raises(ConnectorRejected, match="is no Jira issue key"):
        asyncio.run(tickets.comment("../../myself", "x"))


def test_a_config_section_builds_the_connector_and_an_inline_token_is_refused_unrepeated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JIRA_API_TOKEN", JIRA_API_TOKEN)
    section = {
        "type": "jira",
        "name": "jira-cloud",
        "url": "https://example.atlassian.net",
        "email": JIRA_EMAIL,
        "api_token": "env:JIRA_API_TOKEN",
        "project": "SEC",
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"state_dir": "state", "connectors": {"ticket": section}}), encoding="utf-8")
    tickets = Connections(load_config(path, with_files=False)).ticket
    assert isinstance(tickets, JiraTicketing) and tickets.record == tmp_path / "state" / "jira-jira-cloud.json"
    assert JIRA_API_TOKEN not in repr(tickets) and JIRA_API_TOKEN not in repr(vars(tickets))

    path.write_text(
        yaml.safe_dump({"state_dir": "state", "connectors": {"ticket": {**section, "api_token": JIRA_API_TOKEN}}}),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="env:NAME or file:PATH") as caught:
        load_config(path, with_files=False)
    assert JIRA_API_TOKEN not in str(caught.value)
