"""Digest buttons: Join, Acknowledge, Post update, Publish / Unpublish, Edit, Close…; Home's
Declare and Record.

Acknowledge, Publish and Unpublish are committed before the ack; Slack
ignores a block action's ack body, so their confirmation follows on the
``response_url``, and the refreshed digest comes from the outbox. Join (an
invite), Post update, Edit, Close…, Declare and Record (forms) change no incident: their
Slack calls come after the ack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from crashbot_core.errors import InvalidInput
from crashbot_slack import record_forms, render
from crashbot_slack.api import error_code
from crashbot_slack.listeners.context import Later, guarded, log, outcome, request_actor
from crashbot_slack.notifier import REF_CHANNEL

if TYPE_CHECKING:
    from collections.abc import Callable

    from slack_bolt import Ack, App, Respond

    from crashbot_core.models import Incident
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

    @app.action(render.ACTION_JOIN)
    def on_join_channel(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()

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

        later(lambda: guarded(_replier(respond), work))

    @app.action(render.ACTION_ACK)
    def on_acknowledge(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        def work() -> str:
            done = bot.acknowledge(_incident_id(body), actor=request_actor(runtime, body["user"]))
            return f"You acknowledged {done.ref}."

        text = outcome(work)  # committed before Slack hears back
        ack()
        later(lambda: _replier(respond)(text))

    @app.action(render.ACTION_PUBLISH)
    def on_publish(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        def work() -> str:
            # The first public update is the configured publish_message: a
            # button carries no text (``/incident publish MESSAGE`` does).
            done = bot.publish(_incident_id(body), actor=request_actor(runtime, body["user"]))
            return f"{done.ref} is now on the status page."

        text = outcome(work)  # committed before Slack hears back
        ack()
        later(lambda: _replier(respond)(text))

    @app.action(render.ACTION_UNPUBLISH)
    def on_unpublish(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        def work() -> str:
            done = bot.unpublish(_incident_id(body), actor=request_actor(runtime, body["user"]))
            return f"{done.ref} is off the status page."

        text = outcome(work)
        ack()
        later(lambda: _replier(respond)(text))

    @app.action(render.ACTION_HOME_DECLARE)
    def on_home_declare(ack: Ack, body: dict[str, Any]) -> None:
        try:
            view = render.declare_modal(bot.policy, bot.components())  # a store read
        except Exception:
            # The Home tab has no response_url to explain on: the form just does not open.
            log.exception("could not prepare the declare form")
            ack()
            return
        ack()
        trigger = body["trigger_id"]

        def open_form() -> None:
            runtime.api.call("views.open", trigger_id=trigger, view=view)

        later(open_form)

    @app.action(render.ACTION_HOME_RECORD)
    def on_home_record(ack: Ack, body: dict[str, Any]) -> None:
        ack()  # the form needs no store read: only the severity policy
        view = record_forms.record_modal(bot.policy)
        trigger = body["trigger_id"]

        def open_form() -> None:
            runtime.api.call("views.open", trigger_id=trigger, view=view)

        later(open_form)

    def open_form(
        body: dict[str, Any], respond: Respond, make: Callable[[Incident], dict[str, Any]]
    ) -> None:
        """Read the incident (no Slack call), ack, then open the form it fills."""
        views: list[dict[str, Any]] = []

        def prepare() -> str:
            views.append(make(bot.get(_incident_id(body))))
            return ""

        problem = outcome(prepare)
        if not views:
            later(lambda: _replier(respond)(problem))
            return
        trigger, view = body["trigger_id"], views[0]

        def open_it() -> None:
            runtime.api.call("views.open", trigger_id=trigger, view=view)

        later(open_it)

    @app.action(render.ACTION_UPDATE)
    def on_open_update_form(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()  # the form opens after the ack: the trigger_id stays valid for 3 s
        open_form(body, respond, lambda inc: render.update_modal(inc, bot.policy))

    @app.action(render.ACTION_EDIT)
    def on_open_edit_form(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        open_form(body, respond, lambda inc: record_forms.edit_modal(inc, bot.components()))

    @app.action(render.ACTION_CLOSE)
    def on_open_close_form(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        open_form(body, respond, record_forms.close_modal)
