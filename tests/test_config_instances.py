"""``connectors.<kind>`` is one section (as it always was) or a list of sections, each named; the names are
checked when the config loads: a list without a name, two sections of one name, a name that cannot be part of
an effect key, each refused naming the field (exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from certsoar.config import load_config
from certsoar.connections import Connections
from certsoar.errors import EXIT_USAGE, ConfigError

CA = {"type": "openssl-ca", "openssl_config": "ca/openssl.cnf"}
LOGS = {"type": "files", "paths": ["logs"]}


def write(tmp_path: Path, connectors: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"state_dir": "state", "connectors": connectors}), encoding="utf-8")
    return path


def test_one_section_loads_as_before(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, {"siem": LOGS, "ca": CA}), with_files=False)
    assert config.connectors.siem is not None and not isinstance(config.connectors.siem, list)
    assert [s.instance for s in config.connectors.sections("ca")] == ["openssl-ca"]  # the type names it
    connections = Connections(config)
    assert connections.instances("siem") == ["files"] and connections.instance("ca") == "openssl-ca"


def test_a_list_of_named_sections(tmp_path: Path) -> None:
    siems = [dict(LOGS, name="zeek"), dict(LOGS, name="suricata", search_timeout="90s")]
    cas = [dict(CA, name="issuing-a"), dict(CA, name="issuing-b", openssl_config="b/openssl.cnf")]
    config = load_config(write(tmp_path, {"siem": siems, "ca": cas}), with_files=False)
    connections = Connections(config)
    assert connections.instances("siem") == ["zeek", "suricata"]
    assert connections.search_timeout("suricata") == 90 and connections.search_timeout("zeek") == 300
    assert connections.instances("ca") == ["issuing-a", "issuing-b"]
    with pytest.raises(ConfigError, match=r"connectors.ca: 2 instances \(issuing-a, issuing-b\); name the one meant"):
        connections.instance("ca")


@pytest.mark.parametrize(
    ("connectors", "message"),
    [
        ({"ca": [CA, dict(CA, name="b")]}, "ca[0].name: every section of a list needs a name"),
        ({"siem": [dict(LOGS, name="x"), dict(LOGS, name="x")]}, "siem[1].name: 'x' is also the name of siem[0]"),
        ({"firewall": [{"type": "nftables", "name": "a:b", "ruleset": "f.nft"}]}, "firewall[0].name: Value error, "),
        ({"firewall": []}, "firewall: an empty list"),
        ({"ca": [dict(CA, name="a"), {"name": "b"}]}, "connectors.ca[1].type: Field required"),
        ({"ca": "openssl-ca"}, "connectors.ca: Input should be a valid dictionary"),
        ({"ticket": [{"type": "local", "name": "a"}, {"type": "local", "name": "b"}]}, "ticket: one ticket system"),
        ({"ca": dict(CA, search_timeout="1m")}, "ca.search_timeout: a search timeout belongs to connectors.siem"),
        ({"siem": [dict(LOGS, name="a"), dict(LOGS, name="b", path=["x"])]}, "connectors.siem b (files): path: "),
    ],
)
def test_a_bad_list_is_refused_naming_the_field(tmp_path: Path, connectors: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, connectors), with_files=False)
    assert message in str(refused.value) and refused.value.exit_code == EXIT_USAGE


def test_the_cli_exits_2_naming_the_duplicate(tmp_path: Path) -> None:
    config = write(tmp_path, {"siem": [dict(LOGS, name="zeek"), dict(LOGS, name="zeek")]})
    done = subprocess.run(
        [sys.executable, "-m", "certsoar", "connectors", "check", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "siem[1].name: 'zeek' is also the name of siem[0]" in done.stderr
    assert done.stdout == ""  # nothing is checked with a config that does not load
