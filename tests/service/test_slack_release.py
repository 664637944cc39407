"""Releasing containment from Slack, through POST /v1/slack/interactions on a real lab (OpenSSL CA, the nftables
file, the Squid list): the containment-outcome message carries a release field (Block Kit input block with
``dispatch_action``: https://docs.slack.dev/reference/block-kit/composition-objects/dispatch-action-configuration-object);
the reason typed comes back as a signed ``block_actions`` payload whose action is a ``plain_text_input``; the
release run's approval request is posted with its own buttons, and a second analyst's click takes the blocks
back. Refused, forged and replayed requests start nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pytest_httpx import HTTPXMock
from test_slack_interactions import (  # noqa: F401 (fixtures)
    ALICE,
    BOB,
    CAROL,
    MALLORY,
    RESPONSE_URL,
    click,
    client,
    client_for,
    config,
    config_file,
    interaction,
    post,
    pristine_lab,
    replies,
    signed,
    start_run,
)

from certsoar import api
from certsoar.config import Config, load_config
from certsoar.intake import load_alert
from certsoar.lab import lab_paths

pytestmark = pytest.mark.real

WEBHOOK = "https://hooks.slack.com/services/T0CAG/B0SOC/notarealwebhooksecret"


def typed(user: str, block_id: str, text: str) -> bytes:
    """The block_actions payload Slack sends when ``user`` types ``text`` into the release field and presses Enter."""
    return interaction(user, {"type": "plain_text_input", "block_id": block_id, "action_id": "release", "value": text})


def lists(root: Path) -> tuple[str, str]:
    nft = root / "firewall" / "certsoar.nft"
    squid = root / "proxy" / "rogue-certs.txt"
    elements = [line for line in (nft.read_text().splitlines() if nft.exists() else []) if line.startswith("\t\t\t")]
    fingerprints = [line for line in (squid.read_text().splitlines() if squid.exists() else []) if line[:1] != "#"]
    return "\n".join(elements), "\n".join(fingerprints)


def with_webhook(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> Config:  # noqa: F811
    """The lab's config with a Slack incoming webhook as its notifier."""
    monkeypatch.setenv("CERTSOAR_TEST_SLACK_WEBHOOK", WEBHOOK)
    raw = yaml.safe_load(config_file.read_text())
    raw["connectors"]["notify"] = [{"type": "slack", "webhook_url": "env:CERTSOAR_TEST_SLACK_WEBHOOK"}]
    config_file.write_text(yaml.safe_dump(raw))
    return load_config(config_file)


def sent(httpx_mock: HTTPXMock) -> list[dict[str, Any]]:
    return [json.loads(r.content) for r in httpx_mock.get_requests(url=WEBHOOK)]


def release_fields(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in message["blocks"] if b["type"] == "input" and b["block_id"].startswith("certsoar_release:")]


