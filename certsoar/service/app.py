"""The FastAPI app of ``certsoar serve``: alerts in, runs out, decisions by token; health and metrics.

``create_app(config)`` builds it. Its state, for routers added to it: ``app.state.config`` (the Config),
``app.state.runs`` (the RunPool: ``submit(playbook, alert, principal)``), ``app.state.refusals`` (the
RefusalLimiter of certsoar.service.identity) and ``app.state.metrics``. The approval page
(``certsoar.service.page:router``) and Slack (``certsoar.service.slack:router``) are included when
those modules are installed. Errors of certsoar.errors raised anywhere below become an HTTP status and
``{"error": message}`` here (``status_for``), nowhere else.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field

from certsoar import api
from certsoar.config import Config
from certsoar.errors import (
    AccessError,
    AlertError,
    AlertTooLarge,
    ApprovalError,
    ApprovalForbidden,
    CertsoarError,
    PlaybookError,
    QueueFull,
    RateLimited,
    RunBusy,
    RunError,
    RunNotFound,
    ScopeError,
)
from certsoar.intake import FORMATS, load_alert
from certsoar.playbook import shipped_playbooks_dir
from certsoar.service.identity import Principal, RefusalLimiter, client_address, require
from certsoar.service.metrics import Metrics
from certsoar.service.runs import RunPool, off_loop
from certsoar.store import RunStatus

log = logging.getLogger("certsoar.service")

ALERT_CONTENT_TYPES = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "text/plain",
        "text/tab-separated-values",
        "application/xml",
        "text/xml",
        "application/x-pem-file",
        "application/pkix-cert",
        "application/octet-stream",
    }
)
"""What an alert body may be sent as (JSON, Zeek TSV, Event XML, PEM, DER); anything else is 415."""

SCOPE_KEY = "x-scope"
"""OpenAPI extension naming the token scope an operation needs."""

ROUTERS = ("certsoar.service.page", "certsoar.service.slack", "certsoar.service.feeds")
"""Routers of the other parts of the service, included when installed."""


RunId = Annotated[str, Path(max_length=64, description="The run's id")]


class ErrorBody(BaseModel):
    error: str = Field(description="Why the request was refused.")


class RunRef(BaseModel):
    id: str = Field(description="The run's id.")
    status: str = Field(description="The run's status (queued until a worker starts it).")


class ReleaseBody(BaseModel):
    """Who asks is the token's analyst; the body says why."""

    model_config = ConfigDict(extra="forbid")

    comment: str = Field(min_length=1, max_length=2000, description="Why the containment is taken back.")


class DecisionBody(BaseModel):
    """The analyst is the token's; the body carries only the comment."""

    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(default=None, max_length=4000, description="Why; kept in the run and the audit.")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


def status_for(exc: CertsoarError) -> int:
    """The HTTP status of an error of certsoar.errors (the one place where that is decided)."""
    for cls, status in (
        (RateLimited, 429),
        (ScopeError, 403),
        (AccessError, 401),
        (QueueFull, 429),
        (RunNotFound, 404),
        (RunBusy, 409),
        (ApprovalForbidden, 403),
        (ApprovalError, 409),
        (AlertTooLarge, 413),
        (AlertError, 422),
        (PlaybookError, 422),
        (RunError, 409),
    ):
        if isinstance(exc, cls):
            return status
    return 500


