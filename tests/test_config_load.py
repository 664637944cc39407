"""Everything in the config is checked when it loads: durations, numbers, domains, URLs and the files it names
(trust roots, CRLs, the SSLBL list), each refused with the field named, before anything runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from certsoar.config import load_config
from certsoar.errors import ConfigError

DATA = Path(__file__).resolve().parent / "data"


def write(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"state_dir": "state", **config}), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"thresholds": {"traffic_change": {"after": "24hours"}}}, "thresholds.traffic_change.after: Value error, "),
        ({"thresholds": {"traffic_change": {"baseline": "0d"}}}, "thresholds.traffic_change.baseline: Value error, "),
        ({"thresholds": {"creation_burst": {"window": "1 day"}}}, "thresholds.creation_burst.window: Value error, "),
        ({"thresholds": {"creation_burst": {"renewal_window": "x"}}}, "thresholds.creation_burst.renewal_window: "),
        (
            {"thresholds": {"creation_burst": {"short_window": "2d", "window": "24h"}}},
            "short_window 2d is longer than window 24h",
        ),
        ({"thresholds": {"traffic_change": {"z": -1}}}, "thresholds.traffic_change.z: Input should be greater than 0"),
        ({"thresholds": {"traffic_change": {"bytes_floor": -5}}}, "thresholds.traffic_change.bytes_floor: "),
        ({"thresholds": {"traffic_change": {"beacon_min_connections": 1}}}, "beacon_min_connections: "),
        ({"organization": {"domains": ["corp example"]}}, "organization.domains: Value error, 'corp example' is not"),
        ({"service": {"public_url": "certsoar.corp.example"}}, "service.public_url: Value error, "),
        ({"allowlist": [{"sha256": "ab" * 32, "owner": "x", "reason": "y", "expires": "1 year"}]}, "allowlist[0]."),
    ],
)
def test_a_bad_value_is_refused_at_load_naming_the_field(tmp_path: Path, config: dict, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + str(tmp_path).replace(".", r"\.")) as refused:
        load_config(write(tmp_path, config))
    assert message in str(refused.value)


def test_a_missing_or_bad_trust_file_is_refused_at_load_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "garbage.pem").write_text("garbage")
    shutil.copy(DATA / "pkits" / "GoodCACert.crt", tmp_path / "ca.der")
    cases = [
        ({"trust": {"internal_roots": ["missing.pem"]}}, "trust.internal_roots[0]: ", "cannot read"),
        ({"trust": {"internal_roots": ["garbage.pem"]}}, "trust.internal_roots[0]: ", "not a PEM certificate bundle"),
        ({"trust": {"crls": ["missing.crl"]}}, "trust.crls[0]: ", "cannot read"),
        ({"trust": {"crls": ["ca.der"]}}, "trust.crls[0]: ", "not a PEM or DER CRL"),
        ({"intel": {"sslbl": "missing.csv"}}, "intel.sslbl: ", "cannot read"),
    ]
    for config, field, problem in cases:
        with pytest.raises(ConfigError) as refused:
            load_config(write(tmp_path, config))
        assert field in str(refused.value) and problem in str(refused.value), (config, str(refused.value))


def test_a_trust_file_of_the_wrong_kind_or_damaged_is_said_in_words(tmp_path: Path) -> None:
    der = (DATA / "pkits" / "GoodCACRL.crl").read_bytes()
    shutil.copy(DATA / "x509" / "custom__ca__ca.pem", tmp_path / "root.pem")
    (tmp_path / "short.crl").write_bytes(der[: len(der) // 2])
    (tmp_path / "tag.crl").write_bytes(b"\x31" + der[1:])
    root = (tmp_path / "root.pem").read_text().splitlines()
    (tmp_path / "broken.pem").write_text("\n".join([*root[:3], root[3][:10] + "!!!!" + root[3][14:], *root[4:]]))
    cases = [
        ({"trust": {"crls": ["root.pem"]}}, "trust.crls[0]: ", "it holds a PEM CERTIFICATE block, not an X509 CRL"),
        ({"trust": {"crls": ["short.crl"]}}, "trust.crls[0]: ", "its DER encoding is cut short"),
        ({"trust": {"crls": ["tag.crl"]}}, "trust.crls[0]: ", "its DER encoding is malformed"),
        ({"trust": {"internal_roots": ["tag.crl"]}}, "internal_roots[0]: ", "no -----BEGIN CERTIFICATE----- block"),
        ({"trust": {"internal_roots": ["broken.pem"]}}, "internal_roots[0]: ", "the PEM block is damaged"),
    ]
    for config, field, problem in cases:
        with pytest.raises(ConfigError) as refused:
            load_config(write(tmp_path, config))
        said = str(refused.value)
        assert field in said and problem in said, (config, said)
        assert "ParseError" not in said and "Tag {" not in said and "https://" not in said, said


def test_good_trust_files_and_thresholds_load(tmp_path: Path) -> None:
    shutil.copy(DATA / "pkits" / "GoodCACRL.crl", tmp_path / "good.crl")
    shutil.copy(DATA / "x509" / "custom__ca__ca.pem", tmp_path / "root.pem")
    config = load_config(
        write(
            tmp_path,
            {
                "trust": {"internal_roots": ["root.pem"], "crls": ["good.crl"]},
                "organization": {"domains": ["Corp.Example.", "xn--bcher-kva.example"]},
                "thresholds": {"traffic_change": {"after": "12h", "baseline": "2w"}},
                "service": {"public_url": "https://certsoar.corp.example:8443/soc"},
            },
        )
    )
    assert config.trust.crls == [Path("good.crl")]
    assert config.organization.domains == ["corp.example", "xn--bcher-kva.example"]
    assert config.thresholds.traffic_change.after == "12h"


def test_a_connector_section_is_checked_at_load_by_every_command(tmp_path: Path) -> None:
    config = {"connectors": {"firewall": {"type": "nftables", "ruleset": "x.nft", "aply": True}}}
    with pytest.raises(ConfigError, match=r"connectors\.firewall \(nftables\): aply: Extra inputs are not permitted"):
        load_config(write(tmp_path, config))
    config = {"connectors": {"notify": [{"type": "console"}, {"type": "file"}]}}
    with pytest.raises(ConfigError, match=r"connectors\.notify \(file\): outbox: Field required"):
        load_config(write(tmp_path, config))


def test_a_state_dir_that_is_a_file_is_refused_at_load(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"state_dir: .*state is not a folder"):
        load_config(write(tmp_path, {}))
