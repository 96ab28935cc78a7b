"""Test helpers for crashbot's own tests and for plugin authors.

::

    from crashbot_core.testing import make_crashbot, registered, Recorder

    def test_my_notifier_posts(tmp_path):
        bot = make_crashbot(tmp_path)
        rec = Recorder()
        with registered(bot.pm, rec):
            bot.declare("DB down", severity="SEV1")
        assert [e.kind for _, e in rec.events] == ["declared"]
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pluggy

from crashbot_core.clock import Clock, FixedClock
from crashbot_core.config import load_config
from crashbot_core.hookspecs import hookimpl
from crashbot_core.models import Event, Incident, Reminder
from crashbot_core.plugins import collect_sections, get_plugin_manager
from crashbot_core.service import Crashbot

#: Set to a PostgreSQL URL to run store-backed tests against PostgreSQL.
POSTGRES_ENV = "CRASHBOT_TEST_POSTGRES_URL"


class Recorder:
    """A plugin that records every event and reminder it receives."""

    def __init__(self) -> None:
        self.events: list[tuple[Incident, Event]] = []
        self.reminders: list[tuple[Incident, Reminder]] = []

    @hookimpl
    def crashbot_incident_event(self, incident: Incident, event: Event) -> None:
        """Record the event."""
        self.events.append((incident, event))

    @hookimpl
    def crashbot_reminder(self, incident: Incident, reminder: Reminder) -> None:
        """Record the reminder."""
        self.reminders.append((incident, reminder))

    @property
    def kinds(self) -> list[str]:
        """Kinds of the recorded events, in order."""
        return [e.kind.value for _, e in self.events]


@contextlib.contextmanager
def registered(pm: pluggy.PluginManager, plugin: object, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` for the duration of a ``with`` block; always unregistered after."""
    plugin_name = pm.register(plugin, name=name)
    assert plugin_name is not None, "plugin is blocked or already registered"
    try:
        yield plugin_name
    finally:
        pm.unregister(plugin)


def make_crashbot(
    tmp_path: Path | str | None = None,
    *,
    database_url: str | None = None,
    clock: Clock | None = None,
    config: Mapping[str, Any] | None = None,
    plugins: Mapping[str, object] | None = None,
    entry_points: bool = True,
    env: Mapping[str, str] | None = None,
) -> Crashbot:
    """A :class:`Crashbot` on a fresh SQLite file in ``tmp_path`` (or ``database_url``).

    :param clock: defaults to a :class:`FixedClock`.
    :param config: crashbot.toml content as a dict.
    :param plugins: extra plugins to register, by name.
    :param entry_points: load installed plugins (the store comes from there).
    :param env: environment for settings (default: empty, so the developer's
        own SLACK_BOT_TOKEN and friends never leak into a test).
    """
    if database_url is None:
        if tmp_path is None:
            raise ValueError("give tmp_path or database_url")
        database_url = f"sqlite:///{Path(tmp_path) / 'crashbot.db'}"
    pm = get_plugin_manager(entry_points=entry_points, disabled=())
    for name, plugin in (plugins or {}).items():
        pm.register(plugin, name=name)
    env_map = dict(env or {})
    env_map["CRASHBOT_DATABASE_URL"] = database_url
    cfg = load_config(data=dict(config or {}), env=env_map, sections=collect_sections(pm))
    return Crashbot.from_config(cfg, pm=pm, clock=clock or FixedClock())


def postgres_url() -> str | None:
    """The PostgreSQL URL for tests, or None to use SQLite only."""
    return os.environ.get(POSTGRES_ENV) or None