def approve_button(messages: list[dict[str, Any]], run_id: str) -> dict[str, Any]:
    [button] = [
        e
        for m in messages
        for b in m["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "approve" and e["value"] == run_id
    ]
    return button


async def test_release_in_slack_end_to_end(
    config_file: Path,  # noqa: F811
    httpx_mock: HTTPXMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = with_webhook(config_file, monkeypatch)  # noqa: F811
    root = config_file.parent
    httpx_mock.add_response(url=WEBHOOK, method="POST", text="ok", is_reusable=True)
    httpx_mock.add_response(url=RESPONSE_URL, method="POST", text="ok", is_reusable=True)
    before = lists(root)
    run = await api.run_playbook(
        config, "certificate-alert", load_alert(lab_paths(root).alerts["mimicry"].read_bytes())
    )
    assert all(release_fields(m) == [] for m in sent(httpx_mock))  # nothing contained yet: nothing to release
    async with client_for(config) as slack:
        body = click(BOB, "approve", approve_button(sent(httpx_mock), run["id"])["value"])
        assert (await post(slack, body, signed(body))).status_code == 200
        assert api.show_run(config, run["id"])["status"] == "completed"
        assert lists(root) != before
        [field] = [f for m in sent(httpx_mock) for f in release_fields(m)]  # on the outcome message only
        assert field["block_id"] == f"certsoar_release:{run['id']}" and field["dispatch_action"] is True
        assert "a revocation stays" in field["hint"]["text"]

        body = typed(ALICE, field["block_id"], "false positive: the red team's host")
        assert (await post(slack, body, signed(body))).status_code == 200
        release = api.release_of(config, run["id"])
        assert release is not None and release["status"] == "waiting_approval"
        asked = replies(httpx_mock)[-1]
        assert asked["response_type"] == "in_channel" and release["id"] in asked["text"] and "alice" in asked["text"]
        assert lists(root) != before  # nothing taken back before the approval

        button = approve_button(sent(httpx_mock), release["id"])  # its approval request, posted like any other
        assert button["confirm"]["title"]["text"] == "Approve release?"
        body = click(ALICE, "approve", button["value"])  # four eyes: who asked may not approve
        assert (await post(slack, body, signed(body))).status_code == 200
        assert "may not approve" in replies(httpx_mock)[-1]["text"]
        body = click(BOB, "approve", button["value"])
        assert (await post(slack, body, signed(body))).status_code == 200
    done = api.show_run(config, release["id"])
    assert done["status"] == "completed", done["error"]
    assert lists(root) == before
    assert api.show_run(config, run["id"])["released_by"] == release["id"]
    records = api.audit_trail(config, release["id"]).records
    assert any(r["event"] == "approval.approved" and f'"credential":"slack:{BOB}"' in r["data"] for r in records)


async def contained(config: Config, config_file: Path) -> str:  # noqa: F811
    run = start_run(config_file, "internal")
    await api.decide(config, run["id"], analyst="bob", decision="approved")
    return str(run["id"])


def refusals(config: Config) -> list[dict[str, Any]]:  # noqa: F811
    return [json.loads(r["data"]) for r in api.audit_trail(config).records if r["event"] == "slack.release_refused"]


@pytest.mark.parametrize(
    ("user", "case", "reason"),
    [
        (MALLORY, "contained", "no analyst"),
        (CAROL, "contained", "none of the roles that may ask for this release"),
        (ALICE, "denied", "the run was denied"),
        (ALICE, "unknown", "no run"),
    ],
    ids=["unknown-user", "without-role", "denied-run", "forged-run-id"],
)
async def test_refused_release_requests_start_nothing_and_say_why(
    client: httpx.AsyncClient,  # noqa: F811
    config: Config,  # noqa: F811
    config_file: Path,  # noqa: F811
    httpx_mock: HTTPXMock,
    user: str,
    case: str,
    reason: str,
) -> None:
    httpx_mock.add_response(url=RESPONSE_URL, method="POST", text="ok")
    if case == "contained":
        run_id = await contained(config, config_file)
    elif case == "denied":
        run_id = start_run(config_file, "internal")["id"]
        await api.decide(config, run_id, analyst="bob", decision="denied")
    else:
        run_id = "0123456789abcdef"
    body = typed(user, f"certsoar_release:{run_id}", "fp")
    assert (await post(client, body, signed(body))).status_code == 200
    [note] = replies(httpx_mock)
    assert note["response_type"] == "ephemeral" and reason in note["text"] and "nothing released" in note["text"]
    if case != "unknown":
        assert api.release_of(config, run_id) is None
    [refusal] = refusals(config)
    assert refusal["run"] == run_id and refusal["credential"] == f"slack:{user}" and reason in refusal["reason"]


async def test_forged_replayed_or_repeated_release_requests_make_at_most_one_release(
    client: httpx.AsyncClient,  # noqa: F811
    config: Config,  # noqa: F811
    config_file: Path,  # noqa: F811
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(url=RESPONSE_URL, method="POST", text="ok", is_reusable=True)
    run_id = await contained(config, config_file)
    body = typed(ALICE, f"certsoar_release:{run_id}", "fp")
    forged = signed(body, secret="not-the-signing-secret-at-all!!")
    assert (await post(client, body, forged)).status_code == 401
    stale = signed(body, at=int(time.time()) - 301)
    assert (await post(client, body, stale)).status_code == 401
    assert api.release_of(config, run_id) is None and replies(httpx_mock) == []

    headers = signed(body)
    assert (await post(client, body, headers)).status_code == 200
    replay = await post(client, body, headers)
    assert replay.status_code == 401 and "replayed" in replay.text
    release = api.release_of(config, run_id)
    assert release is not None
    again = typed(BOB, f"certsoar_release:{run_id}", "me too")  # another analyst, a fresh request
    assert (await post(client, again, signed(again))).status_code == 200
    first, second = replies(httpx_mock)
    assert first["response_type"] == "in_channel"
    assert second["response_type"] == "ephemeral" and f"`{release['id']}`" in second["text"]
    runs = [r for r in api.list_runs(config, 1000) if r["playbook"] == "certificate-release"]
    assert [r["id"] for r in runs] == [release["id"]]


def test_the_release_field_goes_only_on_a_releasable_message_with_a_public_url() -> None:
    from certsoar.connectors.notify import Message
    from certsoar.connectors.notify.slack import message_payload

    def kinds(message: Message, public_url: str | None = "https://certsoar.example") -> list[str]:
        return [b["type"] for b in message_payload(message, public_url)["blocks"]]

    outcome = Message(key="r:outcome", subject="s", body="b", run_id="r1", event="outcome/containment")
    assert kinds(outcome) == ["section"]  # a denied or dry run's outcome: nothing to release
    releasable = outcome.model_copy(update={"releasable": True})
    assert kinds(releasable) == ["section", "input"]
    assert kinds(releasable, None) == ["section"]  # Slack could not reach the service
    [field] = release_fields(message_payload(releasable, "https://certsoar.example"))
    assert field["block_id"] == "certsoar_release:r1" and field["element"]["max_length"] == 2000
    request = Message(key="r:approval", subject="s", body="b", run_id="r2", event="approval/release")
    assert approve_button([message_payload(request, "https://x.example")], "r2")["confirm"]["title"]["text"] == (
        "Approve release?"
    )


async def test_a_denied_runs_outcome_offers_no_release(
    config_file: Path,  # noqa: F811
    httpx_mock: HTTPXMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = with_webhook(config_file, monkeypatch)  # noqa: F811
    httpx_mock.add_response(url=WEBHOOK, method="POST", text="ok", is_reusable=True)
    alert = load_alert(lab_paths(config_file.parent).alerts["mimicry"].read_bytes())
    run = await api.run_playbook(config, "certificate-alert", alert)
    denied = await api.decide(config, run["id"], analyst="bob", decision="denied")
    assert denied["status"] == "denied"
    messages = sent(httpx_mock)
    assert any("Outcome" in m["text"] for m in messages)
    assert all(release_fields(m) == [] for m in messages)
