"""The shipped examples load: the config validates, the alert parses."""

import re
from pathlib import Path

import pytest

from certsoar.config import load_config
from certsoar.errors import ConfigError
from certsoar.intake import load_alert

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_example_config_loads() -> None:
    """It names files of a server (/srv/pki/...): on this machine only those are missing."""
    with pytest.raises(ConfigError, match=r"trust\.internal_roots\[0\]: /srv/pki/root-ca/ca\.pem: cannot read"):
        load_config(EXAMPLES / "config.yaml")
    config = load_config(EXAMPLES / "config.yaml", with_files=False)
    assert config.connectors.ca is not None and config.connectors.ca.type == "openssl-ca"
    assert config.organization.domains == ["corp.example", "corp.example.net"]
    assert [n.type for n in config.connectors.notify] == ["console", "file"]


def test_example_alert_parses_and_normalizes_the_hash() -> None:
    alert = load_alert((EXAMPLES / "alerts" / "fingerprint-only.json").read_bytes(), format="generic")
    assert alert.sha1 == "52d35370630e6d8c49f7811db7354a17d4e57d44"
    assert alert.certificate_pem is None


INTERNAL_NOTES = re.compile(r"\bissues? ?#?\d+|\bTODO\b|\bFIXME\b|\bXXX\b|DESIGN\.md|\bthe lead\b|\bseed card\b", re.I)


def test_shipped_examples_and_the_starter_carry_no_internal_notes() -> None:
    from certsoar.lab.config import _CONFIG_YAML
    from certsoar.starter import STARTER_CONFIG

    texts = {str(p.relative_to(EXAMPLES)): p.read_text() for p in EXAMPLES.rglob("*") if p.is_file()}
    texts |= {"certsoar init": STARTER_CONFIG, "lab config.yaml": _CONFIG_YAML}
    found = {name: INTERNAL_NOTES.findall(text) for name, text in texts.items()}
    assert not {name: notes for name, notes in found.items() if notes}
