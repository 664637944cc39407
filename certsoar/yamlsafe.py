"""Safe YAML loading through libyaml when PyYAML was built with it: about ten times faster than the pure-Python
parser, which a one-alert CLI run otherwise spends a good part of its time in (the tool catalogue, the config).
Same safe constructor, same errors (``yaml.YAMLError`` with its marks)."""

from __future__ import annotations

from typing import Any

import yaml

SafeLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a safe loader (C or Python)
