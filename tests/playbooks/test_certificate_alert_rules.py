"""Decision table of the shipped certificate-alert rules: each rule fires on its evidence, and
each false-positive guard of the analyst card holds (self-signed alone, JA3 alone, an expired
certificate alone, allowlisted certificates, a SIEM that failed)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from certsoar.actions.escalation import EvaluateInput, evaluate_escalation
from certsoar.certs import CertificateFacts
from certsoar.context import ActionContext
from certsoar.playbook import find_playbook, load_playbook

RULES = [r.model_dump() for r in load_playbook(find_playbook("certificate-alert")).rules]
NOW = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)

MIMICRY = {
    "matched": True,
    "brand": "DigiCert Inc",
    "kind": "homoglyph",
    "attribute": "O",
    "value": "DigiCert lnc",
    "score": 1.0,
}
ALLOWLISTED = {
    "owner": "it-ops",
    "reason": "appliance",
    "expires": (NOW + timedelta(days=30)).isoformat(),
    "matched_on": ["spki_sha256"],
}
QUIET_CREATIONS = {
    "burst": False,
    "reason": "no burst",
    "incidents": [],
    "unrelated_in_window": 0,
    "unrelated_in_short_window": 0,
    "excluded": [],
    "window": "24h",
    "short_window": "1h",
    "sources": [],
}
QUIET_TRAFFIC = {
    "changed": False,
    "reason": "steady",
    "first_seen": None,
    "servers": [],
    "clients": [],
    "beaconing": [],
    "sources": [],
}
FAILED = {"failed": True, "error": "siem/files: no configured path exists"}
SKIPPED = {"skipped": True}


def facts(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "parsed": True,
        "source": "certificate",
        "sha256": "ab" * 32,
        "sha1": "cd" * 20,
        "subject": "CN=x",
        "issuer": "CN=x",
        "names": ["x.example"],
    }
    base.update(changes)
    return CertificateFacts.model_validate(base).model_dump(mode="json")


def verdict(
    cert: dict[str, Any],
    creations: dict[str, Any] = QUIET_CREATIONS,
    traffic: dict[str, Any] = QUIET_TRAFFIC,
    alert: dict[str, Any] | None = None,
    ca_cert: dict[str, Any] = SKIPPED,
) -> Any:
    variables = {
        "alert": alert or {"id": "a", "ja3": None},
        "steps": {"cert": cert, "ca_cert": ca_cert, "creations": creations, "traffic": traffic},
    }
    ctx = ActionContext(
        run_id="r",
        step_id="verdict",
        dry_run=True,
        now=NOW,
        config=None,
        connectors=None,  # type: ignore[arg-type]
        ledger=None,
        templates=None,
        variables=variables,
    )  # type: ignore[arg-type]
    return asyncio.run(evaluate_escalation(EvaluateInput(rules=RULES), ctx))


CASES = [
    # (name, cert, creations, traffic, fired rules, severity, contain)
    ("nothing", facts(), QUIET_CREATIONS, QUIET_TRAFFIC, [], "none", False),
    (
        "self-signed alone",
        facts(self_signed=True, self_signed_name=True),
        QUIET_CREATIONS,
        QUIET_TRAFFIC,
        [],
        "none",
        False,
    ),
    (
        "expired alone",
        facts(anomalies=["expired"], not_after="2020-01-01T00:00:00Z"),
        QUIET_CREATIONS,
        QUIET_TRAFFIC,
        [],
        "none",
        False,
    ),
    (
        "self-signed appliance default",
        facts(self_signed=True, tools=[{"tool": "openssl", "exact": True, "matched_on": ["subject"]}]),
        QUIET_CREATIONS,
        QUIET_TRAFFIC,
        [],
        "none",
        False,
    ),
    (
        "mimicry by homoglyph",
        facts(self_signed=True, mimicry=MIMICRY),
        QUIET_CREATIONS,
        QUIET_TRAFFIC,
        ["issuer_mimicry"],
        "high",
        True,
    ),
    (
        "mimicry by fuzzy spelling",
        facts(self_signed=True, mimicry={**MIMICRY, "kind": "fuzzy", "score": 0.9}),
        QUIET_CREATIONS,
        QUIET_TRAFFIC,
        ["issuer_mimicry"],
        "medium",
        True,
    ),
    (
        "look-alike issuer on a CA-signed leaf",
        facts(self_signed=False, mimicry=MIMICRY),
        QUIET_CREATIONS,
        QUIET_TRAFFIC,
        [],
        "none",
        False,
    ),
    (
        "allowlisted mimicry",
        facts(self_signed=True, mimicry=MIMICRY, allowlisted=ALLOWLISTED),
        QUIET_CREATIONS,
        QUIET_TRAFFIC,
        [],
        "none",
        False,
    ),
    (
        "creation burst",
        facts(),
        {**QUIET_CREATIONS, "burst": True, "reason": "3 unrelated in 24h"},
        QUIET_TRAFFIC,
        ["creation_burst"],
        "medium",
        False,
    ),
    (
        "traffic change",
        facts(),
        QUIET_CREATIONS,
        {**QUIET_TRAFFIC, "changed": True, "reason": "bytes out x40"},
        ["traffic_change"],
        "high",
        True,
    ),
    (
        "traffic change on an allowlisted certificate",
        facts(allowlisted=ALLOWLISTED),
        QUIET_CREATIONS,
        {**QUIET_TRAFFIC, "changed": True, "reason": "x"},
        [],
        "none",
        False,
    ),
    (
        "known malicious",
        facts(ioc_reasons=["listed by SSLBL: CobaltStrike C&C"]),
        QUIET_CREATIONS,
        QUIET_TRAFFIC,
        ["known_malicious"],
        "critical",
        True,
    ),
    (
        "known malicious even when allowlisted",
        facts(ioc_reasons=["SSLBL"], allowlisted=ALLOWLISTED),
        QUIET_CREATIONS,
        QUIET_TRAFFIC,
        ["known_malicious"],
        "critical",
        True,
    ),
    (
        "internal CA, outside name",
        facts(issued_by_managed_ca=True, managed_ca="CN=Corp CA", outside_domains=["login.microsoftonline.com"]),
        QUIET_CREATIONS,
        QUIET_TRAFFIC,
        ["unauthorized_internal"],
        "high",
        True,
    ),
    (
        "internal CA, own names",
        facts(issued_by_managed_ca=True, managed_ca="CN=Corp CA"),
        QUIET_CREATIONS,
        QUIET_TRAFFIC,
        [],
        "none",
        False,
    ),
    (
        "internal CA, outside name, allowlisted",
        facts(
            issued_by_managed_ca=True,
            managed_ca="CN=Corp CA",
            outside_domains=["partner.example"],
            allowlisted=ALLOWLISTED,
        ),
        QUIET_CREATIONS,
        QUIET_TRAFFIC,
        [],
        "none",
        False,
    ),
    ("SIEM failed: correlation rules stay quiet", facts(), FAILED, FAILED, [], "none", False),
    (
        "everything at once",
        facts(self_signed=True, mimicry=MIMICRY, ioc_reasons=["tool default"]),
        {**QUIET_CREATIONS, "burst": True, "reason": "b"},
        {**QUIET_TRAFFIC, "changed": True, "reason": "t"},
        ["issuer_mimicry", "creation_burst", "traffic_change", "known_malicious"],
        "critical",
        True,
    ),
]


@pytest.mark.parametrize(
    ("name", "cert", "creations", "traffic", "fired", "severity", "contain"), CASES, ids=[c[0] for c in CASES]
)
def test_decision_table(
    name: str, cert: dict, creations: dict, traffic: dict, fired: list[str], severity: str, contain: bool
) -> None:
    result = verdict(cert, creations, traffic)
    assert [r.rule for r in result.reasons] == fired
    assert (result.escalate, result.severity, result.contain) == (bool(fired), severity, contain)


def test_ja3_alone_never_escalates() -> None:
    alert = {"id": "a", "ja3": "72a589da586844d7f0818ce684948eea", "ja3s": "f4febc55ea12b31ae17cfb7e614afda8"}
    assert verdict(facts(), alert=alert).reasons == []


def test_reasons_name_the_evidence() -> None:
    result = verdict(facts(self_signed=True, mimicry=MIMICRY))
    assert result.reasons[0].reason == (
        "Self-signed certificate whose issuer imitates DigiCert Inc (homoglyph match on O=DigiCert lnc)"
    )
    internal = verdict(
        facts(issued_by_managed_ca=True, managed_ca="CN=Corp CA", outside_domains=["a.example", "b.example"])
    )
    assert "a.example, b.example" in internal.reasons[0].reason


def test_rule_ids_are_the_fixed_ones() -> None:
    assert [r["id"] for r in RULES] == [
        "issuer_mimicry",
        "creation_burst",
        "traffic_change",
        "known_malicious",
        "unauthorized_internal",
        "containment_bypass",
        "ca_certificate_differs",
    ]


OUTSIDE_NAME = facts(
    issued_by_managed_ca=True, managed_ca="CN=Corp CA", serial="1002", outside_domains=["login.microsoftonline.com"]
)


def _lookup(matches: bool) -> dict[str, Any]:
    return {
        "serial": "1002",
        "found": True,
        "matches_alert": matches,
        "claimed": {"subject": "CN=login.microsoftonline.com"},
        "certificate": {"subject": "CN=wiki.corp.example"},
        "mismatch": None if matches else "the CA holds serial 1002 as subject 'CN=wiki.corp.example'",
    }


def test_our_ca_holding_the_alerts_certificate_asks_to_contain() -> None:
    result = verdict(OUTSIDE_NAME, ca_cert=_lookup(True))
    assert [r.rule for r in result.reasons] == ["unauthorized_internal"] and result.contain


def test_our_ca_holding_another_certificate_under_the_serial_escalates_without_containment() -> None:
    result = verdict(OUTSIDE_NAME, ca_cert=_lookup(False))
    assert [r.rule for r in result.reasons] == ["ca_certificate_differs"]
    assert (result.escalate, result.severity, result.contain) == (True, "high", False)
    assert "CN=wiki.corp.example" in result.reasons[0].reason and "serial 1002" in result.reasons[0].reason
