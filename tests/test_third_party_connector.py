"""A third party adds a vendor connector and an action with entry points in its own distribution,
without touching certsoar."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PLUGIN = '''
from typing import ClassVar
from pydantic import BaseModel, ConfigDict, Field
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.context import ActionContext
from certsoar.registry import action


class TagInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str = Field(description="Server to tag.")


class TagOutput(BaseModel):
    tagged: str


@action("acme.tag")
async def tag(inp: TagInput, ctx: ActionContext) -> TagOutput:
    """Tag a server in the ACME console."""
    return TagOutput(tagged=inp.address)


class AcmeSettings(ConnectorSettings):
    group: str = Field(description="Address group to add blocked servers to.")


class AcmeFirewall:
    settings_model: ClassVar[type[ConnectorSettings]] = AcmeSettings

    def __init__(self, settings: AcmeSettings, env: ConnectorEnv) -> None:
        self.group = settings.group
        self.members: set[str] = set()

    async def blocked(self) -> set[str]:
        return set(self.members)

    async def block(self, addresses: list[str], comment: str) -> None:
        self.members.update(addresses)
'''


def test_an_entry_point_in_another_distribution_adds_a_firewall_type(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "acme_fw").mkdir(parents=True)
    (site / "acme_fw" / "__init__.py").write_text(PLUGIN)
    dist = site / "acme_fw-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-fw\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[certsoar.connectors.firewall]\nacme = acme_fw:AcmeFirewall\n[certsoar.actions]\nacme = acme_fw\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\nconnectors:\n  firewall: {{type: acme, group: rogue-servers}}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}

    def certsoar(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "certsoar", *args], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
        )

    listed = certsoar("connectors", "list")
    assert "firewall  acme         acme_fw.AcmeFirewall" in listed.stdout
    checked = json.loads(certsoar("connectors", "check", "--config", str(config), "--json").stdout)
    assert checked == [
        {
            "kind": "firewall",
            "instance": "acme",
            "type": "acme",
            "ok": True,
            "detail": "0 address(es) blocked",
            "reachable": True,
            "authenticated": None,
            "can_list": None,
            "list_detail": None,
        }
    ]
    config.write_text(f"state_dir: {tmp_path / 'state'}\nconnectors:\n  firewall: {{type: acme}}\n")
    refused = certsoar("connectors", "check", "--config", str(config))
    # a third party's settings are checked when the config loads, as the built-in ones are: exit 2
    assert refused.returncode == 2 and "connectors.firewall (acme): group: Field required" in refused.stderr

    playbook = tmp_path / "tag.yaml"
    playbook.write_text(
        "id: tag\ntrigger: {alert: certificate}\nsteps:\n"
        "  - {id: t, action: acme.tag, with: {address: '{{ alert.dst_ip }}'}}\n"
        "  - {id: u, action: acme.tag, with: {adress: x}}\n"
    )
    checked_playbook = certsoar("validate", str(playbook))
    assert checked_playbook.returncode == 1
    assert checked_playbook.stdout.splitlines() == [
        f"{playbook}:5: step u: acme.tag takes no input 'adress' (it takes: address)",
        f"{playbook}:5: step u: acme.tag needs input 'address'",
    ]
