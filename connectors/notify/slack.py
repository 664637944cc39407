"""Slack: an incoming webhook or ``chat.postMessage`` with a bot token, as Block Kit.

The text comes from the ``.mrkdwn.j2`` sibling of the notification's template when there is one (escaped
for mrkdwn by the template layer, so data opens no link, mention or markup); otherwise the rendered text
goes in ``plain_text`` blocks, which Slack shows without interpreting anything (the plain-text rendering,
``Message.text``: a Markdown escape would show its backslash there). An approval request (of containment or of
its release) gets Approve / Deny buttons (their value is the run id) when ``service.public_url`` is set, and a
message announcing verified containment a release field (type why, press Enter): the clicks and the release come
back to ``POST /v1/slack/interactions`` (certsoar.service.slack).

The webhook URL and the token are secrets: they appear in no error and no log line.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx
from pydantic import Field, field_validator, model_validator

from certsoar.config import secret_from, secret_reference
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.notify import Message, delivery
from certsoar.errors import ConnectorRejected
from certsoar.escaping import mrkdwn as mrkdwn_escape
from certsoar.templating import subject_of

POST_MESSAGE_URL = "https://slack.com/api/chat.postMessage"
SECTION_CHARS = 3000  # Slack's limit on a section's text
MAX_BLOCKS = 50  # Slack's limit on a message's blocks
APPROVAL_EVENTS = {"approval/request": "containment", "approval/release": "release"}
"""The approval requests that get buttons, and what approving them approves."""
RELEASE_BLOCK = "certsoar_release:"
"""The release field's block id: this prefix and the run id."""
RELEASE_ACTION = "release"


class SlackError(ConnectorRejected):
    """Slack refused the message (an ``ok: false`` answer, a webhook's error text, a 4xx)."""


async def post_json(
    url: str,
    payload: dict[str, Any],
    *,
    connector: str,
    attempts: int = 4,
    headers: dict[str, str] | None = None,
    timeout: float = delivery.TIMEOUT,
) -> httpx.Response:
    """POST ``payload`` as JSON through ``delivery.post``: errors name ``connector``, never the URL (a webhook
    URL is a secret) nor the headers."""
    return await delivery.post(
        url,
        json.dumps(payload).encode(),
        vendor="Slack",
        connector=connector,
        attempts=attempts,
        timeout=timeout,
        headers=lambda: headers or {},
    )


class SlackNotifierSettings(delivery.DeliverySettings):
    webhook_url: str | None = Field(
        default=None,
        description="Incoming webhook URL, as env:NAME or file:PATH (secret). Or give token and channel.",
        json_schema_extra={"secret": True},
    )
    token: str | None = Field(
        default=None,
        description="Bot token (xoxb-…) for chat.postMessage, as env:NAME or file:PATH (secret).",
        json_schema_extra={"secret": True},
    )
    channel: str | None = Field(default=None, description="Channel id (C…) chat.postMessage posts to; with token.")

    @field_validator("webhook_url", "token")
    @classmethod
    def _secret_reference(cls, v: str | None) -> str | None:
        return secret_reference(v, "the webhook URL and the token")

    @model_validator(mode="after")
    def _one_way(self) -> SlackNotifierSettings:
        if (self.webhook_url is None) == (self.token is None):
            raise ValueError("give either webhook_url or token (with channel)")
        if self.token is not None and not self.channel:
            raise ValueError("token needs channel: the channel id chat.postMessage posts to")
        return self


def _chunks(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """The text in pieces of at most ``limit`` characters, cut at line ends where it can be."""
    pieces: list[str] = []
    current = ""
    for line in text.strip().splitlines(keepends=True):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current.strip():
        pieces.append(current)
    return [p.rstrip("\n") or " " for p in pieces]


def decision_buttons(run_id: str, approves: str = "containment") -> dict[str, Any]:
    """The actions block of an approval request: Approve (with a confirm dialog) and Deny, valued the run id."""
    consequence = {
        "containment": f"Run {run_id} will revoke and block what the request lists.",
        "release": f"Run {run_id} will unblock what the request lists; revocations stay.",
    }[approves]

    def text(value: str) -> dict[str, str]:
        return {"type": "plain_text", "text": value}

    return {
        "type": "actions",
        "block_id": "certsoar_decision",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "text": text("Approve"),
                "style": "primary",
                "value": run_id,
                "confirm": {
                    "title": text(f"Approve {approves}?"),
                    "text": text(consequence),
                    "confirm": text("Approve"),
                    "deny": text("Cancel"),
                },
            },
            {"type": "button", "action_id": "deny", "text": text("Deny"), "style": "danger", "value": run_id},
        ],
    }


