"""Notifications as files in an outbox folder, one per message, for another tool to pick up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.notify import Message
from certsoar.fileio import write_atomically

_NEW_FILE_MODE = 0o600  # messages may name hosts and analysts: the outbox's owner alone reads them


class FileNotifierSettings(ConnectorSettings):
    outbox: Path = Field(description="Folder the rendered messages are written to.")


class FileNotifier:
    settings_model: ClassVar[type[ConnectorSettings]] = FileNotifierSettings

    def __init__(self, settings: FileNotifierSettings, env: ConnectorEnv) -> None:
        self.outbox = env.resolve(settings.outbox)

    async def send(self, message: Message) -> str:
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", message.key) + f".{message.format}"
        target = self.outbox / name
        write_atomically(target, f"Subject: {message.subject}\n\n{message.body}", mode_if_new=_NEW_FILE_MODE)
        return str(target)
