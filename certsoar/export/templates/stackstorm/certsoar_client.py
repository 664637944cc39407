"""The certsoar pack's one way to the certsoar service: its HTTP API, with a token, never its CLI.

Every action of the pack is a CertsoarAction. A refusal of the service (401 wrong token, 403 a scope or
an approval refused, 409 a run already settled, 422 a bad alert, 5xx) is the action's failure in the
Python runner's convention: ``(False, {"status_code": ..., "error": ...})``. A service that cannot be
reached raises. No token ever appears in a result, an error or a log line.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from st2common.runners.base_action import Action

MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class CertsoarConfigError(Exception):
    """The pack config cannot be used (no url, no token, no token for this analyst)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would carry the bearer token to wherever the Location points: refuse it.
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


class CertsoarAction(Action):
    """An action that calls `certsoar serve` with the pack config's url, TLS settings and tokens."""

    def _setting(self, name: str) -> Any:
        value = (self.config or {}).get(name)
        if value in (None, ""):
            raise CertsoarConfigError("the certsoar pack config has no %s" % name)
        return value

    def _opener(self) -> tuple[str, urllib.request.OpenerDirector]:
        url = self._setting("url")
        if not url.startswith(("https://", "http://")):
            raise CertsoarConfigError("the certsoar pack config's url must start with https:// or http://")
        context = ssl.create_default_context(cafile=(self.config or {}).get("ca_bundle") or None)
        if (self.config or {}).get("verify_tls", True) is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return url.rstrip("/"), urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect)

    def service_token(self) -> str:
        """The pack's own token (scopes alerts and read): submits alerts and reads runs."""
        return str(self._setting("token"))

    def analyst_token(self, analyst: str | None) -> str:
        """The certsoar token of the analyst that StackStorm user ``analyst`` is (scope decide)."""
        tokens = (self.config or {}).get("analysts") or {}
        token = tokens.get(analyst) if analyst else None
        if not token:
            raise CertsoarConfigError(
                "no certsoar token for StackStorm user %r under analysts in the certsoar pack config" % analyst
            )
        return str(token)

    def call(
        self,
        method: str,
        path: str,
        token: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> tuple[bool, Any]:
        """``(True, answer)`` when the service accepted the call, ``(False, {"status_code", "error"})`` when
        it refused it; the Python runner turns the second into a failed action."""
        base, opener = self._opener()
        query = "?" + urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
        headers = {"Authorization": "Bearer " + token, "Accept": "application/json"}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            headers["Content-Type"] = content_type
        request = urllib.request.Request(base + path + query.rstrip("?"), data=data, headers=headers, method=method)
        timeout = float((self.config or {}).get("timeout") or 30)
        try:
            with opener.open(request, timeout=timeout) as response:
                return True, self._json(response.read(MAX_RESPONSE_BYTES + 1), response.status)
        except urllib.error.HTTPError as refused:
            answer = self._json(refused.read(MAX_RESPONSE_BYTES + 1), refused.code, refused=True)
            error = answer.get("error") if isinstance(answer, dict) else None
            if 300 <= refused.code < 400:
                error = "the service answered with a redirect, which the pack does not follow"
            self.logger.error("certsoar %s %s refused: %s %s", method, path, refused.code, error)
            return False, {"status_code": refused.code, "error": error or refused.reason or "refused"}

    @staticmethod
    def _json(raw: bytes, status: int, refused: bool = False) -> Any:
        if len(raw) > MAX_RESPONSE_BYTES:
            raise ValueError("the certsoar service answered more than %d bytes" % MAX_RESPONSE_BYTES)
        try:
            return json.loads(raw.decode("utf-8")) if raw else {}
        except ValueError:
            if refused:
                return {"error": raw.decode("utf-8", "replace")[:500]}
            raise ValueError("the certsoar service answered %s with a body that is not JSON" % status) from None
