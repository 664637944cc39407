"""`certsoar export xsoar`: the Cortex XSOAR pack passes demisto-sdk's validation, its own unit tests pass,
and its integration code, run outside XSOAR with demistomock patched, drives a live `certsoar serve`."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from realcomponents import missing, require_tool

from certsoar.export import export
from certsoar.export.soar import RUN_FIELDS
from certsoar.export.xsoar import COMMANDS
from certsoar.manifest import build_manifest
from certsoar.store import RunStatus

SDK = Path(os.environ.get("CERTSOAR_XSOAR_SDK", "/opt/certsoar-sdks/xsoar"))
"""The virtualenv of PyPI demisto-sdk (.ci/run makes it), apart from certsoar's own."""
RUNTIME = Path(__file__).parent / "xsoar_runtime"
INTEGRATION = Path("Packs/CertSOAR/Integrations/CertSOAR")
CONTEXT = "CertSOAR.Run(val.id && val.id == obj.id)"
NEEDS_NETWORK = {
    "AG102": "approved categories are fetched from the content repository",
    "AG115": "reads the content repository's AI skill files",
    "DO100": "asks Docker Hub for the image's tags",
    "DO103": "asks Docker Hub whether the image exists",
    "DO104": "reads the docker image from the content repository's graph",
    "DO106": "asks Docker Hub for the latest tag",
    "GR106": "reads the content repository's conf.json",
    "IN104": "approved categories are fetched from the content repository",
    "IN142": "reads the content repository's native image config",
    "PA100": "approved tags are fetched from the content repository",
    "PA103": "approved categories are fetched from the content repository",
    "PA104": "reads the content repository's version config",
    "PA119": "approved use cases are fetched from the content repository",
    "PA120": "reads the content repository's version config",
}
"""The best-practice checks of demisto-sdk that need the content repository's files or Docker Hub; all
others of its xsoar_best_practices_path_based_validations category run offline."""


def sdk_tool(name: str) -> Path:
    tool = SDK / "bin" / name
    if not tool.exists():
        raise missing(f"demisto-sdk is not installed at {SDK} (.ci/run installs it; CERTSOAR_XSOAR_SDK overrides)")
    return tool


