"""Listeners by kind: slash commands, block actions, view submissions, events, the Home tab."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import TYPE_CHECKING

from crashbot_slack.listeners import actions, commands, events, home, views
from crashbot_slack.listeners.context import after_ack

if TYPE_CHECKING:
    from slack_bolt import App

    from crashbot_slack.runtime import SlackRuntime


def register_listeners(app: App, runtime: SlackRuntime, executor: Executor) -> None:
    """Register every crashbot listener on ``app``.

    Each listener acks in the request thread and hands the rest to ``executor``.
    """
    later = after_ack(executor)
    commands.register(app, runtime, later)
    actions.register(app, runtime, later)
    views.register(app, runtime, later)
    events.register(app, runtime, later)
    home.register(app, runtime, later)
