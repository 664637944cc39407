"""Failed page logins per client address: after ``limit`` failures within ``window`` seconds the address
must wait until the oldest of them leaves the window."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

FAILURES_ALLOWED = 5
WINDOW_SECONDS = 300.0
MAX_ADDRESSES = 100_000


@dataclass
class LoginLimiter:
    limit: int = FAILURES_ALLOWED
    window: float = WINDOW_SECONDS
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, address: str) -> deque[float]:
        now = self.clock()
        failures = self._failures.get(address, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            self._failures.pop(address, None)
        return failures

    def retry_after(self, address: str) -> int | None:
        """Seconds the address must wait before trying again, or None when it may try now."""
        failures = self._recent(address)
        if len(failures) < self.limit:
            return None
        return max(1, int(failures[0] + self.window - self.clock()) + 1)

    def failed(self, address: str) -> None:
        failures = self._recent(address)
        if not failures:
            while len(self._failures) >= MAX_ADDRESSES:
                self._failures.pop(next(iter(self._failures)))
            self._failures[address] = failures
        failures.append(self.clock())