def _service_conftest() -> ModuleType:
    """tests/service/servicelab.py (the live `certsoar serve` and its lab fixture), by path: tests/service is not
    on the path here."""
    spec = importlib.util.spec_from_file_location(
        "certsoar_service_conftest", Path(__file__).parents[1] / "service" / "servicelab.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


services = _service_conftest()
service_lab = services.service_lab
service = services.service


def content_repository(root: Path) -> Path:
    """``root`` (an exported pack) made a content repository: demisto-sdk reads the pack's commit."""
    git = require_tool("git")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    for args in (["init", "-q", "-b", "master"], ["add", "-A"], ["commit", "-qm", "export"]):
        subprocess.run([git, *args], cwd=root, env=env, check=True)
    return root


def validate(content: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "true", "DEMISTO_SDK_CONTENT_PATH": str(content)}
    env["DEMISTO_SDK_IGNORE_CONTENT_WARNING"] = "1"
    env.pop("DEMISTO_SDK_OFFLINE_ENV", None)  # validate refuses to start with it; nothing below goes online
    return subprocess.run(
        [str(sdk_tool("demisto-sdk")), "validate", "-i", "Packs/CertSOAR", *extra],
        cwd=content,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def offline_best_practices(tmp_path: Path) -> Path:
    """demisto-sdk's own best-practice category, less the checks that need the network."""
    site = subprocess.run(
        [str(sdk_tool("python")), "-c", "import demisto_sdk, os; print(os.path.dirname(demisto_sdk.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    config = tomllib.loads((Path(site) / "commands" / "validate" / "default_config.toml").read_text())
    codes = [c for c in config["xsoar_best_practices_path_based_validations"]["select"] if c not in NEEDS_NETWORK]
    assert len(codes) > 50
    path = tmp_path / "offline.toml"
    path.write_text(
        f"ignorable_errors = {json.dumps(config['ignorable_errors'])}\n\n"
        f"[path_based_validations]\nselect = {json.dumps(codes)}\nwarning = []\n"
    )
    return path


@pytest.mark.real
def test_demisto_sdk_validate_passes_the_pack(tmp_path: Path) -> None:
    export("xsoar", build_manifest(), tmp_path / "content")
    content = content_repository(tmp_path / "content")
    assert (content / "Packs/CertSOAR/.pack-ignore").read_text() == ""  # no error is ignored
    for extra in ((), ("--config-path", str(offline_best_practices(tmp_path)))):
        done = validate(content, *extra)
        assert done.returncode == 0 and "All validations passed" in done.stdout + done.stderr, done.stdout + done.stderr


@pytest.mark.real
def test_demisto_sdk_validate_fails_a_broken_integration(tmp_path: Path) -> None:
    """The check can fail: a fetch integration without its first fetch parameter is refused (IN126)."""
    content = tmp_path / "content"
    export("xsoar", build_manifest(), content)
    yml = content / INTEGRATION / "CertSOAR.yml"
    integration = yaml.safe_load(yml.read_text())
    integration["configuration"] = [p for p in integration["configuration"] if p["name"] != "first_fetch"]
    yml.write_text(yaml.safe_dump(integration, sort_keys=False))
    content_repository(content)
    done = validate(content, "--config-path", str(offline_best_practices(tmp_path)))
    assert done.returncode != 0 and "IN126" in done.stdout + done.stderr


@pytest.mark.real
def test_the_packs_unit_tests_pass_with_demistomock(tmp_path: Path) -> None:
    content = tmp_path / "content"
    export("xsoar", build_manifest(), content)
    done = subprocess.run(
        [str(sdk_tool("python")), "-m", "pytest", "-q", "-p", "no:cacheprovider", "CertSOAR_test.py"],
        cwd=content / INTEGRATION,
        env={**os.environ, "PYTHONPATH": str(RUNTIME)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "5 passed" in done.stdout, done.stdout + done.stderr


def xsoar(svc: Any, integration: Path, command: str, token: str, **spec: Any) -> dict[str, Any]:
    """One command of the exported integration, run as XSOAR would (demistomock patched), in the SDK's venv."""
    params = {"url": svc.url, "credentials": {"identifier": "", "password": token}, "max_fetch": "10"}
    done = subprocess.run(
        [str(sdk_tool("python")), str(RUNTIME / "drive.py")],
        input=json.dumps({"integration": str(integration), "command": command, "params": params, **spec}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got: dict[str, Any] = json.loads(done.stdout)
    assert token not in done.stdout or token == "", "the token reached an entry or a log"
    return got


def context(got: dict[str, Any]) -> Any:
    [entry] = got["entries"]
    assert entry["Type"] == 1, entry
    return entry["EntryContext"][CONTEXT]


def error(got: dict[str, Any]) -> str:
    [entry] = got["entries"]
    assert entry["Type"] == 4 and got["exit"] == 0, entry  # return_error's entry and exit
    return str(entry["Contents"])


def mimicry_alert(svc: Any) -> str:
    alert = json.loads(svc.lab.alerts["mimicry"].read_bytes())
    return json.dumps({**alert, "id": f"siem-{uuid.uuid4().hex[:12]}"})


@pytest.fixture
def integration(tmp_path: Path) -> Path:
    export("xsoar", build_manifest(), tmp_path / "content")
    return tmp_path / "content" / INTEGRATION


@pytest.mark.real
def test_submit_fetch_approve_to_verified_containment(service: Any, integration: Path) -> None:
    soar, alice = services.token_of("xsoar"), services.token_of("alice-cli")
    assert xsoar(service, integration, "test-module", soar)["entries"] == ["ok"]

    submitted = context(
        xsoar(service, integration, "certsoar-submit-alert", soar, args={"alert": mimicry_alert(service)})
    )
    run_id = submitted["id"]
    assert submitted["playbook"] == "certificate-alert"
    service.wait_status(run_id, "waiting_approval")

    fetched = xsoar(service, integration, "fetch-incidents", soar, last_run={})
    [incident] = fetched["incidents"]
    assert incident["dbotMirrorId"] == run_id and incident["severity"] >= 3
    assert json.loads(incident["rawJSON"])["approval"]["status"] == "pending"
    again = xsoar(service, integration, "fetch-incidents", soar, last_run=fetched["last_run"])
    assert again["incidents"] == [] and again["last_run"] == fetched["last_run"]

    waiting = context(xsoar(service, integration, "certsoar-run-get", soar, args={"run_id": run_id}))
    assert waiting["status"] == "waiting_approval" and waiting["verdict"]["contain"] is True
    assert set(waiting) <= {f.path.split(".")[0] for f in RUN_FIELDS} and "steps" not in waiting

    refused = error(xsoar(service, integration, "certsoar-approve", soar, args={"run_id": run_id}))
    assert "403" in refused and "scope" in refused  # the xsoar token may submit and read, not decide
    assert service.wait_status(run_id, "waiting_approval")["approval"]["status"] == "pending"

    approved = xsoar(service, integration, "certsoar-approve", alice, args={"run_id": run_id, "comment": "contain"})
    assert context(approved)["id"] == run_id
    done = service.wait_status(run_id, "completed")
    blocks = [e for e in done["effects"] if e["action"] in ("firewall.block", "proxy.block_certificate")]
    assert blocks and all(e["verified"] for e in blocks)
    ruleset = (service.lab.root / "firewall" / "certsoar.nft").read_text()
    assert all(e["target"] in ruleset for e in blocks if e["action"] == "firewall.block")

    final = context(xsoar(service, integration, "certsoar-run-get", soar, args={"run_id": run_id}))
    assert final["status"] == "completed" and final["approval"]["status"] == "approved"
    assert {e["key"] for e in final["effects"]} == {e["key"] for e in done["effects"]}
    listed = xsoar(service, integration, "certsoar-runs-list", soar, args={"status": "completed"})
    assert [r["id"] for r in listed["entries"][0]["EntryContext"][CONTEXT]] == [run_id]
    after = xsoar(service, integration, "fetch-incidents", soar, last_run=fetched["last_run"])
    assert after["incidents"] == [] and after["last_run"] == {"incidented": []}


@pytest.mark.real
def test_refusals_surface_as_return_error(service: Any, integration: Path) -> None:
    wrong = error(xsoar(service, integration, "test-module", "not-the-token-0123456789"))
    assert "401" in wrong and "token" in wrong

    bad = error(xsoar(service, integration, "certsoar-submit-alert", services.token_of("xsoar"), args={"alert": "{}"}))
    assert "422" in bad

    alice = services.token_of("alice-soar")  # alice submits: she is the requester, and may not approve
    run_id = context(
        xsoar(service, integration, "certsoar-submit-alert", alice, args={"alert": mimicry_alert(service)})
    )["id"]
    service.wait_status(run_id, "waiting_approval")
    four_eyes = error(xsoar(service, integration, "certsoar-approve", alice, args={"run_id": run_id}))
    assert "403" in four_eyes and run_id in four_eyes
    assert service.wait_status(run_id, "waiting_approval")["approval"]["decisions"] == []

    missing_run = error(xsoar(service, integration, "certsoar-run-get", alice, args={"run_id": "no-such-run"}))
    assert "404" in missing_run


def changed_manifest() -> dict[str, Any]:
    manifest = copy.deepcopy(build_manifest())
    for endpoint in manifest["service"]:
        if endpoint["path"] == "/v1/runs/{run_id}/approve":
            endpoint["summary"] = "Approve, said differently"
    manifest["actions"][0]["description"] = "An action described anew"
    manifest["playbooks"][0]["description"] = "A playbook described anew"
    return manifest


def test_a_changed_description_changes_the_integration_and_its_docs(tmp_path: Path) -> None:
    export("xsoar", build_manifest(), tmp_path / "before")
    export("xsoar", changed_manifest(), tmp_path / "after")

    def command_descriptions(root: Path) -> dict[str, str]:
        integration = yaml.safe_load((root / INTEGRATION / "CertSOAR.yml").read_text())
        return {c["name"]: c["description"] for c in integration["script"]["commands"]}

    before, after = command_descriptions(tmp_path / "before"), command_descriptions(tmp_path / "after")
    assert after["certsoar-approve"] == "Approve, said differently" != before["certsoar-approve"]
    assert {k: v for k, v in after.items() if k != "certsoar-approve"} == {
        k: v for k, v in before.items() if k != "certsoar-approve"
    }
    readme = (tmp_path / "after" / INTEGRATION / "README.md").read_text()
    old_readme = (tmp_path / "before" / INTEGRATION / "README.md").read_text()
    for text in ("Approve, said differently", "An action described anew", "A playbook described anew"):
        assert text in readme and text not in old_readme


def test_every_command_is_documented_with_the_run_fields_and_dispatched(tmp_path: Path) -> None:
    export("xsoar", build_manifest(), tmp_path)
    integration = yaml.safe_load((tmp_path / INTEGRATION / "CertSOAR.yml").read_text())
    commands = {c["name"]: c for c in integration["script"]["commands"]}
    assert set(commands) == set(COMMANDS) and integration["script"]["isfetch"] is True
    paths = [o["contextPath"] for o in commands["certsoar-run-get"]["outputs"]]
    assert paths == [f"CertSOAR.Run.{f.path}" for f in RUN_FIELDS]
    code = (tmp_path / INTEGRATION / "CertSOAR.py").read_text()
    assert all(f'"{name}":' in code for name in COMMANDS)
    assert repr([f.path for f in RUN_FIELDS]) in code
    playbook = yaml.safe_load((tmp_path / "Packs/CertSOAR/Playbooks/playbook-CertSOAR_Triage.yml").read_text())
    scripts = {t["task"].get("script") for t in playbook["tasks"].values()}
    assert {"CertSOAR|||certsoar-submit-alert", "CertSOAR|||certsoar-approve", "CertSOAR|||certsoar-deny"} <= scripts
    assert "collection" in {t["type"] for t in playbook["tasks"].values()}


def test_the_status_field_names_every_run_status() -> None:
    [status] = [f for f in RUN_FIELDS if f.path == "status"]
    assert all(str(s) in status.description for s in RunStatus)
