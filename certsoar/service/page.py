"""The approval page: an analyst logs in, sees the runs waiting for approval and the evidence of one, and
approves or denies it.

Server-rendered (Jinja, autoescaped, no script, no external asset). Identity is a password (argon2id, from
``analysts.<name>.password_hash``) or, when ``service.trusted_proxy`` is set, the proxy's header, believed
only from the proxy's addresses. Every form carries the session's CSRF token and every POST checks it.
Decisions go through ``certsoar.api.decide`` like the CLI's, recorded as ``via="page"``. A finished run's
containment can be released (``certsoar.service.releasing`` says whether and by whom) through
``certsoar.api.release``; the release run's page then asks for its own approval.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from certsoar import api
from certsoar.config import Config
from certsoar.errors import ApprovalError, CertsoarError, RunError
from certsoar.escaping import one_line, visible
from certsoar.ledger import CONTAINMENT_ACTIONS, RELEASE_ACTIONS
from certsoar.service.identity import hash_password, proxy_user, verify_password
from certsoar.service.loginlimit import LoginLimiter
from certsoar.service.lookalikes import lookalikes, marked
from certsoar.service.pagesessions import PageSession, PageSessions, csrf_matches
from certsoar.service.releasing import RELEASE_PLAYBOOK, asker_refusal, release_state
from certsoar.store import GateStatus, RunStatus

COOKIE = "certsoar_page"
PREFIX = "/approvals"
RELATED_SHOWN = 25
PLANS_KEPT = 256
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@dataclass
class PageState:
    """What the page keeps in the process: sessions, failed logins, and each waiting run's plan."""

    sessions: PageSessions = field(default_factory=PageSessions)
    logins: LoginLimiter = field(default_factory=LoginLimiter)
    plans: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)


def _state(request: Request) -> PageState:
    state = getattr(request.app.state, "page", None)
    if state is None:
        state = request.app.state.page = PageState()
    return state


def _config(request: Request) -> Config:
    config: Config = request.app.state.config
    return config


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# templates -------------------------------------------------------------------------------------------


def _shown(value: Any) -> Any:
    """Every value a template prints: markup a helper built stays markup, text has its control characters
    but its line breaks shown (autoescaping then escapes it; certificate names go through ``marked``)."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return value
    return visible(str(value), keep_newlines=True)


@cache
def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("certsoar.service", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        finalize=_shown,
    )
    env.filters["marked"] = lambda value: marked(str(value)) if value is not None else ""
    env.filters["one_line"] = lambda value, limit=300: one_line(str(value), limit)
    return env


def _render(
    request: Request, template: str, session: PageSession, *, status: int = 200, new: bool = False, **context: Any
) -> HTMLResponse:
    html = _templates().get_template(template).render(session=session, prefix=PREFIX, **context)
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if new:
        _set_cookie(request, response, session)
    return response


def _secure(request: Request) -> bool:
    public = _config(request).service.public_url or ""
    return request.url.scheme == "https" or public.lower().startswith("https:")


def _set_cookie(request: Request, response: Response, session: PageSession) -> None:
    response.set_cookie(
        COOKIE, session.id, httponly=True, samesite="strict", secure=_secure(request), path=PREFIX, max_age=None
    )


def _redirect(request: Request, to: str, session: PageSession | None = None) -> RedirectResponse:
    response = RedirectResponse(to, status_code=303, headers=SECURITY_HEADERS)
    if session is not None:
        _set_cookie(request, response, session)
    return response


# identity --------------------------------------------------------------------------------------------


@cache
def _decoy_hash() -> str:
    """A hash of nothing anybody knows: unknown names cost the same argon2 work as known ones."""
    return hash_password(secrets.token_urlsafe(32))


def password_ok(config: Config, name: str, password: str) -> bool:
    """``password`` is ``name``'s page password. The same argon2 verification runs whether or not the
    analyst exists or has a password, so the answer's timing does not tell which names exist."""
    analyst = config.analysts.get(name)
    stored = analyst.password_hash if analyst is not None else None
    return verify_password(stored or _decoy_hash(), password) and stored is not None


