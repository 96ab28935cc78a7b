"""The App Home tab: ``app_home_opened`` → one store read → one ``views.publish``.

Opening the tab changes nothing stored, so the event is acknowledged at
once and the view is read and published after the ack (Slack retries an
event it did not hear back about within 3 seconds). The tab shows the
state when it was opened; opening it again refreshes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crashbot_core.store import IncidentFilter
from crashbot_slack import render
from crashbot_slack.listeners.context import Later
from crashbot_slack.notifier import REF_CHANNEL

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from crashbot_slack.runtime import SlackRuntime

#: Open incidents read for the tab: a little more than it shows, to count the rest.
HOME_READ_LIMIT = 500


def publish_home(runtime: SlackRuntime, user_id: str) -> None:
    """Read the open incidents and publish ``user_id``'s Home tab."""
    bot = runtime.crashbot
    incidents = bot.list(IncidentFilter(open=True, limit=HOME_READ_LIMIT))
    channels = {i.id: i.refs[REF_CHANNEL] for i in incidents if i.refs.get(REF_CHANNEL)}
    view = render.home_view(incidents, user_id, bot.policy, bot.roles, channels=channels)
    runtime.api.call("views.publish", user_id=user_id, view=view)


def register(app: App, runtime: SlackRuntime, later: Later) -> None:
    """Listen to ``app_home_opened``."""

    @app.event("app_home_opened")
    def on_home_opened(ack: Ack, event: dict[str, Any]) -> None:
        ack()
        # The same event fires for the Messages tab: nothing to draw there.
        if event.get("tab") != "home" or not event.get("user"):
            return
        user_id = str(event["user"])
        later(lambda: publish_home(runtime, user_id))
