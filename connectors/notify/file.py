"""Notifications as files in an outbox folder, one per message, for another tool to pick up."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.notify import Message


class FileNotifierSettings(ConnectorSettings):
    outbox: Path = Field(description="Folder the rendered messages are written to.")


class FileNotifier:
    settings_model: ClassVar[type[ConnectorSettings]] = FileNotifierSettings

    def __init__(self, settings: FileNotifierSettings, env: ConnectorEnv) -> None:
        self.outbox = env.resolve(settings.outbox)

    async def send(self, message: Message) -> str:
        self.outbox.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", message.key) + f".{message.format}"
        target = self.outbox / name
        fd, tmp = tempfile.mkstemp(dir=self.outbox, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"Subject: {message.subject}\n\n{message.body}")
        os.replace(tmp, target)
        return str(target)