def proxy_analyst(request: Request) -> str | None:
    """The analyst the trusted proxy's header names, when the request comes from the proxy's addresses."""
    config = _config(request)
    name = proxy_user(config, request.client.host if request.client else None, request.headers)
    return name if name in config.analysts else None


def _session(request: Request) -> tuple[PageSession, bool]:
    """The request's session and whether it is new (its cookie must be set)."""
    sessions = _state(request).sessions
    session = sessions.get(request.cookies.get(COOKIE))
    proxied = proxy_analyst(request)
    if proxied is not None and (session is None or session.analyst != proxied):
        return sessions.start(proxied, by_proxy=True), True
    if session is not None and session.by_proxy and proxied is None:
        sessions.end(session.id)  # the proxy no longer vouches for this request: its session ends
        session = None
    if session is None:
        return sessions.start(), True
    return session, False


def _refuse(
    request: Request, session: PageSession, status: int, reason: str, *, event: str, run_id: str | None = None
) -> HTMLResponse:
    api.record_refusal(
        _config(request),
        event,
        {"analyst": session.analyst, "address": _address(request), "reason": reason, "via": "page", "run": run_id},
    )
    return _render(request, "refused.html", session, status=status, reason=reason)


def _refuse_decision(request: Request, session: PageSession, run_id: str, reason: str) -> HTMLResponse:
    api.audit_refused_decision(
        _config(request),
        run_id,
        via="page",
        credential=f"page:{session.analyst}" if session.analyst else None,
        analyst=session.analyst,
        reason=reason,
        address=_address(request),
    )
    return _render(request, "refused.html", session, status=403, reason=reason)


# views -----------------------------------------------------------------------------------------------


