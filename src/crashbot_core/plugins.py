"""The plugin manager: hook specs plus every plugin in the ``crashbot`` entry-point group."""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Iterable
from typing import Any

import attrs
import pluggy

from crashbot_core import hookspecs

#: Comma-separated plugin names that are not loaded (like tox's TOX_DISABLED_EXTERNAL_PLUGINS).
DISABLED_ENV = "CRASHBOT_DISABLED_PLUGINS"
ENTRY_POINT_GROUP = "crashbot"


@attrs.frozen
class Unavailable:
    """A plugin whose entry point exists but could not be imported (missing extra)."""

    name: str
    reason: str


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, remembering plugins that could not be loaded."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.unavailable: list[Unavailable] = []
        #: The distribution each entry-point plugin came from, by plugin name.
        #: (Kept here rather than in pluggy's private ``_plugin_distinfo``,
        #: whose element type changed in pluggy 1.7.)
        self.distributions: dict[str, importlib.metadata.Distribution] = {}


def get_plugin_manager(
    *, entry_points: bool = True, disabled: Iterable[str] | None = None
) -> PluginManager:
    """Build a plugin manager with the hook specs and the installed plugins.

    :param entry_points: load the ``crashbot`` entry-point group (built-in and
        third-party plugins alike); tests pass False and register their own.
    :param disabled: plugin names to block; defaults to ``CRASHBOT_DISABLED_PLUGINS``.
    :returns: the manager; implementations that match no spec are rejected.
    """
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    if disabled is None:
        disabled = [n.strip() for n in os.environ.get(DISABLED_ENV, "").split(",")]
    for name in disabled:
        if name:
            pm.set_blocked(name)
    if entry_points:
        _load_entry_points(pm)
    pm.check_pending()
    return pm


def _load_entry_points(pm: PluginManager) -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except ImportError as exc:
            # An optional extra is not installed (e.g. slack-bolt for the Slack
            # plugin): the rest of crashbot works, and `crashbot plugins` says why.
            pm.unavailable.append(Unavailable(ep.name, f"{type(exc).__name__}: {exc}"))
            continue
        dist = ep.dist
        pm.register(plugin, name=ep.name)
        if dist is not None:
            pm.distributions[ep.name] = dist


def hook_names(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Names of the hooks a registered plugin implements, sorted."""
    callers = pm.get_hookcallers(plugin) or []
    return sorted(caller.name for caller in callers)


def collect_sections(pm: pluggy.PluginManager) -> dict[str, type[Any]]:
    """Plugin settings classes by section name, from ``crashbot_config_sections``."""
    sections: dict[str, type[Any]] = {}
    for result in pm.hook.crashbot_config_sections():
        sections.update(result or {})
    return sections
