"""The release endpoint of `certsoar serve`: a token's analyst asks to take a run's containment back, another
analyst approves it, the blocks are gone; the refusals change nothing."""

from __future__ import annotations

from servicelab import Service
from test_api import store_snapshot, waiting_run


def test_release_through_the_api_with_four_eyes(service: Service) -> None:
    run_id = waiting_run(service)
    with service.client("alice-cli") as alice:
        assert alice.post(f"/v1/runs/{run_id}/approve", json={}).status_code == 200
    service.wait_status(run_id, "completed")
    ruleset = service.lab.root / "firewall" / "certsoar.nft"
    assert "203.0.113.45" in ruleset.read_text()

    before = store_snapshot(service)
    with service.client("reader") as reader:
        assert reader.post(f"/v1/runs/{run_id}/release", json={"comment": "fp"}).status_code == 403
    with service.client("alice-cli") as alice:
        assert alice.post(f"/v1/runs/{run_id}/release", json={}).status_code == 422  # a release says why
        assert alice.post("/v1/runs/0123456789abcdef/release", json={"comment": "fp"}).status_code == 404
    assert store_snapshot(service) == before

    with service.client("alice-cli") as alice:
        asked = alice.post(f"/v1/runs/{run_id}/release", json={"comment": "a false positive"})
        assert asked.status_code == 200, asked.text
        release_id = asked.json()["id"]
        assert asked.json()["status"] == "waiting_approval" and asked.json()["playbook"] == "certificate-release"
        assert alice.post(f"/v1/runs/{release_id}/approve", json={}).status_code == 403  # who asked may not approve
    with service.client("bob-cli") as bob:
        assert bob.post(f"/v1/runs/{release_id}/approve", json={}).status_code == 200
    done = service.wait_status(release_id, "completed")
    assert done["ticket"]["status"] == "released"
    assert "203.0.113.45" not in ruleset.read_text()
    assert all(e["verified"] for e in done["effects"] if e["action"] == "firewall.unblock")
