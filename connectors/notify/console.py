"""Notifications on standard error, for a person at a terminal: control characters shown, never sent."""

from __future__ import annotations

import sys
from typing import ClassVar

from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.notify import Message
from certsoar.escaping import for_terminal


class ConsoleNotifierSettings(ConnectorSettings):
    pass


class ConsoleNotifier:
    settings_model: ClassVar[type[ConnectorSettings]] = ConsoleNotifierSettings

    def __init__(self, settings: ConsoleNotifierSettings, env: ConnectorEnv) -> None:
        pass

    async def send(self, message: Message) -> str:
        rule = "-" * 72
        sys.stderr.write(f"{rule}\n{for_terminal(message.body.rstrip())}\n{rule}\n")
        sys.stderr.flush()
        return "console"
