"""Slash commands: ``/incident SUBCOMMAND …`` and its aliases (``/create``, ``/update``, ``/close``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crashbot_core.errors import InvalidInput
from crashbot_core.models import Incident
from crashbot_slack import render
from crashbot_slack.command_text import CommandError, ParsedCommand, help_text, parse
from crashbot_slack.listeners.context import (
    OOPS,
    Later,
    guarded,
    incident_in_channel,
    log,
    target_incident,
)
from crashbot_slack.notifier import REF_CHANNEL

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond

    from crashbot_slack.runtime import SlackRuntime


def register(app: App, runtime: SlackRuntime, later: Later) -> None:
    """Listen to the main command and every configured alias."""
    settings = runtime.settings
    commands: dict[str, str | None] = {settings.command: None}
    commands.update((a, sub) for a, sub in settings.aliases.items() if a != settings.command)
    for command, alias in commands.items():
        app.command(command)(_listener(runtime, command, alias, later))


def _parser(runtime: SlackRuntime, alias: str | None) -> Callable[[str, bool], ParsedCommand]:
    main = runtime.settings.command

    def is_severity(token: str) -> bool:
        try:
            runtime.crashbot.policy.parse(token)
        except InvalidInput:
            return False
        return True

    def parse_text(text: str, implied: bool) -> ParsedCommand:
        return parse(text, implied=implied, is_severity=is_severity, alias=alias, command=main)

    return parse_text


def _check(runtime: SlackRuntime, body: dict[str, Any], alias: str | None) -> ParsedCommand:
    """Parse for the ack, without touching the store (the ack path stays fast).

    Whether the channel implies an incident changes only how a leading bare
    number is read, so text that parses either way is accepted here and the
    lazy listener reads it properly.

    :raises CommandError: when the text parses neither way.
    """
    parse_text = _parser(runtime, alias)
    text = str(body.get("text") or "")
    try:
        return parse_text(text, False)
    except CommandError:
        return parse_text(text, True)


def _read(
    runtime: SlackRuntime, body: dict[str, Any], alias: str | None
) -> tuple[ParsedCommand, Incident | None]:
    """Parse the command text, looking up the channel's incident when it matters."""
    parse_text = _parser(runtime, alias)
    text = str(body.get("text") or "")
    cmd = _check(runtime, body, alias)
    if _channel_free(cmd):
        return cmd, None
    implied = incident_in_channel(
        runtime, str(body.get("channel_id") or ""), str(body.get("channel_name") or "")
    )
    # Inside an incident channel a bare number is text, not an id.
    return parse_text(text, implied is not None), implied


def _listener(
    runtime: SlackRuntime, command: str, alias: str | None, later: Later
) -> Callable[..., None]:
    main = runtime.settings.command

    def on_command(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        # Slack's 3-second limit: parse and answer here; the service call,
        # which creates channels and posts messages, runs after the ack.
        try:
            cmd = _check(runtime, body, alias)
        except CommandError as exc:
            ack(text=render.escape(str(exc)), response_type="ephemeral")
            return
        except Exception:
            log.exception("could not read %s", command)
            ack(text=OOPS, response_type="ephemeral")
            return
        if cmd.action == "help":
            ack(text=help_text(main), response_type="ephemeral")
            return
        ack()
        later(lambda: run_command(body, respond))

    def run_command(body: dict[str, Any], respond: Respond) -> None:
        def reply(text: str) -> None:
            respond(text=text, response_type="ephemeral")

        try:
            cmd, implied = _read(runtime, body, alias)
        except CommandError as exc:
            # Parsed for the ack, but not as the channel's incident makes it read.
            reply(render.escape(str(exc)))
            return
        except Exception:
            log.exception("could not read %s", command)
            reply(OOPS)
            return
        guarded(reply, lambda: _run(runtime, cmd, body, implied, reply))

    on_command.__name__ = f"on_{command.strip('/').replace('-', '_')}_command"
    return on_command


def _channel_free(cmd: ParsedCommand) -> bool:
    """Commands that never act on the channel's incident (no lookup before the ack)."""
    return cmd.action in {"declare", "help"} or (cmd.action == "modal" and cmd.form == "declare")


def _run(
    runtime: SlackRuntime,
    cmd: ParsedCommand,
    body: dict[str, Any],
    implied: Incident | None,
    reply: Callable[[str], None],
) -> None:
    bot = runtime.crashbot
    main = runtime.settings.command
    actor = runtime.api.actor(str(body["user_id"]))
    if cmd.action == "modal":
        _open_modal(runtime, cmd, body, implied)
        return
    if cmd.action == "declare":
        inc = bot.declare(cmd.title, actor=actor, severity=cmd.severity, source="slack")
        reply(_declared_text(bot.get(inc.id)))
        return
    inc = target_incident(runtime, cmd.ref, implied, main)
    done: Incident
    if cmd.action == "update":
        done = bot.update(inc.id, actor=actor, message=cmd.message, public=bool(cmd.public))
        reply(
            f"Posted an {'public' if cmd.public and done.public else 'internal'} update to {done.ref}."
        )
    elif cmd.action == "ack":
        done = bot.acknowledge(inc.id, actor=actor)
        reply(f"You acknowledged {done.ref}.")
    elif cmd.action == "severity":
        done = bot.update(inc.id, actor=actor, severity=cmd.severity)
        reply(f"{done.ref} is now {done.severity}.")
    elif cmd.action == "status":
        done = bot.update(inc.id, actor=actor, status=cmd.status)
        reply(f"{done.ref} is now {done.status.value}.")
    elif cmd.action == "role":
        assert cmd.role is not None and cmd.user_id is not None
        user = runtime.api.actor(cmd.user_id)
        done = bot.assign_role(inc.id, cmd.role, user, actor=actor)
        role = bot.roles.parse(cmd.role)
        reply(f"{render.escape(user.display)} is now {render.escape(role.name)} of {done.ref}.")
    elif cmd.action == "resolve":
        done = bot.resolve(inc.id, actor=actor, message=cmd.message or None, public=cmd.public)
        reply(f"Resolved {done.ref}.")
    elif cmd.action == "rca":
        assert cmd.url is not None
        done = bot.link_rca(inc.id, cmd.url, actor=actor)
        reply(f"Linked the RCA of {done.ref}.")
    elif cmd.action == "follow-up":
        fu = bot.add_follow_up(inc.id, cmd.title, actor=actor)
        reply(f"Added follow-up #{fu.id} to {inc.ref}: {render.escape(fu.title)}")
    else:  # pragma: no cover - parse() only returns known actions
        raise InvalidInput(f"unknown action {cmd.action}")


def _declared_text(inc: Incident) -> str:
    channel = inc.refs.get(REF_CHANNEL)
    where = f" — join <#{channel}>" if channel else ""
    return f"Declared {inc.ref} ({inc.severity}): {render.escape(inc.title)}{where}"


def _open_modal(
    runtime: SlackRuntime, cmd: ParsedCommand, body: dict[str, Any], implied: Incident | None
) -> None:
    bot = runtime.crashbot
    if cmd.form == "update":
        inc = target_incident(runtime, cmd.ref, implied, runtime.settings.command)
        view = render.update_modal(inc, bot.policy)
    else:
        view = render.declare_modal(
            bot.policy,
            bot.components(),
            severity=bot.policy.parse(cmd.severity).key if cmd.severity else None,
        )
    runtime.api.call("views.open", trigger_id=body["trigger_id"], view=view)
