"""Connectors: one class per vendor, grouped by kind (``connectors/<kind>/<vendor>.py``).

Every kind declares a ``typing.Protocol`` in its package with read methods apart from write
methods, so a dry run can read. A connector class carries its settings model in
``settings_model`` and is built as ``Cls(settings, env)``. Connectors are found through the
entry-point group ``certsoar.connectors.<kind>``; the built-in ones go through the same path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from certsoar.blocking import BlockingPolicy

if TYPE_CHECKING:
    from certsoar.store import RunStore

KINDS = ("siem", "ca", "firewall", "proxy", "ticket", "notify")


class ConnectorSettings(BaseModel):
    """Base of every connector's settings model: strict, immutable, described."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ConnectorEnv:
    """What a connector may use besides its settings."""

    name: str
    """Instance name, used in effect keys (``ca:<name>:revoke:...``)."""
    state_dir: Path
    store: "RunStore | None" = None
    config_dir: Path = field(default_factory=Path.cwd)
    """Relative paths in settings are resolved against the config file's folder."""
    blocking: BlockingPolicy = field(default_factory=BlockingPolicy)
    """What a firewall must refuse to block (checked again before every write)."""
    public_url: str | None = None
    """``service.public_url``: where analysts and Slack reach the service (a notifier offers buttons only then)."""

    def resolve(self, path: Path | str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.config_dir / p)
