"""Microsoft Teams: an Adaptive Card posted to a Workflows ("When a Teams webhook request is received") or a
legacy incoming-webhook URL.

The text goes in ``TextRun`` elements of a ``RichTextBlock``, which Adaptive Cards never read as Markdown
(unlike ``TextBlock``), so nothing in the data opens a link or markup; control characters are shown, never
sent. For the same reason the card carries the plain-text rendering of the template (``Message.text``), not the
Markdown one: a Markdown escape (``a\\_b``) would show its backslash.

Legacy connectors answer a throttled post with HTTP 200 and the text ``Microsoft Teams endpoint returned HTTP
error 429`` in the body, so the body is read on every 2xx: that answer is tried again like a 429.

The webhook URL is a secret (it carries its signature): it appears in no error and no log line.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

import httpx
from pydantic import Field

from certsoar.config import required_secrets, secret_from
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.notify import Message, delivery
from certsoar.errors import ConnectorRejected
from certsoar.escaping import one_line, visible

THROTTLED = "HTTP error 429"  # in "Microsoft Teams endpoint returned HTTP error 429"
LEGACY_OK = "1"  # a legacy connector's success body; Workflows answer 202 with an empty body
CARD_TEXT_CHARS = 20_000  # Teams refuses a message over about 28 KB
CARD_VERSION = "1.4"
_OPENING_BRACES = re.compile(r"\{(?=\{)")


class TeamsNotifierSettings(delivery.DeliverySettings):
    webhook_url: str = Field(
        description="Workflows or incoming webhook URL, as env:NAME or file:PATH (secret).",
        json_schema_extra={"secret": True},
    )

    _secret_reference = required_secrets("webhook_url", what="the webhook URL")


def _inert(text: str) -> str:
    """Teams expands ``{{DATE(…)}}`` and ``{{TIME(…)}}`` even in a TextRun: a space keeps data from calling them."""
    return _OPENING_BRACES.sub("{ ", text)


def card_text(text: str) -> str:
    """``text`` for a TextRun: line breaks kept, control characters shown, no date function, bounded."""
    shown = _inert(visible(text.strip(), keep_newlines=True))
    return shown if len(shown) <= CARD_TEXT_CHARS else shown[: CARD_TEXT_CHARS - 12] + "\n[truncated]"


def card_payload(message: Message) -> dict[str, Any]:
    """The message carrying one Adaptive Card: the subject in bold, then the rendered text."""
    body = [
        {
            "type": "RichTextBlock",
            "inlines": [{"type": "TextRun", "text": _inert(one_line(message.plain_subject, 300)), "weight": "Bolder"}],
        },
        {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": card_text(message.plain_body)}]},
    ]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def _throttled(response: httpx.Response) -> bool:
    return THROTTLED in response.text


class TeamsNotifier:
    settings_model: ClassVar[type[ConnectorSettings]] = TeamsNotifierSettings

    def __init__(self, settings: TeamsNotifierSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.instance = env.name

    async def send(self, message: Message) -> str:
        connector = f"notify {self.instance}"
        response = await delivery.post(
            secret_from(self.settings.webhook_url),
            json.dumps(card_payload(message), ensure_ascii=False).encode("utf-8"),
            vendor="Teams",
            connector=connector,
            attempts=self.settings.attempts,
            timeout=self.settings.timeout,
            throttled=_throttled,
        )
        answer = response.text.strip()
        if answer not in ("", LEGACY_OK) and "error" in answer.lower():
            raise ConnectorRejected(
                f"Teams did not take the message (HTTP {response.status_code} {answer[:200]!r})", connector=connector
            )
        return f"teams {self.instance} (HTTP {response.status_code})"
