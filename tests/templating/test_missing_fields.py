"""A field the CA or the alert did not give is said as missing in words, never as "unknown", "?" or "None":
the shipped templates rendered with the contexts of real dry runs, the fields removed."""

from __future__ import annotations

import copy
from typing import Any

from certsoar.actions.containment import seen_at
from certsoar.alert import CertificateAlert
from certsoar.templating import Templates

Captured = list[tuple[str, dict[str, Any]]]  # as the recorded_renders fixture yields them
MISSING_WORDS = ("unknown", "None", "`?`", " ? ")


def contexts(captured: Captured, name: str) -> list[dict[str, Any]]:
    return [copy.deepcopy(context) for template, context in captured if template == name]


def test_what_the_ca_did_not_keep_is_said_so_in_the_approval_request(captured: Captured) -> None:
    asked = [
        c for c in contexts(captured, "approval/request.md.j2") if c["steps"].get("ca_cert", {}).get("certificate")
    ]
    assert asked, "the internal story reads the certificate back from the CA"
    for context in asked:
        context["steps"]["ca_cert"]["certificate"].update(issuer=None, not_before=None)
        for name in ("approval/request.md.j2", "approval/request.mrkdwn.j2"):
            text = Templates().render(name, context)
            assert "(the CA did not say)" in text and "(start not kept by the CA)" in text, name
            assert not any(word in text for word in MISSING_WORDS), (name, text)


def test_an_alert_without_issuer_is_said_so_in_the_outcome(captured: Captured) -> None:
    outcomes = [c for c in contexts(captured, "outcome/containment.md.j2") if c["steps"]["revoke"].get("skipped")]
    assert outcomes, "the mimicry story does not revoke"
    for context in outcomes:
        context["steps"]["cert"]["issuer"] = None
        text = Templates().render("outcome/containment.md.j2", context)
        assert "the alert names no issuer" in text and not any(word in text for word in MISSING_WORDS), text


def test_where_it_was_seen_says_which_address_the_alert_does_not_name() -> None:
    base = {"id": "a1", "source_format": "generic", "time": "2026-12-01T10:00:00Z", "sha1": "ab" * 20}
    assert seen_at(CertificateAlert.model_validate({**base, "src_ip": "10.0.0.5"})) == (
        "generic alert a1, 10.0.0.5 -> (server not named)"
    )
    assert seen_at(CertificateAlert.model_validate({**base, "dst_ip": "203.0.113.9", "dst_port": 443})) == (
        "generic alert a1, (client not named) -> 203.0.113.9:443"
    )
