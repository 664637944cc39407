"""The README's example section of each API SIEM is a configuration the connector accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from certsoar.config import ConnectorSection
from certsoar.connections import connector_settings

README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.mark.parametrize("vendor", ["splunk", "elastic"])
def test_the_readme_example_is_accepted(vendor: str) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    [example] = [yaml.safe_load(b) for b in blocks if f"type: {vendor}\n" in b]
    section = ConnectorSection.model_validate(example["connectors"]["siem"])
    settings = connector_settings("siem", section)
    assert settings.url.startswith("https://") and settings.fields == (
        {"sha256": ["cert_sha256", "ssl_hash"]} if vendor == "splunk" else {}
    )