def _error_response(request: Request, exc: CertsoarError) -> JSONResponse:
    status = status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited | QueueFull):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, AccessError) and status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, ApprovalError):
        request.app.state.refusals.refused(client_address(request))
    if status == 500:
        log.error("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"error": str(exc)}, status_code=status, headers=headers)


async def _read_bounded(request: Request, limit: int) -> bytes:
    """The body, never more than ``limit`` bytes of it held: AlertTooLarge past it."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise AlertTooLarge(f"the alert is larger than service.max_alert_bytes ({limit} bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise AlertTooLarge(f"the alert is larger than service.max_alert_bytes ({limit} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _api_router() -> APIRouter:
    router = APIRouter()

    @router.post(
        "/v1/alerts",
        status_code=202,
        response_model=RunRef,
        summary="Submit one alert; a run of the playbook is queued",
        responses={
            200: {"model": RunRef, "description": "The alert already has a run (or a dry run's result)"},
            **_errors(401, 403, 413, 415, 422, 429, 500),
        },
        openapi_extra={
            SCOPE_KEY: "alerts",
            "requestBody": {
                "required": True,
                "content": {t: {"schema": {"type": "string"}} for t in sorted(ALERT_CONTENT_TYPES)},
            },
        },
    )
    async def post_alert(
        request: Request,
        principal: Annotated[Principal, Depends(require("alerts"))],
        format: Annotated[str | None, Query(description=f"One of: {', '.join(FORMATS)}; default detected")] = None,  # noqa: A002
        playbook: Annotated[str, Query(max_length=64, description="A shipped playbook's id")] = "certificate-alert",
        dry_run: Annotated[
            bool, Query(description="Read everything, change nothing; the run is answered at once")
        ] = False,
    ) -> Response:
        app = request.app
        config: Config = app.state.config
        metrics: Metrics = app.state.metrics
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ALERT_CONTENT_TYPES:
            metrics.alerts_refused.labels(reason="content_type").inc()
            return JSONResponse(
                {
                    "error": f"content type {content_type or 'none'!r} is not an alert; send one of "
                    f"{', '.join(sorted(ALERT_CONTENT_TYPES))}"
                },
                415,
            )
        limit = config.service.max_alert_bytes
        try:
            body = await _read_bounded(request, limit)
            alert = load_alert(body, format=format)
            if dry_run:
                api.load_shipped_playbook(playbook)  # a shipped playbook's id, never a file on the server
                book_path = str(shipped_playbooks_dir() / f"{playbook}.yaml")
                run = await api.run_playbook(
                    config, book_path, alert, dry_run=True, requester=principal.analyst, trigger=f"api:{principal.name}"
                )
                return JSONResponse({"id": run["id"], "status": run["status"], "run": run}, 200)
            ref, created = await app.state.runs.submit(playbook, alert, principal)
        except (AlertError, PlaybookError, QueueFull) as exc:
            metrics.alerts_refused.labels(reason=type(exc).__name__).inc()
            raise
        if not created:
            return JSONResponse(ref, 200, headers={"Location": f"/v1/runs/{ref['id']}"})
        metrics.alerts_accepted.inc()
        return JSONResponse(ref, 202, headers={"Location": f"/v1/runs/{ref['id']}"})

    @router.get(
        "/v1/runs/{run_id}",
        summary="One run (the run object of `certsoar runs show --json`)",
        openapi_extra={SCOPE_KEY: "read"},
        responses=_errors(401, 403, 404, 429),
    )
    async def get_run(
        run_id: RunId, _: Annotated[Principal, Depends(require("read"))], request: Request
    ) -> dict[str, Any]:
        return api.show_run(request.app.state.config, run_id)

    @router.get(
        "/v1/runs",
        summary="The latest runs, newest first",
        responses=_errors(401, 403, 422, 429),
        openapi_extra={SCOPE_KEY: "read"},
    )
    async def get_runs(
        request: Request,
        _: Annotated[Principal, Depends(require("read"))],
        status: Annotated[RunStatus | None, Query(description="Only runs in this status")] = None,
        since: Annotated[
            datetime | None, Query(description="Only runs created at or after this time (ISO 8601)")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        if since is not None and since.tzinfo is None:
            return JSONResponse({"error": "since needs a time zone (e.g. 2026-12-01T00:00:00Z)"}, 422)  # type: ignore[return-value]
        return api.list_runs(request.app.state.config, limit, status=status, since=since)

    for name, decision in (("approve", "approved"), ("deny", "denied")):
        router.add_api_route(
            f"/v1/runs/{{run_id}}/{name}",
            _decision_route(decision),
            methods=["POST"],
            summary=f"{name.capitalize()} the run's waiting gate as the token's analyst",
            responses=_errors(401, 403, 404, 409, 429),
            openapi_extra={SCOPE_KEY: "decide"},
        )

    @router.post(
        "/v1/runs/{run_id}/release",
        summary="Ask to take back the run's containment (the certificate-release playbook) as the token's analyst",
        responses=_errors(401, 403, 404, 409, 422, 429),
        openapi_extra={SCOPE_KEY: "decide"},
    )
    async def release(
        request: Request,
        run_id: RunId,
        principal: Annotated[Principal, Depends(require("decide"))],
        body: ReleaseBody,
    ) -> dict[str, Any]:
        assert principal.analyst is not None  # the config refuses scope decide without an analyst
        analyst = principal.analyst
        return await off_loop(
            lambda: api.release(request.app.state.config, run_id, analyst=analyst, comment=body.comment)
        )

    @router.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="The store is writable and the connectors build", responses=_errors(503))
    async def readyz(request: Request) -> Response:
        try:
            api.check_ready(request.app.state.config)
        except CertsoarError as exc:
            return JSONResponse({"error": str(exc)}, 503)
        return JSONResponse({"status": "ready"})

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router


def _decision_route(decision: str) -> Any:
    async def decide(
        request: Request,
        run_id: RunId,
        principal: Annotated[Principal, Depends(require("decide"))],
        body: DecisionBody | None = None,
    ) -> dict[str, Any]:
        assert principal.analyst is not None  # the config refuses scope decide without an analyst
        analyst = principal.analyst
        return await off_loop(
            lambda: api.decide(
                request.app.state.config,
                run_id,
                analyst=analyst,
                decision=decision,
                comment=body.comment if body else None,
                via=principal.via,
                credential=principal.name,
            )
        )

    return decide


def _include_optional_routers(app: FastAPI) -> None:
    for module_name in ROUTERS:
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        app.include_router(module.router)


def create_app(config: Config) -> FastAPI:
    pool_holder: dict[str, RunPool] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from certsoar.service.schedules import ScheduleRunner

        await app.state.runs.start()
        schedules = asyncio.create_task(ScheduleRunner(config).run())
        try:
            yield
        finally:
            schedules.cancel()
            await asyncio.gather(schedules, return_exceptions=True)
            await app.state.runs.stop()

    app = FastAPI(
        title="certsoar",
        summary="Alerts in, runs out, decisions by token (certsoar serve)",
        lifespan=lifespan,
    )
    metrics = Metrics(run_counts=lambda: api.run_counts(config), queue_depth=lambda: pool_holder["pool"].depth)
    pool = RunPool(config, metrics)
    pool_holder["pool"] = pool
    app.state.config = config
    app.state.runs = pool
    app.state.metrics = metrics
    app.state.refusals = RefusalLimiter()

    @app.exception_handler(CertsoarError)
    async def certsoar_error(request: Request, exc: CertsoarError) -> JSONResponse:
        return _error_response(request, exc)

    app.include_router(_api_router())
    _include_optional_routers(app)
    return app


def endpoints(app: FastAPI) -> list[dict[str, str | None]]:
    """The app's HTTP endpoints from its OpenAPI document (method, path, the token scope each needs as
    ``x-scope``, summary), for the manifest."""
    out: list[dict[str, str | None]] = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            out.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "scope": operation.get(SCOPE_KEY),
                    "summary": operation.get("summary"),
                }
            )
    return out
