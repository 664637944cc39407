"""Notification channels: deliver a rendered message."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from certsoar.templating import subject_of


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str = Field(
        description="Stable identity of this message (run id + step id); a channel may use it to deduplicate."
    )
    subject: str
    body: str
    format: str = Field(default="md", description="md, mrkdwn, txt or html, taken from the template name.")
    run_id: str | None = Field(default=None, description="The run the message is about.")
    event: str | None = Field(
        default=None, description="What it announces: the template's path without its format (approval/request)."
    )
    mrkdwn: str | None = Field(
        default=None,
        description="The same notification rendered from the template's .mrkdwn.j2 sibling, when there is one "
        "(Slack); escaped for mrkdwn by the template layer like any rendering.",
    )
    text: str | None = Field(
        default=None,
        description="The same template rendered as plain text (values shown, not escaped for Markdown), for "
        "channels that show text as it is (Teams, the plain part of an email).",
    )
    html: str | None = Field(
        default=None, description="The same template rendered with every value escaped for HTML (email)."
    )

    @property
    def plain_body(self) -> str:
        """What a channel that interprets no markup shows: the plain-text rendering, else the body."""
        return self.text if self.text is not None else self.body

    @property
    def plain_subject(self) -> str:
        return subject_of(self.text) if self.text is not None else self.subject

    releasable: bool = Field(
        default=False,
        description="The message announces containment done and verified, which a release may take back (Slack "
        "then offers its release field).",
    )


@runtime_checkable
class Notifier(Protocol):
    async def send(self, message: Message) -> str:
        """Deliver and return where it went (a path, a message id)."""
        ...
