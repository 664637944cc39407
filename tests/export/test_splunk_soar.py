"""The Splunk SOAR app (`certsoar export splunk-soar`), proved with the vendor's own SDK (PyPI splunk-soar-sdk)
in its own virtualenv: ``soarapps`` builds the installable tarball, and the SDK's action runner (what
``app.cli()`` runs) drives every action against a live `certsoar serve` on loopback."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from realcomponents import missing

from certsoar.export import export
from certsoar.export.soar import RUN_FIELDS, markdown_cell, operations
from certsoar.export.splunk_soar import DATA_ROOT, SDK_VERSION, run_output
from certsoar.manifest import build_manifest

SDK = Path(os.environ.get("CERTSOAR_SPLUNK_SOAR_SDK", "/opt/certsoar-sdks/splunk-soar"))
WHEELS = Path(os.environ.get("CERTSOAR_SPLUNK_SOAR_WHEELS", "/opt/certsoar-sdks/splunk-soar-wheels"))
CONTAINMENT = {"ca.revoke", "firewall.block", "proxy.block_certificate"}
RUN_ACTIONS = ("submit alert", "get run", "list runs", "approve run", "deny run", "release run")


def _service_helpers() -> ModuleType:
    """tests/service/servicelab.py (the live `certsoar serve`), by path: tests/service is not on the path here."""
    path = Path(__file__).parents[1] / "service" / "servicelab.py"
    spec = importlib.util.spec_from_file_location("splunk_soar_service_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


live = _service_helpers()


def sdk_python() -> Path:
    """The SDK's interpreter, or a skip naming what .ci/splunk-soar-sdk installs."""
    if not (SDK / "bin" / "soarapps").exists() or not (WHEELS / "index.html").exists():
        raise missing(f"splunk-soar-sdk in {SDK} and its wheelhouse in {WHEELS} (run .ci/splunk-soar-sdk)")
    return SDK / "bin" / "python"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return build_manifest()


