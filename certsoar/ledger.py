"""The effect ledger: every change certsoar makes outside itself happens at most once.

Each change has a natural key (``ca:<instance>:revoke:<serial>``). ``apply`` reads the target
first, records the intent, writes, reads back and records what it did. A crash after the intent
is reconciled on the next attempt by that first read; "already done" is success with
``changed=False``. A write whose read-back does not show it is recorded "unverified" and fails
the step (ActionError naming the key and target): the run ends failed, and its resume reads the
target again and writes again. In a dry run only the read happens and the plan is returned.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from certsoar.errors import ActionError
from certsoar.faults import crashpoint
from certsoar.store import EffectRow, RunStore

CONTAINMENT_ACTIONS = ("ca.revoke", "firewall.block", "proxy.block_certificate", "proxy.block_name")
"""The actions whose effects contain a certificate: what a release takes back, a containment sweep checks and a
report lists as containment (in this order)."""
RELEASE_ACTIONS = ("ca.release_hold", "firewall.unblock", "proxy.unblock_certificate", "proxy.unblock_name")
"""The actions whose effects take containment back (in the order a report lists them)."""


class Effect(BaseModel):
    key: str = Field(description="Natural key of the change.")
    action: str
    target: str
    changed: bool = Field(description="This run made the change (or would, in a dry run).")
    verified: bool = Field(description="The change was read back from the target after it was made.")
    planned: bool = Field(default=False, description="Dry run: the change was only planned.")
    evidence: dict[str, Any] = Field(default_factory=dict)


def release_marker(run_id: str) -> str:
    """The ledger key a release run claims for the run whose containment it took back."""
    return f"release:{run_id}"


ReadBack = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


class EffectLedger:
    """Owns the changes one run makes outside certsoar, each under its natural key.

    Guarantees: a change is written at most once across runs, retries and crashes (the target is read
    before writing, the intent is recorded before the write); every change is read back, and one that
    does not verify raises ActionError instead of being reported made; a dry run only reads.
    """

    def __init__(self, effects: RunStore, journal: RunStore, run_id: str, *, dry_run: bool) -> None:
        """``effects`` holds the ledger (read-only in a dry run); ``journal`` holds the run's records."""
        self.effects = effects
        self.journal = journal
        self.run_id = run_id
        self.dry_run = dry_run

    def recorded(self, key: str) -> bool:
        """The ledger says this change was made (for effects the target cannot show, like a sent message)."""
        return self.done_before(key, any_run=True) is not None

    def done_before(self, key: str, *, any_run: bool = False) -> EffectRow | None:
        """The change behind ``key`` as the ledger records it made and verified, by another run (by any run
        with ``any_run``); None otherwise."""
        found = self.effects.effect(key)
        if found is None or found.state != "done" or not found.verified:
            return None
        return found if any_run or found.run_id != self.run_id else None

    def targets_of(self, run_id: str, action: str) -> list[str]:
        """What run ``run_id`` did (verified, not only planned) with ``action``, by target."""
        return [
            e.target for e in self.effects.run_effects(run_id) if e.action == action and e.verified and not e.planned
        ]

    def owner(self, key: str) -> str | None:
        """The run that made the change behind ``key`` as the ledger holds it done and verified, or None."""
        found = self.done_before(key, any_run=True)
        return None if found is None else found.run_id

    def release(self, key: str, made_by: str) -> bool:
        """Record that this run undid the change behind ``key`` that run ``made_by`` made (a dry run only reads):
        it is no longer in force. False when the ledger does not hold it done by ``made_by``."""
        if self.dry_run:
            return self.owner(key) == made_by
        return self.effects.effect_released(key, run_id=made_by, by_run=self.run_id)

    def relied_on(self, key: str, target: str, action: str, *, other_than: str) -> list[str]:
        """Runs besides ``other_than`` that count the change behind ``key`` among their verified effects (they
        found it done and needed it) and have not been released themselves."""
        runs = self.effects.runs_with_effect_target(target, (action,))
        return [
            run
            for run in runs
            if run != other_than
            and not self.recorded(release_marker(run))
            and any(e.key == key and e.verified and not e.planned for e in self.effects.run_effects(run))
        ]

    def claim(self, key: str, *, action: str, target: str) -> bool:
        """Make this run the one that handles ``key`` (a finding reported once across runs); False when
        another run already has it. A dry run only reads."""
        if self.dry_run:
            return self.effects.claim_passes(key, self.run_id)
        return self.effects.claim_effect(key, action=action, target=target, run_id=self.run_id) == self.run_id

    def passed_on(self, action: str, prefix: str) -> list[str]:
        """Targets of earlier ``action`` claims (keys starting with ``prefix``) left undecided: their run failed or
        its approval expired."""
        return self.effects.claims_passed_on(action, prefix)

    def done_since(self, action: str, since: datetime) -> int:
        """Verified changes of ``action`` made since ``since`` by any run (budgets)."""
        return self.effects.effects_done_since(action, since)

    async def apply(
        self,
        key: str,
        *,
        step_id: str,
        action: str,
        target: str,
        is_done: ReadBack,
        write: Callable[[], Awaitable[None]],
    ) -> Effect:
        """Make the change behind ``key`` unless the target already shows it.

        ``is_done`` reads the target and returns (done, evidence); it is also the read-back after ``write``.
        """
        done, evidence = await is_done()
        if done:
            # Done already: by another run, or by this one before a crash cut it short after its intent.
            prior = self.effects.effect(key)
            ours = bool(prior and prior.state in ("intent", "unverified") and prior.run_id == self.run_id)
            effect = Effect(key=key, action=action, target=target, changed=ours, verified=True, evidence=evidence)
        elif self.dry_run:
            effect = Effect(
                key=key, action=action, target=target, changed=True, verified=False, planned=True, evidence=evidence
            )
        else:
            self.effects.effect_intent(key, action=action, target=target, run_id=self.run_id)
            crashpoint(f"intent:{key}")
            await write()
            crashpoint(f"write:{key}")
            verified, evidence = await is_done()
            effect = Effect(key=key, action=action, target=target, changed=True, verified=verified, evidence=evidence)
        if not self.dry_run:
            self.effects.effect_done(
                key,
                action=action,
                target=target,
                run_id=self.run_id,
                verified=effect.verified,
                evidence=effect.evidence,
            )
        self.journal.record_run_effect(
            self.run_id,
            key,
            step_id=step_id,
            action=action,
            target=target,
            changed=effect.changed,
            verified=effect.verified,
            planned=effect.planned,
            evidence=effect.evidence,
        )
        if not effect.verified and not effect.planned:
            raise ActionError(
                f"effect {key}: written to {target} but the read-back does not show it; "
                "the run is failed and its resume checks and writes it again"
            )
        return effect
