"""ticket.open, ticket.comment and ticket.close: one ticket per certificate, updated as the case moves on.

A new alert for a certificate whose case ended (closed or released) reopens that ticket with a comment saying
why, rather than opening a second one: one ticket per certificate keeps the earlier decision (who denied or
released it, and why) beside the alert that now questions it, and it is the identity every ticket system
deduplicates on (a label, a correlation id, a source reference)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field

from certsoar.connectors.ticket import ENDED, Observables, ObservableTicketing, Resolution, Ticket, TicketStatus
from certsoar.context import ActionContext
from certsoar.errors import ActionError
from certsoar.ledger import Effect
from certsoar.registry import action
from certsoar.templating import subject_of


class OpenInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=256, description="Natural key of the case: the certificate's SHA-256.")
    template: str = Field(description="Template of the ticket body; its first line is the title.")
    severity: str = Field(description="low, medium, high or critical.")
    observables: Observables = Field(
        default_factory=Observables,
        description="The certificate's hashes, its servers' addresses and its SNI, for a ticket system that records "
        "them as observables (thehive); the others ignore them.",
    )


class TicketOutput(BaseModel):
    ticket: Ticket | None = Field(description="The ticket (None when a dry run only planned it).")
    title: str
    body: str
    effect: Effect
    reopened: Effect | None = Field(
        default=None, description="The ticket's case had ended (closed or released) and this run reopened it."
    )


def _ticket_key(ctx: ActionContext, key: str) -> str:
    return f"ticket:{ctx.connectors.instance('ticket')}:{key}"


@action("ticket.open", mutates=True, reversible=True)
async def open_ticket(inp: OpenInput, ctx: ActionContext) -> TicketOutput:
    """Open the case's ticket, or find the one already open for the same certificate."""
    body = ctx.templates.render(inp.template, ctx.variables)
    title = subject_of(body)
    tickets = ctx.connectors.ticket

    async def exists() -> tuple[bool, dict[str, str]]:
        found = await tickets.find(inp.key)
        return found is not None, {"ticket": found.id} if found else {}

    async def create() -> None:
        if inp.observables and isinstance(tickets, ObservableTicketing):
            await tickets.open_with_observables(inp.key, title, body, inp.severity, inp.observables)
        else:
            await tickets.open(inp.key, title, body, inp.severity)

    effect = await ctx.ledger.apply(
        _ticket_key(ctx, inp.key),
        step_id=ctx.step_id,
        action="ticket.open",
        target=inp.key,
        is_done=exists,
        write=create,
    )
    found = await tickets.find(inp.key)
    reopened = None
    if found is not None and found.status in ENDED:
        reopened = await _reopen(ctx, inp.key, found, title)
    return TicketOutput(ticket=await tickets.find(inp.key), title=title, body=body, effect=effect, reopened=reopened)


async def _reopen(ctx: ActionContext, key: str, ended: Ticket, title: str) -> Effect:
    """Move the ended ticket back to open, once per run, with a comment saying why."""
    tickets = ctx.connectors.ticket
    text = (
        f"Reopened by run {ctx.run_id}: a new alert escalated this certificate after the ticket was "
        f"{ended.status}. {title}"
    )

    async def reopened() -> tuple[bool, dict[str, str]]:
        found = await tickets.find(key)
        return found is not None and found.status not in ENDED, {"ticket": ended.id, "was": ended.status}

    async def write() -> None:
        await tickets.comment(ended.id, text, "open")

    return await ctx.ledger.apply(
        f"{_ticket_key(ctx, key)}:reopen:{ctx.run_id}",
        step_id=ctx.step_id,
        action="ticket.reopen",
        target=key,
        is_done=reopened,
        write=write,
    )


class CommentInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=256, description="Natural key of the case's ticket.")
    template: str = Field(description="Template of the comment.")
    status: TicketStatus | None = Field(
        default=None,
        description="Move the ticket to this status with the comment: contained after verified containment, "
        "partially-contained when some of it did not happen, closed when the case ends without it (denied).",
    )


@action("ticket.comment", mutates=True, reversible=True)
async def comment_ticket(inp: CommentInput, ctx: ActionContext) -> TicketOutput:
    """Add a comment (rendered from a template) to the case's ticket, once per run step."""
    body = ctx.templates.render(inp.template, ctx.variables)
    tickets = ctx.connectors.ticket

    async def write(ticket_id: str) -> None:
        await tickets.comment(ticket_id, body, inp.status)

    return await _update(ctx, inp.key, body, "ticket.comment", write)


class CloseInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=256, description="Natural key of the case's ticket.")
    template: str = Field(description="Template of the closing comment (why, and what was or was not undone).")
    resolution: Resolution = Field(
        default="closed", description="closed: the case ended without containment; released: containment taken back."
    )


@action("ticket.close", mutates=True, reversible=True)
async def close_ticket(inp: CloseInput, ctx: ActionContext) -> TicketOutput:
    """End the case's ticket with a comment (rendered from a template), once per run step."""
    body = ctx.templates.render(inp.template, ctx.variables)
    tickets = ctx.connectors.ticket

    async def write(ticket_id: str) -> None:
        await tickets.close(ticket_id, body, inp.resolution)

    return await _update(ctx, inp.key, body, "ticket.close", write)


async def _update(
    ctx: ActionContext, ticket_key: str, body: str, action_name: str, write: Callable[[str], Awaitable[None]]
) -> TicketOutput:
    tickets = ctx.connectors.ticket
    key = f"{_ticket_key(ctx, ticket_key)}:comment:{ctx.run_id}:{ctx.step_id}"

    async def commented() -> tuple[bool, dict[str, str]]:
        found = await tickets.find(ticket_key)
        if found is None:
            return False, {}
        return ctx.ledger.recorded(key) or body in found.comments, {"ticket": found.id}

    async def write_once() -> None:
        found = await tickets.find(ticket_key)
        if found is None:
            raise ActionError(f"no ticket for {ticket_key} to comment on")
        await write(found.id)

    effect = await ctx.ledger.apply(
        key, step_id=ctx.step_id, action=action_name, target=ticket_key, is_done=commented, write=write_once
    )
    return TicketOutput(ticket=await tickets.find(ticket_key), title=subject_of(body), body=body, effect=effect)
