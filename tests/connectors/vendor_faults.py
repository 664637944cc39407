"""A failure a fake vendor answers the next request with (``inject``), shared by the fakes of every connector
kind's suite."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)

    def response(self) -> httpx.Response:
        return httpx.Response(self.status, headers=self.headers, json=self.body)
