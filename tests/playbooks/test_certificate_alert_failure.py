"""The shipped certificate-alert's on_failure steps (issue 12): when a containment step fails after the approval,
the ticket is moved to partially-contained exactly when the run put some containment in place (as its ledger
holds it: a step cancelled by a failing sibling may have made its change), and is commented only when the run
approved containment and has a ticket."""

from __future__ import annotations

from typing import Any

import pytest

from certsoar.expressions import evaluate, truthy
from certsoar.playbook import find_playbook, load_playbook

BOOK = load_playbook(find_playbook("certificate-alert"))
[TICKET, NOTIFY] = BOOK.on_failure
TICKET_OPENED = {"action": "ticket.open", "target": "abc", "step": "ticket", "verified": True}


def _failed(*effects: dict[str, Any]) -> dict[str, Any]:
    steps = {"approval": {"approved": True}, "ticket": {"ticket": {"key": "abc", "id": "CS-1"}}}
    failure = {"error": "step block_cert failed: x", "steps": {"block_cert": "x"}, "effects": list(effects)}
    return {"steps": steps, "run": {"failure": failure}}


def _effect(action: str, target: str, step: str) -> dict[str, Any]:
    return {"action": action, "target": target, "step": step, "verified": True}


@pytest.mark.parametrize(
    ("effects", "status"),
    [
        ([TICKET_OPENED, _effect("ca.revoke", "1002", "revoke")], "partially-contained"),
        ([_effect("firewall.block", "198.51.100.23", "block_servers")], "partially-contained"),  # even if cancelled
        ([_effect("proxy.block_certificate", "d3" * 20, "block_cert")], "partially-contained"),
        ([TICKET_OPENED], None),  # nothing of the containment in place: the ticket stays open, with the comment
        ([], None),
    ],
)
def test_the_ticket_is_partially_contained_only_when_some_containment_is_in_place(
    effects: list[dict[str, Any]], status: str | None
) -> None:
    context = _failed(*effects)
    assert truthy(TICKET.when, context)
    assert evaluate(TICKET.with_["status"], context) == status
    assert evaluate(TICKET.with_["key"], context) == "abc"


def test_nothing_is_said_when_containment_was_not_approved_or_there_is_no_ticket() -> None:
    assert not truthy(TICKET.when, {"steps": {"cert": {}}})  # failed before any approval
    assert not truthy(TICKET.when, {"steps": {"approval": {"approved": False}, "ticket": {"ticket": {"key": "a"}}}})
    assert not truthy(TICKET.when, {"steps": {"approval": {"approved": True}, "ticket": {"ticket": None}}})
    assert not truthy(NOTIFY.when, {"steps": {"approval": {"approved": False}}})
