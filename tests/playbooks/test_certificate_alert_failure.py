"""The shipped certificate-alert's on_failure steps (issue 12): when a containment step fails after the approval,
the ticket is moved to partially-contained exactly when some containment step completed, and is commented
only when the run approved containment and has a ticket."""

from __future__ import annotations

from typing import Any

import pytest

from certsoar.expressions import evaluate, truthy
from certsoar.playbook import find_playbook, load_playbook

BOOK = load_playbook(find_playbook("certificate-alert"))
[TICKET, NOTIFY] = BOOK.on_failure
DONE = {"effect": {"key": "k", "changed": True, "verified": True}}


def _steps(**outputs: Any) -> dict[str, Any]:
    base = {"approval": {"approved": True}, "ticket": {"ticket": {"key": "abc", "id": "CS-1"}}}
    return {"steps": {**base, **outputs}, "run": {"failure": {"error": "step block_cert failed: x", "steps": {}}}}


@pytest.mark.parametrize(
    ("outputs", "status"),
    [
        ({"revoke": DONE, "block_servers": None, "block_cert": None}, "partially-contained"),
        ({"revoke": {"skipped": True}, "block_servers": DONE, "block_cert": None}, "partially-contained"),
        ({"revoke": {"skipped": True}, "block_servers": None, "block_cert": None}, None),
        ({"revoke": None, "block_servers": {"failed": True, "error": "e"}, "block_cert": None}, None),
        ({"block_cert": None}, None),  # the others never journaled
    ],
)
def test_the_ticket_is_partially_contained_only_when_some_containment_completed(
    outputs: dict[str, Any], status: str | None
) -> None:
    context = _steps(**outputs)
    assert truthy(TICKET.when, context)
    assert evaluate(TICKET.with_["status"], context) == status
    assert evaluate(TICKET.with_["key"], context) == "abc"


def test_nothing_is_said_when_containment_was_not_approved_or_there_is_no_ticket() -> None:
    assert not truthy(TICKET.when, {"steps": {"cert": {}}})  # failed before any approval
    assert not truthy(TICKET.when, {"steps": {"approval": {"approved": False}, "ticket": {"ticket": {"key": "a"}}}})
    assert not truthy(TICKET.when, {"steps": {"approval": {"approved": True}, "ticket": {"ticket": None}}})
    assert not truthy(NOTIFY.when, {"steps": {"approval": {"approved": False}}})
