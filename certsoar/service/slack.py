"""``POST /v1/slack/interactions``: Approve / Deny clicks and release requests from Slack, verified, acted on
as the mapped analyst.

A request is believed only when its ``X-Slack-Signature`` is Slack's v0 HMAC-SHA256 over
``v0:{X-Slack-Request-Timestamp}:{raw body}`` with ``service.slack.signing_secret`` (compared in constant
time), its timestamp is within 5 minutes of now (either way), and its signature was not seen before in
that window; anything else is 401 and nothing is decided. The Slack user must be an analyst's
``slack_user``. The answer is an immediate 200 (Slack waits 3 s); the decision goes through
``certsoar.api.decide`` (via ``slack``, credential ``slack:<user id>``) in a background task, and the
outcome goes back through the payload's ``response_url``: the original message replaced with who decided
and the run's status (while the gate still waits for more approvals, a note beside it, buttons kept), or,
for a refusal, an ephemeral note to the clicker naming the reason (the buttons stay for an analyst who may
decide). Refusals are audited through ``certsoar.api``.

A release comes from the release field of a containment-outcome message (certsoar.connectors.notify.slack): the
analyst types why and presses Enter, and Slack sends a ``block_actions`` payload whose action is the field
(block id ``certsoar_release:<run id>``, value the text typed). A required reason in the message rather than a
modal: opening a modal needs a bot token and ``views.open`` within 3 s of the click, while the message may have
come through an incoming webhook; the typed reason arrives signed like any click. The analyst must hold a role
the run's own gate accepts (certsoar.service.releasing, as on the page); the release run is started through
``certsoar.api.release`` and its approval request posted by its playbook like any other, buttons included; the
channel is told which release run waits (or, to the asker alone, why none was started).

The replay memory lives in the process: run the service as one process (as ``certsoar serve`` does).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from certsoar import api
from certsoar.config import Config, secret_from
from certsoar.connectors.notify.slack import RELEASE_ACTION, RELEASE_BLOCK, post_json
from certsoar.errors import ApprovalError, CertsoarError, ConfigError, RunNotFound, SignatureError
from certsoar.escaping import mrkdwn
from certsoar.service.releasing import asker_refusal, release_state

log = logging.getLogger(__name__)

WINDOW_SECONDS = 300
MAX_BODY_BYTES = 256 * 1024
RESPONSE_URL_HOST = "hooks.slack.com"
VIA = "slack"

router = APIRouter()


class ReplayGuard:
    """Signatures seen within the window; a second request with one of them is a replay."""

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self.window = window
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, signature: str, now: float) -> bool:
        with self._lock:
            for old in [s for s, at in self._seen.items() if at < now - 2 * self.window]:
                del self._seen[old]
            if signature in self._seen:
                return False
            self._seen[signature] = now
            return True


def verify_signature(
    secret: str, *, timestamp: str | None, body: bytes, signature: str | None, now: float, seen: ReplayGuard
) -> None:
    """SignatureError unless the request is Slack's, fresh and new. The reason never carries the secret."""
    if not timestamp or not signature:
        raise SignatureError("no X-Slack-Request-Timestamp or X-Slack-Signature")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError("X-Slack-Request-Timestamp is not a Unix time")
    age = now - int(timestamp)
    if age > WINDOW_SECONDS:
        raise SignatureError(f"stale request: its timestamp is {int(age)} s old (at most {WINDOW_SECONDS})")
    if age < -WINDOW_SECONDS:
        raise SignatureError(f"request from the future: its timestamp is {int(-age)} s ahead")
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise SignatureError("X-Slack-Signature does not match")
    if not seen.first_time(signature, now):
        raise SignatureError("replayed request: this signature was already used")


