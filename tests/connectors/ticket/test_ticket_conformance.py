"""What every ticket connector must do, against the vendor behind it (``ticket_vendor``, ticket_vendors.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from ticket_vendors import TicketVendor

from certsoar.actions.ticket import CloseInput, OpenInput, close_ticket, open_ticket
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors.ticket import ENDED, Ticketing
from certsoar.context import ActionContext
from certsoar.errors import ConnectorRejected, ConnectorUnavailable
from certsoar.escaping import visible
from certsoar.ledger import EffectLedger
from certsoar.store import RunStore
from certsoar.templating import Templates

LOCAL = pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
HTTP = pytest.mark.ticket_http
KEY = "3f1d2c5a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817060504"
OTHER_KEY = "aa" * 32
TITLE = "Rogue certificate CN=login.example.com"
BODY = "Self-signed certificate imitating DigiCert.\nServers: 203.0.113.7"
HOSTILE_TITLE = "*urgent* [~admin] @channel {{ 7*7 }} <b>x</b> [click|https://evil.example]"
HOSTILE = (
    "h1. Heading\n* item\n{noformat}{code}[~admin] [~accountid:5b10a2844c20165700ede21g] @here <@U024BE7LH>\n"
    "[phish|https://evil.example] !https://evil.example/x.png! {color:red}red{color} ||a||b||\n"
    "<script>alert(1)</script> {{ 7*7 }} {% raw %} \\\\ \\* \x1b[31mred\x1b[0m \x00 end"
)


def shown_as_text(shown: str, sent: str) -> bool:
    """The vendor shows ``sent`` as the very text (control characters may be shown as visible marks)."""
    return shown in (sent, visible(sent, keep_newlines=True))


async def test_the_connector_is_a_ticketing_and_finds_nothing_yet(ticket_vendor: TicketVendor) -> None:
    tickets = ticket_vendor.build()
    assert isinstance(tickets, Ticketing)
    assert await tickets.find(KEY) is None
    assert ticket_vendor.held() == []


async def test_open_makes_one_ticket_the_vendor_holds(ticket_vendor: TicketVendor) -> None:
    tickets = ticket_vendor.build()
    ticket = await tickets.open(KEY, TITLE, BODY, "high")
    assert ticket.key == KEY and ticket.status == "open" and ticket.title == TITLE
    [held] = ticket_vendor.held()
    assert held.id == ticket.id and "open" in held.statuses
    assert held.texts[0] == TITLE and BODY in held.texts[1]
    assert await tickets.find(KEY) == ticket
    assert await tickets.find(OTHER_KEY) is None


async def test_open_twice_with_one_key_makes_one_ticket_and_returns_it_unchanged(ticket_vendor: TicketVendor) -> None:
    tickets = ticket_vendor.build()
    first = await tickets.open(KEY, TITLE, BODY, "high")
    after_first = ticket_vendor.state()
    again = await ticket_vendor.build().open(KEY, "Another title", "another body", "critical")  # a second process
    assert again == first
    assert ticket_vendor.state() == after_first
    assert [h.id for h in ticket_vendor.held()] == [first.id]


async def test_two_keys_make_two_tickets(ticket_vendor: TicketVendor) -> None:
    tickets = ticket_vendor.build()
    one = await tickets.open(KEY, TITLE, BODY, "high")
    two = await tickets.open(OTHER_KEY, TITLE, BODY, "low")
    assert one.id != two.id
    assert (await tickets.find(KEY), await tickets.find(OTHER_KEY)) == (one, two)
    assert len(ticket_vendor.held()) == 2


async def test_a_comment_with_a_status_moves_the_ticket(ticket_vendor: TicketVendor) -> None:
    tickets = ticket_vendor.build()
    opened = await tickets.open(KEY, TITLE, BODY, "high")
    noted = await tickets.comment(opened.id, "Approved by alice; blocking.")
    assert noted.status == "open" and noted.comments[-1:] == ["Approved by alice; blocking."]
    moved = await tickets.comment(opened.id, "Contained: 203.0.113.7 blocked and verified.", "contained")
    assert moved.id == opened.id and moved.status == "contained"
    assert moved.comments[-2:] == ["Approved by alice; blocking.", "Contained: 203.0.113.7 blocked and verified."]
    [held] = ticket_vendor.held()
    assert "contained" in held.statuses
    assert held.texts[-2:] == ["Approved by alice; blocking.", "Contained: 203.0.113.7 blocked and verified."]
    assert await tickets.find(KEY) == moved


async def test_close_with_a_resolution_ends_the_case(ticket_vendor: TicketVendor) -> None:
    tickets = ticket_vendor.build()
    opened = await tickets.open(KEY, TITLE, BODY, "high")
    await tickets.comment(opened.id, "Contained.", "contained")
    released = await tickets.close(opened.id, "Released by bob: a false positive.", "released")
    assert released.status == "released" and released.status in ENDED
    assert released.comments[-1] == "Released by bob: a false positive."
    [held] = ticket_vendor.held()
    assert "released" in held.statuses and held.texts[-1] == "Released by bob: a false positive."

    other = await tickets.open(OTHER_KEY, TITLE, BODY, "low")
    closed = await tickets.close(other.id, "Denied by carol: the lab's own test server.")
    assert closed.status == "closed"


async def test_open_after_the_case_ended_returns_that_ticket_for_the_caller_to_reopen(
    ticket_vendor: TicketVendor,
) -> None:
    """One ticket per certificate (connectors/ticket/__init__.py): ``open`` of a key whose case ended returns
    the ended ticket, never a second one; ``comment(status="open")`` reopens it (what ticket.open does)."""
    tickets = ticket_vendor.build()
    opened = await tickets.open(KEY, TITLE, BODY, "high")
    await tickets.close(opened.id, "Denied.")
    after_close = ticket_vendor.state()
    again = await tickets.open(KEY, TITLE, "a new alert", "high")
    assert again.id == opened.id and again.status == "closed"
    assert ticket_vendor.state() == after_close
    reopened = await tickets.comment(again.id, "Reopened by run r2: a new alert.", "open")
    assert reopened.status == "open" and reopened.id == opened.id
    [held] = ticket_vendor.held()
    assert held.id == opened.id and "open" in held.statuses
    assert await tickets.open(KEY, TITLE, BODY, "high") == reopened


async def test_a_comment_on_a_ticket_that_does_not_exist_is_rejected(ticket_vendor: TicketVendor) -> None:
    tickets = ticket_vendor.build()
    await tickets.open(KEY, TITLE, BODY, "high")
    before = ticket_vendor.state()
    with pytest.raises(ConnectorRejected):
        await tickets.comment(ticket_vendor.unknown_id, "hello", "contained")
    assert ticket_vendor.state() == before


async def test_hostile_text_is_stored_as_text_never_interpreted(ticket_vendor: TicketVendor) -> None:
    tickets = ticket_vendor.build()
    opened = await tickets.open(KEY, HOSTILE_TITLE, HOSTILE, "high")
    await tickets.comment(opened.id, HOSTILE, "contained")
    await tickets.close(opened.id, HOSTILE, "released")
    [held] = ticket_vendor.held()
    assert held.texts[0] == HOSTILE_TITLE
    assert len(held.texts) == 4
    assert all(shown_as_text(text, HOSTILE) for text in held.texts[1:]), held.texts
    found = await tickets.find(KEY)
    assert found is not None and found.title == HOSTILE_TITLE and found.status == "released"


def context(tmp_path: Path, tickets: Ticketing, run_id: str, ledger: RunStore) -> ActionContext:
    templates = tmp_path / "templates"
    (templates / "case").mkdir(parents=True, exist_ok=True)
    (templates / "case" / "open.md.j2").write_text("Rogue certificate {{ vars.cn }}\nSeen on {{ vars.server }}.\n")
    (templates / "case" / "end.md.j2").write_text("Released by {{ vars.analyst }}.\n")
    config = Config.model_validate({"state_dir": str(tmp_path / "state"), "config_dir": tmp_path})
    return ActionContext(
        run_id=run_id,
        step_id="ticket",
        dry_run=False,
        now=datetime.now(timezone.utc),
        config=config,
        connectors=Connections(config, overrides={"ticket": {"tickets": tickets}}),
        ledger=EffectLedger(ledger, ledger, run_id, dry_run=False),
        templates=Templates([templates]),
        variables={"vars": {"cn": "login.example.com", "server": "203.0.113.7", "analyst": "bob"}},
    )


async def test_the_ticket_actions_open_once_and_reopen_an_ended_case(
    ticket_vendor: TicketVendor, tmp_path: Path
) -> None:
    """Runs with ledgers of their own (two hosts, or a ledger lost): only the connector keeps them one ticket."""
    opening = OpenInput(key=KEY, template="case/open.md.j2", severity="high")
    first = await open_ticket(opening, context(tmp_path, ticket_vendor.build(), "r1", RunStore(tmp_path / "a.db")))
    assert first.effect.changed and first.effect.verified and first.ticket is not None
    assert first.ticket.title == "Rogue certificate login.example.com"
    second = await open_ticket(opening, context(tmp_path, ticket_vendor.build(), "r2", RunStore(tmp_path / "b.db")))
    assert not second.effect.changed and second.ticket == first.ticket and second.reopened is None

    ending = CloseInput(key=KEY, template="case/end.md.j2", resolution="released")
    ended = await close_ticket(ending, context(tmp_path, ticket_vendor.build(), "rel", RunStore(tmp_path / "a.db")))
    assert ended.effect.changed and ended.ticket is not None and ended.ticket.status == "released"

    third = await open_ticket(opening, context(tmp_path, ticket_vendor.build(), "r3", RunStore(tmp_path / "c.db")))
    assert not third.effect.changed and third.reopened is not None and third.reopened.changed
    assert third.ticket is not None and third.ticket.id == first.ticket.id and third.ticket.status == "open"
    [held] = ticket_vendor.held()
    assert "open" in held.statuses and held.texts[-1].startswith("Reopened by run r3")


# ------------------------------------------------------------------------ the HTTP layer (HTTP vendors only)


@HTTP
async def test_401_is_rejected_at_once_naming_the_credentials(ticket_vendor: TicketVendor) -> None:
    tickets = ticket_vendor.build()
    ticket_vendor.fake.inject(401, errors=["Client must be authenticated to access this resource."])
    with pytest.raises(ConnectorRejected, match="authentication failed"):
        await tickets.open(KEY, TITLE, BODY, "high")
    assert len(ticket_vendor.fake.requests) == 1  # a refusal is never tried again
    assert ticket_vendor.held() == []


@HTTP
async def test_429_then_200_is_waited_out(ticket_vendor: TicketVendor) -> None:
    tickets = ticket_vendor.build()
    ticket_vendor.fake.inject(429, headers={"Retry-After": "1"}, errors=["Rate limit exceeded."])
    started = time.monotonic()
    ticket = await tickets.open(KEY, TITLE, BODY, "high")
    assert time.monotonic() - started >= 1.0
    assert [h.id for h in ticket_vendor.held()] == [ticket.id]


@HTTP
async def test_500_forever_is_unavailable_after_the_attempts(ticket_vendor: TicketVendor) -> None:
    tickets = ticket_vendor.build(attempts=3)
    ticket_vendor.fake.inject(500, times=10, errors=["Internal server error"])
    with pytest.raises(ConnectorUnavailable, match="HTTP 500.*after 3 attempts"):
        await tickets.open(KEY, TITLE, BODY, "high")
    assert len(ticket_vendor.fake.requests) == 3
    assert ticket_vendor.held() == []


@HTTP
@LOCAL
async def test_a_silent_server_times_out_instead_of_hanging(ticket_vendor: TicketVendor, silent_server: str) -> None:
    tickets = ticket_vendor.build(url=silent_server, read_timeout=0.3, attempts=2)
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable, match="ReadTimeout.*after 2 attempts"):
        await asyncio.wait_for(tickets.find(KEY), timeout=10)
    assert time.monotonic() - started < 3


@HTTP
async def test_secrets_are_absent_from_logs_errors_results_and_tickets(
    ticket_vendor: TicketVendor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tickets = ticket_vendor.build(attempts=2)
    opened = await tickets.open(KEY, TITLE, BODY, "high")
    results = [opened, await tickets.comment(opened.id, "Contained.", "contained")]
    results.append(await tickets.close(opened.id, "Released.", "released"))
    errors: list[str] = []
    for status in (401, 400, 500):
        for secret in ticket_vendor.secrets:
            ticket_vendor.fake.inject(status, times=2, errors=[f"token {secret} refused"])
            with pytest.raises((ConnectorRejected, ConnectorUnavailable)) as caught:
                await tickets.comment(opened.id, "again")
            errors.append(str(caught.value))
    logged = [r.getMessage() for r in caplog.records]
    requests = [line for line in logged if ticket_vendor.fake.url in line and "-> HTTP" in line]
    assert len(requests) >= 6, "requests are logged at debug"
    assert all("***" in line for line in requests), "the credential in logged requests is blanked"
    captured = [*logged, *errors, *(r.model_dump_json() for r in results), repr(tickets), repr(vars(tickets))]
    captured += [text for held in ticket_vendor.held() for text in held.texts]
    for secret in ticket_vendor.secrets:
        assert not any(secret in text for text in captured)
    assert all("***" in e for e in errors)
