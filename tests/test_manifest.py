"""manifest.json is generated from the code and must not drift."""

from __future__ import annotations

import json
from pathlib import Path

from certsoar.manifest import build_manifest, render_manifest
from certsoar.registry import actions

ROOT = Path(__file__).resolve().parent.parent


def test_manifest_json_matches_the_code() -> None:
    assert (ROOT / "manifest.json").read_text(encoding="utf-8") == render_manifest(build_manifest()), (
        "manifest.json has drifted: run `certsoar manifest`"
    )


def test_manifest_describes_every_action_connector_and_playbook() -> None:
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    names = {a["name"]: a for a in manifest["actions"]}
    assert set(names) == set(actions())
    assert names["ca.revoke"]["mutates"] and not names["ca.revoke"]["reversible"]
    assert names["firewall.block"]["mutates"] and names["firewall.block"]["reversible"]
    assert not names["certificate.analyze"]["mutates"]
    for a in manifest["actions"]:
        assert a["input_schema"]["type"] == "object" and a["output_schema"]["type"] == "object"
    kinds = {kind: [c["type"] for c in types] for kind, types in manifest["connectors"].items()}
    assert kinds == {"siem": ["files"], "ca": ["openssl-ca"], "firewall": ["nftables"], "proxy": ["squid"],
                     "ticket": ["local"], "notify": ["console", "file"]}
    ca = manifest["connectors"]["ca"][0]["settings_schema"]["properties"]
    assert ca["passphrase"]["secret"] is True and "secret" not in ca["openssl_config"]
    assert [(p["id"], p["trigger"]) for p in manifest["playbooks"]] == [("certificate-alert", {"alert": "certificate"})]


def test_every_action_input_field_is_described() -> None:
    undocumented = [
        f"{spec.name}.{name}"
        for spec in actions().values()
        for name, field in spec.input_model.model_fields.items()
        if not field.description
    ]
    assert undocumented == []
