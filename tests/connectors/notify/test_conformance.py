"""What every HTTP notifier promises, whatever the vendor: slack, webhook and teams (pytest-httpx and a silent
loopback server). Delivered once; a 429 waited out; 5xx forever is ConnectorUnavailable after the attempts;
401/403 are ConnectorRejected; a server that never answers times out; no secret in anything captured.
Email is not HTTP: it shares the secret-reference case here, and has its own failure cases against a real SMTP
server in test_email.py (451 then accepted, 550 at once, silence times out, refused AUTH)."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pytest_httpx import HTTPXMock

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.notify import Message, Notifier
from certsoar.connectors.notify.email import EmailNotifierSettings
from certsoar.connectors.notify.slack import SlackNotifier, SlackNotifierSettings
from certsoar.connectors.notify.teams import TeamsNotifier, TeamsNotifierSettings
from certsoar.connectors.notify.webhook import WebhookNotifier, WebhookNotifierSettings
from certsoar.errors import ConnectorRejected, ConnectorUnavailable

SLACK_URL = "https://hooks.slack.com/services/T00000000/B00000000/SLACKSECRETPATHXXXXXXXX"
TEAMS_URL = (
    "https://prod-00.westeurope.logic.azure.com/workflows/0a1b2c/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=TEAMSSECRETSIGNATUREXXXX"
)
WEBHOOK_URL = "https://receiver.example/hooks/certsoar"
HMAC_KEY = "HMACSECRETKEYXXXXXXXXXXXX"

EMAIL = {"host": "smtp.corp.example", "from_address": "soar@corp.example", "to": ["soc@corp.example"], "username": "u"}

MESSAGE = Message(key="run1:notify", subject="Contained `evil`", body="# Contained `evil`\n", run_id="run1")


@dataclass(frozen=True)
class Channel:
    build: Callable[[str, dict[str, Any]], Notifier]
    """(url, extra settings) -> notifier; the url goes to the secret env var or the setting."""
    ok: dict[str, Any]
    """pytest-httpx arguments of the vendor's success answer."""
    secrets: tuple[str, ...]


def _slack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Channel:
    def build(url: str, extra: dict[str, Any]) -> Notifier:
        monkeypatch.setenv("CONFORMANCE_SLACK", url)
        settings = SlackNotifierSettings.model_validate({"webhook_url": "env:CONFORMANCE_SLACK", **extra})
        return SlackNotifier(settings, ConnectorEnv(name="soc", state_dir=tmp_path))

    return Channel(build, {"text": "ok"}, ("SLACKSECRETPATH",))


def _teams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Channel:
    def build(url: str, extra: dict[str, Any]) -> Notifier:
        monkeypatch.setenv("CONFORMANCE_TEAMS", url)
        settings = TeamsNotifierSettings.model_validate({"webhook_url": "env:CONFORMANCE_TEAMS", **extra})
        return TeamsNotifier(settings, ConnectorEnv(name="soc", state_dir=tmp_path))

    return Channel(build, {"status_code": 202, "text": ""}, ("TEAMSSECRETSIGNATURE",))


def _webhook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Channel:
    monkeypatch.setenv("CONFORMANCE_HMAC", HMAC_KEY)

    def build(url: str, extra: dict[str, Any]) -> Notifier:
        settings = WebhookNotifierSettings.model_validate({"url": url, "secret": "env:CONFORMANCE_HMAC", **extra})
        return WebhookNotifier(settings, ConnectorEnv(name="soc", state_dir=tmp_path))

    return Channel(build, {"status_code": 204}, (HMAC_KEY,))


URLS = {"slack": SLACK_URL, "teams": TEAMS_URL, "webhook": WEBHOOK_URL}


@pytest.fixture(params=["slack", "webhook", "teams"])
def channel(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Channel, str]:
    make = {"slack": _slack, "teams": _teams, "webhook": _webhook}[request.param]
    return make(tmp_path, monkeypatch), URLS[request.param]


@pytest.fixture(autouse=True)
def everything_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_no_secret(channel: Channel, caplog: pytest.LogCaptureFixture, *captured: object) -> None:
    seen = caplog.text + "".join(str(c) + repr(c) for c in captured)
    for secret in channel.secrets:
        assert secret not in seen


