"""The README's example section of each firewall connector is a valid settings block for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt
from pydantic import BaseModel

from certsoar.connectors.firewall.edl import EdlSettings
from certsoar.connectors.firewall.fortigate import FortigateSettings
from certsoar.connectors.firewall.opnsense import OpnsenseSettings
from certsoar.connectors.firewall.panos import PanosSettings
from certsoar.connectors.proxy.edl import EdlProxySettings

README = Path(__file__).parents[3] / "README.md"


@pytest.mark.parametrize(
    ("vendor", "kind", "model"),
    [
        ("panos", "firewall", PanosSettings),
        ("fortigate", "firewall", FortigateSettings),
        ("opnsense", "firewall", OpnsenseSettings),
        ("edl", "firewall", EdlSettings),
        ("edl", "proxy", EdlProxySettings),
    ],
)
def test_the_readme_example_is_valid_settings(vendor: str, kind: str, model: type[BaseModel]) -> None:
    fences = [t.content for t in MarkdownIt().parse(README.read_text(encoding="utf-8")) if t.type == "fence"]
    examples = [f for f in fences if f"type: {vendor}\n" in f]
    assert examples
    for example in examples:  # one a mode
        section = yaml.safe_load(example)["connectors"][kind]
        settings = model.model_validate({k: v for k, v in section.items() if k not in ("type", "name")})
        assert settings.model_dump(exclude_unset=True).keys() == set(section) - {"type", "name"}
