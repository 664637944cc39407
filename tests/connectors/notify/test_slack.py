"""The slack notifier against Slack's documented answers (pytest-httpx, every request accounted for).

Response bodies come from api.slack.com:
- chat.postMessage (https://api.slack.com/methods/chat.postMessage): HTTP 200 with
  ``{"ok": true, "channel": "C123ABC456", "ts": "1503435956.000247", "message": {...}}``, and HTTP 200 with
  ``{"ok": false, "error": "channel_not_found"}`` for an error (its "Errors" table).
- Incoming webhooks (https://api.slack.com/messaging/webhooks, "Handling errors"): the body ``ok``; errors as
  text with an HTTP status: 400 ``invalid_payload``, 403 ``action_prohibited``, 404 ``channel_not_found``,
  410 ``channel_is_archived``.
- Rate limits (https://api.slack.com/apis/rate-limits): HTTP 429 with a ``Retry-After`` header in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.notify import Message
from certsoar.connectors.notify.slack import POST_MESSAGE_URL, SlackError, SlackNotifier, SlackNotifierSettings
from certsoar.errors import ConnectorRejected, ConnectorUnavailable
from certsoar.templating import Templates, subject_of

WEBHOOK = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
TOKEN = "xoxb-1234-5678-secretsecretsecret"
POSTED = {
    "ok": True,
    "channel": "C123ABC456",
    "ts": "1503435956.000247",
    "message": {"text": "Here's a message for you", "username": "ecto1", "bot_id": "B123ABC456", "type": "message"},
}

REQUEST = Message(
    key="run1:approval",
    subject="Approval needed: contain certificate `evil`",
    body="# Approval needed: contain certificate `evil`\n\n- **issuer_mimicry**: <!channel> issuer looks like DigiCert\n",
    run_id="run1",
    event="approval/request",
    mrkdwn=":rotating_light: Approval needed: contain certificate `evil`\n\n- `issuer_mimicry`: `issuer`\n",
)


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK", WEBHOOK)
    monkeypatch.setenv("SLACK_TOKEN", TOKEN)


def notifier(tmp_path: Path, public_url: str | None = "https://certsoar.example", **settings: Any) -> SlackNotifier:
    chosen = settings or {"webhook_url": "env:SLACK_WEBHOOK"}
    env = ConnectorEnv(name="soc-slack", state_dir=tmp_path, public_url=public_url)
    return SlackNotifier(SlackNotifierSettings.model_validate(chosen), env)


def sent(httpx_mock: HTTPXMock) -> dict[str, Any]:
    [request] = httpx_mock.get_requests()
    body: dict[str, Any] = json.loads(request.content)
    return body


async def test_approval_request_by_webhook_carries_approve_and_deny(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=WEBHOOK, method="POST", text="ok")
    assert await notifier(tmp_path).send(REQUEST) == "slack webhook (soc-slack)"
    payload = sent(httpx_mock)
    assert payload["blocks"][0] == {"type": "section", "text": {"type": "mrkdwn", "text": REQUEST.mrkdwn.strip()}}
    [actions] = [b for b in payload["blocks"] if b["type"] == "actions"]
    approve, deny = actions["elements"]
    assert (approve["action_id"], approve["value"], approve["style"]) == ("approve", "run1", "primary")
    assert (deny["action_id"], deny["value"], deny["style"]) == ("deny", "run1", "danger")
    assert approve["confirm"]["confirm"]["text"] == "Approve" and "confirm" not in deny
    assert payload["text"].startswith(":rotating_light: Approval needed")


async def test_no_buttons_without_a_public_url_nor_on_other_messages(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=WEBHOOK, method="POST", text="ok", is_reusable=True)
    await notifier(tmp_path, public_url=None).send(REQUEST)
    await notifier(tmp_path).send(REQUEST.model_copy(update={"event": "outcome/containment"}))
    for request in httpx_mock.get_requests():
        assert all(b["type"] == "section" for b in json.loads(request.content)["blocks"])


async def test_without_a_mrkdwn_rendering_the_text_goes_as_plain_text(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    """Markdown is not mrkdwn: sent as plain_text, Slack interprets nothing in it (no <!channel>)."""
    httpx_mock.add_response(url=WEBHOOK, method="POST", text="ok")
    await notifier(tmp_path).send(REQUEST.model_copy(update={"mrkdwn": None, "event": "l1/summary"}))
    payload = sent(httpx_mock)
    assert {b["text"]["type"] for b in payload["blocks"]} == {"plain_text"}
    assert "<!channel>" in payload["blocks"][0]["text"]["text"]
    assert "<" not in payload["text"]  # the fallback text is mrkdwn: escaped


async def test_plain_text_blocks_carry_the_plain_text_rendering(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    """A plain_text block shows a Markdown escape's backslash: without a mrkdwn rendering the blocks carry the
    template's plain-text rendering, exactly."""
    httpx_mock.add_response(url=WEBHOOK, method="POST", text="ok")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "x.md.j2").write_text("# Contained {{ name | literal }}\n\nrule {{ name }}\n")
    templates, context = Templates([tmp_path / "t"]), {"name": "a_b*c* <!channel> [x](https://evil.example)"}
    body = templates.render("x.md.j2", context)
    text = templates.render("x.md.j2", context, escaped_for="txt")
    await notifier(tmp_path).send(Message(key="k", subject=subject_of(body), body=body, text=text))
    payload = sent(httpx_mock)
    [block] = payload["blocks"]
    shown = "a_b*c* <!channel> [x](https://evil.example)"
    assert block["text"] == {"type": "plain_text", "text": f"# Contained {shown}\n\nrule {shown}"}
    assert payload["text"] == "Contained a_b*c* &lt;!channel&gt; [x](https://evil.example)"  # mrkdwn: escaped