async def test_delivered_once(
    channel: tuple[Channel, str], httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    chosen, url = channel
    httpx_mock.add_response(url=url, method="POST", **chosen.ok)
    where = await chosen.build(url, {}).send(MESSAGE)
    assert len(httpx_mock.get_requests()) == 1
    assert_no_secret(chosen, caplog, where)
    assert "HTTP Request" in caplog.text  # httpx did log the request: the URL in it was hidden


async def test_429_then_delivered_after_the_wait(channel: tuple[Channel, str], httpx_mock: HTTPXMock) -> None:
    chosen, url = channel
    httpx_mock.add_response(url=url, method="POST", status_code=429, headers={"Retry-After": "1"})
    httpx_mock.add_response(url=url, method="POST", **chosen.ok)
    started = time.monotonic()
    await chosen.build(url, {}).send(MESSAGE)
    assert time.monotonic() - started >= 0.9
    assert len(httpx_mock.get_requests()) == 2


async def test_a_retry_after_given_as_an_http_date_is_waited_out(
    channel: tuple[Channel, str], httpx_mock: HTTPXMock
) -> None:
    """Retry-After is seconds or an HTTP date (RFC 9110 §10.2.3); a date 2 s ahead is a wait of 1–2 s (the
    date has whole seconds), not the 0.5 s backoff a notifier that reads only numbers falls back to."""
    chosen, url = channel
    when = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=2), usegmt=True)
    httpx_mock.add_response(url=url, method="POST", status_code=429, headers={"Retry-After": when})
    httpx_mock.add_response(url=url, method="POST", **chosen.ok)
    started = time.monotonic()
    await chosen.build(url, {}).send(MESSAGE)
    assert time.monotonic() - started >= 0.9
    assert len(httpx_mock.get_requests()) == 2


@pytest.mark.parametrize("reference", ["env:", "file:", "env:  ", "CONFORMANCE_VALUE"])
def test_a_secret_written_without_a_name_or_inline_is_refused_at_load(reference: str) -> None:
    settings = {
        SlackNotifierSettings: {"webhook_url": reference},
        TeamsNotifierSettings: {"webhook_url": reference},
        WebhookNotifierSettings: {"url": WEBHOOK_URL, "secret": reference},
        EmailNotifierSettings: {**EMAIL, "password": reference},
    }
    for model, values in settings.items():
        with pytest.raises(ValidationError, match="env:NAME or file:PATH"):
            model.model_validate(values)


async def test_500_forever_is_unavailable_after_the_attempts(
    channel: tuple[Channel, str], httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    chosen, url = channel
    httpx_mock.add_response(url=url, method="POST", status_code=500, headers={"Retry-After": "0"}, is_reusable=True)
    with pytest.raises(ConnectorUnavailable) as caught:
        await chosen.build(url, {"attempts": 3}).send(MESSAGE)
    assert "500" in str(caught.value) and "3 attempts" in str(caught.value)
    assert len(httpx_mock.get_requests()) == 3
    assert_no_secret(chosen, caplog, caught.value)


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_are_rejected_at_once(
    channel: tuple[Channel, str], httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    chosen, url = channel
    httpx_mock.add_response(url=url, method="POST", status_code=status, text="denied")
    with pytest.raises(ConnectorRejected) as caught:
        await chosen.build(url, {}).send(MESSAGE)
    assert not isinstance(caught.value, ConnectorUnavailable) and f"HTTP {status}" in str(caught.value)
    assert len(httpx_mock.get_requests()) == 1
    assert_no_secret(chosen, caplog, caught.value)


@pytest.mark.httpx_mock(should_mock=lambda request: False)
async def test_a_server_that_never_answers_times_out(
    channel: tuple[Channel, str], silent_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    chosen, url = channel
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable) as caught:
        await chosen.build(f"{silent_server}/x", {"timeout": 0.3, "attempts": 1}).send(MESSAGE)
    assert time.monotonic() - started < 5
    assert "did not answer within 0.3s" in str(caught.value)
    assert_no_secret(chosen, caplog, caught.value)
