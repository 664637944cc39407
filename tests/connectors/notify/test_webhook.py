"""The generic webhook: what it posts, and a receiver's check of its signature written from the README's
scheme alone (hmac + hashlib here, not the notifier's code)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.notify import Message
from certsoar.connectors.notify.webhook import WebhookNotifier, WebhookNotifierSettings
from certsoar.errors import ConfigError, ConnectorRejected, ConnectorUnavailable

URL = "https://receiver.example/hooks/certsoar"
KEY = "whsec-0123456789abcdef"
MESSAGE = Message(
    key="run7:notify",
    subject="Contained `evil.example`",
    body="# Contained `evil.example`\n\n- blocked 203.0.113.9\n",
    run_id="run7",
    event="outcome/containment",
)


def notifier(tmp_path: Path, **settings: Any) -> WebhookNotifier:
    chosen = {"url": URL, "secret": "env:HOOK_KEY", **settings}
    return WebhookNotifier(
        WebhookNotifierSettings.model_validate(chosen), ConnectorEnv(name="hook", state_dir=tmp_path)
    )


def receiver_accepts(request: httpx.Request, key: str, now: float, tolerance: float = 300) -> bool:
    """What the README tells a receiver to do."""
    timestamp = request.headers["X-Certsoar-Timestamp"]
    expected = "v1=" + hmac.new(key.encode(), f"{timestamp}.".encode() + request.content, hashlib.sha256).hexdigest()
    fresh = abs(now - int(timestamp)) <= tolerance
    return fresh and hmac.compare_digest(expected, request.headers["X-Certsoar-Signature"])


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_KEY", KEY)


async def test_posts_the_notification_signed(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", status_code=200, json={"received": True})
    assert await notifier(tmp_path).send(MESSAGE) == "webhook hook (HTTP 200)"
    [request] = httpx_mock.get_requests()
    assert json.loads(request.content) == {
        "key": "run7:notify",
        "event": "outcome/containment",
        "run_id": "run7",
        "subject": "Contained `evil.example`",
        "format": "md",
        "body": MESSAGE.body,
    }
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Certsoar-Delivery"] == "run7:notify"
    assert receiver_accepts(request, KEY, time.time())
    assert KEY.encode() not in request.content and all(KEY not in v for v in request.headers.values())


async def test_a_tampered_body_an_old_timestamp_or_another_key_fail_the_check(
    tmp_path: Path, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, method="POST")
    await notifier(tmp_path).send(MESSAGE)
    [request] = httpx_mock.get_requests()
    tampered = httpx.Request("POST", URL, headers=request.headers, content=request.content.replace(b"run7", b"run8"))
    assert not receiver_accepts(tampered, KEY, time.time())
    assert not receiver_accepts(request, "another-key", time.time())
    assert not receiver_accepts(request, KEY, time.time() + 3600)  # a replay an hour later


async def test_every_retry_is_signed_afresh_with_the_same_delivery_key(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", status_code=503, headers={"Retry-After": "1.1"})
    httpx_mock.add_response(url=URL, method="POST", status_code=202)
    await notifier(tmp_path).send(MESSAGE)
    first, second = httpx_mock.get_requests()
    assert first.headers["X-Certsoar-Delivery"] == second.headers["X-Certsoar-Delivery"]
    assert int(second.headers["X-Certsoar-Timestamp"]) > int(first.headers["X-Certsoar-Timestamp"])
    assert all(receiver_accepts(r, KEY, time.time()) for r in (first, second))


async def test_a_redirect_is_not_followed(tmp_path: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", status_code=302, headers={"Location": "https://elsewhere.example/"})
    with pytest.raises(ConnectorRejected) as caught:
        await notifier(tmp_path).send(MESSAGE)
    assert "HTTP 302" in str(caught.value) and not isinstance(caught.value, ConnectorUnavailable)
    assert len(httpx_mock.get_requests()) == 1


async def test_an_empty_secret_is_refused_before_anything_is_sent(
    tmp_path: Path, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_KEY", "")
    with pytest.raises(ConfigError):
        await notifier(tmp_path).send(MESSAGE)
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize(
    "settings",
    [
        {"url": URL, "secret": KEY},  # inline secret
        {"url": "ftp://receiver.example/", "secret": "env:HOOK_KEY"},
        {"url": "https://user:pw@receiver.example/", "secret": "env:HOOK_KEY"},
        {"url": URL},
        {"url": URL, "secret": "env:HOOK_KEY", "attempts": 0},
    ],
)
def test_settings_that_cannot_work_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        WebhookNotifierSettings.model_validate(settings)


@pytest.mark.httpx_mock(should_mock=lambda request: False)
async def test_a_real_receiver_on_loopback_verifies_the_bytes_on_the_wire(tmp_path: Path) -> None:
    received: list[httpx.Request] = []

    async def receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in head[1:] if line)}
        body = await reader.readexactly(int(headers["content-length"]))
        received.append(httpx.Request("POST", URL, headers=headers, content=body))
        status = b"204 No Content" if receiver_accepts(received[-1], KEY, time.time()) else b"401 Unauthorized"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(receive, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        where = await notifier(tmp_path, url=f"http://127.0.0.1:{port}/hook").send(MESSAGE)
    finally:
        server.close()
        await server.wait_closed()
    assert where == "webhook hook (HTTP 204)" and len(received) == 1
    assert json.loads(received[0].content)["run_id"] == "run7"
