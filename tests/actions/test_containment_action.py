"""containment.prior reads only the effect ledger: what earlier runs contained (done and verified) of the
targets the alert names, what is left, and the ticket of the runs that contained the certificate."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from certsoar.actions.containment import PriorInput, PriorOutput, prior
from certsoar.alert import CertificateAlert
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.context import ActionContext
from certsoar.ledger import EffectLedger
from certsoar.store import RunStore

SHA1 = "b772dff2494ba009502de68de88935ba200f4a78"
ALERT = CertificateAlert(
    id="seen-again",
    time=datetime(2026, 11, 29, 11, 7, tzinfo=timezone.utc),
    source_format="suricata-tls",
    event="tls",
    host="sensor-7",
    src_ip="10.20.0.61",
    dst_ip="198.51.100.23",
    dst_port=8443,
    sni="login.microsoftonline.com",
    sha1=SHA1,
)
REVOKE, PROXY, FIREWALL = "ca:ca:revoke:1002", f"proxy:proxy:block:{SHA1}", "firewall:firewall:block:198.51.100.23"


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.sqlite3")


def done(store: RunStore, key: str, run_id: str = "r0", *, verified: bool = True) -> None:
    action = {"ca": "ca.revoke", "proxy": "proxy.block_certificate", "firewall": "firewall.block"}[key.split(":")[0]]
    store.effect_done(key, action=action, target=key.rsplit(":", 1)[1], run_id=run_id, verified=verified, evidence={})


def ticket(store: RunStore, run_id: str, key: str) -> None:
    store.record_run_effect(
        run_id,
        f"ticket:ticket:{key}",
        step_id="ticket",
        action="ticket.open",
        target=key,
        changed=True,
        verified=True,
        planned=False,
        evidence={},
    )


def check(store: RunStore, tmp_path: Path, run_id: str = "r1", **inputs: Any) -> PriorOutput:
    config = Config.model_validate(
        {"state_dir": tmp_path / "state", "config_dir": tmp_path, "protected_networks": ["192.0.2.0/24"]}
    )
    ctx = ActionContext(
        run_id=run_id,
        step_id="prior",
        dry_run=False,
        now=ALERT.time,
        config=config,
        connectors=Connections(config, store, overrides={"ca": object(), "proxy": object(), "firewall": object()}),
        ledger=EffectLedger(store, store, run_id, dry_run=False),
        templates=None,  # type: ignore[arg-type]
    )
    defaults: dict[str, Any] = {"alert": ALERT, "serial": "1002", "sha1": SHA1, "addresses": ["198.51.100.23"]}
    return asyncio.run(prior(PriorInput.model_validate({**defaults, **inputs}), ctx))


def test_nothing_contained_yet(store: RunStore, tmp_path: Path) -> None:
    out = check(store, tmp_path)
    assert not out.contained and not out.all_contained and out.effects == [] and out.ticket_key is None
    assert out.uncontained == ["revoke:1002", f"proxy:{SHA1}", "firewall:198.51.100.23"]


def test_contained_by_an_earlier_run(store: RunStore, tmp_path: Path) -> None:
    for key in (REVOKE, PROXY, FIREWALL):
        done(store, key)
    ticket(store, "r0", "b289650296e06d4de64a5693be49ec6629436616618164bec1e86e5b78a37f15")
    out = check(store, tmp_path)
    assert out.contained and out.all_contained and out.uncontained == [] and out.runs == ["r0"]
    assert [e.key for e in out.effects] == [REVOKE, PROXY, FIREWALL]
    assert out.ticket_key == "b289650296e06d4de64a5693be49ec6629436616618164bec1e86e5b78a37f15"
    assert out.seen == (
        "suricata-tls alert seen-again (event tls), on sensor-7, 10.20.0.61 -> 198.51.100.23:8443, "
        "SNI login.microsoftonline.com"
    )


def test_a_new_server_is_left_to_contain(store: RunStore, tmp_path: Path) -> None:
    for key in (REVOKE, PROXY, FIREWALL):
        done(store, key)
    out = check(store, tmp_path, addresses=["198.51.100.23", "203.0.113.77", "192.0.2.10"])
    # 192.0.2.10 is protected: never blocked, so it waits for no approval
    assert out.contained and not out.all_contained and out.uncontained == ["firewall:203.0.113.77"]


def test_an_unverified_write_is_not_containment(store: RunStore, tmp_path: Path) -> None:
    done(store, PROXY, verified=False)
    store.effect_intent(REVOKE, action="ca.revoke", target="1002", run_id="r0")
    out = check(store, tmp_path)
    assert not out.contained and "revoke:1002" in out.uncontained and f"proxy:{SHA1}" in out.uncontained


def test_this_runs_own_effects_are_not_an_earlier_containment(store: RunStore, tmp_path: Path) -> None:
    for key in (REVOKE, PROXY, FIREWALL):
        done(store, key, run_id="r1")
    assert not check(store, tmp_path, run_id="r1").contained


def test_a_server_blocked_for_another_certificate_does_not_make_this_one_contained(
    store: RunStore, tmp_path: Path
) -> None:
    done(store, FIREWALL, run_id="other-certificate")
    ticket(store, "other-certificate", "another-certificate-sha256")
    out = check(store, tmp_path)
    assert not out.contained and out.runs == [] and out.ticket_key is None
    assert out.uncontained == ["revoke:1002", f"proxy:{SHA1}"]


def test_a_serial_our_ca_did_not_issue_is_not_looked_up(store: RunStore, tmp_path: Path) -> None:
    # the playbook passes the serial only for a certificate our CA issued (and holds as the alert's):
    # another certificate that happens to carry a revoked serial is not "contained"
    done(store, REVOKE)
    out = check(store, tmp_path, serial=None)
    assert not out.contained and out.uncontained == [f"proxy:{SHA1}", "firewall:198.51.100.23"]


def test_an_empty_issuer_or_key_identifier_is_unknown() -> None:
    """A playbook renders a value it lacks as "": unknown, as in ca.revoke's inputs (one validator for both)."""
    seen = PriorInput.model_validate({"alert": ALERT, "issuer": "", "authority_key_id": ""})
    assert (seen.issuer, seen.authority_key_id) == (None, None)
    with pytest.raises(ValueError, match="at most 4096"):
        PriorInput.model_validate({"alert": ALERT, "issuer": "C" * 4097})