def release_field(run_id: str) -> dict[str, Any]:
    """An input block that asks for the release of run ``run_id``'s containment: the reason typed and Enter
    pressed come back as a ``block_actions`` interaction (dispatch_action), no modal needed."""
    return {
        "type": "input",
        "block_id": f"{RELEASE_BLOCK}{run_id}",
        "dispatch_action": True,
        "optional": True,
        "label": {"type": "plain_text", "text": "Release this containment (false positive): why?"},
        "element": {
            "type": "plain_text_input",
            "action_id": RELEASE_ACTION,
            "max_length": 2000,
            "dispatch_action_config": {"trigger_actions_on": ["on_enter_pressed"]},
            "placeholder": {"type": "plain_text", "text": "the reason, then Enter"},
        },
        "hint": {
            "type": "plain_text",
            "text": "Another analyst approves the release. It unblocks at the firewall and the proxy; a revocation "
            "stays (a certificateHold is lifted where the CA supports removeFromCRL).",
        },
    }


def message_payload(message: Message, public_url: str | None) -> dict[str, Any]:
    """The Block Kit payload of a message (``text`` is the notification fallback)."""
    if message.mrkdwn is not None:
        fallback = subject_of(message.mrkdwn).strip("*")
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in _chunks(message.mrkdwn)]
    else:
        fallback = mrkdwn_escape(message.plain_subject)
        blocks = [{"type": "section", "text": {"type": "plain_text", "text": c}} for c in _chunks(message.plain_body)]
    interactive: list[dict[str, Any]] = []
    if public_url is not None and message.run_id is not None:
        if message.event in APPROVAL_EVENTS:
            interactive.append(decision_buttons(message.run_id, APPROVAL_EVENTS[message.event]))
        if message.releasable:
            interactive.append(release_field(message.run_id))
    room = MAX_BLOCKS - len(interactive)
    if len(blocks) > room:
        blocks = blocks[: room - 1] + [{"type": "section", "text": {"type": "plain_text", "text": "[truncated]"}}]
    return {"text": fallback, "blocks": blocks + interactive}


class SlackNotifier:
    settings_model: ClassVar[type[ConnectorSettings]] = SlackNotifierSettings

    def __init__(self, settings: SlackNotifierSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.instance = env.name
        self.public_url = env.public_url

    async def send(self, message: Message) -> str:
        payload = message_payload(message, self.public_url)
        connector = f"notify {self.instance}"
        if self.settings.webhook_url is not None:
            url = secret_from(self.settings.webhook_url)
            response = await post_json(
                url, payload, connector=connector, attempts=self.settings.attempts, timeout=self.settings.timeout
            )
            if response.text.strip() != "ok":
                raise SlackError(f"the webhook did not take the message: {response.text[:200]!r}", connector=connector)
            return f"slack webhook ({self.instance})"
        assert self.settings.token is not None and self.settings.channel is not None
        token = secret_from(self.settings.token)
        response = await post_json(
            POST_MESSAGE_URL,
            {"channel": self.settings.channel, **payload},
            connector=connector,
            attempts=self.settings.attempts,
            timeout=self.settings.timeout,
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            answer = response.json()
        except ValueError:
            raise SlackError("chat.postMessage answered something that is not JSON", connector=connector) from None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            error = answer.get("error", "no error given") if isinstance(answer, dict) else "not an object"
            raise SlackError(f"chat.postMessage refused the message: {error}", connector=connector)
        return f"slack {answer.get('channel', self.settings.channel)} {answer.get('ts', '')}".rstrip()
