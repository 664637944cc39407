"""Structured logs: one JSON line per event (a run's status, a step and the connector it used), for the
SIEM that watches certsoar itself. ``certsoar --log-format json`` (or ``$CERTSOAR_LOG=json``) turns them
on, on standard error; a process that embeds certsoar attaches its own handler to the ``certsoar.events``
logger instead.

Only the fields below are written, each a value certsoar produced (ids, names, statuses, durations) or an
error message; secret values the config references (``env:``/``file:``) are replaced by ``[redacted]``
wherever they appear, so a connector's error that quotes a token cannot carry it out.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, TextIO

LOGGER = "certsoar.events"
FIELDS = ("run_id", "playbook", "step", "action", "connector", "status", "duration_ms", "attempts", "error")
REDACTED = "[redacted]"

log = logging.getLogger(LOGGER)
_secrets: set[str] = set()


def add_secrets(values: list[str]) -> None:
    """Values never to write (the resolved secrets of the config in use); short ones would redact noise."""
    _secrets.update(v for v in values if len(v) >= 6)


def _redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = _redact(value) if isinstance(value, str) else value
        return json.dumps(line, ensure_ascii=False, default=str)


def enable_json_log(stream: TextIO) -> None:
    """Write every event as a JSON line to ``stream`` (once per process)."""
    if any(isinstance(h.formatter, JsonLines) for h in log.handlers):
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def listening() -> bool:
    return log.isEnabledFor(logging.INFO) and bool(log.handlers or log.propagate and logging.getLogger().handlers)


FAILED_STATUSES = frozenset({"failed", "error"})


def level_of(fields: dict[str, Any]) -> int:
    """error for a run or step that failed, warning for one that carried on past an error, else info: the
    level a SIEM alerts on."""
    if fields.get("status") in FAILED_STATUSES:
        return logging.ERROR
    return logging.WARNING if fields.get("error") else logging.INFO


def event(name: str, **fields: Any) -> None:
    """Log one event with the fields of FIELDS it has; nothing happens unless a handler listens."""
    if log.isEnabledFor(logging.INFO):
        log.log(level_of(fields), name, extra={k: v for k, v in fields.items() if k in FIELDS})
