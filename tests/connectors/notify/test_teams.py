"""The teams notifier against Microsoft's documented answers (pytest-httpx, every request accounted for).

Where the answers come from:
- Legacy incoming webhooks (MicrosoftDocs/msteams-docs, webhooks-and-connectors/how-to/connectors-using.md,
  "Rate limiting for connectors"): success is HTTP 200 with the body ``1``; "Connectors do not throw 429s":
  a throttled post is answered with a body containing ``Microsoft Teams endpoint returned HTTP error 429``.
  A card without text is refused with HTTP 400 ``Summary or Text is required.``
- Workflows webhooks: HTTP 202 with an empty body (shared/reference/vendor-apis.md 6.2, not confirmed in a
  primary source).
- Adaptive Cards schema (learn.microsoft.com/adaptive-cards/schema-explorer/text-run): a TextRun's text
  "Markdown is not supported".
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from pytest_httpx import HTTPXMock

from certsoar.actions.notify import NotifyInput, send
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.notify import Message
from certsoar.connectors.notify.teams import TeamsNotifier, TeamsNotifierSettings
from certsoar.context import ActionContext
from certsoar.errors import ConnectorRejected, ConnectorUnavailable
from certsoar.ledger import EffectLedger
from certsoar.store import RunStore
from certsoar.templating import Templates

URL = "https://contoso.webhook.office.com/webhookb2/1111@2222/IncomingWebhook/SECRETPART/3333"
THROTTLED = "Microsoft Teams endpoint returned HTTP error 429"

MESSAGE = Message(key="run1:notify", subject="Contained `evil`", body="# Contained `evil`\n\n- done\n", run_id="run1")


@pytest.fixture(autouse=True)
def webhook_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAMS_URL", URL)


def notifier(tmp_path: Path, **settings: Any) -> TeamsNotifier:
    chosen = {"webhook_url": "env:TEAMS_URL", **settings}
    return TeamsNotifier(TeamsNotifierSettings.model_validate(chosen), ConnectorEnv(name="soc", state_dir=tmp_path))


def card_of(httpx_mock: HTTPXMock) -> dict[str, Any]:
    request = httpx_mock.get_requests()[-1]
    body = json.loads(request.content)
    [attachment] = body["attachments"]
    assert body["type"] == "message" and attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    return card


def runs(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [inline for block in card["body"] for inline in block["inlines"]]


async def test_an_adaptive_card_with_the_subject_and_the_text(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", text="1")
    assert await notifier(tmp_path).send(MESSAGE) == "teams soc (HTTP 200)"
    card = card_of(httpx_mock)
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert {b["type"] for b in card["body"]} == {"RichTextBlock"}  # never a TextBlock, which reads Markdown
    subject, text = runs(card)
    assert subject == {"type": "TextRun", "text": "Contained `evil`", "weight": "Bolder"}
    assert text["text"] == "# Contained `evil`\n\n- done"


async def test_data_from_a_template_reaches_the_card_escaped_and_uninterpreted(
    tmp_path: Path, httpx_mock: HTTPXMock
) -> None:
    """A hostile subject name through the shipped template layer: no link, no control character in the card."""
    httpx_mock.add_response(url=URL, method="POST", text="1")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "x.md.j2").write_text("# Contained {{ name }}\n")
    hostile = "[click](https://evil.example)\x1b[31m\u202e"
    body = Templates([tmp_path / "t"]).render("x.md.j2", {"name": hostile})
    await notifier(tmp_path).send(MESSAGE.model_copy(update={"body": body, "subject": body}))
    for run in runs(card_of(httpx_mock)):
        assert "](" not in run["text"].replace("\\](", "") and "\x1b" not in run["text"] and "\u202e" not in run["text"]
        assert "\\[click\\]" in run["text"] and "␛" in run["text"]


async def test_a_date_function_in_the_data_is_not_expanded(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    """Adaptive Cards expand {{DATE(...)}} / {{TIME(...)}} in TextBlock and TextRun text (text features)."""
    httpx_mock.add_response(url=URL, method="POST", text="1")
    trick = "CN={{{DATE(2017-02-14T06:08:00Z, SHORT)}}"
    await notifier(tmp_path).send(MESSAGE.model_copy(update={"subject": trick, "body": trick}))
    assert all("{{" not in run["text"] and "DATE(" in run["text"] for run in runs(card_of(httpx_mock)))


async def test_throttling_told_in_a_200_body_is_waited_out(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", status_code=200, text=THROTTLED)
    httpx_mock.add_response(url=URL, method="POST", status_code=200, text="1")
    await notifier(tmp_path).send(MESSAGE)
    assert len(httpx_mock.get_requests()) == 2


async def test_throttling_that_never_ends_is_unavailable_and_says_so(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", status_code=200, text=THROTTLED, is_reusable=True)
    with pytest.raises(ConnectorUnavailable) as caught:
        await notifier(tmp_path, attempts=2).send(MESSAGE)
    assert "throttled" in str(caught.value) and "SECRETPART" not in str(caught.value)
    assert len(httpx_mock.get_requests()) == 2


async def test_a_workflow_accepts_with_202_and_no_body(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", status_code=202, text="")
    assert await notifier(tmp_path).send(MESSAGE) == "teams soc (HTTP 202)"


async def test_a_refusal_carries_teams_own_words(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", status_code=400, text="Summary or Text is required.")
    with pytest.raises(ConnectorRejected) as caught:
        await notifier(tmp_path).send(MESSAGE)
    assert "Summary or Text is required." in str(caught.value) and "SECRETPART" not in str(caught.value)


async def test_a_very_long_text_is_cut_under_teams_size_limit(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", text="1")
    await notifier(tmp_path).send(MESSAGE.model_copy(update={"body": "x" * 100_000}))
    assert len(httpx_mock.get_requests()[0].content) < 28_000
    assert runs(card_of(httpx_mock))[-1]["text"].endswith("[truncated]")


@pytest.mark.parametrize("settings", [{"webhook_url": URL}, {}, {"webhook_url": "env:TEAMS_URL", "timeout": 0}])
def test_settings_that_cannot_work_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TeamsNotifierSettings.model_validate(settings)


async def test_the_card_carries_the_text_exactly_with_no_markdown_escape(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    """Through notify.send with a template, as a playbook sends it: a TextRun shows Markdown escapes literally, so
    the card carries the plain-text rendering (no backslash, no backtick), still inert: {{DATE(…)}} is broken up,
    a mention or a link is only text (no entities, no action), a control character is shown."""
    httpx_mock.add_response(url=URL, method="POST", text="1")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "x.md.j2").write_text("# Contained {{ name | literal }}\n\nSNI {{ name }}; rule a_b *fired*\n")
    name = "a_b*c* [click](https://evil.example) <at>Everyone</at> {{DATE(2030-01-01T00:00:00Z)}} C:\\x\x1b"
    config = Config.model_validate({"state_dir": str(tmp_path / "state"), "config_dir": tmp_path})
    store = RunStore(tmp_path / "runs.sqlite3")
    ctx = ActionContext(
        run_id="r1",
        step_id="notify",
        dry_run=False,
        now=datetime.now(timezone.utc),
        config=config,
        connectors=Connections(config, store, overrides={"notify": [("soc", notifier(tmp_path))]}),
        ledger=EffectLedger(store, store, "r1", dry_run=False),
        templates=Templates([tmp_path / "t"]),
        variables={"name": name},
    )
    out = await send(NotifyInput(template="x.md.j2"), ctx)
    assert out.sent_to == ["teams soc (HTTP 200)"]
    card = card_of(httpx_mock)
    shown = "a_b*c* [click](https://evil.example) <at>Everyone</at> { {DATE(2030-01-01T00:00:00Z)}} C:\\x␛"
    subject, text = runs(card)
    assert subject["text"] == f"Contained {shown}"
    assert text["text"] == f"# Contained {shown}\n\nSNI {shown}; rule a_b *fired*"
    assert not {"msteams", "entities", "selectAction"} & set(json.dumps(card).replace('"', " ").split())