def _time_left(expires: str | None) -> str:
    if not expires:
        return ""
    seconds = int((datetime.fromisoformat(expires) - datetime.now(timezone.utc)).total_seconds())
    if seconds <= 0:
        return "expired"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min left" if hours else f"{rest // 60} min left"


def decide_refusal(config: Config, analyst: str | None, run: dict[str, Any]) -> str | None:
    """Why ``analyst`` may not decide ``run`` here, or None when the page offers them the buttons. The
    gate's other checks (requester, expiry, a decision at the same instant) stay with ``api.decide``."""
    gate = run.get("approval")
    if analyst is None:
        return "not logged in"
    if run["status"] != RunStatus.WAITING_APPROVAL or not gate or gate["status"] != GateStatus.PENDING:
        return f"run {run['id']} is {run['status']}: it is not waiting for a decision"
    roles = set(config.analysts[analyst].roles) if analyst in config.analysts else set()
    if not roles & set(gate["roles"]):
        return f"{analyst} has none of the roles this gate accepts ({', '.join(gate['roles'])})"
    return None


def _containment(view: dict[str, Any] | None) -> dict[str, Any]:
    """The containment effects of a run object (planned in a dry run, done and verified in a real one; for a
    release run, what it took back), the addresses refused, and the steps that were skipped or failed."""
    if view is None:
        return {"effects": [], "refused": [], "skipped": [], "failed": []}
    actions = RELEASE_ACTIONS if view["playbook"] == RELEASE_PLAYBOOK else CONTAINMENT_ACTIONS
    steps = [s for s in view["steps"] if s["action"] in actions]
    refused = [r for s in steps if isinstance(s["output"], dict) for r in s["output"].get("refused") or []]
    return {
        "effects": [e for e in view["effects"] if e["action"] in actions],
        "refused": refused,
        "skipped": [s for s in steps if s["status"] == "skipped"],
        "failed": [s for s in steps if s["status"] == "failed"],
    }


def _notification(view: dict[str, Any], step: str) -> str | None:
    for note in view["notifications"]:
        if note["step"] == step:
            return str(note["body"] or "")
    return None


def _step_output(view: dict[str, Any], action: str) -> dict[str, Any] | None:
    for step in view["steps"]:
        if step["action"] == action and isinstance(step["output"], dict):
            return dict(step["output"])
    return None


def _related(view: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    for step in view["steps"]:
        if step["action"] == "siem.related" and isinstance(step["output"], dict):
            events = step["output"].get("events") or []
            return events[:RELATED_SHOWN], int(step["output"].get("count") or len(events))
    return [], 0


async def _plan(request: Request, run: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The run's dry-run plan, made once per waiting run."""
    plans = _state(request).plans
    if run["id"] in plans:
        return plans[run["id"]], None
    try:
        plan = await api.plan_run(_config(request), run["id"])
    except CertsoarError as exc:
        return None, str(exc)
    plans[run["id"]] = plan
    while len(plans) > PLANS_KEPT:
        plans.popitem(last=False)
    return plan, None


# routes ----------------------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def approvals(request: Request) -> Response:
    session, new = _session(request)
    if session.analyst is None:
        return _render(request, "login.html", session, new=new, error=None, name="")
    config = _config(request)
    waiting = []
    for row in api.list_runs(config, 100, status=RunStatus.WAITING_APPROVAL):
        run = api.show_run(config, row["id"])
        gate = run.get("approval") or {}
        waiting.append({"run": run, "time_left": _time_left(gate.get("expires"))})
    return _render(request, "list.html", session, new=new, waiting=waiting)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, analyst: str = Form(""), password: str = Form(""), csrf: str = Form("")) -> Response:
    session, new = _session(request)
    if not csrf_matches(session, csrf):
        return _refuse(request, session, 403, "missing or wrong CSRF token", event="page.login_refused")
    limiter, address = _state(request).logins, _address(request)
    wait = limiter.retry_after(address)
    if wait is not None:
        response = _refuse(
            request,
            session,
            429,
            f"too many failed logins from {address}: try again in {wait} s",
            event="page.login_refused",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    config = _config(request)
    if not await run_in_threadpool(password_ok, config, analyst, password):
        limiter.failed(address)
        api.record_refusal(config, "page.login_failed", {"analyst": one_line(analyst, 64), "address": address})
        return _render(
            request, "login.html", session, status=401, new=new, error="Wrong name or password.", name=analyst
        )
    _state(request).sessions.end(session.id)
    return _redirect(request, PREFIX, _state(request).sessions.start(analyst))


@router.post("/logout")
async def logout(request: Request, csrf: str = Form("")) -> Response:
    session, _ = _session(request)
    if not csrf_matches(session, csrf):
        return _refuse(request, session, 403, "missing or wrong CSRF token", event="page.logout_refused")
    _state(request).sessions.end(session.id)
    response = _redirect(request, PREFIX)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: str) -> Response:
    session, new = _session(request)
    if session.analyst is None:
        return _redirect(request, PREFIX, session if new else None)
    config = _config(request)
    try:
        run = api.show_run(config, run_id)
    except RunError:
        return _render(request, "refused.html", session, status=404, new=new, reason=f"no run {run_id!r}")
    is_release = run["playbook"] == RELEASE_PLAYBOOK
    plan, plan_error = (None, None)
    if run["status"] == RunStatus.WAITING_APPROVAL and not is_release:
        plan, plan_error = await _plan(request, run)
    releasing = None if is_release else release_state(config, run)
    facts = run.get("facts") or {}
    related, related_count = _related(run)
    gate = run.get("approval") or {}
    names = [facts.get("issuer") or "", facts.get("subject") or "", *(facts.get("names") or [])]
    return _render(
        request,
        "run.html",
        session,
        new=new,
        run=run,
        facts=facts,
        lookalikes=lookalikes(" ".join(names)),
        reasons=(run.get("verdict") or {}).get("reasons") or [],
        related=related,
        related_count=related_count,
        summary=_notification(run, "summary"),
        outcome=_notification(run, "outcome"),
        plan=_containment(plan),
        plan_error=plan_error,
        done=_containment(run) if run["status"] != RunStatus.WAITING_APPROVAL else None,
        approved=sum(1 for d in gate.get("decisions") or [] if d["decision"] == GateStatus.APPROVED),
        time_left=_time_left(gate.get("expires")) if gate.get("status") == GateStatus.PENDING else "",
        refusal=decide_refusal(config, session.analyst, run),
        releasing=releasing,
        may_release=releasing is not None and asker_refusal(config, session.analyst, run),
        release_plan=_step_output(run, "release.plan") if is_release else None,
        release_request=_notification(run, "approval.request") if is_release else None,
    )


@router.post("/runs/{run_id}/decide", response_class=HTMLResponse)
async def decide(
    request: Request, run_id: str, decision: str = Form(""), comment: str = Form(""), csrf: str = Form("")
) -> Response:
    session, _ = _session(request)
    if not csrf_matches(session, csrf):
        reason = "missing or wrong CSRF token: nothing was decided"
        return _refuse_decision(request, session, one_line(run_id, 64), reason)
    if session.analyst is None:
        return _refuse_decision(request, session, one_line(run_id, 64), "not logged in: nothing was decided")
    if decision not in (GateStatus.APPROVED, GateStatus.DENIED):
        return _render(request, "refused.html", session, status=400, reason="decide approved or denied")
    config = _config(request)
    try:
        run = api.show_run(config, run_id)
    except RunError:
        return _render(request, "refused.html", session, status=404, reason=f"no run {run_id!r}")
    refusal = decide_refusal(config, session.analyst, run)
    if refusal is not None:
        return _refuse_decision(request, session, run_id, refusal)
    try:
        await api.decide(
            config,
            run_id,
            analyst=session.analyst,
            decision=decision,
            comment=comment.strip() or None,
            via="page",
            credential=f"page:{session.analyst}",
        )
    except ApprovalError as exc:  # api.decide has audited the refusal
        return _render(request, "refused.html", session, status=403, reason=str(exc))
    except RunError as exc:
        return _render(request, "refused.html", session, status=409, reason=str(exc))
    except CertsoarError as exc:
        return _render(request, "refused.html", session, status=502, reason=f"the run did not complete: {exc}")
    finally:
        _state(request).plans.pop(run_id, None)
    return _redirect(request, f"{PREFIX}/runs/{run_id}")


@router.post("/runs/{run_id}/release", response_class=HTMLResponse)
async def release(request: Request, run_id: str, comment: str = Form(""), csrf: str = Form("")) -> Response:
    """Ask to take back the run's containment as the session's analyst: the release run, waiting for its
    approval. Asked again (a second tab) while that release waits or once it is done: that same release run."""
    session, _ = _session(request)
    shown_id = one_line(run_id, 64)
    if not csrf_matches(session, csrf):
        reason = "missing or wrong CSRF token: nothing was released"
        return _refuse(request, session, 403, reason, event="page.release_refused", run_id=shown_id)
    if session.analyst is None:
        reason = "not logged in: nothing was released"
        return _refuse(request, session, 403, reason, event="page.release_refused", run_id=shown_id)
    config = _config(request)
    try:
        run = api.show_run(config, run_id)
    except RunError:
        return _render(request, "refused.html", session, status=404, reason=f"no run {run_id!r}")
    refusal = asker_refusal(config, session.analyst, run)
    if refusal is not None:
        return _refuse(request, session, 403, refusal, event="page.release_refused", run_id=run_id)
    state = release_state(config, run)
    if state.release is not None:
        return _redirect(request, f"{PREFIX}/runs/{state.release['id']}")
    if state.refusal is not None:
        return _refuse(request, session, 409, state.refusal, event="page.release_refused", run_id=run_id)
    if not comment.strip():
        return _render(request, "refused.html", session, status=400, reason="a release needs a comment saying why")
    try:
        released = await api.release(config, run_id, analyst=session.analyst, comment=comment)
    except RunError as exc:
        return _render(request, "refused.html", session, status=409, reason=str(exc))
    except CertsoarError as exc:
        return _render(request, "refused.html", session, status=502, reason=f"the release did not start: {exc}")
    return _redirect(request, f"{PREFIX}/runs/{released['id']}")
