"""Releasing containment from the approval page, on a real lab run (OpenSSL CA, the nftables file, the Squid
list): the form on a contained run, what it cannot undo said before the click, CSRF and role refusals that start
nothing, a second analyst approving the release, two tabs making one release run, a hostile comment escaped,
and each reason a run cannot be released shown instead of the button."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest
from pagelab import PageLab, page_lab, pristine_page_lab  # noqa: F401 (fixtures)
from test_page import client, csrf_of, logged_in, page_app

from certsoar import api
from certsoar.config import Config, load_config
from certsoar.service.releasing import release_state

pytestmark = pytest.mark.real  # the lab needs openssl

RELEASE_PLAYBOOK = "certificate-release"


def lists(lab: PageLab) -> tuple[str, str]:
    """The nft ruleset's element lines and the Squid list's fingerprint lines."""
    nft = lab.root / "firewall" / "certsoar.nft"
    squid = lab.root / "proxy" / "rogue-certs.txt"
    elements = [line for line in (nft.read_text().splitlines() if nft.exists() else []) if line.startswith("\t\t\t")]
    fingerprints = [line for line in (squid.read_text().splitlines() if squid.exists() else []) if line[:1] != "#"]
    return "\n".join(elements), "\n".join(fingerprints)


def release_runs(lab: PageLab) -> list[dict[str, object]]:
    return [r for r in api.list_runs(load_config(lab.config), 1000) if r["playbook"] == RELEASE_PLAYBOOK]


async def contained_run(lab: PageLab, http: httpx.AsyncClient, alert: str = "internal") -> tuple[str, str]:
    """A lab run alice approved on the page, its containment done. Returns its id and alice's CSRF token."""
    run_id = lab.waiting_run(alert)
    token = await logged_in(http, "alice")
    done = await http.post(f"/approvals/runs/{run_id}/decide", data={"decision": "approved", "csrf": token})
    assert done.status_code == 303, done.text
    assert api.show_run(load_config(lab.config), run_id)["status"] == "completed"
    return run_id, token


def release_form(html: str) -> bool:
    return 'id="release-button"' in html and re.search(r'action="/approvals/runs/\w+/release"', html) is not None


async def test_release_from_the_page_then_a_second_analyst_approves_and_the_lists_are_back(
    page_lab: PageLab,  # noqa: F811
) -> None:
    before = lists(page_lab)
    app = page_app(page_lab)
    async with client(app) as alice, client(app) as dave:
        run_id, token = await contained_run(page_lab, alice)
        assert lists(page_lab) != before
        shown = (await alice.get(f"/approvals/runs/{run_id}")).text
        assert release_form(shown)
        # what the release cannot undo is on the page before the click
        assert "A release cannot undo" in shown and "serial 1002 stays revoked (keyCompromise)" in shown

        asked = await alice.post(f"/approvals/runs/{run_id}/release", data={"comment": "pentest PT-3", "csrf": token})
        assert asked.status_code == 303, asked.text
        [release] = release_runs(page_lab)
        assert asked.headers["location"] == f"/approvals/runs/{release['id']}"
        page = (await alice.get(asked.headers["location"])).text
        assert 'id="status">waiting_approval' in page and "Unblock server" in page and "pentest PT-3" in page
        assert 'id="plan"' not in page and 'id="approve"' in page  # its approval, not a containment plan
        assert lists(page_lab) != before  # nothing taken back before the approval
        shown = (await alice.get(f"/approvals/runs/{run_id}")).text
        assert not release_form(shown) and f"release run {release['id']} is waiting_approval" in shown

        # four eyes: alice asked, so she may not approve; dave (soc-tier2) may
        own = await alice.post(f"/approvals/runs/{release['id']}/decide", data={"decision": "approved", "csrf": token})
        assert own.status_code == 403 and "may not approve" in own.text
        dave_token = await logged_in(dave, "dave")
        approved = await dave.post(
            f"/approvals/runs/{release['id']}/decide", data={"decision": "approved", "csrf": dave_token}
        )
        assert approved.status_code == 303, approved.text
        page = (await dave.get(approved.headers["location"])).text
    assert 'id="status">completed' in page and "NOT verified" not in page
    assert page.count('class="yes verified"') == 2  # the firewall and the proxy, each read back
    assert lists(page_lab) == before
    config = load_config(page_lab.config)
    assert api.show_run(config, run_id)["released_by"] == release["id"]
    records = api.audit_trail(config, str(release["id"])).records
    assert any(r["event"] == "approval.approved" and '"credential":"page:dave"' in r["data"] for r in records)


async def test_two_tabs_releasing_at_once_make_one_release_run(page_lab: PageLab) -> None:  # noqa: F811
    app = page_app(page_lab)
    async with client(app) as tab:
        run_id, token = await contained_run(page_lab, tab)
        async with client(app) as other_tab:
            other_token = await logged_in(other_tab, "alice")
            first, second = await asyncio.gather(
                tab.post(f"/approvals/runs/{run_id}/release", data={"comment": "fp", "csrf": token}),
                other_tab.post(f"/approvals/runs/{run_id}/release", data={"comment": "fp too", "csrf": other_token}),
            )
            again = await tab.post(f"/approvals/runs/{run_id}/release", data={"comment": "fp", "csrf": token})
    [release] = release_runs(page_lab)
    for answer in (first, second, again):
        assert answer.status_code == 303 and answer.headers["location"] == f"/approvals/runs/{release['id']}"