@pytest.fixture(scope="module")
def app_dir(manifest: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The SDK imports the app as <folder>.src.app: the folder's name must be a Python identifier.
    target = tmp_path_factory.mktemp("export") / "certsoar_app"
    export("splunk-soar", manifest, target)
    return target


# The SDK's own action runner (AppCliRunner, what `python -m src.app action ...` runs), then the action
# results it recorded, as JSON on the last line.
DRIVER = """
import json, sys
from soar_sdk.app_cli_runner import AppCliRunner
from src.app import app
AppCliRunner(app).run(sys.argv[1:])
results = app.actions_manager.get_action_results()
print("RESULTS " + json.dumps([
    {"status": r.get_status(), "message": r.get_message(), "data": r.get_data()} for r in results
]))
"""


class Soar:
    """Runs the exported app's actions with the SDK, as Splunk SOAR would, against one asset."""

    def __init__(self, app: Path, work: Path, base_url: str) -> None:
        self.app, self.work, self.base_url = app, work, base_url
        self.outputs: list[str] = []

    def run(self, action: str, token: str, **params: Any) -> dict[str, Any]:
        asset = self.work / "asset.json"
        asset.write_text(json.dumps({"base_url": self.base_url, "token": token, "timeout_seconds": 60}))
        args = [str(sdk_python()), "-c", DRIVER, "action", action, "-a", str(asset)]
        if action != "test_connectivity":
            (self.work / "params.json").write_text(json.dumps(params))
            args += ["-p", str(self.work / "params.json")]
        done = subprocess.run(args, cwd=self.app, capture_output=True, text=True, timeout=120)
        self.outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0, done.stdout + done.stderr
        line = [x for x in done.stdout.splitlines() if x.startswith("RESULTS ")][-1]
        (result,) = json.loads(line.removeprefix("RESULTS "))
        return dict(result)

    def ok(self, action: str, token: str, **params: Any) -> list[dict[str, Any]]:
        result = self.run(action, token, **params)
        assert result["status"], result["message"]
        return list(result["data"])


service_lab = live.service_lab  # the service tests' pristine lab fixture (openssl), copied per test by make_service


@pytest.fixture
def soar_and_service(service_lab: Path, app_dir: Path, tmp_path: Path) -> Iterator[tuple[Soar, Any]]:
    sdk_python()
    service = live.make_service(service_lab, tmp_path)
    service.start()
    yield Soar(app_dir, tmp_path, service.url), service
    service.stop()


@pytest.mark.real
def test_the_sdk_builds_the_tarball_with_every_action_and_its_data_paths(
    app_dir: Path, manifest: dict[str, Any], tmp_path: Path
) -> None:
    python = sdk_python()
    project = tmp_path / "certsoar_app"
    shutil.copytree(app_dir, project)
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_CACHE_DIR": str(tmp_path / "uv-cache")}
    port = live.free_port()
    index = subprocess.Popen(
        [str(python), "-c", WHEELHOUSE_SERVER, str(port), str(WHEELS)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_served(f"http://127.0.0.1:{port}/index.html", index)
        lock = [str(SDK / "bin" / "uv"), "lock", "--python", str(python), "--no-index"]
        sdk(lock + ["--find-links", f"http://127.0.0.1:{port}/"], project, env)
        sdk([str(SDK / "bin" / "soarapps"), "manifests", "create", "app.json", "."], project, env)
        shown = sdk([str(SDK / "bin" / "soarapps"), "manifests", "display", "app.json"], project, env)
        assert "submit alert" in shown
        build = [str(SDK / "bin" / "soarapps"), "package", "build", ".", "-o", str(tmp_path / "certsoar.tgz")]
        sdk(build, project, env, attempts=3)
    finally:
        index.terminate()
        index.wait(10)

    with tarfile.open(tmp_path / "certsoar.tgz") as tarball:
        names = tarball.getnames()
        app_json = json.loads(_member(tarball, "certsoar/manifest.json"))
        readme = _member(tarball, "certsoar/README.md").decode()
    assert "certsoar/src/app.py" in names and any(n.startswith("certsoar/wheels/") for n in names)
    assert app_json["appid"] == json.loads((project / "app.json").read_text())["appid"]
    assert app_json["configuration"]["token"]["data_type"] == "password"

    actions = {a["action"]: a for a in app_json["actions"]}
    assert set(actions) == {"test connectivity", *RUN_ACTIONS}
    described = {op.name: op.description for op in operations(manifest)}
    assert actions["approve run"]["description"] == described["approve"]
    assert actions["submit alert"]["description"] == described["submit_alert"]
    _, documented = run_output()
    for name in RUN_ACTIONS:
        paths = {o["data_path"]: o["data_type"] for o in actions[name]["output"]}
        for field in RUN_FIELDS:
            here = f"{DATA_ROOT}.{field.path}"
            assert any(p == here or p.startswith(here + ".") for p in paths), (name, field.path)
        for d in documented:
            assert paths.get(d.path) == d.type, (name, d.path)
            assert f"`{d.path}`" in readme
    assert actions["get run"]["read_only"] and not actions["approve run"]["read_only"]


def wait_until_served(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the wheelhouse server exited {server.returncode}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} was not served within 30 s")


def _member(tarball: tarfile.TarFile, name: str) -> bytes:
    member = tarball.extractfile(name)
    assert member is not None, name
    return member.read()


# The SDK fetches every wheel at once with httpx's default 5-second timeout: the wheelhouse is served by
# threads with a deep accept queue (http.server's is 5), and a build that timed out on a loaded machine is
# tried again; any other failure fails at once.
WHEELHOUSE_SERVER = """
import functools, http.server, sys

class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256

handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])
Server(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
"""


def sdk(args: list[str], cwd: Path, env: dict[str, str], attempts: int = 1) -> str:
    for attempt in range(1, attempts + 1):
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        timed_out = "Timeout" in done.stdout + done.stderr
        if done.returncode == 0 or not timed_out or attempt == attempts:
            break
    assert done.returncode == 0, f"{args[:3]} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.real
def test_submit_wait_approve_and_the_containment_is_verified(soar_and_service: tuple[Soar, Any]) -> None:
    soar, service = soar_and_service
    assert soar.run("test_connectivity", live.token_of("reader"))["status"]

    alert = service.lab.alerts["internal"].read_text()
    (submitted,) = soar.ok("submit_alert", live.token_of("xsoar"), alert=alert, playbook="certificate-alert")
    run_id = submitted["id"]
    assert submitted["playbook"] == "certificate-alert" and submitted["status"] in (
        "queued",
        "running",
        "waiting_approval",
    )
    service.wait_status(run_id, "waiting_approval")
    (waiting,) = soar.ok("get_run", live.token_of("reader"), run_id=run_id)
    assert waiting["status"] == "waiting_approval" and waiting["approval"]["status"] == "pending"
    assert waiting["verdict"]["contain"] and "unauthorized_internal" in [
        r["rule"] for r in waiting["verdict"]["reasons"]
    ]
    assert waiting["approval"]["roles"] == ["soc-tier2"]

    (approved,) = soar.ok("approve_run", live.token_of("alice-cli"), run_id=run_id, comment="ours must not issue this")
    done = service.wait_status(run_id, "completed")
    assert approved["id"] == run_id and approved["approval"]["status"] == "approved"
    actions = {e["action"] for e in done["effects"]}
    assert {"ca.revoke", "firewall.block"} <= actions and all(e["verified"] for e in done["effects"])
    (shown,) = soar.ok("get_run", live.token_of("reader"), run_id=run_id)
    assert shown["status"] == "completed" and {e["action"] for e in shown["effects"]} == actions
    assert all(e["verified"] for e in shown["effects"]) and shown["ticket"]["id"]
    revoked = subprocess.run(
        ["openssl", "ca", "-config", str(service.lab.ca_config), "-status", "1002"],
        capture_output=True,
        text=True,
        cwd=service.lab.ca_dir,
    )
    assert "Revoked" in revoked.stdout + revoked.stderr

    listed = soar.ok("list_runs", live.token_of("reader"), status="completed", limit=10)
    assert [r["id"] for r in listed] == [run_id]

    (release,) = soar.ok("release_run", live.token_of("alice-cli"), run_id=run_id, comment="the CA team's test")
    assert release["playbook"] == "certificate-release" and release["status"] == "waiting_approval"
    assert not any("test-token" in out for out in soar.outputs)


@pytest.mark.real
def test_refusals_fail_the_action_with_the_services_message_and_change_nothing(
    soar_and_service: tuple[Soar, Any],
) -> None:
    soar, service = soar_and_service
    wrong = "not-a-certsoar-token-0123456789"
    refused = soar.run("test_connectivity", wrong)
    assert not refused["status"] and "HTTP 401" in refused["message"], refused
    refused = soar.run("get_run", wrong, run_id="0123456789abcdef")
    assert not refused["status"] and "HTTP 401" in refused["message"] and refused["data"] == []

    alert = service.lab.alerts["mimicry"].read_text()
    (mine,) = soar.ok("submit_alert", live.token_of("alice-soar"), alert=alert)
    service.wait_status(mine["id"], "waiting_approval")
    four_eyes = soar.run("approve_run", live.token_of("alice-soar"), run_id=mine["id"])
    assert not four_eyes["status"] and "HTTP 403" in four_eyes["message"], four_eyes
    assert "alice" in four_eyes["message"]  # the service's own reason names who may not decide
    no_scope = soar.run("approve_run", live.token_of("xsoar"), run_id=mine["id"])
    assert not no_scope["status"] and "HTTP 403" in no_scope["message"] and "decide" in no_scope["message"]
    sideways = soar.run("get_run", live.token_of("reader"), run_id="../alerts")  # stays one path segment
    assert not sideways["status"] and "HTTP 404" in sideways["message"], sideways
    not_an_alert = soar.run("submit_alert", live.token_of("xsoar"), alert="{}")
    assert not not_an_alert["status"] and "HTTP 422" in not_an_alert["message"], not_an_alert
    assert service.wait_status(mine["id"], "waiting_approval")["approval"]["status"] == "pending"

    (theirs,) = soar.ok("submit_alert", live.token_of("xsoar"), alert=service.lab.alerts["internal"].read_text())
    service.wait_status(theirs["id"], "waiting_approval")
    (denied,) = soar.ok("deny_run", live.token_of("alice-cli"), run_id=theirs["id"], comment="a test certificate")
    effects = service.wait_status(theirs["id"], "denied")["effects"]
    assert denied["status"] == "denied" and not {e["action"] for e in effects} & CONTAINMENT
    outputs = "\n".join(soar.outputs)
    assert wrong not in outputs and "test-token" not in outputs


def test_a_changed_description_changes_the_app_and_its_docs(manifest: dict[str, Any], tmp_path: Path) -> None:
    before = tmp_path / "before"
    export("splunk-soar", manifest, before)
    changed = copy.deepcopy(manifest)
    hostile = 'Approve, said "differently" \\ """; import os # and a | pipe'
    for endpoint in changed["service"]:
        if endpoint["path"] == "/v1/runs/{run_id}/approve":
            endpoint["summary"] = hostile
    changed["actions"][0]["description"] = "Revoke, described anew."
    after = tmp_path / "after"
    export("splunk-soar", changed, after)

    app_py = (after / "src" / "app.py").read_text()
    compile(app_py, "app.py", "exec")  # any description stays one string literal
    assert json.dumps(hostile) in app_py and json.dumps(hostile) not in (before / "src" / "app.py").read_text()
    readme = (after / "README.md").read_text()
    assert markdown_cell(hostile) in readme and "Revoke, described anew." in readme
    assert "Revoke, described anew." not in (before / "README.md").read_text()


def test_ci_installs_the_sdk_release_the_app_pins(app_dir: Path) -> None:
    script = (Path(__file__).parents[2] / ".ci" / "splunk-soar-sdk").read_text()
    assert f"\nSDK_VERSION={SDK_VERSION}\n" in script
    assert f'"splunk-soar-sdk=={SDK_VERSION}"' in (app_dir / "pyproject.toml").read_text()