async def test_a_long_message_is_cut_into_sections_slack_accepts(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=WEBHOOK, method="POST", text="ok")
    long = "\n".join(f"- line {i} " + "x" * 90 for i in range(2000))
    await notifier(tmp_path).send(REQUEST.model_copy(update={"mrkdwn": long}))
    blocks = sent(httpx_mock)["blocks"]
    assert len(blocks) <= 50 and blocks[-1]["type"] == "actions"
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")


@pytest.mark.parametrize(
    ("status", "text"),
    [(400, "invalid_payload"), (403, "action_prohibited"), (404, "channel_not_found"), (410, "channel_is_archived")],
)
async def test_webhook_errors_are_rejections_without_the_url(
    tmp_path: Path, httpx_mock: HTTPXMock, status: int, text: str
) -> None:
    httpx_mock.add_response(url=WEBHOOK, method="POST", status_code=status, text=text)
    with pytest.raises(ConnectorRejected) as caught:
        await notifier(tmp_path).send(REQUEST)
    assert text in str(caught.value) and "XXXXXXXX" not in str(caught.value) and "hooks.slack" not in str(caught.value)


async def test_chat_post_message_with_the_bot_token(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=POST_MESSAGE_URL, method="POST", json=POSTED)
    bot = notifier(tmp_path, token="env:SLACK_TOKEN", channel="C123ABC456")
    assert await bot.send(REQUEST) == "slack C123ABC456 1503435956.000247"
    [request] = httpx_mock.get_requests()
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content)["channel"] == "C123ABC456"


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "invalid_auth"])
async def test_chat_post_message_ok_false_is_a_rejection_without_the_token(
    tmp_path: Path, httpx_mock: HTTPXMock, error: str
) -> None:
    httpx_mock.add_response(url=POST_MESSAGE_URL, method="POST", json={"ok": False, "error": error})
    with pytest.raises(SlackError) as caught:
        await notifier(tmp_path, token="env:SLACK_TOKEN", channel="C123ABC456").send(REQUEST)
    assert error in str(caught.value) and TOKEN not in str(caught.value)


async def test_429_waits_retry_after_then_sends(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=WEBHOOK, method="POST", status_code=429, headers={"Retry-After": "0"}, text="")
    httpx_mock.add_exception(httpx.ConnectTimeout("timed out"), url=WEBHOOK)
    httpx_mock.add_response(url=WEBHOOK, method="POST", text="ok")
    assert await notifier(tmp_path).send(REQUEST) == "slack webhook (soc-slack)"
    assert len(httpx_mock.get_requests()) == 3


async def test_server_errors_until_attempts_run_out_are_unavailable(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=WEBHOOK, method="POST", status_code=503, headers={"Retry-After": "0"}, text="", is_reusable=True
    )
    with pytest.raises(ConnectorUnavailable) as caught:
        await notifier(tmp_path, webhook_url="env:SLACK_WEBHOOK", attempts=2).send(REQUEST)
    assert "503" in str(caught.value) and "hooks.slack" not in str(caught.value)
    assert len(httpx_mock.get_requests()) == 2


@pytest.mark.parametrize(
    "settings",
    [
        {"webhook_url": WEBHOOK},  # inline secret
        {"token": TOKEN, "channel": "C1"},
        {"token": "env:SLACK_TOKEN"},  # no channel
        {"webhook_url": "env:SLACK_WEBHOOK", "token": "env:SLACK_TOKEN", "channel": "C1"},  # both
        {},
    ],
)
def test_settings_that_cannot_work_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SlackNotifierSettings.model_validate(settings)
