"""ticket.open and ticket.comment: one ticket per certificate, updated as the case moves on."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from certsoar.connectors.ticket import Ticket, TicketStatus
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


class TicketOutput(BaseModel):
    ticket: Ticket | None = Field(description="The ticket (None when a dry run only planned it).")
    title: str
    body: str
    effect: Effect


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
        await tickets.open(inp.key, title, body, inp.severity)

    effect = await ctx.ledger.apply(
        _ticket_key(ctx, inp.key),
        step_id=ctx.step_id,
        action="ticket.open",
        target=inp.key,
        is_done=exists,
        write=create,
    )
    return TicketOutput(ticket=await tickets.find(inp.key), title=title, body=body, effect=effect)


class CommentInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=256, description="Natural key of the case's ticket.")
    template: str = Field(description="Template of the comment.")
    status: TicketStatus | None = Field(
        default=None,
        description="Move the ticket to this status with the comment: contained after verified containment, "
        "closed when the case ends without it (denied).",
    )


@action("ticket.comment", mutates=True, reversible=True)
async def comment_ticket(inp: CommentInput, ctx: ActionContext) -> TicketOutput:
    """Add a comment (rendered from a template) to the case's ticket, once per run step."""
    body = ctx.templates.render(inp.template, ctx.variables)
    tickets = ctx.connectors.ticket
    key = f"{_ticket_key(ctx, inp.key)}:comment:{ctx.run_id}:{ctx.step_id}"

    async def commented() -> tuple[bool, dict[str, str]]:
        found = await tickets.find(inp.key)
        if found is None:
            return False, {}
        return ctx.ledger.recorded(key) or body in found.comments, {"ticket": found.id}

    async def write() -> None:
        found = await tickets.find(inp.key)
        if found is None:
            raise ActionError(f"no ticket for {inp.key} to comment on")
        await tickets.comment(found.id, body, inp.status)

    effect = await ctx.ledger.apply(
        key, step_id=ctx.step_id, action="ticket.comment", target=inp.key, is_done=commented, write=write
    )
    return TicketOutput(ticket=await tickets.find(inp.key), title=subject_of(body), body=body, effect=effect)
