"""What the fake firewall vendors share (fake_panos.py, fake_fortigate.py, fake_opnsense.py): the requests seen,
and failures answered in front of the next requests, each in its vendor's own error body."""

from __future__ import annotations

import httpx


class InjectingFake:
    url: str

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.faults: list[httpx.Response] = []

    def error_response(self, status: int, message: str, headers: dict[str, str]) -> httpx.Response:
        raise NotImplementedError

    def inject(
        self, status: int, *, times: int = 1, headers: dict[str, str] | None = None, errors: list[str] | None = None
    ) -> None:
        message = "; ".join(errors or ["error"])
        self.faults += [self.error_response(status, message, headers or {}) for _ in range(times)]

    def seen(self, request: httpx.Request) -> httpx.Response | None:
        """Record ``request``; the failure injected in front of it, if any."""
        self.requests.append(request)
        return self.faults.pop(0) if self.faults else None
