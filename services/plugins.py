"""Actions from outside the repository: installed packages and `PIVOT_CATALOG_PLUGINS`.

A package adds actions by declaring an entry point in the `pivot.actions` group:

    [project.entry-points."pivot.actions"]
    inventory = "pivot_inventory.actions:actions"    # a function returning a list of actions

Each function returns `Action`s or `KeyedAction`s (the kit's). `PIVOT_CATALOG_PLUGINS="module:function,…"`
does the same without packaging. Both are read when the service (or the CLI) builds its catalog;
a plugin that cannot be loaded, returns something that is not an action, or names an action that
another source already has is a start-up error naming the package and the entry point, never a
silently smaller catalog. Every action keeps where it came from, which `pivot actions` shows.
"""

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pivot.compensations.actions import Action
from pivot.compensations.kit import KeyedAction

GROUP = "pivot.actions"
PLUGINS_ENV = "PIVOT_CATALOG_PLUGINS"
BUILT_IN = "built-in"


class CatalogError(Exception):
    """The catalog cannot be built as configured; the message names the plugin and what to fix."""


@dataclass(frozen=True)
class Sourced:
    action: Action
    source: str
    """Where it came from: `built-in`, `pivot_inventory 0.1.0 (entry point inventory)`, or
    `PIVOT_CATALOG_PLUGINS pkg.module:function`."""


def _entry_point_label(entry: EntryPoint) -> str:
    dist = entry.dist
    package = f"{dist.name} {dist.version}" if dist is not None else entry.module
    return f"{package} (entry point {entry.name} = {entry.value})"


def _actions_of(factory: Callable[[], Any], label: str) -> list[Sourced]:
    try:
        produced = factory()
    except Exception as exc:
        raise CatalogError(f"{label} failed while making its actions: {type(exc).__name__}: {exc}") from exc
    if not isinstance(produced, Iterable) or isinstance(produced, str | bytes | dict):
        raise CatalogError(f"{label} returned {type(produced).__name__}, not a list of actions")
    out: list[Sourced] = []
    for item in produced:
        if isinstance(item, KeyedAction):
            item = item.action()
        if not isinstance(item, Action):
            raise CatalogError(f"{label} returned {type(item).__name__}, which is neither a pivot.kit.Action "
                               "nor a pivot.kit.KeyedAction")
        out.append(Sourced(item, label))
    return out


def _load(loader: Callable[[], Any], label: str) -> Callable[[], Any]:
    try:
        factory = loader()
    except Exception as exc:
        raise CatalogError(f"{label} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    if not callable(factory):
        raise CatalogError(f"{label} is not a function returning actions")
    return factory  # type: ignore[no-any-return]


def entry_point_actions() -> list[Sourced]:
    """The actions of every installed package's `pivot.actions` entry points, in name order."""
    out: list[Sourced] = []
    for entry in sorted(entry_points(group=GROUP), key=lambda e: (e.name, e.value)):
        label = _entry_point_label(entry)
        out += _actions_of(_load(entry.load, label), label)
    return out


def _attribute_of(module: str, attribute: str) -> Callable[[], Any]:
    return lambda: getattr(importlib.import_module(module), attribute)


def env_actions(spec: str | None = None) -> list[Sourced]:
    """The actions of `PIVOT_CATALOG_PLUGINS` ("pkg.module:function,…")."""
    raw = os.environ.get(PLUGINS_ENV, "") if spec is None else spec
    out: list[Sourced] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        module_name, _, function = item.partition(":")
        label = f"{PLUGINS_ENV} {item}"
        if not module_name or not function:
            raise CatalogError(f"{label}: write it as module:function")
        out += _actions_of(_load(_attribute_of(module_name, function), label), label)
    return out


def check_unique(sourced: Iterable[Sourced]) -> dict[str, str]:
    """Action name → source, or a CatalogError naming both sources of a name used twice."""
    seen: dict[str, str] = {}
    for item in sourced:
        name = item.action.name
        if name in seen:
            raise CatalogError(f"action {name} comes from two places: {seen[name]} and {item.source}; "
                               "rename one (actions are named provider.verb_object)")
        seen[name] = item.source
    return seen
