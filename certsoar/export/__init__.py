"""``certsoar export``: the content each SOAR installs natively, generated from manifest.json.

Each platform is one module with ``export(manifest, target) -> list[Path]``; the module is imported only
when its platform is asked for, so the vendor conventions of one never load for another."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from certsoar.errors import ExportError

EXPORTERS: dict[str, str] = {
    "xsoar": "certsoar.export.xsoar",
    "splunk-soar": "certsoar.export.splunk_soar",
    "stackstorm": "certsoar.export.stackstorm",
}


def export(platform: str, manifest: dict[str, Any], target: Path) -> list[Path]:
    """Write ``platform``'s content under ``target`` (which must be empty or not exist, so no file of an
    older export lingers) and return the files written."""
    if platform not in EXPORTERS:
        raise ExportError(f"no export for {platform!r}; one of: {', '.join(sorted(EXPORTERS))}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ExportError(f"{target} is not an empty folder: export into a new or empty one")
    module = importlib.import_module(EXPORTERS[platform])
    written: list[Path] = module.export(manifest, target)
    return written
