"""The API of `certsoar serve`, driven over loopback: alerts in, runs out, decisions by token, and every
refusal a clean 4xx that changes nothing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from servicelab import Service, make_service, token_of

JSON = {"Content-Type": "application/json"}


def post_alert(service: Service, body: bytes, *, token: str = "xsoar", **params: str) -> httpx.Response:
    with service.client(token) as c:
        return c.post("/v1/alerts", content=body, headers=JSON, params=params)


def mimicry(service: Service) -> bytes:
    return service.lab.alerts["mimicry"].read_bytes()


def waiting_run(service: Service, *, token: str = "xsoar") -> str:
    """A new run (an alert id of its own) waiting for approval."""
    alert = {**json.loads(mimicry(service)), "id": f"siem-{uuid.uuid4().hex[:12]}"}
    accepted = post_alert(service, json.dumps(alert).encode(), token=token)
    assert accepted.status_code == 202, accepted.text
    run_id = str(accepted.json()["id"])
    service.wait_status(run_id, "waiting_approval")
    return run_id


def store_snapshot(service: Service) -> tuple[Any, ...]:
    """What a refusal must not change: runs, decisions, effects and the containment targets."""
    db = sqlite3.connect(service.lab.root.parent / "runs.sqlite3")
    try:
        runs = db.execute("SELECT id, status FROM runs ORDER BY id").fetchall()
        decisions = db.execute("SELECT run_id, analyst, decision FROM decisions ORDER BY 1, 2").fetchall()
        effects = db.execute("SELECT key, state FROM effects ORDER BY key").fetchall()
    finally:
        db.close()
    targets = [
        p.read_bytes() if p.exists() else None
        for p in (
            service.lab.root / "firewall" / "certsoar.nft",
            service.lab.root / "proxy" / "rogue-certs.txt",
            service.lab.crl,
        )
    ]
    return runs, decisions, effects, targets


def audit_events(service: Service, event: str) -> list[dict[str, Any]]:
    db = sqlite3.connect(service.lab.root.parent / "runs.sqlite3")
    try:
        rows = db.execute("SELECT data FROM audit WHERE event=? ORDER BY seq", (event,)).fetchall()
    finally:
        db.close()
    return [json.loads(r[0]) for r in rows]


def test_alert_to_verified_containment_and_the_same_alert_again(service: Service) -> None:
    accepted = post_alert(service, mimicry(service))
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["id"]
    assert accepted.headers["Location"] == f"/v1/runs/{run_id}"
    assert accepted.json()["status"] == "queued"
    run = service.wait_status(run_id, "waiting_approval")
    assert "issuer_mimicry" in [r["rule"] for r in run["verdict"]["reasons"]] and run["verdict"]["contain"]

    again = post_alert(service, mimicry(service))
    assert again.status_code == 200 and again.json()["id"] == run_id

    with service.client("alice-cli") as alice:
        decided = alice.post(f"/v1/runs/{run_id}/approve", json={"comment": "mimicry, contain"})
    assert decided.status_code == 200, decided.text
    done = service.wait_status(run_id, "completed")
    blocks = [e for e in done["effects"] if e["action"] in ("firewall.block", "proxy.block_certificate")]
    assert blocks and all(e["verified"] for e in blocks)
    ruleset = (service.lab.root / "firewall" / "certsoar.nft").read_text()
    for e in blocks:
        if e["action"] == "firewall.block":
            assert e["target"] in ruleset

    approvals = audit_events(service, "approval.approved")
    assert [(a["analyst"], a["via"], a["credential"]) for a in approvals if "analyst" in a] == [
        ("alice", "api", "alice-cli")
    ]
    created = audit_events(service, "run.created")
    assert created[0]["submitted_by"] == "xsoar"

    with service.client("reader") as c:
        listed = c.get("/v1/runs", params={"status": "completed"}).json()
        assert [r["id"] for r in listed] == [run_id]
        assert c.get("/v1/runs", params={"status": "queued"}).json() == []
        future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
        assert c.get("/v1/runs", params={"since": future}).json() == []


def test_kill_right_after_the_202_loses_nothing(service_lab: Path, tmp_path: Path) -> None:
    svc = make_service(service_lab, tmp_path)
    svc.start()
    try:
        accepted = post_alert(svc, mimicry(svc))
        assert accepted.status_code == 202
        svc.kill()
        run_id = accepted.json()["id"]
        svc.start()
        svc.wait_status(run_id, "waiting_approval")
        svc.stop()
        svc.start()  # a restart while the run waits: still approvable after it
        with svc.client("alice-cli") as alice:
            assert alice.post(f"/v1/runs/{run_id}/approve", json={}).status_code == 200
        svc.wait_status(run_id, "completed")
    finally:
        svc.stop()


def test_many_alerts_killed_at_once_all_run_after_restart(service_lab: Path, tmp_path: Path) -> None:
    """Every 202 is a persisted run: alerts with distinct ids, SIGKILL mid-stream, restart, none lost."""
    svc = make_service(service_lab, tmp_path)
    svc.start()
    base = json.loads(mimicry(svc))
    ids = []
    try:
        for i in range(12):
            accepted = post_alert(svc, json.dumps({**base, "id": f"siem-kill-{i}"}).encode())
            assert accepted.status_code == 202
            ids.append(accepted.json()["id"])
        svc.kill()
        svc.start()
        for run_id in ids:
            svc.wait_status(run_id, "waiting_approval", timeout=180)
    finally:
        svc.stop()


def test_refusals_are_clean_and_change_nothing(service: Service) -> None:
    run_id = waiting_run(service, token="alice-soar")  # alice submitted it: she is its requester
    before = store_snapshot(service)
    body = mimicry(service)
    with httpx.Client(base_url=service.url, timeout=30) as anon:
        r = anon.post("/v1/alerts", content=body, headers=JSON)
        assert r.status_code == 401 and r.json()["error"] and r.headers["www-authenticate"] == "Bearer"
        r = anon.post("/v1/alerts", content=body, headers={**JSON, "Authorization": "Bearer not-a-token"})
        assert r.status_code == 401
        assert "not-a-token" not in r.text
        r = anon.post(f"/v1/runs/{run_id}/approve", json={}, headers={"Authorization": "Basic YWxpY2U6eA=="})
        assert r.status_code == 401
    with service.client("reader") as reader:
        assert reader.post("/v1/alerts", content=body, headers=JSON).status_code == 403
        assert reader.post(f"/v1/runs/{run_id}/approve", json={}).status_code == 403
    with service.client("xsoar") as soar:
        assert soar.post(f"/v1/runs/{run_id}/approve", json={}).status_code == 403  # no decide scope
        r = soar.post("/v1/alerts", content=b"x" * (1024 * 1024 + 1), headers=JSON)
        assert r.status_code == 413
        r = soar.post("/v1/alerts", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 415
        r = soar.post("/v1/alerts", content=b'{"hello": "world"}', headers=JSON)
        assert r.status_code == 422 and "format" in r.json()["error"].lower() or "generic" in r.json()["error"]
        r = soar.post("/v1/alerts", content=body, headers=JSON, params={"playbook": "../../etc/passwd"})
        assert r.status_code == 422
        r = soar.post("/v1/alerts", content=body, headers=JSON, params={"format": "nonesuch"})
        assert r.status_code == 422
    with service.client("carol-cli") as carol:
        r = carol.post(f"/v1/runs/{run_id}/approve", json={})
        assert r.status_code == 403 and "roles" in r.json()["error"]
    with service.client("alice-soar") as alice:
        r = alice.post(f"/v1/runs/{run_id}/approve", json={})
        assert r.status_code == 403 and "may not approve" in r.json()["error"]
        r = alice.post(f"/v1/runs/{run_id}/approve", json={"analyst": "bob"})
        assert r.status_code == 422  # the analyst is the token's, never the body's
        assert alice.post("/v1/runs/0000000000000000/approve", json={}).status_code == 404
        assert alice.get("/v1/runs/0000000000000000").status_code == 404
    assert store_snapshot(service) == before
    refused = audit_events(service, "decision.refused")
    assert {(r["analyst"], r["credential"]) for r in refused} == {("carol", "carol-cli"), ("alice", "alice-soar")}
    assert len(audit_events(service, "auth.refused")) >= 5
    log = service.log.read_text()
    assert "test-token" not in log and all(token_of(n) not in json.dumps(refused) for n in ("alice-soar", "xsoar"))


def test_decisions_on_settled_and_expired_runs_are_refused(service: Service) -> None:
    denied = waiting_run(service)
    with service.client("bob-cli") as bob:
        assert bob.post(f"/v1/runs/{denied}/deny", json={"comment": "benign"}).status_code == 200
    service.wait_status(denied, "denied")
    before = store_snapshot(service)
    with service.client("alice-cli") as alice:
        r = alice.post(f"/v1/runs/{denied}/approve", json={})
        assert r.status_code == 409 and "denied by bob" in r.json()["error"]
    assert store_snapshot(service) == before

    base = json.loads(mimicry(service))
    accepted = post_alert(service, json.dumps({**base, "id": "siem-expiring"}).encode())
    expiring = accepted.json()["id"]
    service.wait_status(expiring, "waiting_approval")
    db = sqlite3.connect(service.lab.root.parent / "runs.sqlite3")  # time passes: the gate's expiry is now past
    with db:
        db.execute("UPDATE approvals SET expires=? WHERE run_id=?", ("2000-01-01T00:00:00+00:00", expiring))
    db.close()
    with service.client("alice-cli") as alice:
        r = alice.post(f"/v1/runs/{expiring}/approve", json={})
        assert r.status_code == 409 and "expired" in r.json()["error"]
    run = service.wait_status(expiring, "expired")
    assert not [e for e in run["effects"] if e["action"] in ("firewall.block", "proxy.block_certificate")]

    completed = waiting_run(service, token="alice-soar")
    with service.client("bob-cli") as bob:
        assert bob.post(f"/v1/runs/{completed}/approve", json={}).status_code == 200
    service.wait_status(completed, "completed")
    before = store_snapshot(service)
    with service.client("bob-cli") as bob:
        assert bob.post(f"/v1/runs/{completed}/deny", json={}).status_code == 409
    assert store_snapshot(service) == before


def test_the_service_ends_expired_approvals_itself(service_lab: Path, tmp_path: Path) -> None:
    svc = make_service(service_lab, tmp_path)
    svc.start()
    try:
        run_id = waiting_run(svc)
        svc.stop()
        db = sqlite3.connect(svc.lab.root.parent / "runs.sqlite3")
        with db:
            db.execute("UPDATE approvals SET expires=? WHERE run_id=?", ("2000-01-01T00:00:00+00:00", run_id))
        db.close()
        svc.start()  # the expiry sweep runs at start and then periodically
        svc.wait_status(run_id, "expired")
    finally:
        svc.stop()


def test_queue_full_is_429_with_retry_after(service_lab: Path, tmp_path: Path) -> None:
    svc = make_service(service_lab, tmp_path, workers=1, queue_size=1)
    svc.start()
    base = json.loads(mimicry(svc))
    try:
        codes = []
        for i in range(8):
            r = post_alert(svc, json.dumps({**base, "id": f"siem-q-{i}"}).encode())
            codes.append(r.status_code)
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) >= 1
        assert 429 in codes and codes[0] == 202
        with svc.client("reader") as c:
            stored = {r["alert_id"] for r in c.get("/v1/runs").json()}
        assert len(stored) == codes.count(202)  # a refused alert is not stored
    finally:
        svc.stop()


def test_repeated_refusals_are_rate_limited(service: Service) -> None:
    with httpx.Client(base_url=service.url, timeout=30) as anon:
        codes = [anon.get("/v1/runs", headers={"Authorization": "Bearer wrong"}).status_code for _ in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    with service.client("reader") as c:  # the same address, now with a good token: still refused for a while
        r = c.get("/v1/runs")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


def test_health_readiness_metrics_and_openapi(service: Service) -> None:
    run_id = waiting_run(service)
    with httpx.Client(base_url=service.url, timeout=30) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json() == {"status": "ready"}
        metrics = c.get("/metrics").text
        assert "certsoar_alerts_accepted_total 1.0" in metrics
        assert 'certsoar_runs{status="waiting_approval"} 1.0' in metrics
        assert "certsoar_queue_depth 0.0" in metrics
        assert 'certsoar_step_seconds_count{action="certificate.analyze"}' in metrics
        paths = c.get("/openapi.json").json()["paths"]
        assert {"/v1/alerts", "/v1/runs", "/v1/runs/{run_id}", "/v1/runs/{run_id}/approve"} <= set(paths)
    assert run_id


def test_token_new_and_passwd(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "certsoar", "token", "new", "xsoar", "--scope", "alerts", "--scope", "read"],
        capture_output=True,
        text=True,
        check=True,
    )
    secret = done.stdout.split("): ", 1)[1].split()[0]
    from certsoar.service.identity import token_digest

    assert token_digest(secret) in done.stdout and "scopes: [alerts, read]" in done.stdout
    again = subprocess.run(
        [sys.executable, "-m", "certsoar", "token", "new", "xsoar"], capture_output=True, text=True, check=True
    )
    assert again.stdout.split("): ", 1)[1].split()[0] != secret
    refused = subprocess.run(
        [sys.executable, "-m", "certsoar", "token", "new", "x", "--scope", "decide"], capture_output=True, text=True
    )
    assert refused.returncode == 2
    hashed = subprocess.run(
        [sys.executable, "-m", "certsoar", "passwd", "alice"],
        input="correct horse battery\n",
        capture_output=True,
        text=True,
        check=True,
    )
    line = hashed.stdout.strip()
    assert line.startswith('analysts.alice.password_hash: "$argon2id$') and "correct horse" not in line
    from certsoar.service.identity import verify_password

    h = json.loads(line.split(": ", 1)[1])
    assert verify_password(h, "correct horse battery") and not verify_password(h, "wrong horse battery")
    short = subprocess.run(
        [sys.executable, "-m", "certsoar", "passwd", "alice"], input="short\n", capture_output=True, text=True
    )
    assert short.returncode == 2


def test_every_scoped_endpoint_of_the_manifest_refuses_without_its_scope(service: Service) -> None:
    from certsoar.manifest import build_manifest

    scoped = [e for e in build_manifest()["service"] if e["scope"]]
    assert {e["scope"] for e in scoped} == {"alerts", "read", "decide", "feeds"}
    scoped = [e for e in scoped if e["scope"] != "feeds"]  # tests/service/test_api_feeds.py (here: past the limiter)
    with httpx.Client(base_url=service.url, timeout=30) as anon, service.client("reader") as reader:
        for e in scoped:
            path = e["path"].replace("{run_id}", "0000000000000000")
            assert anon.request(e["method"], path).status_code == 401, e
            if e["scope"] != "read":
                assert reader.request(e["method"], path, headers=JSON, content=b"{}").status_code == 403, e


def test_the_readme_wiring_examples_are_accepted(service: Service) -> None:
    """The README's curl examples: a Splunk notable (tests/data/intake/splunk) and an XSOAR-style generic alert."""
    notable = (Path(__file__).parents[1] / "data" / "intake" / "splunk" / "notable-export.json").read_bytes()
    generic = json.dumps(
        {
            "id": "xsoar-4711",
            "time": "2026-11-27T08:00:00Z",
            "host": "ws-0137",
            "dst_ip": "203.0.113.45",
            "dst_port": 443,
            "sni": "cdn-update.net",
            "sha256": "ab" * 32,
        }
    ).encode()
    for body, params in ((notable, {}), (generic, {"format": "generic"})):
        accepted = post_alert(service, body, **params)
        assert accepted.status_code == 202, accepted.text
        run = service.wait_status(accepted.json()["id"], "completed", "waiting_approval", "failed")
        assert run["status"] != "failed", run


def test_a_dry_run_answers_the_plan_and_stores_nothing(service: Service) -> None:
    before = store_snapshot(service)
    r = post_alert(service, mimicry(service), dry_run="true")
    assert r.status_code == 200, r.text
    run = r.json()["run"]
    assert run["status"] == "waiting_approval" or run["effects"]
    assert store_snapshot(service) == before
    assert post_alert(service, mimicry(service), playbook="nonesuch", dry_run="true").status_code == 422