class SlackUser(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^[UW][A-Z0-9]{2,}$")


class SlackAction(BaseModel):
    model_config = ConfigDict(extra="ignore")
    action_id: str
    block_id: str = Field(default="", max_length=255)
    value: str | None = Field(default="", max_length=2000)


class BlockActions(BaseModel):
    """The part of Slack's ``block_actions`` payload certsoar reads."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["block_actions"]
    user: SlackUser
    actions: list[SlackAction] = Field(min_length=1)
    response_url: str

    def decision(self) -> tuple[Literal["approved", "denied"], str] | None:
        for action in self.actions:
            if action.action_id == "approve":
                return "approved", action.value or ""
            if action.action_id == "deny":
                return "denied", action.value or ""
        return None

    def release(self) -> tuple[str, str] | None:
        """The run whose release the release field asks for, and the reason typed."""
        for action in self.actions:
            if action.action_id == RELEASE_ACTION and action.block_id.startswith(RELEASE_BLOCK):
                return action.block_id.removeprefix(RELEASE_BLOCK), action.value or ""
        return None


def analyst_of(config: Config, slack_user: str) -> str | None:
    for name, analyst in config.analysts.items():
        if analyst.slack_user == slack_user:
            return name
    return None


def _is_slack_response_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and parts.hostname == RESPONSE_URL_HOST and not parts.username


async def _reply(response_url: str, payload: dict[str, Any]) -> None:
    try:
        await post_json(response_url, payload, connector="slack response_url")
    except CertsoarError as exc:
        log.warning("slack: the outcome could not be posted back: %s", exc)


def _outcome_text(analyst: str, slack_user: str, decision: str, run: dict[str, Any]) -> str:
    verb = "approved" if decision == "approved" else "denied"
    return f"{analyst} (<@{slack_user}>) {verb} run `{run['id']}`: the run is now *{run['status']}*."


async def apply_decision(
    config: Config, *, run_id: str, analyst: str, slack_user: str, decision: str, response_url: str
) -> None:
    """Decide through certsoar.api, then tell Slack: the message replaced with the outcome, or the refusal
    shown to the clicker alone (and audited)."""
    credential = f"slack:{slack_user}"
    try:
        run = await api.decide(
            config, run_id, analyst=analyst, decision=decision, comment=None, via=VIA, credential=credential
        )
    except (ApprovalError, RunNotFound) as exc:  # api.decide has audited the refusal
        await _reply(
            response_url,
            {"response_type": "ephemeral", "replace_original": False, "text": f"Refused: {mrkdwn(str(exc))}"},
        )
        return
    except CertsoarError as exc:  # decided, then the run failed: the run records why
        await _reply(
            response_url,
            {
                "response_type": "ephemeral",
                "replace_original": False,
                "text": f"Decided, but the run did not complete: {mrkdwn(str(exc))}",
            },
        )
        return
    text = _outcome_text(analyst, slack_user, decision, run)
    if run["status"] == "waiting_approval":  # M of N: the buttons stay for the next approver
        await _reply(response_url, {"response_type": "in_channel", "replace_original": False, "text": text})
    else:
        await _reply(response_url, {"replace_original": True, "text": text})


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


def _release_refused(config: Config, run_id: str, slack_user: str, analyst: str | None, reason: str) -> str:
    api.record_refusal(
        config,
        "slack.release_refused",
        {"run": run_id, "credential": f"slack:{slack_user}", "analyst": analyst, "reason": reason, "via": VIA},
    )
    return f"Refused, nothing released: {mrkdwn(reason)}"


async def apply_release(
    config: Config, *, run_id: str, analyst: str, slack_user: str, comment: str, response_url: str
) -> None:
    """Start the release of run ``run_id``'s containment as ``analyst`` and say in the channel which release run
    waits for approval; a refusal goes to the asker alone (and is audited)."""
    try:
        run = api.show_run(config, run_id)
    except RunNotFound as exc:
        await _reply(response_url, _ephemeral(_release_refused(config, run_id, slack_user, analyst, str(exc))))
        return
    state = release_state(config, run)
    refusal = asker_refusal(config, analyst, run) or state.refusal
    if state.release is not None and refusal == state.refusal:  # asked already: that release, not a second
        existing = state.release
        text = f"Release run `{existing['id']}` of run `{run_id}` is already *{existing['status']}*."
        await _reply(response_url, _ephemeral(text))
        return
    if refusal is not None:
        await _reply(response_url, _ephemeral(_release_refused(config, run_id, slack_user, analyst, refusal)))
        return
    try:
        release = await api.release(config, run_id, analyst=analyst, comment=comment)
    except CertsoarError as exc:
        await _reply(response_url, _ephemeral(_release_refused(config, run_id, slack_user, analyst, str(exc))))
        return
    text = (
        f"{analyst} (<@{slack_user}>) asked to release the containment of run `{run_id}`: "
        f"release run `{release['id']}` is *{release['status']}*."
    )
    await _reply(response_url, {"response_type": "in_channel", "replace_original": False, "text": text})


def _signing_secret(config: Config) -> str:
    reference = config.service.slack.signing_secret
    if reference is None:
        raise ConfigError("service.slack.signing_secret is not set: Slack interactions are off")
    return secret_from(reference)


def _replay_guard(request: Request) -> ReplayGuard:
    state = request.app.state
    guard = getattr(state, "slack_replay_guard", None)
    if guard is None:
        guard = state.slack_replay_guard = ReplayGuard()
    return guard  # type: ignore[no-any-return]


def _refused(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"detail": reason}, status_code=status)


@router.post(
    "/v1/slack/interactions",
    status_code=200,
    response_model=None,
    summary="Approve/Deny clicks and release requests from Slack (signed by Slack with the signing secret)",
    responses={
        400: {"description": "A payload that is not a block_actions click, or a response_url off Slack"},
        401: {"description": "A missing, wrong, stale, future or replayed signature: nothing decided"},
        404: {"description": "service.slack.signing_secret is not set: Slack interactions are off"},
        413: {"description": "A body over 256 KiB"},
        415: {"description": "Not application/x-www-form-urlencoded"},
    },
)
async def interactions(request: Request, background: BackgroundTasks) -> Response:
    """Slack's interactivity request URL: Approve / Deny clicks on approval requests, release requests."""
    config: Config = request.app.state.config
    try:
        secret = _signing_secret(config)
    except ConfigError as exc:
        return _refused(404, str(exc))
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return _refused(413, f"an interaction body is at most {MAX_BODY_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return _refused(413, f"an interaction body is at most {MAX_BODY_BYTES} bytes")
    try:
        verify_signature(
            secret,
            timestamp=request.headers.get("x-slack-request-timestamp"),
            body=body,
            signature=request.headers.get("x-slack-signature"),
            now=time.time(),
            seen=_replay_guard(request),
        )
    except SignatureError as exc:
        log.warning("slack: refused an interaction: %s", exc)
        return _refused(401, str(exc))
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return _refused(415, "Slack sends interactions as application/x-www-form-urlencoded")
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=10)
        payload = BlockActions.model_validate_json(fields["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, ValidationError):
        return _refused(400, "not a block_actions payload")
    chosen, asked = payload.decision(), payload.release()
    if chosen is None and asked is None:
        return Response(status_code=200)  # another button of the app: nothing for certsoar to do
    if not _is_slack_response_url(payload.response_url):
        return _refused(400, f"response_url is not on https://{RESPONSE_URL_HOST}")
    user = payload.user.id
    analyst = analyst_of(config, user)
    if asked is not None:
        run_id, comment = asked
        if analyst is None:
            reason = f"Slack user {user} is no analyst (set analysts.<name>.slack_user)"
            background.add_task(
                _reply, payload.response_url, _ephemeral(_release_refused(config, run_id, user, None, reason))
            )
        else:
            background.add_task(
                apply_release,
                config,
                run_id=run_id,
                analyst=analyst,
                slack_user=user,
                comment=comment,
                response_url=payload.response_url,
            )
        return Response(status_code=200)
    assert chosen is not None
    decision, run_id = chosen
    if analyst is None:
        reason = f"Slack user {user} is no analyst (set analysts.<name>.slack_user)"
        api.audit_refused_decision(config, run_id, via=VIA, credential=f"slack:{user}", analyst=None, reason=reason)
        background.add_task(
            _reply,
            payload.response_url,
            {"response_type": "ephemeral", "replace_original": False, "text": f"Refused: {mrkdwn(reason)}"},
        )
        return Response(status_code=200)
    background.add_task(
        apply_decision,
        config,
        run_id=run_id,
        analyst=analyst,
        slack_user=user,
        decision=decision,
        response_url=payload.response_url,
    )
    return Response(status_code=200)
