"""Slash commands: ``/incident SUBCOMMAND …`` and its aliases (``/create``, ``/update``, ``/close``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crashbot_core.errors import CrashbotError, InvalidInput
from crashbot_core.models import Actor, Incident
from crashbot_slack import record_forms, render
from crashbot_slack.command_text import CommandError, ParsedCommand, help_text, parse
from crashbot_slack.listeners.context import (
    OOPS,
    Later,
    incident_in_channel,
    log,
    outcome,
    target_incident,
)
from crashbot_slack.notifier import REF_CHANNEL

if TYPE_CHECKING:
    from slack_bolt import Ack, App

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
    """Parse without touching the store (help and bad text are answered at once).

    Whether the channel implies an incident changes only how a leading bare
    number is read, so text that parses either way is accepted here and
    :func:`_read` reads it properly.

    :raises CommandError: when the text parses neither way.
    """
    parse_text = _parser(runtime, alias)
    text = str(body.get("text") or "")
    try:
        return parse_text(text, False)
    except CommandError:
        return parse_text(text, True)


def _read(
    runtime: SlackRuntime, body: dict[str, Any], alias: str | None, cmd: ParsedCommand
) -> tuple[ParsedCommand, Incident | None]:
    """The command as the channel makes it read, and the channel's incident when it matters."""
    if _channel_free(cmd):
        return cmd, None
    implied = incident_in_channel(
        runtime, str(body.get("channel_id") or ""), str(body.get("channel_name") or "")
    )
    # Inside an incident channel a bare number is text, not an id.
    parse_text = _parser(runtime, alias)
    return parse_text(str(body.get("text") or ""), implied is not None), implied


def _listener(
    runtime: SlackRuntime, command: str, alias: str | None, later: Later
) -> Callable[..., None]:
    main = runtime.settings.command

    def on_command(ack: Ack, body: dict[str, Any]) -> None:
        # The command is carried out and committed here, in the request thread,
        # and the ack carries its reply: once Slack shows the answer, the change
        # is stored. Channels and posts follow from the outbox, not from here.
        try:
            cmd, implied = _read(runtime, body, alias, _check(runtime, body, alias))
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
        if cmd.action == "modal":
            # views.open is a Web API call: after the ack (the trigger_id
            # stays valid for 3 s). The incident it is about is found first,
            # so a wrong ref is answered in the ack.
            try:
                view = _modal(runtime, cmd, implied)
            except CrashbotError as exc:
                ack(text=f":warning: {render.escape(exc.message)}", response_type="ephemeral")
                return
            except Exception:
                log.exception("could not prepare the form for %s", command)
                ack(text=OOPS, response_type="ephemeral")
                return
            ack()
            trigger = body["trigger_id"]
            later(lambda: _open(runtime, trigger, view))
            return
        text = outcome(lambda: _run(runtime, cmd, body, implied))
        ack(text=text, response_type="ephemeral")

    on_command.__name__ = f"on_{command.strip('/').replace('-', '_')}_command"
    return on_command


def _channel_free(cmd: ParsedCommand) -> bool:
    """Commands that never act on the channel's incident (no lookup before the ack)."""
    return cmd.action in {"declare", "help", "maintenance"} or (
        cmd.action == "modal" and cmd.form in {"declare", "record"}
    )


