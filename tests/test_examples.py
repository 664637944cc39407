"""The shipped examples load: the config validates, the alert parses."""

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
