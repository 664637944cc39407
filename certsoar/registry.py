"""Where actions and connectors are found.

Actions are async functions marked with ``@action``; the marker only attaches metadata and
returns the function unchanged, so an action stays directly callable in tests. Their modules are
found through the entry-point group ``certsoar.actions``, connectors through the groups
``certsoar.connectors.<kind>``; the built-in ones are declared the same way in setup.cfg.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints

from pydantic import BaseModel

from certsoar.errors import ConfigError, RegistryError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoints, SelectableGroups

    from certsoar.context import ActionContext

ACTION_GROUP = "certsoar.actions"

ActionFn = Callable[[Any, "ActionContext"], Awaitable[BaseModel]]
F = TypeVar("F", bound=ActionFn)


@dataclass(frozen=True)
class ActionSpec:
    name: str
    fn: ActionFn
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    description: str
    mutates: bool
    reversible: bool
    needs_approval: bool

    async def __call__(self, inp: BaseModel, ctx: "ActionContext") -> BaseModel:
        return await self.fn(inp, ctx)


_ACTIONS: dict[str, ActionSpec] = {}


def action(
    name: str, *, mutates: bool = False, reversible: bool = True, needs_approval: bool = False
) -> Callable[[F], F]:
    """Register an ``async def fn(inp: Input, ctx: ActionContext) -> Output`` under ``name``.

    ``mutates`` marks actions that change something outside certsoar (they go through the effect
    ledger and honour dry runs); ``reversible=False`` marks what cannot be undone; ``needs_approval``
    makes ``certsoar validate`` refuse a playbook that runs the action without an approval gate.
    """

    def mark(fn: F) -> F:
        hints = get_type_hints(fn)
        params = list(inspect.signature(fn).parameters)
        spec = ActionSpec(
            name=name,
            fn=fn,
            input_model=hints[params[0]],
            output_model=hints["return"],
            description=inspect.cleandoc(fn.__doc__ or "").split("\n\n")[0].replace("\n", " "),
            mutates=mutates,
            reversible=reversible,
            needs_approval=needs_approval,
        )
        if name in _ACTIONS and _ACTIONS[name].fn is not fn:
            raise RegistryError(
                f"action {name!r} is registered twice (by {_ACTIONS[name].fn.__module__} and {fn.__module__})"
            )
        _ACTIONS[name] = spec
        return fn

    return mark


@cache
def _installed_entry_points() -> "EntryPoints | SelectableGroups":
    """Every installed entry point, read once a process: each ``entry_points(group=...)`` reads the metadata of
    every installed distribution again (a triage asks for seven groups)."""
    return entry_points()


def in_group(group: str) -> list[EntryPoint]:
    """The installed entry points of one group."""
    return list(_installed_entry_points().select(group=group))


@cache
def _load_actions() -> None:
    """Import every module of the entry-point group ``certsoar.actions`` (built-ins included): their
    ``@action`` decorators register them."""
    for ep in in_group(ACTION_GROUP):
        try:
            ep.load()
        except Exception as exc:  # a broken third-party plugin must name itself
            dist = ep.dist.name if ep.dist else "?"
            raise ConfigError(f"actions {ep.name} ({ep.value}) from {dist} do not load: {exc}") from exc


def actions() -> dict[str, ActionSpec]:
    _load_actions()
    return dict(sorted(_ACTIONS.items()))


def get_action(name: str) -> ActionSpec:
    known = actions()
    if name not in known:
        raise RegistryError(f"unknown action {name!r} (installed: {', '.join(known) or 'none'})")
    return known[name]


def connector_group(kind: str) -> str:
    return f"certsoar.connectors.{kind}"


@cache
def _declared(kind: str) -> dict[str, EntryPoint]:
    """The entry points of one kind by type name, not loaded; RegistryError for a name declared twice."""
    found: dict[str, EntryPoint] = {}
    for ep in in_group(connector_group(kind)):
        if ep.name in found:
            # the same declaration seen twice (an editable install's metadata beside the installed one) is one
            if found[ep.name].value == ep.value:
                continue
            raise RegistryError(f"connector {kind}/{ep.name} is declared twice ({found[ep.name].value} and {ep.value})")
        found[ep.name] = ep
    return dict(sorted(found.items()))


@cache
def _load_connector(kind: str, type_name: str) -> Any:
    ep = _declared(kind)[type_name]
    try:
        return ep.load()
    except Exception as exc:  # a broken third-party plugin must name itself
        dist = ep.dist.name if ep.dist else "?"
        raise ConfigError(f"connector {kind}/{ep.name} from {dist} does not load: {exc}") from exc


def connector_types(kind: str) -> dict[str, Any]:
    """Connector classes of one kind by type name, loaded from the entry points."""
    return {name: _load_connector(kind, name) for name in _declared(kind)}


def connector_class(kind: str, type_name: str) -> Any:
    """The class of one connector type, loading only its module (a CLI call does not pay for the others)."""
    declared = _declared(kind)
    if type_name not in declared:
        known = ", ".join(declared) or "none installed"
        raise RegistryError(f"connectors.{kind}.type: unknown type {type_name!r} (known: {known})")
    return _load_connector(kind, type_name)


def forget_connectors() -> None:
    """Read the entry points again at the next lookup (tests that change them)."""
    _installed_entry_points.cache_clear()
    _declared.cache_clear()
    _load_connector.cache_clear()
