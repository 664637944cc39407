"""The README's example sections of each ticket connector are valid settings blocks for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt
from pydantic import BaseModel

from certsoar.connectors.ticket.jira import JiraSettings
from certsoar.connectors.ticket.servicenow import ServiceNowSettings
from certsoar.connectors.ticket.thehive import TheHiveSettings

README = Path(__file__).parents[3] / "README.md"


@pytest.mark.parametrize("deployment", ["cloud", "datacenter"])
def test_the_readme_jira_examples_are_valid_settings(deployment: str) -> None:
    fences = [t.content for t in MarkdownIt().parse(README.read_text(encoding="utf-8")) if t.type == "fence"]
    [example] = [f for f in fences if "type: jira\n" in f and f"deployment: {deployment}\n" in f]
    section = yaml.safe_load(example)["connectors"]["ticket"]
    settings = JiraSettings.model_validate({k: v for k, v in section.items() if k not in ("type", "name")})
    assert settings.model_dump(exclude_unset=True).keys() == set(section) - {"type", "name"}
    assert settings.deployment == deployment


@pytest.mark.parametrize(("vendor", "model"), [("servicenow", ServiceNowSettings), ("thehive", TheHiveSettings)])
def test_the_readme_example_is_valid_settings(vendor: str, model: type[BaseModel]) -> None:
    fences = [t.content for t in MarkdownIt().parse(README.read_text(encoding="utf-8")) if t.type == "fence"]
    [example] = [f for f in fences if f"type: {vendor}\n" in f]
    section = yaml.safe_load(example)["connectors"]["ticket"]
    settings = model.model_validate({k: v for k, v in section.items() if k not in ("type", "name")})
    assert settings.model_dump(exclude_unset=True).keys() == set(section) - {"type", "name"}
