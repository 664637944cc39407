"""notify.send: render a template and deliver it through every configured notifier."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from certsoar.connectors.notify import Message
from certsoar.context import ActionContext
from certsoar.ledger import CONTAINMENT_ACTIONS, Effect
from certsoar.registry import action
from certsoar.templating import format_of, subject_of

RELEASABLE_EVENTS = ("outcome/containment",)


def _contained(ctx: ActionContext) -> bool:
    """This run's containment is done and verified (a dry run's is only planned)."""
    if ctx.dry_run:
        return False
    effects = ctx.ledger.effects.run_effects(ctx.run_id)
    return any(e.action in CONTAINMENT_ACTIONS and e.verified and not e.planned for e in effects)


class NotifyInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = Field(description="Template path under templates/, e.g. l1/summary.md.j2.")


class NotifyOutput(BaseModel):
    template: str
    subject: str
    body: str
    sent_to: list[str] = Field(description="Where each notifier delivered it (empty in a dry run).")
    effects: list[Effect]


@action("notify.send", mutates=True, reversible=False)
async def send(inp: NotifyInput, ctx: ActionContext) -> NotifyOutput:
    """Render a notification template with the run's context and send it to every notifier, once."""
    body = ctx.templates.render(inp.template, ctx.variables)
    fmt = format_of(inp.template)
    event = inp.template.removesuffix(f".{fmt}.j2")
    sibling = f"{event}.mrkdwn.j2"
    mrkdwn = body if fmt == "mrkdwn" else None
    if mrkdwn is None and ctx.templates.exists(sibling):
        mrkdwn = ctx.templates.render(sibling, ctx.variables)
    message = Message(
        key=f"{ctx.run_id}:{ctx.step_id}",
        subject=subject_of(body),
        body=body,
        format=fmt,
        run_id=ctx.run_id,
        event=event,
        mrkdwn=mrkdwn,
        text=ctx.templates.render(inp.template, ctx.variables, escaped_for="txt"),
        html=ctx.templates.render(inp.template, ctx.variables, escaped_for="html"),
        releasable=event in RELEASABLE_EVENTS and _contained(ctx),
    )
    sent_to: list[str] = []
    effects: list[Effect] = []
    for instance, notifier in ctx.connectors.notify:
        key = f"notify:{instance}:{ctx.run_id}:{ctx.step_id}"
        where: list[str] = []

        async def already_sent(key: str = key, where: list[str] = where) -> tuple[bool, dict[str, str]]:
            return ctx.ledger.recorded(key) or bool(where), {"to": where[0]} if where else {}

        async def deliver(notifier: object = notifier, where: list[str] = where) -> None:
            where.append(await notifier.send(message))  # type: ignore[attr-defined]

        effect = await ctx.ledger.apply(
            key, step_id=ctx.step_id, action="notify.send", target=message.subject, is_done=already_sent, write=deliver
        )
        effects.append(effect)
        sent_to.extend(where)
    return NotifyOutput(template=inp.template, subject=message.subject, body=body, sent_to=sent_to, effects=effects)
