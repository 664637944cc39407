"""``ticket.open`` hands the certificate's observables to a ticket system that records them (thehive) and opens
an ordinary ticket elsewhere; the shipped playbook passes the hashes, the servers and the SNI."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fake_thehive import THEHIVE_URL, FakeTheHive
from pytest_httpx import HTTPXMock
from realcomponents import require_tool

from certsoar.actions.ticket import OpenInput, open_ticket
from certsoar.api import decide, run_playbook
from certsoar.config import Config, load_config
from certsoar.connections import Connections
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ticket import Observables, Ticketing
from certsoar.connectors.ticket.local import LocalTicketing, LocalTicketingSettings
from certsoar.connectors.ticket.thehive import TheHiveSettings, TheHiveTicketing
from certsoar.context import ActionContext
from certsoar.intake import load_alert
from certsoar.lab import ensure_lab, lab_paths
from certsoar.ledger import EffectLedger
from certsoar.store import RunStore
from certsoar.templating import Templates

KEY = "3f1d2c5a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817060504"
SHA1 = "0f" * 20
OBSERVED = Observables(hashes=[KEY, SHA1], addresses=["203.0.113.7"], names=["login.example.com"])


def context(tmp_path: Path, tickets: Ticketing, store: RunStore) -> ActionContext:
    (tmp_path / "tpl" / "ticket").mkdir(parents=True, exist_ok=True)
    (tmp_path / "tpl" / "ticket" / "t.md.j2").write_text("Rogue certificate\n\nSelf-signed.\n")
    config = Config.model_validate({"state_dir": str(tmp_path / "state"), "config_dir": tmp_path})
    return ActionContext(
        run_id="r1",
        step_id="ticket",
        dry_run=False,
        now=datetime.now(timezone.utc),
        config=config,
        connectors=Connections(config, overrides={"ticket": {"t": tickets}}),
        ledger=EffectLedger(store, store, "r1", dry_run=False),
        templates=Templates([tmp_path / "tpl"]),
    )


async def test_thehive_receives_the_observables_through_ticket_open(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeTheHive("k")
    httpx_mock.add_callback(fake, url=re.compile(re.escape(THEHIVE_URL) + "/.*"), is_reusable=True)
    monkeypatch.setenv("CERTSOAR_TEST_TH_OBS", "k")
    settings = TheHiveSettings.model_validate({"url": THEHIVE_URL, "api_key": "env:CERTSOAR_TEST_TH_OBS"})
    tickets = TheHiveTicketing(settings, ConnectorEnv(name="t", state_dir=tmp_path))
    store = RunStore(tmp_path / "runs.sqlite3")
    inp = OpenInput(key=KEY, template="ticket/t.md.j2", severity="high", observables=OBSERVED)
    out = await open_ticket(inp, context(tmp_path, tickets, store))
    assert out.effect.changed and out.ticket is not None and out.ticket.title == "Rogue certificate"
    [alert] = fake.alerts.values()
    assert [(o["dataType"], o["data"]) for o in alert["observables"]] == [
        ("hash", KEY),
        ("hash", SHA1),
        ("ip", "203.0.113.7"),
        ("fqdn", "login.example.com"),
    ]
    store.close()


async def test_a_ticket_system_without_observables_opens_the_ticket_as_ever(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    tickets = LocalTicketing(LocalTicketingSettings(), ConnectorEnv(name="t", state_dir=tmp_path, store=store))
    inp = OpenInput(key=KEY, template="ticket/t.md.j2", severity="high", observables=OBSERVED)
    out = await open_ticket(inp, context(tmp_path, tickets, store))
    assert out.effect.changed and out.ticket is not None and await tickets.find(KEY) == out.ticket
    store.close()


async def test_the_shipped_playbook_opens_a_thehive_alert_with_its_observables_and_a_case_on_containment(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    require_tool("openssl")
    monkeypatch.setenv("CERTSOAR_TEST_TH_LAB", "lab-key")
    fake = FakeTheHive("lab-key")
    httpx_mock.add_callback(fake, url=re.compile(re.escape(THEHIVE_URL) + "/.*"), is_reusable=True)
    ensure_lab(tmp_path)
    lab = lab_paths(tmp_path / "lab")
    hive = f"{{type: thehive, url: '{THEHIVE_URL}', api_key: 'env:CERTSOAR_TEST_TH_LAB'}}"
    lab.config.write_text(lab.config.read_text().replace("ticket: {type: local}", f"ticket: {hive}"))
    config = load_config(str(lab.config))
    alert = load_alert(Path(lab.alerts["mimicry"]).read_bytes())

    run = await run_playbook(config, "certificate-alert", alert)
    [opened] = fake.alerts.values()
    observables = {(o["dataType"], o["data"]) for o in opened["observables"]}
    assert ("ip", "203.0.113.45") in observables and ("fqdn", "cdn-update.net") in observables
    assert {t for t, _ in observables} == {"hash", "ip", "fqdn"} and len(
        [o for o in observables if o[0] == "hash"]
    ) == 2
    assert opened["sourceRef"] == run["ticket"]["key"] and fake.cases == {}  # escalated, not yet contained

    done = await decide(config, run["id"], analyst="alice", decision="approved")
    assert done["ticket"]["status"] in ("contained", "partially-contained")
    [case] = fake.cases.values()
    assert fake.alerts[opened["_id"]]["caseId"] == case["_id"] and fake.comments_of(case["_id"])
