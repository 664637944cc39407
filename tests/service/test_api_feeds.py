"""The block lists of `certsoar serve` (/v1/feeds/*.txt) on the real service: a run's block lands in the ``edl``
firewall's list, a release takes it out, and only a token with scope feeds reads it (Bearer or Basic)."""

from __future__ import annotations

import base64
import ipaddress
import subprocess
import sys
from pathlib import Path

from servicelab import Service, make_service, token_of
from test_api import waiting_run

SERVER = "203.0.113.45"
NFT_LINE = "  firewall: {type: nftables, ruleset: firewall/certsoar.nft, apply: false}\n"


def with_edl(service: Service) -> Service:
    text = service.lab.config.read_text(encoding="utf-8")
    assert NFT_LINE in text
    both = "  firewall: [{type: nftables, name: nft, ruleset: firewall/certsoar.nft, apply: false}, {type: edl, name: pulled}]\n"
    service.lab.config.write_text(text.replace(NFT_LINE, both), encoding="utf-8")
    return service


def basic(user: str, token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def test_a_block_is_served_until_it_is_released(service_lab: Path, tmp_path: Path) -> None:
    service = with_edl(make_service(service_lab, tmp_path))
    service.start()
    try:
        with service.client("firewall-pull") as pull:
            empty = pull.get("/v1/feeds/addresses.txt")
            assert empty.status_code == 200 and empty.text == ""
            assert empty.headers["content-type"].startswith("text/plain")

        run_id = waiting_run(service)
        with service.client("bob-cli") as bob:
            assert bob.post(f"/v1/runs/{run_id}/approve", json={}).status_code == 200
        done = service.wait_status(run_id, "completed")
        pulled = [
            e for e in done["effects"] if e["action"] == "firewall.block" and e["key"].startswith("firewall:pulled:")
        ]
        assert SERVER in [e["target"] for e in pulled] and all(e["changed"] and e["verified"] for e in pulled)
        listed = "".join(f"{e['target']}\n" for e in sorted(pulled, key=lambda e: ipaddress.ip_address(e["target"])))

        with service.client("firewall-pull") as pull:
            assert pull.get("/v1/feeds/addresses.txt").text == listed
            assert pull.get("/v1/feeds/sha1.txt").text == ""
            assert pull.get("/v1/feeds/sni.txt").text == ""
        with service.client() as anonymous:
            by_basic = anonymous.get("/v1/feeds/addresses.txt", headers=basic("pa-fw01", token_of("firewall-pull")))
            assert by_basic.status_code == 200 and by_basic.text == listed

        written = tmp_path / "published"
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "certsoar",
                "feeds",
                "write",
                str(written),
                "--config",
                str(service.lab.config),
                "--json",
            ],
            capture_output=True,
            text=True,
            env=service.env,
            timeout=120,
        )
        assert cli.returncode == 0, cli.stderr
        assert (written / "addresses.txt").read_text() == listed and (written / "sha1.txt").read_text() == ""
        assert (written / "sni.txt").read_text() == ""

        with service.client("alice-cli") as alice:
            release_id = alice.post(f"/v1/runs/{run_id}/release", json={"comment": "false positive"}).json()["id"]
        with service.client("bob-cli") as bob:
            assert bob.post(f"/v1/runs/{release_id}/approve", json={}).status_code == 200
        service.wait_status(release_id, "completed")
        with service.client("firewall-pull") as pull:
            assert pull.get("/v1/feeds/addresses.txt").text == ""
    finally:
        service.stop()


def test_only_a_token_with_scope_feeds_reads_a_list(service: Service) -> None:
    with service.client() as anonymous:
        refused = anonymous.get("/v1/feeds/addresses.txt")
        assert refused.status_code == 401
        challenges = refused.headers.get_list("www-authenticate")
        assert any(c.startswith("Basic ") for c in challenges) and "Bearer" in challenges
        for headers in (
            basic("pa-fw01", "not-the-token"),
            basic("pa-fw01", ""),
            {"Authorization": "Basic %%%"},
            {"Authorization": "Bearer not-the-token"},
        ):
            assert anonymous.get("/v1/feeds/addresses.txt", headers=headers).status_code == 401
    with service.client("reader") as reader:
        assert reader.get("/v1/feeds/addresses.txt").status_code == 403
        assert reader.get("/v1/feeds/other.txt").status_code == 404
    log = service.lab.root.parent / "runs.sqlite3"
    assert token_of("firewall-pull") not in log.read_bytes().decode("latin-1")


def test_feeds_public_serves_without_a_token(service_lab: Path, tmp_path: Path) -> None:
    service = make_service(service_lab, tmp_path, feeds_public="true")
    service.start()
    try:
        with service.client() as anonymous:
            answer = anonymous.get("/v1/feeds/addresses.txt")
            assert answer.status_code == 200 and answer.text == ""
    finally:
        service.stop()
