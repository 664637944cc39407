"""AD CS abuse (ESC1/ESC6/ESC9-15): the CA's event names the requester and a SAN naming someone else, and the
shipped playbook's unauthorized_internal rule names both. Events in the documented renderings
(tests/data/intake/adcs/esc, see SOURCE.txt)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certsoar.actions.escalation import EvaluateInput, Verdict, evaluate_escalation
from certsoar.alert import CertificateAlert
from certsoar.certs import AnalysisContext, CertificateFacts, analyze_alert
from certsoar.context import ActionContext
from certsoar.intake import load_alert
from certsoar.playbook import find_playbook, load_playbook

ESC = Path(__file__).resolve().parents[1] / "data" / "intake" / "adcs" / "esc"
RULES = load_playbook(find_playbook("certificate-alert")).rules
ORG = ["corp.example.com"]


def facts_of(alert: CertificateAlert) -> CertificateFacts:
    return analyze_alert(alert, AnalysisContext(at=alert.time, org_domains=ORG))


def verdict(facts: CertificateFacts) -> Verdict:
    variables: dict[str, Any] = {
        "alert": {"id": "a"},
        "steps": {
            "cert": facts.model_dump(mode="json"),
            "ca_cert": {"skipped": True},
            "creations": {"burst": False},
            "traffic": {"changed": False},
        },
    }
    ctx = ActionContext(
        run_id="r",
        step_id="verdict",
        dry_run=True,
        now=facts.not_before,
        config=None,
        connectors=None,  # type: ignore[arg-type]
        ledger=None,
        templates=None,
        variables=variables,
    )  # type: ignore[arg-type]
    return asyncio.run(evaluate_escalation(EvaluateInput(rules=RULES), ctx))


@pytest.mark.parametrize(
    ("name", "requester", "principal"),
    [
        ("4887-v1-upn-of-another.xml", "CORP\\mallory", "Administrator@corp.example.com"),
        ("4887-v0-san-attribute.splunk.json", "CORP\\jdoe", "svc-backup@corp.example.com"),
        ("4887-v1-machine-other-host.winlogbeat.json", "CORP\\WS-0142$", "dc01.corp.example.com"),
    ],
)
def test_a_certificate_naming_another_principal_escalates_naming_both(
    name: str, requester: str, principal: str
) -> None:
    alert = load_alert((ESC / name).read_bytes())
    facts = facts_of(alert)
    assert facts.requester == requester and facts.names_others == [principal]
    out = verdict(facts)
    fired = {r.rule: r for r in out.reasons}
    assert set(fired) == {"unauthorized_internal"} and out.contain and out.severity == "high"
    reason = fired["unauthorized_internal"].reason
    assert requester in reason and principal in reason, reason


@pytest.mark.parametrize("name", ["4887-v1-own-upn.xml", "4887-v1-machine-own-host.winlogbeat.json"])
def test_the_requesters_own_certificate_stays_quiet(name: str) -> None:
    facts = facts_of(load_alert((ESC / name).read_bytes()))
    assert facts.requester and facts.names_others == []
    assert not verdict(facts).escalate


def test_a_denied_request_is_a_note_not_an_unauthorized_certificate() -> None:
    facts = facts_of(load_alert((ESC / "4888-v1-upn-of-another.xml").read_bytes()))
    assert facts.names_others == []
    assert any("denied CORP\\mallory's request" in n and "administrator@corp.example.com" in n for n in facts.notes)
    assert not verdict(facts).escalate


def test_an_allowlisted_certificate_naming_another_principal_stays_quiet() -> None:
    facts = facts_of(load_alert((ESC / "4887-v1-upn-of-another.xml").read_bytes()))
    allowlisted = {
        "owner": "pki",
        "reason": "enrollment agent",
        "expires": "2099-01-01T00:00:00Z",
        "matched_on": ["subject"],
    }
    allowed = CertificateFacts.model_validate({**facts.model_dump(mode="json"), "allowlisted": allowlisted})
    assert allowed.names_others and not verdict(allowed).escalate


def _with_upn(upn: str) -> str:
    """A certificate whose SAN carries a UPN otherName, encoded as AD CS writes it (a UTF8String value)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Mallory")])
    value = upn.encode()
    upn_der = bytes([0x0C, len(value)]) + value
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(load_alert((ESC / "4887-v1-upn-of-another.xml").read_bytes()).time)
        .not_valid_after(load_alert((ESC / "4887-v1-upn-of-another.xml").read_bytes()).time.replace(year=2027))
        .add_extension(
            x509.SubjectAlternativeName([x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), upn_der)]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_the_upn_is_read_from_the_certificate_itself() -> None:
    at = load_alert((ESC / "4887-v1-upn-of-another.xml").read_bytes()).time
    pem = _with_upn("administrator@corp.example.com")
    alert = CertificateAlert(id="g", time=at, certificate_pem=pem, requester="CORP\\mallory")
    facts = facts_of(alert)
    assert facts.upns == ["administrator@corp.example.com"]
    assert facts.names_others == ["administrator@corp.example.com"]
    own = facts_of(alert.model_copy(update={"requester": "CORP\\Administrator"}))
    assert own.names_others == [] and not verdict(own).escalate
