"""In-memory connectors that satisfy the Protocols, and test-only actions, for engine tests."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from certsoar.alert import CertificateAlert
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors.ca import IssuedCertificate, RevocationReason, RevocationStatus
from certsoar.connectors.notify import Message
from certsoar.context import ActionContext
from certsoar.errors import ConnectorRejected, ConnectorUnavailable
from certsoar.registry import action


class FakeCa:
    def __init__(self, serials: set[str]) -> None:
        self.issued = set(serials)
        self.revoked: dict[str, str] = {}
        self.revoke_calls = 0

    async def ca_certificates(self) -> list[str]:
        return []

    async def list_issued(self, since: datetime | None = None) -> list[Any]:
        return []

    async def certificate(self, serial: str) -> IssuedCertificate | None:
        """Every issued serial holds the certificate of ``make_alert`` (SHA-1 aa…a)."""
        if serial not in self.issued:
            return None
        return IssuedCertificate(
            serial=serial,
            subject="CN=fake",
            issuer="CN=Fake CA",
            sha1="a" * 40,
            status="valid",
            not_after=datetime(2027, 1, 1, tzinfo=timezone.utc),
        )

    async def status(self, serial: str) -> RevocationStatus:
        return RevocationStatus(
            serial=serial,
            known=serial in self.issued,
            revoked=serial in self.revoked,
            reason=self.revoked.get(serial),
            in_crl=serial in self.revoked,
        )

    async def revoke(self, serial: str, reason: RevocationReason) -> RevocationStatus:
        if serial not in self.issued:
            raise ConnectorRejected(f"serial {serial} unknown", connector="fake-ca")
        self.revoke_calls += 1
        self.revoked[serial] = reason.value
        return await self.status(serial)


class FakeFirewall:
    def __init__(self, *, deaf: bool = False) -> None:
        """``deaf``: block() is accepted and does nothing (a firewall that loses writes)."""
        self.addresses: set[str] = set()
        self.block_calls = 0
        self.deaf = deaf

    async def blocked(self) -> set[str]:
        return set(self.addresses)

    async def block(self, addresses: list[str], comment: str) -> None:
        self.block_calls += 1
        if not self.deaf:
            self.addresses.update(addresses)


class FakeProxy:
    def __init__(self) -> None:
        self.fingerprints: set[str] = set()

    async def blocked_fingerprints(self) -> set[str]:
        return set(self.fingerprints)

    async def block_fingerprint(self, sha1: str, comment: str) -> None:
        self.fingerprints.add(sha1)


class FakeNotifier:
    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def send(self, message: Message) -> str:
        self.sent.append(message)
        return f"fake:{len(self.sent)}"


def connections(config: Config, store: Any, **fakes: Any) -> Connections:
    overrides = dict(fakes)
    if "notify" in overrides and not isinstance(overrides["notify"], list):
        overrides["notify"] = [("fake", overrides["notify"])]
    return Connections(config, store, overrides=overrides)


def make_config(tmp_path: Path, **extra: Any) -> Config:
    return Config.model_validate(
        {
            "state_dir": tmp_path / "state",
            "config_dir": tmp_path,
            "analysts": {
                "alice": {"roles": ["soc-tier2"]},
                "bob": {"roles": ["soc-tier2"]},
                "carol": {"roles": ["soc-l1"]},
                "dave": {"roles": ["soc-tier2"]},
            },
            **extra,
        }
    )


def make_alert(alert_id: str = "a-1", **extra: Any) -> CertificateAlert:
    return CertificateAlert(
        id=alert_id,
        time=datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc),
        sha1="a" * 40,
        dst_ip="203.0.113.9",
        **extra,
    )


# test-only actions -----------------------------------------------------------------------------


class EchoInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Any = None


class EchoOutput(BaseModel):
    value: Any = None


CALLS: dict[str, int] = {}
EVENTS: dict[str, asyncio.Event] = {}
COUNTER = itertools.count()


@action("test.echo")
async def echo(inp: EchoInput, ctx: ActionContext) -> EchoOutput:
    CALLS[ctx.step_id] = CALLS.get(ctx.step_id, 0) + 1
    return EchoOutput(value=inp.value)


@action("test.flaky")
async def flaky(inp: EchoInput, ctx: ActionContext) -> EchoOutput:
    """Fails with ConnectorUnavailable until called `value` times."""
    CALLS[ctx.step_id] = CALLS.get(ctx.step_id, 0) + 1
    if CALLS[ctx.step_id] < int(inp.value):
        raise ConnectorUnavailable("try again")
    return EchoOutput(value=CALLS[ctx.step_id])


@action("test.rejected")
async def rejected(inp: EchoInput, ctx: ActionContext) -> EchoOutput:
    CALLS[ctx.step_id] = CALLS.get(ctx.step_id, 0) + 1
    raise ConnectorRejected("no")


@action("test.sleep")
async def sleep(inp: EchoInput, ctx: ActionContext) -> EchoOutput:
    await asyncio.sleep(float(inp.value))
    return EchoOutput(value="woke")


@action("test.sleep_then_count")
async def sleep_then_count(inp: EchoInput, ctx: ActionContext) -> EchoOutput:
    """Sleeps `value` seconds, then counts the call (a count means it ran to the end)."""
    await asyncio.sleep(float(inp.value))
    CALLS[ctx.step_id] = CALLS.get(ctx.step_id, 0) + 1
    return EchoOutput(value="woke")


@action("test.wait_for")
async def wait_for(inp: EchoInput, ctx: ActionContext) -> EchoOutput:
    """Waits (bounded) for the event named `value`; deadlocks a sequential runner."""
    await asyncio.wait_for(EVENTS[str(inp.value)].wait(), 5)
    return EchoOutput(value="saw " + str(inp.value))


@action("test.set")
async def set_event(inp: EchoInput, ctx: ActionContext) -> EchoOutput:
    EVENTS[str(inp.value)].set()
    return EchoOutput(value="set " + str(inp.value))


@action("test.buggy")
async def buggy(inp: EchoInput, ctx: ActionContext) -> EchoOutput:
    """Fails as a bug would: an exception certsoar does not know."""
    CALLS[ctx.step_id] = CALLS.get(ctx.step_id, 0) + 1
    raise KeyError(f"no such thing {inp.value}")
