"""The JSON event log: one line per event with only its known fields, and no secret the config references,
even inside an error message that quotes it."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from certsoar import eventlog
from certsoar.config import Config
from certsoar.connections import secret_values


@pytest.fixture
def stream() -> io.StringIO:
    out = io.StringIO()
    log = logging.getLogger(eventlog.LOGGER)
    before = list(log.handlers), log.level, log.propagate
    eventlog.enable_json_log(out)
    yield out
    log.handlers[:], log.level, log.propagate = before  # type: ignore[assignment]
    eventlog._secrets.clear()


def test_one_json_line_per_event_with_only_the_known_fields(stream: io.StringIO) -> None:
    eventlog.event("step", run_id="r1", step="revoke", connector="ca:openssl", duration_ms=12, body="not a field")
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert {k: record[k] for k in ("event", "run_id", "step", "connector", "duration_ms")} == {
        "event": "step",
        "run_id": "r1",
        "step": "revoke",
        "connector": "ca:openssl",
        "duration_ms": 12,
    }
    assert "body" not in record and record["level"] == "info" and record["time"].endswith("+00:00")


def test_secrets_the_config_references_never_reach_the_log(
    stream: io.StringIO, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_FOR_TEST", "https://hooks.slack.com/services/T1/B2/SeCrEt-VaLuE-123")
    (tmp_path / "token").write_text("xoxb-file-secret-456\n")
    config = Config.model_validate(
        {
            "connectors": {
                "notify": [
                    {"type": "slack", "name": "a", "webhook_url": "env:HOOK_FOR_TEST"},
                    {"type": "slack", "name": "b", "token": f"file:{tmp_path / 'token'}", "channel": "C1"},
                ]
            }
        }
    )
    eventlog.add_secrets(secret_values(config))
    eventlog.event(
        "step",
        run_id="r1",
        error="POST https://hooks.slack.com/services/T1/B2/SeCrEt-VaLuE-123 failed; token xoxb-file-secret-456",
    )
    text = stream.getvalue()
    assert "SeCrEt-VaLuE-123" not in text and "xoxb-file-secret-456" not in text
    assert json.loads(text)["error"] == "POST [redacted] failed; token [redacted]"


def test_the_level_says_whether_it_failed(stream: io.StringIO) -> None:
    eventlog.event("step", run_id="r1", step="cert", status="completed")
    eventlog.event("step", run_id="r1", step="summary", status="error", error="notify slack: cannot reach Slack")
    eventlog.event("step", run_id="r1", step="related", status="completed", error="siem: one source unreadable")
    eventlog.event("run", run_id="r1", status="failed", error="step summary failed")
    levels = [
        (r["step"] if "step" in r else r["event"], r["level"]) for r in map(json.loads, stream.getvalue().splitlines())
    ]
    assert levels == [("cert", "info"), ("summary", "error"), ("related", "warning"), ("run", "error")]