async def test_a_release_without_the_csrf_token_or_from_a_session_without_the_role_starts_nothing(
    page_lab: PageLab,  # noqa: F811
) -> None:
    app = page_app(page_lab)
    async with client(app) as alice, client(app) as bob:
        run_id, token = await contained_run(page_lab, alice)
        for form in ({"comment": "fp"}, {"comment": "fp", "csrf": ""}, {"comment": "fp", "csrf": token + "x"}):
            refused = await alice.post(f"/approvals/runs/{run_id}/release", data=form)
            assert refused.status_code == 403 and "CSRF" in refused.text and "nothing was released" in refused.text
        empty = await alice.post(f"/approvals/runs/{run_id}/release", data={"comment": "  ", "csrf": token})
        assert empty.status_code == 400 and "comment" in empty.text

        bob_token = await logged_in(bob, "bob")  # soc-tier1: not a role the run's gate accepts
        shown = (await bob.get(f"/approvals/runs/{run_id}")).text
        assert not release_form(shown) and "none of the roles that may ask for this release (soc-tier2)" in shown
        refused = await bob.post(f"/approvals/runs/{run_id}/release", data={"comment": "fp", "csrf": bob_token})
        assert refused.status_code == 403 and "bob has none of the roles" in refused.text

        async with client(app) as anonymous:  # not logged in: its own CSRF token is no authority
            anon_token = csrf_of((await anonymous.get("/approvals")).text)
            refused = await anonymous.post(
                f"/approvals/runs/{run_id}/release", data={"comment": "fp", "csrf": anon_token}
            )
            assert refused.status_code == 403 and "not logged in" in refused.text
    assert release_runs(page_lab) == []
    records = api.audit_trail(load_config(page_lab.config)).records
    assert sum(r["event"] == "page.release_refused" for r in records) == 5


async def test_a_hostile_release_comment_is_escaped_on_the_release_page(page_lab: PageLab) -> None:  # noqa: F811
    app = page_app(page_lab)
    async with client(app) as alice:
        run_id, token = await contained_run(page_lab, alice)
        comment = '<script>alert(1)</script>"><img src=x> \u202e{{ 7*7 }}'
        asked = await alice.post(f"/approvals/runs/{run_id}/release", data={"comment": comment, "csrf": token})
        assert asked.status_code == 303
        page = (await alice.get(asked.headers["location"])).text
    assert "<script>" not in page and "<img" not in page and "\u202e" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "\\u202e{{ 7*7 }}" in page


async def test_runs_that_cannot_be_released_say_why_instead_of_the_button(
    page_lab: PageLab,  # noqa: F811
) -> None:
    app = page_app(page_lab)
    async with client(app) as alice:
        denied = page_lab.waiting_run("mimicry")
        token = await logged_in(alice, "alice")
        waiting = (await alice.get(f"/approvals/runs/{denied}")).text
        assert not release_form(waiting) and 'id="release"' not in waiting  # not decided yet: no release card
        await alice.post(f"/approvals/runs/{denied}/decide", data={"decision": "denied", "csrf": token})
        shown = (await alice.get(f"/approvals/runs/{denied}")).text
        assert not release_form(shown) and "the run was denied: nothing was contained" in shown
        refused = await alice.post(f"/approvals/runs/{denied}/release", data={"comment": "fp", "csrf": token})
        assert refused.status_code == 409 and "denied" in refused.text

        contained, token = await contained_run(page_lab, alice)
        asked = await alice.post(f"/approvals/runs/{contained}/release", data={"comment": "fp", "csrf": token})
        release_id = asked.headers["location"].rsplit("/", 1)[1]
        shown = (await alice.get(asked.headers["location"])).text
        assert not release_form(shown) and 'id="release"' not in shown  # a release run is not released itself
        config = load_config(page_lab.config)
        await api.decide(config, release_id, analyst="dave", decision="approved")
        shown = (await alice.get(f"/approvals/runs/{contained}")).text
        assert not release_form(shown) and f"release run {release_id} already took this containment back" in shown
    assert len(release_runs(page_lab)) == 1


async def test_a_run_that_contained_nothing_shows_why(page_lab: PageLab) -> None:  # noqa: F811
    """The lab's intranet certificate (the internal CA, a name of ours): no rule fires, the run completes without
    a gate and contains nothing."""
    alert = json.loads((page_lab.root / "alerts" / "mimicry.json").read_text(encoding="utf-8"))
    alert["id"] = "benign-" + alert["id"]
    alert["certificate_pem"] = (page_lab.root / "certs" / "intranet.corp.example.pem").read_text(encoding="utf-8")
    path = page_lab.root / "alerts" / "benign.json"
    path.write_text(json.dumps(alert), encoding="utf-8")
    run = json.loads(page_lab.certsoar("run", "certificate-alert", "--alert", str(path), "--json"))
    assert run["status"] == "completed" and run["approval"] is None, run
    async with client(page_app(page_lab)) as alice:
        await logged_in(alice, "alice")
        shown = (await alice.get(f"/approvals/runs/{run['id']}")).text
    assert not release_form(shown) and "Not offered: nothing was contained" in shown


def test_a_dry_run_is_not_released(tmp_path: Path) -> None:
    """A dry run is refused from its run object alone, before the store is asked anything."""
    dry = {"id": "d", "playbook": "certificate-alert", "dry_run": True}
    assert release_state(Config.model_validate({"state_dir": str(tmp_path)}), dry).refusal == (
        "run d was a dry run: it contained nothing"
    )