def _run(
    runtime: SlackRuntime, cmd: ParsedCommand, body: dict[str, Any], implied: Incident | None
) -> str:
    """Carry out ``cmd`` (one service call, committed on return); the reply for the ack."""
    bot = runtime.crashbot
    main = runtime.settings.command
    name = body.get("user_name")
    actor = runtime.api.known_actor(str(body["user_id"]), str(name) if name else None)
    if cmd.action == "declare":
        inc = bot.declare(cmd.title, actor=actor, severity=cmd.severity, source="slack")
        # With deliveries left to the worker (serve, slack run) the channel does
        # not exist yet: reading the incident again would only cost the ack time.
        return _declared_text(inc if bot.outbox.deferred else bot.get(inc.id))
    if cmd.action == "maintenance":
        return _maintenance(runtime, cmd, actor)
    inc = target_incident(runtime, cmd.ref, implied, main)
    done: Incident
    if cmd.action == "update":
        done = bot.update(inc.id, actor=actor, message=cmd.message, public=bool(cmd.public))
        kind = "public" if cmd.public and done.public else "internal"
        return f"Posted an {kind} update to {done.ref}."
    if cmd.action == "ack":
        done = bot.acknowledge(inc.id, actor=actor)
        return f"You acknowledged {done.ref}."
    if cmd.action == "severity":
        done = bot.update(inc.id, actor=actor, severity=cmd.severity)
        return f"{done.ref} is now {done.severity}."
    if cmd.action == "status":
        done = bot.update(inc.id, actor=actor, status=cmd.status)
        return f"{done.ref} is now {done.status.value}."
    if cmd.action == "role":
        assert cmd.role is not None and cmd.user_id is not None
        user = runtime.api.known_actor(cmd.user_id, cmd.user_name)
        done = bot.assign_role(inc.id, cmd.role, user, actor=actor)
        role = bot.roles.parse(cmd.role)
        return f"{render.escape(user.display)} is now {render.escape(role.name)} of {done.ref}."
    if cmd.action == "resolve":
        done = bot.resolve(inc.id, actor=actor, message=cmd.message or None, public=cmd.public)
        return f"Resolved {done.ref}."
    if cmd.action == "close":
        assert cmd.resolution is not None
        done = bot.close_incident(
            inc.id,
            cmd.resolution,
            actor=actor,
            message=cmd.message or None,
            duplicate_of=cmd.duplicate_of,
        )
        if done.duplicate_of is not None:
            return f"Closed {done.ref} as a duplicate of {bot.get(done.duplicate_of).ref}."
        return f"Closed {done.ref} as invalid."
    if cmd.action == "rca":
        assert cmd.url is not None
        done = bot.link_rca(inc.id, cmd.url, actor=actor)
        return f"Linked the RCA of {done.ref}."
    if cmd.action == "publish":
        done = bot.publish(inc.id, actor=actor, message=cmd.message or None)
        return f"{done.ref} is now on the status page."
    if cmd.action == "unpublish":
        done = bot.unpublish(inc.id, actor=actor)
        return f"{done.ref} is off the status page."
    if cmd.action == "follow-up":
        fu = bot.add_follow_up(inc.id, cmd.title, actor=actor)
        return f"Added follow-up #{fu.id} to {inc.ref}: {render.escape(fu.title)}"
    raise InvalidInput(f"unknown action {cmd.action}")  # pragma: no cover - parse() knows


def _maintenance(runtime: SlackRuntime, cmd: ParsedCommand, actor: Actor) -> str:
    """``/incident maintenance …``: one maintenance call; the reply lists or confirms."""
    bot = runtime.crashbot
    if cmd.step == "list":
        found = bot.list_maintenances(statuses=["in_progress", "verifying", "scheduled"])
        if not found:
            return "No maintenance is scheduled or in progress."
        lines = [
            f"• {m.ref} {render.escape(m.title)} — {m.status.value.replace('_', ' ')}, "
            f"{m.scheduled_for:%Y-%m-%d %H:%M} to {m.scheduled_until:%Y-%m-%d %H:%M} UTC"
            for m in sorted(found, key=lambda m: m.scheduled_for)
        ]
        return "\n".join(lines)
    if cmd.step == "schedule":
        assert cmd.starts_at is not None and cmd.ends_at is not None
        m = bot.schedule_maintenance(
            cmd.title,
            starts_at=cmd.starts_at,
            ends_at=cmd.ends_at,
            components=cmd.components,
            actor=actor,
        )
        return (
            f"Scheduled {m.ref}: {render.escape(m.title)}, {m.scheduled_for:%Y-%m-%d %H:%M} "
            f"to {m.scheduled_until:%Y-%m-%d %H:%M} UTC."
        )
    assert cmd.ref is not None
    text = cmd.message or None
    if cmd.step == "update":
        m = bot.update_maintenance(cmd.ref, actor=actor, message=text)
        return f"Posted an update to {m.ref}."
    method = {
        "start": bot.start_maintenance,
        "complete": bot.complete_maintenance,
        "cancel": bot.cancel_maintenance,
    }[str(cmd.step)]
    m = method(cmd.ref, actor=actor, message=text)
    return f"{m.ref} is now {m.status.value.replace('_', ' ')}."


def _declared_text(inc: Incident) -> str:
    # With a deferred outbox the channel does not exist yet: its post will say where.
    channel = inc.refs.get(REF_CHANNEL)
    where = f" — join <#{channel}>" if channel else ""
    return f"Declared {inc.ref} ({inc.severity}): {render.escape(inc.title)}{where}"


def _modal(runtime: SlackRuntime, cmd: ParsedCommand, implied: Incident | None) -> dict[str, Any]:
    """The form ``cmd`` asks for, filled from the store (no Slack call)."""
    bot = runtime.crashbot
    if cmd.form in {"update", "edit"}:
        inc = target_incident(runtime, cmd.ref, implied, runtime.settings.command)
        if cmd.form == "edit":
            return record_forms.edit_modal(inc, bot.components())
        return render.update_modal(inc, bot.policy)
    if cmd.form == "record":
        severity = bot.policy.parse(cmd.severity).key if cmd.severity else None
        return record_forms.record_modal(bot.policy, title=cmd.title, severity=severity)
    return render.declare_modal(
        bot.policy,
        bot.components(),
        severity=bot.policy.parse(cmd.severity).key if cmd.severity else None,
    )


def _open(runtime: SlackRuntime, trigger_id: str, view: dict[str, Any]) -> None:
    runtime.api.call("views.open", trigger_id=trigger_id, view=view)
