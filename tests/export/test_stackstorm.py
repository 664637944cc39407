"""The StackStorm pack `certsoar export stackstorm` writes: StackStorm's published metadata schemas and
orquesta's own spec inspection accept it; its actions, run as st2's Python runner runs them in the SDK's own
virtualenv, drive a live `certsoar serve` through the whole story; its workflow, conducted by orquesta,
turns an inquiry's answer into the approver's decision; and its text follows the manifest."""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import json
import os
import shutil
import sqlite3
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from realcomponents import missing, require_tool

from certsoar.export import export
from certsoar.lab import ensure_lab
from certsoar.manifest import build_manifest

SDK = Path(os.environ.get("CERTSOAR_STACKSTORM_SDK", "/opt/certsoar-sdks/stackstorm"))
"""The StackStorm SDK's own virtualenv (.ci/run makes it: orquesta, jsonschema, PyYAML)."""

HARNESS = Path(__file__).parent / "stackstorm_sdk"


def _service_helpers() -> Any:
    # tests/service/servicelab.py, by path: tests/service is not on the path here.
    spec = importlib.util.spec_from_file_location(
        "certsoar_service_conftest", HARNESS.parents[1] / "service" / "servicelab.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


helpers = _service_helpers()
token_of = helpers.token_of


def sdk_python() -> str:
    python = SDK / "bin" / "python"
    if not python.exists():
        raise missing(
            f"the StackStorm SDK virtualenv {SDK} is absent (.ci/run creates it; CERTSOAR_STACKSTORM_SDK moves it)"
        )
    probe = subprocess.run([python, "-c", "import orquesta, jsonschema, yaml"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise missing(f"{python} cannot import orquesta, jsonschema and yaml: {probe.stderr.strip()[-300:]}")
    return str(python)


def in_sdk(script: str, *args: str) -> Any:
    """Run one of the harness scripts in the SDK virtualenv; its JSON answer."""
    done = subprocess.run([sdk_python(), str(HARNESS / script), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    if isinstance(answer, dict):
        answer["stderr"] = done.stderr
    return answer


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return build_manifest()


@pytest.fixture(scope="module")
def pack(manifest: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("st2-export")
    export("stackstorm", manifest, target)
    return target / "certsoar"


# --- the vendor's validation -------------------------------------------------------------------------


@pytest.mark.real
def test_stackstorm_schemas_and_orquesta_accept_the_pack(pack: Path) -> None:
    assert in_sdk("check_pack.py", str(pack)) == []
    names = sorted(p.stem for p in (pack / "actions").glob("*.yaml"))
    assert names == [
        "approve",
        "deny",
        "get_run",
        "list_runs",
        "release",
        "submit_alert",
        "test_connectivity",
        "triage",
    ]
    config = yaml.safe_load((pack / "config.schema.yaml").read_text())
    assert config["token"]["secret"] is True and config["analysts"]["secret"] is True
    assert config["verify_tls"]["default"] is True and "ca_bundle" in config


@pytest.mark.real
def test_the_check_refuses_a_pack_that_breaks_the_schemas(pack: Path, tmp_path: Path) -> None:
    """The check can fail: each breakage below is named."""
    bad = tmp_path / "certsoar"
    shutil.copytree(pack, bad)

    def edit(relative: str, change: Any) -> None:
        doc = yaml.safe_load((bad / relative).read_text())
        change(doc)
        (bad / relative).write_text(yaml.safe_dump(doc))

    edit("pack.yaml", lambda d: d.update(version="1.0"))
    edit("config.schema.yaml", lambda d: d["url"].update(required="yes"))
    edit("actions/approve.yaml", lambda d: d["parameters"]["run_id"].update(type="uuid"))
    edit("actions/deny.yaml", lambda d: d.update(timeout=5))
    edit("actions/workflows/triage.yaml", lambda d: d["tasks"]["submit"]["next"][0].update(do="nowhere"))
    edit("actions/workflows/triage.yaml", lambda d: d["input"].append("extra"))
    problems = "\n".join(in_sdk("check_pack.py", str(bad)))
    for expected in (
        "pack.yaml: '1.0' does not match",
        "config.schema.yaml url: 'yes' is not of type 'boolean'",
        "approve.yaml: 'uuid' is not valid",
        "deny.yaml: Additional properties are not allowed ('timeout'",
        'The task \\"nowhere\\" is not defined',
        "triage.yaml: input",
    ):
        assert expected in problems, problems


# --- end to end: the pack's actions against a live service ---------------------------------------------


@pytest.fixture(scope="module")
def st2_lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("openssl")
    state = tmp_path_factory.mktemp("st2-lab")
    ensure_lab(state)
    return state


@pytest.fixture
def service(st2_lab: Path, tmp_path: Path) -> Iterator[Any]:
    svc = helpers.make_service(st2_lab, tmp_path)
    svc.start()
    yield svc
    svc.stop()


def pack_config(service: Any, *, token: str = "xsoar") -> dict[str, Any]:
    """The pack config: the pack's own token, and StackStorm users mapped to their analysts' tokens."""
    analysts = {"alice": token_of("alice-cli"), "bob": token_of("bob-cli"), "carol": token_of("carol-cli")}
    return {"url": service.url, "token": token_of(token), "verify_tls": True, "analysts": analysts}


def act(pack: Path, config: dict[str, Any], action: str, **parameters: Any) -> dict[str, Any]:
    answer: dict[str, Any] = in_sdk("run_action.py", str(pack), action, json.dumps(config), json.dumps(parameters))
    return answer


def new_alert(service: Any) -> str:
    alert = json.loads(service.lab.alerts["mimicry"].read_bytes())
    return json.dumps({**alert, "id": f"siem-{uuid.uuid4().hex[:12]}"})


def store(service: Any, query: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(service.lab.root.parent / "runs.sqlite3")
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


def approvals(service: Any) -> list[tuple[str, str]]:
    rows = store(service, "SELECT data FROM audit WHERE event='approval.approved' ORDER BY seq")
    return [(d["analyst"], d["credential"]) for d in (json.loads(r[0]) for r in rows) if "analyst" in d]


@pytest.mark.real
def test_actions_drive_alert_to_verified_containment(pack: Path, service: Any) -> None:
    config = pack_config(service)
    connected = act(pack, config, "test_connectivity")
    assert connected["status"] == "succeeded" and connected["result"] == {"connected": True}

    submitted = act(pack, config, "submit_alert", alert=new_alert(service))
    assert submitted["status"] == "succeeded", submitted
    run_id = submitted["result"]["id"]
    service.wait_status(run_id, "waiting_approval")
    waiting = act(pack, config, "get_run", run_id=run_id)
    assert waiting["status"] == "succeeded"
    assert waiting["result"]["status"] == "waiting_approval" and waiting["result"]["verdict"]["contain"] is True
    assert waiting["result"]["approval"]["status"] == "pending"

    approved = act(pack, config, "approve", run_id=run_id, analyst="alice", comment="mimicry, contain")
    assert approved["status"] == "succeeded", approved
    service.wait_status(run_id, "completed")
    done = act(pack, config, "get_run", run_id=run_id)["result"]
    blocks = [e for e in done["effects"] if e["action"] in ("firewall.block", "proxy.block_certificate")]
    assert blocks and all(e["verified"] for e in blocks)
    ruleset = (service.lab.root / "firewall" / "certsoar.nft").read_text()
    assert all(e["target"] in ruleset for e in blocks if e["action"] == "firewall.block")
    assert approvals(service) == [("alice", "alice-cli")]

    listed = act(pack, config, "list_runs", status="completed")
    assert listed["status"] == "succeeded" and [r["id"] for r in listed["result"]["runs"]] == [run_id]
    released = act(pack, config, "release", run_id=run_id, analyst="bob", comment="false positive after all")
    assert released["status"] == "succeeded", released


@pytest.mark.real
def test_refusals_are_failed_actions_that_change_nothing(pack: Path, service: Any) -> None:
    wrong = act(pack, {**pack_config(service), "token": "not-the-token-0123456789"}, "test_connectivity")
    assert wrong["status"] == "failed" and wrong["result"]["status_code"] == 401
    assert "not-the-token" not in json.dumps(wrong)

    # alice submits with a token of her own, so certsoar's four eyes refuse her approval of it
    alice_submits = pack_config(service, token="alice-soar")
    run_id = act(pack, alice_submits, "submit_alert", alert=new_alert(service))["result"]["id"]
    service.wait_status(run_id, "waiting_approval")
    before = (
        store(service, "SELECT run_id, analyst, decision FROM decisions"),
        store(service, "SELECT key FROM effects"),
    )
    config = {**pack_config(service), "analysts": {**pack_config(service)["analysts"], "alice": token_of("alice-soar")}}

    four_eyes = act(pack, config, "approve", run_id=run_id, analyst="alice")
    assert four_eyes["status"] == "failed" and four_eyes["result"]["status_code"] == 403
    assert "may not approve" in four_eyes["result"]["error"]
    no_role = act(pack, config, "approve", run_id=run_id, analyst="carol")
    assert no_role["status"] == "failed" and no_role["result"]["status_code"] == 403
    unmapped = act(pack, config, "deny", run_id=run_id, analyst="mallory")
    assert (
        unmapped["status"] == "failed"
        and "no certsoar token for StackStorm user 'mallory'" in unmapped["result"]["error"]
    )
    bad_alert = act(pack, config, "submit_alert", alert='{"hello": "world"}')
    assert bad_alert["status"] == "failed" and bad_alert["result"]["status_code"] == 422
    unknown = act(pack, config, "get_run", run_id="0000000000000000")
    assert unknown["status"] == "failed" and unknown["result"]["status_code"] == 404

    assert (
        store(service, "SELECT run_id, analyst, decision FROM decisions"),
        store(service, "SELECT key FROM effects"),
    ) == before
    for answer in (four_eyes, no_role, unmapped, bad_alert):
        assert all(token_of(n) not in json.dumps(answer) for n in ("alice-soar", "carol-cli", "xsoar"))


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers GET /v1/runs with [] (or a redirect to ``redirect_to``) and keeps every Authorization it got."""

    seen: list[str | None] = []
    redirect_to: str | None = None

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).seen.append(self.headers.get("Authorization"))
        if self.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.redirect_to + self.path)
            self.end_headers()
            return
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[_Recorder], tls: ssl.SSLContext | None = None) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.real
def test_tls_is_verified_unless_switched_off_and_a_redirect_is_not_followed(pack: Path, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    config = {"token": "tls-token-0123456789", "analysts": {}}

    class Service(_Recorder):
        seen: list[str | None] = []

    with serving(Service, tls) as url:
        unknown_ca = act(pack, {**config, "url": url}, "test_connectivity")
        assert unknown_ca["status"] == "failed" and "CERTIFICATE_VERIFY_FAILED" in unknown_ca["result"]["error"]
        assert Service.seen == []  # the handshake failed: the token was never sent
        assert act(pack, {**config, "url": url, "ca_bundle": str(cert)}, "test_connectivity")["status"] == "succeeded"
        assert act(pack, {**config, "url": url, "verify_tls": False}, "test_connectivity")["status"] == "succeeded"

    class Elsewhere(_Recorder):
        seen: list[str | None] = []

    with serving(Elsewhere) as elsewhere:

        class Redirecting(_Recorder):
            seen: list[str | None] = []
            redirect_to = elsewhere

        with serving(Redirecting) as url:
            redirected = act(pack, {**config, "url": url}, "test_connectivity")
    assert redirected["status"] == "failed" and redirected["result"]["status_code"] == 302
    assert Redirecting.seen == ["Bearer tls-token-0123456789"] and Elsewhere.seen == []
    assert "tls-token" not in json.dumps(redirected)


# --- the workflow: an inquiry's answer is the approver's decision --------------------------------------


def conduct(pack: Path, service: Any, approver: str, response: dict[str, Any], *, looks: int = 120) -> dict[str, Any]:
    inputs = {"alert": new_alert(service), "approver": approver, "poll_delay": 1, "poll_count": looks, "ttl": 60}
    for name, spec in yaml.safe_load((pack / "actions" / "triage.yaml").read_text())["parameters"].items():
        inputs.setdefault(name, spec.get("default"))
    answer: dict[str, Any] = in_sdk(
        "conduct_triage.py", str(pack), json.dumps(pack_config(service)), json.dumps(inputs), json.dumps(response)
    )
    return answer


def steps(conducted: dict[str, Any]) -> list[str]:
    """The tasks the workflow ran, a task polled several times (a retry) counted once."""
    ran = [t["task"] for t in conducted["tasks"]]
    return [task for i, task in enumerate(ran) if i == 0 or ran[i - 1] != task]


@pytest.mark.real
def test_the_workflow_turns_the_inquiry_answer_into_the_approvers_decision(pack: Path, service: Any) -> None:
    done = conduct(pack, service, "bob", {"decision": "approve", "comment": "mimicry of a public CA"})
    assert done["status"] == "succeeded", done["errors"]
    assert steps(done) == ["submit", "verdict", "ask", "approve", "outcome"]
    assert done["inquiries"] == [{"users": ["bob"], "route": "certsoar", "ttl": 60}]  # only bob may answer
    assert done["output"]["decision"] == "approve" and done["output"]["run"]["status"] == "completed"
    assert approvals(service) == [("bob", "bob-cli")]
    decisions = store(service, "SELECT analyst, decision, comment FROM decisions")
    assert decisions == [("bob", "approved", "mimicry of a public CA")]


@pytest.mark.real
def test_a_denial_or_a_malformed_answer_contains_nothing(pack: Path, service: Any) -> None:
    denied = conduct(pack, service, "alice", {"decision": "deny", "comment": "a lab certificate"})
    assert denied["status"] == "succeeded", denied["errors"]
    assert steps(denied) == ["submit", "verdict", "ask", "deny", "outcome"]
    assert denied["output"]["run"]["status"] == "denied"

    malformed = conduct(pack, service, "alice", {"decision": "maybe", "comment": "?"})
    assert malformed["status"] == "failed"
    assert steps(malformed) == ["submit", "verdict", "ask"]
    assert store(service, "SELECT analyst, decision FROM decisions") == [("alice", "denied")]
    assert store(service, "SELECT key FROM effects WHERE key LIKE 'firewall:%'") == []

    # no look left while the run is still queued or running: the workflow fails rather than end as done
    impatient = conduct(pack, service, "alice", {"decision": "approve", "comment": "-"}, looks=0)
    assert impatient["status"] == "failed" and steps(impatient) == ["submit", "verdict"]
    assert impatient["tasks"][-1]["result"]["status"] in ("queued", "running")


# --- drift: the pack follows the manifest --------------------------------------------------------------


def test_a_changed_summary_or_action_description_changes_the_pack(manifest: dict[str, Any], tmp_path: Path) -> None:
    changed = json.loads(json.dumps(manifest))
    for endpoint in changed["service"]:
        if endpoint["path"] == "/v1/runs/{run_id}/approve":
            endpoint["summary"] = "Approve, said differently"
    changed["actions"][0]["description"] = "An action described anew"
    export("stackstorm", changed, tmp_path / "changed")
    pack = tmp_path / "changed" / "certsoar"
    assert yaml.safe_load((pack / "actions" / "approve.yaml").read_text())["description"] == "Approve, said differently"
    assert (pack / "actions" / "approve.py").read_text().startswith('"""Approve, said differently"""')
    readme = (pack / "README.md").read_text()
    assert "Approve, said differently" in readme and "An action described anew" in readme
    assert f"| `{changed['actions'][0]['name']}` | An action described anew |" in readme


def test_the_readme_documents_every_operation_playbook_and_run_field(manifest: dict[str, Any], pack: Path) -> None:
    readme = (pack / "README.md").read_text()
    for endpoint in manifest["service"]:
        if endpoint["path"].startswith("/v1/runs") or endpoint["path"] == "/v1/alerts":
            assert endpoint["summary"] in readme
    assert all(f"`{pb['id']}`" in readme for pb in manifest["playbooks"])
    assert "| `verdict.severity` |" in readme and "| `token` | string (secret) |" in readme
