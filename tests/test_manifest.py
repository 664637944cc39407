"""manifest.json is generated from the code and must not drift.

These checks run in a fresh interpreter: other tests register test-only actions in this one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fresh(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT.parent)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_manifest_json_matches_the_code() -> None:
    generated = fresh(
        "from certsoar.manifest import build_manifest, render_manifest\n"
        "import sys; sys.stdout.write(render_manifest(build_manifest()))"
    )
    assert (ROOT / "manifest.json").read_text(encoding="utf-8") == generated, (
        "manifest.json has drifted: run `certsoar manifest`"
    )


def test_manifest_describes_every_action_connector_and_playbook() -> None:
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    names = {a["name"]: a for a in manifest["actions"]}
    assert sorted(names) == json.loads(
        fresh("from certsoar.registry import actions; import json; print(json.dumps(list(actions())))")
    )
    assert names["ca.revoke"]["mutates"] and not names["ca.revoke"]["reversible"]
    assert names["firewall.block"]["mutates"] and names["firewall.block"]["reversible"]
    assert names["firewall.unblock"]["mutates"] and not names["ca.release_hold"]["reversible"]
    assert not names["certificate.analyze"]["mutates"]
    for a in manifest["actions"]:
        assert a["input_schema"]["type"] == "object" and a["output_schema"]["type"] == "object"
    kinds = {kind: [c["type"] for c in types] for kind, types in manifest["connectors"].items()}
    assert kinds == {
        "siem": ["elastic", "files", "qradar", "sentinel", "splunk"],
        "ca": ["adcs", "cfssl", "ejbca", "openssl-ca", "stepca", "vault"],
        "firewall": ["edl", "fortigate", "nftables", "opnsense", "panos"],
        "proxy": ["edl", "squid", "zscaler"],
        "ticket": ["jira", "local", "servicenow", "thehive"],
        "notify": ["console", "email", "file", "slack", "teams", "webhook"],
    }
    cas = {c["type"]: c["settings_schema"]["properties"] for c in manifest["connectors"]["ca"]}
    ca = cas["openssl-ca"]
    assert ca["passphrase"]["secret"] is True and "secret" not in ca["openssl_config"]
    assert cas["ejbca"]["token"]["secret"] is True and cas["stepca"]["provisioner_key"]["secret"] is True
    assert cas["cfssl"]["ca_key"]["secret"] is True and "secret" not in cas["cfssl"]["certdb"]
    assert [k for k, v in cas["adcs"].items() if v.get("secret")] == ["password"]
    tickets = {c["type"]: c["settings_schema"]["properties"] for c in manifest["connectors"]["ticket"]}
    assert [k for k, v in tickets["jira"].items() if v.get("secret")] == ["api_token", "token"]
    assert [k for k, v in tickets["servicenow"].items() if v.get("secret")] == ["password", "token", "client_secret"]
    assert [k for k, v in tickets["thehive"].items() if v.get("secret")] == ["api_key"]
    firewalls = {c["type"]: c["settings_schema"]["properties"] for c in manifest["connectors"]["firewall"]}
    assert [k for k, v in firewalls["panos"].items() if v.get("secret")] == ["api_key"]
    assert [k for k, v in firewalls["fortigate"].items() if v.get("secret")] == ["token"]
    assert [k for k, v in firewalls["opnsense"].items() if v.get("secret")] == ["api_key", "api_secret"]
    proxies = {c["type"]: c["settings_schema"]["properties"] for c in manifest["connectors"]["proxy"]}
    assert [k for k, v in proxies["zscaler"].items() if v.get("secret")] == ["password", "api_key"]
    vault = next(c for c in manifest["connectors"]["ca"] if c["type"] == "vault")["settings_schema"]["properties"]
    assert vault["token"]["secret"] is True and vault["approle_secret_id"]["secret"] is True
    siems = {c["type"]: c["settings_schema"]["properties"] for c in manifest["connectors"]["siem"]}
    assert [k for k, v in siems["splunk"].items() if v.get("secret")] == ["token", "password"]
    assert [k for k, v in siems["elastic"].items() if v.get("secret")] == ["api_key", "token", "password"]
    slack = next(c for c in manifest["connectors"]["notify"] if c["type"] == "slack")["settings_schema"]["properties"]
    assert (
        slack["webhook_url"]["secret"] is True and slack["token"]["secret"] is True and "secret" not in slack["channel"]
    )
    notifiers = {c["type"]: c["settings_schema"]["properties"] for c in manifest["connectors"]["notify"]}
    assert [k for k, v in notifiers["webhook"].items() if v.get("secret")] == ["secret"]
    assert [k for k, v in notifiers["teams"].items() if v.get("secret")] == ["webhook_url"]
    assert [k for k, v in notifiers["email"].items() if v.get("secret")] == ["password"]
    assert sorted((p["id"], p["trigger"]) for p in manifest["playbooks"]) == [
        ("certificate-alert", {"alert": "certificate"}),
        ("certificate-release", {"alert": "release"}),
        ("certificate-sweep", {"schedule": "certificates"}),
        ("containment-sweep", {"schedule": "containment"}),
        ("revocation-sweep", {"schedule": "revocation"}),
    ]


def test_every_action_input_field_is_described() -> None:
    undocumented = fresh(
        "from certsoar.registry import actions\n"
        "for spec in actions().values():\n"
        "    for name, field in spec.input_model.model_fields.items():\n"
        "        if not field.description: print(f'{spec.name}.{name}')\n"
    )
    assert undocumented == ""


def test_check_says_missing_when_there_is_no_manifest(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "certsoar", "manifest", "--check", "--path"]
    missing = subprocess.run([*command, str(tmp_path / "manifest.json")], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "manifest.json is missing: run `certsoar manifest`" in missing.stderr
    (tmp_path / "manifest.json").write_text("{}")
    drifted = subprocess.run([*command, str(tmp_path / "manifest.json")], capture_output=True, text=True, timeout=120)
    assert drifted.returncode == 1 and "has drifted" in drifted.stderr
