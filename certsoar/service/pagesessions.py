"""The approval page's sessions: random ids kept server-side, each with its own CSRF token.

A session id is 256 random bits, never derived from the analyst; it names a record in this process only
(a restart logs everybody out). A session starts anonymous (the login form needs a CSRF token too) and
is replaced by a new id at login, so an id planted before the login is worth nothing after it.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SESSION_SECONDS = 8 * 3600
"""An analyst's shift: after it, log in again."""
ANONYMOUS_SECONDS = 15 * 60
MAX_SESSIONS = 10_000


@dataclass
class PageSession:
    id: str
    csrf: str
    expires: float
    analyst: str | None = None
    by_proxy: bool = False


@dataclass
class PageSessions:
    """Sessions by id, expired ones dropped as they are met; the oldest dropped beyond ``MAX_SESSIONS``."""

    clock: Callable[[], float] = time.monotonic
    _by_id: dict[str, PageSession] = field(default_factory=dict)

    def start(self, analyst: str | None = None, *, by_proxy: bool = False) -> PageSession:
        seconds = SESSION_SECONDS if analyst else ANONYMOUS_SECONDS
        session = PageSession(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            expires=self.clock() + seconds,
            analyst=analyst,
            by_proxy=by_proxy,
        )
        while len(self._by_id) >= MAX_SESSIONS:
            self._by_id.pop(next(iter(self._by_id)))
        self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> PageSession | None:
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is not None and session.expires <= self.clock():
            del self._by_id[session_id]
            return None
        return session

    def end(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)


def csrf_matches(session: PageSession | None, token: str | None) -> bool:
    """The form carried this session's CSRF token (compared in constant time)."""
    if session is None or not token:
        return False
    return hmac.compare_digest(session.csrf.encode(), token.encode())
