"""The intel files in force (SSLBL blacklist, tool catalogue): the path the config names, else the copy
``certsoar intel update`` wrote into ``<state_dir>/intel/``, else the snapshot shipped with the package. Apart
from their refresh (certsoar.certs.intel_update), so that a triage does not import an HTTP client."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from certsoar.certs.catalogue import CATALOGUE_FILE
from certsoar.config import Config

SSLBL_FILE = "sslblacklist.csv"
INTEL_DIR = "intel"


def shipped(name: str) -> Path:
    return Path(str(resources.files("certsoar.certs") / "data" / name))


def _in_force(config: Config, configured: Path | None, name: str) -> Path:
    if configured is not None:
        return config.resolve(configured)
    refreshed = config.state_dir / INTEL_DIR / name
    return refreshed if refreshed.is_file() else shipped(name)


def sslbl_path(config: Config) -> Path:
    return _in_force(config, config.intel.sslbl, SSLBL_FILE)


def catalogue_path(config: Config) -> Path:
    return _in_force(config, config.intel.catalogue, CATALOGUE_FILE)
