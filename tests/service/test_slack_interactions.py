"""POST /v1/slack/interactions on a real lab: signed clicks decide real runs waiting for approval.

The run is started by the real CLI (`certsoar run --config`) against the bundled lab (a real OpenSSL CA,
the nftables file, the Squid list); the router is mounted on its own FastAPI app with the config on
``app.state.config``, as the service does. The POST to ``response_url`` is intercepted by pytest-httpx;
the interaction payloads follow Slack's documented ``block_actions`` payload
(https://api.slack.com/reference/interaction-payloads/block-actions: type, user.id, actions[].action_id /
value, response_url) and the signature Slack's "Verifying requests from Slack"
(https://api.slack.com/authentication/verifying-requests-from-slack: v0 HMAC-SHA256 over
``v0:{timestamp}:{body}``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import yaml
from fastapi import FastAPI
from pytest_httpx import HTTPXMock
from realcomponents import require_tool

from certsoar import api
from certsoar.config import Config, SlackService, load_config
from certsoar.lab import ensure_lab, lab_paths
from certsoar.service.slack import router

pytestmark = pytest.mark.real

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the example secret of Slack's verification guide
SECRET_ENV = "CERTSOAR_TEST_SLACK_SIGNING_SECRET"
RESPONSE_URL = "https://hooks.slack.com/actions/T0CAG/1234567890/abcdefghijklmnopqrstuvwx"
ALICE, BOB, CAROL, MALLORY = "U0ALICE01", "U0BOB0002", "U0CAROL03", "U0MALLORY"


@pytest.fixture(scope="module")
def pristine_lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("openssl")
    state = tmp_path_factory.mktemp("slack-lab")
    ensure_lab(state)
    return state


@pytest.fixture
def config_file(pristine_lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    shutil.copytree(pristine_lab, state)
    lab = lab_paths(state / "lab")
    raw = yaml.safe_load(lab.config.read_text())
    raw["analysts"]["alice"]["slack_user"] = ALICE
    raw["analysts"]["bob"]["slack_user"] = BOB
    raw["analysts"]["carol"]["slack_user"] = CAROL
    raw["service"] = {"public_url": "https://certsoar.example", "slack": {"signing_secret": f"env:{SECRET_ENV}"}}
    path = lab.config.with_name("config-slack.yaml")
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return path


@pytest.fixture
def config(config_file: Path) -> Config:
    return load_config(config_file)


def client_for(config: Config) -> httpx.AsyncClient:
    """The router on its own app, as the service mounts it; the background task (the decision and the
    response_url POST) has finished when the call returns."""
    app = FastAPI()
    app.state.config = config
    app.include_router(router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://certsoar.test")


@pytest.fixture
async def client(config: Config) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(config) as c:
        yield c


def start_run(
    config_file: Path, alert: str, requester: str | None = None, playbook: str = "certificate-alert"
) -> dict[str, Any]:
    lab = lab_paths(config_file.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSOAR_")}
    args = [sys.executable, "-m", "certsoar", "run", playbook, "--alert", str(lab.alerts[alert])]
    args += ["--config", str(config_file), "--json"] + (["--as", requester] if requester else [])
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    run: dict[str, Any] = json.loads(done.stdout)
    assert run["status"] == "waiting_approval"
    return run


def interaction(user: str, action: dict[str, Any]) -> bytes:
    """The form body of Slack's block_actions payload for ``user``'s ``action``."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": "T0CAG"},
        "team": {"id": "T0CAG", "domain": "acme"},
        "api_app_id": "A0CA5",
        "trigger_id": "12466734323.1395872398",
        "response_url": RESPONSE_URL,
        "container": {"type": "message", "message_ts": "1548261231.000200", "channel_id": "C0CA5"},
        "actions": [{**action, "action_ts": "1548426417.840180"}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def click(user: str, action: str, run_id: str) -> bytes:
    button = {"type": "button", "action_id": action, "block_id": "certsoar_decision", "value": run_id}
    return interaction(user, {**button, "text": {"type": "plain_text", "text": action.title()}})


def signed(body: bytes, *, at: int | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(time.time()) if at is None else at)
    mac = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={mac}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def post(client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/v1/slack/interactions", content=body, headers=headers)


def replies(httpx_mock: HTTPXMock) -> list[dict[str, Any]]:
    return [json.loads(r.content) for r in httpx_mock.get_requests(url=RESPONSE_URL)]


def slack_decisions(config: Config, run_id: str) -> list[dict[str, Any]]:
    records = api.audit_trail(config, run_id).records
    return [json.loads(r["data"]) | {"event": r["event"]} for r in records if r["event"].startswith("approval.")]


def test_slack_signature_matches_slacks_documented_example() -> None:
    """The worked example of Slack's verification guide: our HMAC gives its signature."""
    from certsoar.service.slack import ReplayGuard, verify_signature

    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
        b"channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
        b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    verify_signature(
        SECRET,
        timestamp="1531420618",
        body=body,
        signature="v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        now=1531420618,
        seen=ReplayGuard(),
    )


async def test_approve_in_slack_contains_and_updates_the_message(
    client: httpx.AsyncClient, config: Config, config_file: Path, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=RESPONSE_URL, method="POST", text="ok")  # response_url answers like a webhook
    run = start_run(config_file, "mimicry")
    body = click(ALICE, "approve", run["id"])
    answer = await post(client, body, signed(body))
    assert answer.status_code == 200
    done = api.show_run(config, run["id"])
    assert done["status"] == "completed"
    assert all(e["verified"] for e in done["effects"] if not e["key"].startswith("notify:"))
    [update] = replies(httpx_mock)
    assert update["replace_original"] is True
    assert "alice" in update["text"] and "completed" in update["text"] and f"<@{ALICE}>" in update["text"]
    [decision] = [d for d in slack_decisions(config, run["id"]) if d["event"] == "approval.approved" and "analyst" in d]
    assert decision["analyst"] == "alice" and decision["via"] == "slack" and decision["credential"] == f"slack:{ALICE}"


async def test_deny_in_slack_ends_the_run_denied(
    client: httpx.AsyncClient, config: Config, config_file: Path, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=RESPONSE_URL, method="POST", text="ok")
    run = start_run(config_file, "internal")
    body = click(BOB, "deny", run["id"])
    assert (await post(client, body, signed(body))).status_code == 200
    assert api.show_run(config, run["id"])["status"] == "denied"
    [update] = replies(httpx_mock)
    assert update["replace_original"] is True and "bob" in update["text"] and "denied" in update["text"]
    [decision] = [d for d in slack_decisions(config, run["id"]) if d["event"] == "approval.denied" and "analyst" in d]
    assert decision["via"] == "slack" and decision["credential"] == f"slack:{BOB}"


@pytest.mark.parametrize(
    ("user", "requester", "reason"),
    [
        (MALLORY, None, "no analyst"),  # a Slack user no analyst is mapped to
        (CAROL, None, "roles"),  # soc-l1: not a role the gate accepts
        (ALICE, "alice", "may not approve"),  # four eyes: alice started the run
    ],
    ids=["unknown-user", "without-role", "four-eyes"],
)
async def test_refused_clicks_decide_nothing_and_say_why(
    client: httpx.AsyncClient,
    config: Config,
    config_file: Path,
    httpx_mock: HTTPXMock,
    user: str,
    requester: str | None,
    reason: str,
) -> None:
    httpx_mock.add_response(url=RESPONSE_URL, method="POST", text="ok")
    run = start_run(config_file, "internal", requester)
    body = click(user, "approve", run["id"])
    assert (await post(client, body, signed(body))).status_code == 200
    assert api.show_run(config, run["id"])["status"] == "waiting_approval"
    [note] = replies(httpx_mock)
    assert note["response_type"] == "ephemeral" and note["replace_original"] is False
    assert reason in note["text"]
    # One refusal, one record, whether the router refused it or api.decide did.
    [refusal] = [
        json.loads(r["data"]) for r in api.audit_trail(config, run["id"]).records if r["event"].endswith("refused")
    ]
    assert refusal["via"] == "slack" and refusal["credential"] == f"slack:{user}" and reason in refusal["reason"]
    assert not [d for d in slack_decisions(config, run["id"]) if d["event"] == "approval.approved" and "analyst" in d]


async def test_second_click_after_the_decision_is_refused_as_already_decided(
    client: httpx.AsyncClient, config: Config, config_file: Path, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=RESPONSE_URL, method="POST", text="ok", is_reusable=True)
    run = start_run(config_file, "internal")
    first = click(BOB, "deny", run["id"])
    assert (await post(client, first, signed(first))).status_code == 200
    second = click(ALICE, "approve", run["id"])
    assert (await post(client, second, signed(second))).status_code == 200
    assert api.show_run(config, run["id"])["status"] == "denied"
    _, note = replies(httpx_mock)
    assert note["response_type"] == "ephemeral" and "not waiting for approval" in note["text"]


async def test_a_forged_run_id_decides_nothing(
    client: httpx.AsyncClient, config: Config, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=RESPONSE_URL, method="POST", text="ok")
    body = click(ALICE, "approve", "run-that-does-not-exist")
    assert (await post(client, body, signed(body))).status_code == 200
    [note] = replies(httpx_mock)
    assert note["response_type"] == "ephemeral" and "no run" in note["text"]
    refusals = [r for r in api.audit_trail(config).records if r["event"] == "decision.refused"]
    assert json.loads(refusals[-1]["data"])["run"] == "run-that-does-not-exist"


def _bad_requests(body: bytes) -> dict[str, dict[str, str]]:
    now = int(time.time())
    good = signed(body)
    return {
        "unsigned": {"Content-Type": "application/x-www-form-urlencoded"},
        "wrong-secret": signed(body, secret="not-the-signing-secret-at-all!!"),
        "other-body": signed(body + b"&x=1"),
        "stale": signed(body, at=now - 301),
        "future": signed(body, at=now + 301),
        "timestamp-swapped": good | {"X-Slack-Request-Timestamp": str(now - 1)},
        "not-a-number": good | {"X-Slack-Request-Timestamp": "1e9"},
    }


@pytest.mark.parametrize(
    "case", ["unsigned", "wrong-secret", "other-body", "stale", "future", "timestamp-swapped", "not-a-number"]
)
async def test_requests_that_are_not_slacks_are_401_and_decide_nothing(
    client: httpx.AsyncClient, config: Config, config_file: Path, case: str
) -> None:
    run = start_run(config_file, "internal")
    body = click(BOB, "approve", run["id"])
    answer = await post(client, body, _bad_requests(body)[case])
    assert answer.status_code == 401
    assert SECRET not in answer.text
    assert api.show_run(config, run["id"])["status"] == "waiting_approval"


async def test_a_replayed_request_is_401(
    client: httpx.AsyncClient, config: Config, config_file: Path, httpx_mock: HTTPXMock
) -> None:
    """The same signed deny twice: the first decides, the replay is refused before it reaches the store."""
    httpx_mock.add_response(url=RESPONSE_URL, method="POST", text="ok")
    run = start_run(config_file, "internal")
    body = click(BOB, "deny", run["id"])
    headers = signed(body)
    assert (await post(client, body, headers)).status_code == 200
    replay = await post(client, body, headers)
    assert replay.status_code == 401 and "replayed" in replay.text
    assert len(replies(httpx_mock)) == 1


async def test_a_response_url_off_slack_is_refused(
    client: httpx.AsyncClient, config: Config, config_file: Path
) -> None:
    """A signed payload cannot make the service POST to another host (nothing is decided either)."""
    run = start_run(config_file, "internal")
    body = click(BOB, "approve", run["id"]).replace(b"hooks.slack.com", b"evil.example")
    assert (await post(client, body, signed(body))).status_code == 400
    assert api.show_run(config, run["id"])["status"] == "waiting_approval"


async def test_without_a_signing_secret_slack_interactions_are_off(config: Config) -> None:
    app = FastAPI()
    app.state.config = config.model_copy(
        update={"service": config.service.model_copy(update={"slack": SlackService()})}
    )
    app.include_router(router)
    body = click(BOB, "approve", "x")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://certsoar.test") as c:
        assert (await c.post("/v1/slack/interactions", content=body, headers=signed(body))).status_code == 404


async def test_a_click_after_the_approval_expired_is_refused_and_the_run_ends_expired(
    client: httpx.AsyncClient, config: Config, config_file: Path, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clicked 30 days later (the lab's gate expires well before): nothing approved, the clicker told why."""
    import certsoar.runner
    import certsoar.store

    httpx_mock.add_response(url=RESPONSE_URL, method="POST", text="ok")
    run = start_run(config_file, "internal")
    later = certsoar.store.utcnow() + timedelta(days=30)
    monkeypatch.setattr(certsoar.store, "utcnow", lambda: later)
    monkeypatch.setattr(certsoar.runner, "utcnow", lambda: later)
    body = click(BOB, "approve", run["id"])
    assert (await post(client, body, signed(body))).status_code == 200
    assert api.show_run(config, run["id"])["status"] == "expired"
    [note] = replies(httpx_mock)
    assert note["response_type"] == "ephemeral" and "expired" in note["text"]
    assert not [d for d in slack_decisions(config, run["id"]) if d["event"] == "approval.approved" and "analyst" in d]


async def test_the_request_slack_receives_is_the_one_its_buttons_decide(
    config_file: Path, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole loop in one process: the run's approval request goes to a Slack webhook with the buttons, and
    the Approve button exactly as sent (its value) contains the certificate when bob clicks it."""
    from certsoar.intake import load_alert

    webhook = "https://hooks.slack.com/services/T0CAG/B0SOC/notarealwebhooksecret"
    monkeypatch.setenv("CERTSOAR_TEST_SLACK_WEBHOOK", webhook)
    raw = yaml.safe_load(config_file.read_text())
    raw["connectors"]["notify"] = [{"type": "slack", "webhook_url": "env:CERTSOAR_TEST_SLACK_WEBHOOK"}]
    config_file.write_text(yaml.safe_dump(raw))
    config = load_config(config_file)
    httpx_mock.add_response(url=webhook, method="POST", text="ok", is_reusable=True)
    httpx_mock.add_response(url=RESPONSE_URL, method="POST", text="ok")
    alert = load_alert(lab_paths(config_file.parent).alerts["mimicry"].read_bytes())
    run = await api.run_playbook(config, "certificate-alert", alert)
    assert run["status"] == "waiting_approval"
    sent = [json.loads(r.content) for r in httpx_mock.get_requests(url=webhook)]
    [request] = [m for m in sent if any(b["type"] == "actions" for b in m["blocks"])]  # the L1 summary has none
    assert (
        request["blocks"][0]["text"]["type"] == "mrkdwn" and "Approval needed" in request["blocks"][0]["text"]["text"]
    )
    approve = next(
        e for b in request["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "approve"
    )
    assert approve["value"] == run["id"]
    body = click(BOB, approve["action_id"], approve["value"])
    async with client_for(config) as client:
        assert (await post(client, body, signed(body))).status_code == 200
    assert api.show_run(config, run["id"])["status"] == "completed"
    [update] = replies(httpx_mock)
    assert "bob" in update["text"] and "completed" in update["text"]


async def test_two_of_n_keeps_the_buttons_until_the_gate_is_settled(
    client: httpx.AsyncClient, config: Config, config_file: Path, httpx_mock: HTTPXMock
) -> None:
    """With two approvals required, alice's click is announced beside the request (buttons kept); bob's settles
    the gate and replaces the message with the outcome."""
    from certsoar.playbook import find_playbook

    shipped = find_playbook("certificate-alert").read_text()
    assert shipped.count("required: 1") == 1
    two = config_file.with_name("two-approvals.yaml")
    two.write_text(shipped.replace("required: 1", "required: 2"))
    httpx_mock.add_response(url=RESPONSE_URL, method="POST", text="ok", is_reusable=True)
    run = start_run(config_file, "mimicry", playbook=str(two))
    for user in (ALICE, BOB):
        body = click(user, "approve", run["id"])
        assert (await post(client, body, signed(body))).status_code == 200
    first, second = replies(httpx_mock)
    assert first["replace_original"] is False and first["response_type"] == "in_channel"
    assert "alice" in first["text"] and "waiting_approval" in first["text"]
    assert second["replace_original"] is True and "bob" in second["text"] and "completed" in second["text"]
    assert api.show_run(config, run["id"])["status"] == "completed"
