"""``/v1/feeds/<feed>.txt``: the external dynamic lists (``certsoar.feeds``) for firewalls and proxies that pull.

A token with scope ``feeds`` is needed unless ``service.feeds_public`` is on. Firewalls that pull a list send
HTTP Basic credentials at most (PAN-OS EDL, FortiGate external threat feed), so the token is also taken as the
password of ``Authorization: Basic`` (any user name). A refusal is audited and counted against the client
address like any other (certsoar.service.identity), and answers 401 with a Basic challenge.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from certsoar import api
from certsoar.errors import AccessError, RateLimited, ScopeError
from certsoar.feeds import FEEDS, Feed
from certsoar.service.identity import authorize

SCOPE = "feeds"
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
router = APIRouter()


def _bearer_of(authorization: str | None) -> str | None:
    """The ``Authorization`` header as the Bearer form token_principal reads (a Basic password is the token)."""
    if not authorization:
        return authorization
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return authorization
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "Basic"  # refused by token_principal, audited like any other refusal
    _, colon, password = decoded.partition(":")
    return f"Bearer {password}" if colon and password else "Basic"


def _route(feed: Feed) -> Any:
    async def serve_feed(request: Request) -> Response:
        try:
            if not request.app.state.config.service.feeds_public:
                authorize(request, _bearer_of(request.headers.get("authorization")), SCOPE)
        except (ScopeError, RateLimited):
            raise
        except AccessError as exc:
            answer = JSONResponse({"error": str(exc)}, 401)
            answer.headers.append("WWW-Authenticate", 'Basic realm="certsoar feeds", charset="UTF-8"')
            answer.headers.append("WWW-Authenticate", "Bearer")
            return answer
        text = api.feed_text(request.app.state.config, feed)
        return PlainTextResponse(text, headers={"Cache-Control": "no-store"})

    return serve_feed


for _feed in FEEDS:
    router.add_api_route(
        f"/v1/feeds/{_feed}.txt",
        _route(_feed),
        methods=["GET"],
        summary=f"The {_feed} block list as plain text, one entry a line (for firewalls and proxies that pull it)",
        response_class=PlainTextResponse,
        responses={
            status: {"description": why, "content": {"application/json": {"schema": _ERROR}}}
            for status, why in (
                (401, "No valid token"),
                (403, "The token lacks scope feeds"),
                (429, "Refused too often"),
            )
        },
        openapi_extra={"x-scope": SCOPE},
    )
