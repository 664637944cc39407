"""The effect ledger: every change certsoar makes outside itself happens at most once.

Each change has a natural key (``ca:<instance>:revoke:<serial>``). ``apply`` reads the target
first, records the intent, writes, reads back and records what it did. A crash after the intent
is reconciled on the next attempt by that first read; "already done" is success with
``changed=False``. In a dry run only the read happens and the plan is returned.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field

from certsoar.faults import crashpoint
from certsoar.store import RunStore


class Effect(BaseModel):
    key: str = Field(description="Natural key of the change.")
    action: str
    target: str
    changed: bool = Field(description="This run made the change (or would, in a dry run).")
    verified: bool = Field(description="The change was read back from the target after it was made.")
    planned: bool = Field(default=False, description="Dry run: the change was only planned.")
    evidence: dict[str, Any] = Field(default_factory=dict)


ReadBack = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


class EffectLedger:
    def __init__(self, effects: RunStore, journal: RunStore, run_id: str, *, dry_run: bool) -> None:
        """``effects`` holds the ledger (read-only in a dry run); ``journal`` holds the run's records."""
        self.effects = effects
        self.journal = journal
        self.run_id = run_id
        self.dry_run = dry_run

    def recorded(self, key: str) -> bool:
        """The ledger says this change was made (for effects the target cannot show, like a sent message)."""
        found = self.effects.effect(key)
        return bool(found and found["state"] == "done")

    async def apply(self, key: str, *, step_id: str, action: str, target: str, is_done: ReadBack,
                    write: Callable[[], Awaitable[None]]) -> Effect:
        """Make the change behind ``key`` unless the target already shows it.

        ``is_done`` reads the target and returns (done, evidence); it is also the read-back after ``write``.
        """
        done, evidence = await is_done()
        if done:
            # Done already: by another run, or by this one before a crash cut it short after its intent.
            prior = self.effects.effect(key)
            ours = bool(prior and prior["state"] == "intent" and prior["run_id"] == self.run_id)
            effect = Effect(key=key, action=action, target=target, changed=ours, verified=True, evidence=evidence)
        elif self.dry_run:
            effect = Effect(key=key, action=action, target=target, changed=True, verified=False, planned=True,
                            evidence=evidence)
        else:
            self.effects.effect_intent(key, action=action, target=target, run_id=self.run_id)
            crashpoint(f"intent:{key}")
            await write()
            crashpoint(f"write:{key}")
            verified, evidence = await is_done()
            effect = Effect(key=key, action=action, target=target, changed=True, verified=verified, evidence=evidence)
        if not self.dry_run:
            self.effects.effect_done(key, action=action, target=target, run_id=self.run_id,
                                     verified=effect.verified, evidence=effect.evidence)
        self.journal.record_run_effect(self.run_id, key, step_id=step_id, action=action, target=target,
                                       changed=effect.changed, verified=effect.verified, planned=effect.planned,
                                       evidence=effect.evidence)
        return effect
