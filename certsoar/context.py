"""What an action receives besides its input."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certsoar.config import Config
    from certsoar.connections import Connections
    from certsoar.ledger import EffectLedger
    from certsoar.templating import Templates


@dataclass
class ActionContext:
    run_id: str
    step_id: str
    dry_run: bool
    now: datetime
    config: "Config"
    connectors: "Connections"
    ledger: "EffectLedger"
    templates: "Templates"
    variables: dict[str, Any] = field(default_factory=dict)
    """The playbook's expression context (alert, steps, run, vars), read-only by convention;
    templates rendered by actions see it."""
