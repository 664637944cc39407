"""A generic webhook: the notification as JSON, signed with HMAC-SHA256, for anything else to receive.

The body is ``{"key", "event", "run_id", "subject", "format", "body"}`` (``body`` is the rendered text
in ``format``). Every attempt carries:

- ``X-Certsoar-Timestamp``: Unix seconds when the attempt was made;
- ``X-Certsoar-Signature``: ``v1=`` + hex HMAC-SHA256 with the shared secret over
  ``timestamp + "." + raw body bytes``;
- ``X-Certsoar-Delivery``: the message key, the same on every retry (deduplicate on it).

A receiver recomputes the signature over the raw body, compares in constant time and refuses a timestamp
more than a few minutes from its clock (a replay). The secret never leaves this process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import ClassVar

from pydantic import Field, field_validator

from certsoar.config import required_secrets, secret_from
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.http import http_url
from certsoar.connectors.notify import Message, delivery
from certsoar.errors import ConfigError

SIGNATURE_HEADER = "X-Certsoar-Signature"
TIMESTAMP_HEADER = "X-Certsoar-Timestamp"
DELIVERY_HEADER = "X-Certsoar-Delivery"
SIGNATURE_VERSION = "v1"


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>``."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


class WebhookNotifierSettings(delivery.DeliverySettings):
    url: str = Field(description="Where the notification is POSTed, https://host/path.")
    secret: str = Field(
        description="Shared HMAC-SHA256 key the receiver verifies the signature with, as env:NAME or file:PATH.",
        json_schema_extra={"secret": True},
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        return http_url(v)

    _secret_reference = required_secrets("secret", what="the signing secret")


def payload(message: Message) -> bytes:
    return json.dumps(
        {
            "key": message.key,
            "event": message.event,
            "run_id": message.run_id,
            "subject": message.subject,
            "format": message.format,
            "body": message.body,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


class WebhookNotifier:
    settings_model: ClassVar[type[ConnectorSettings]] = WebhookNotifierSettings

    def __init__(self, settings: WebhookNotifierSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.instance = env.name

    async def send(self, message: Message) -> str:
        key = secret_from(self.settings.secret).encode("utf-8")
        if not key:
            raise ConfigError(f"{self.instance}: secret: the referenced secret is empty")
        body = payload(message)

        def signed() -> dict[str, str]:
            timestamp = str(int(time.time()))
            return {
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: signature(key, timestamp, body),
                DELIVERY_HEADER: message.key,
            }

        response = await delivery.post(
            self.settings.url,
            body,
            vendor="the webhook",
            connector=f"notify {self.instance}",
            attempts=self.settings.attempts,
            timeout=self.settings.timeout,
            headers=signed,
        )
        return f"webhook {self.instance} (HTTP {response.status_code})"
