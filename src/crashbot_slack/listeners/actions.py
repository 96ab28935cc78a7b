"""Digest buttons: Join, Acknowledge, Post update. Each is acked at once; the work runs after."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from crashbot_core.errors import InvalidInput
from crashbot_slack import render
from crashbot_slack.api import error_code
from crashbot_slack.listeners.context import Later, guarded
from crashbot_slack.notifier import REF_CHANNEL

if TYPE_CHECKING:
    from collections.abc import Callable

    from slack_bolt import Ack, App, Respond

    from crashbot_slack.runtime import SlackRuntime


def _replier(respond: Respond) -> Callable[[str], Any]:
    # replace_original=False: the digest message must stay as it is.
    return lambda text: respond(text=text, response_type="ephemeral", replace_original=False)


def _incident_id(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    value = str(actions[0].get("value") or "")
    if not value:
        raise InvalidInput("this button carries no incident")
    return value


def register(app: App, runtime: SlackRuntime, later: Later) -> None:
    """Listen to the digest's buttons."""
    bot = runtime.crashbot

    def join_channel(body: dict[str, Any], respond: Respond) -> None:
        def work() -> None:
            inc = bot.get(_incident_id(body))
            channel = inc.refs.get(REF_CHANNEL)
            if not channel:
                raise InvalidInput(f"{inc.ref} has no channel")
            user = str(body["user"]["id"])
            try:
                runtime.api.call("conversations.invite", channel=channel, users=user)
            except SlackApiError as exc:
                if error_code(exc) != "already_in_channel":
                    raise
            _replier(respond)(f"You are in <#{channel}>.")

        guarded(_replier(respond), work)

    def acknowledge(body: dict[str, Any], respond: Respond) -> None:
        def work() -> None:
            actor = runtime.api.actor(str(body["user"]["id"]))
            done = bot.acknowledge(_incident_id(body), actor=actor)
            _replier(respond)(f"You acknowledged {done.ref}.")

        guarded(_replier(respond), work)

    def open_update_form(body: dict[str, Any], respond: Respond) -> None:
        def work() -> None:
            inc = bot.get(_incident_id(body))
            view = render.update_modal(inc, bot.policy)
            runtime.api.call("views.open", trigger_id=body["trigger_id"], view=view)

        guarded(_replier(respond), work)

    for action_id, work in (
        (render.ACTION_JOIN, join_channel),
        (render.ACTION_ACK, acknowledge),
        (render.ACTION_UPDATE, open_update_form),
    ):
        app.action(action_id)(_acking(work, later))


def _acking(work: Callable[[dict[str, Any], Respond], None], later: Later) -> Callable[..., None]:
    def on_click(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        later(lambda: work(body, respond))

    on_click.__name__ = f"on_{work.__name__}"
    return on_click
