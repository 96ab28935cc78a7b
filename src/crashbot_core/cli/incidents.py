"""Incident commands: declare, ack, update, assign, unassign, resolve, reopen, rca."""

from __future__ import annotations

from datetime import datetime

import click

from crashbot_core.cli.common import CliState, echo_json, json_option, pass_state, printable
from crashbot_core.cli.params import COMPONENT, INCIDENT_ID, INSTANT, LABEL, STATUS
from crashbot_core.models import Actor, Impact, Incident
from crashbot_core.serialize import incident_dict


def _say(incident: Incident, what: str, as_json: bool) -> None:
    if as_json:
        echo_json(incident_dict(incident))
    else:
        click.echo(
            f"{incident.ref} {printable(what)} ({incident.severity}, {incident.status.value})"
        )


@click.command()
@click.argument("title")
@click.option(
    "--severity", "-s", help="SEV1..SEV4, P0..P3 or a label (default: the policy's default)."
)
@click.option(
    "--public/--private", default=None, help="Show on the status page (default: by severity)."
)
@click.option(
    "--component",
    "-c",
    multiple=True,
    type=COMPONENT,
    metavar="KEY[=IMPACT]",
    help="Affected component; repeatable.",
)
@click.option(
    "--new-component",
    is_flag=True,
    help="Add --component keys that [components] in crashbot.toml does not list.",
)
@click.option("--description", "-d", default="", help="What is happening, for responders.")
@click.option(
    "--label", "-l", multiple=True, type=LABEL, metavar="KEY=VALUE", help="Label; repeatable."
)
@click.option(
    "--started-at", type=INSTANT, metavar="ISO8601", help="When impact began (default: now)."
)
@click.option(
    "--retrospective",
    is_flag=True,
    help="Record a past incident, resolved: nobody is paged, no reminders. "
    "Needs --started-at and --resolved-at.",
)
@click.option("--detected-at", type=INSTANT, metavar="ISO8601", help="When it was noticed.")
@click.option("--acknowledged-at", type=INSTANT, metavar="ISO8601", help="When someone took it on.")
@click.option("--mitigated-at", type=INSTANT, metavar="ISO8601", help="When impact was mitigated.")
@click.option("--resolved-at", type=INSTANT, metavar="ISO8601", help="When it was over.")
@json_option
@pass_state
def declare(
    state: CliState,
    title: str,
    severity: str | None,
    public: bool | None,
    component: tuple[tuple[str, Impact | None], ...],
    new_component: bool,
    description: str,
    label: tuple[tuple[str, str], ...],
    started_at: datetime | None,
    retrospective: bool,
    detected_at: datetime | None,
    acknowledged_at: datetime | None,
    mitigated_at: datetime | None,
    resolved_at: datetime | None,
    as_json: bool,
) -> None:
    """Declare a new incident, or record a past one with --retrospective."""
    components: dict[str, Impact | str | None] = dict(component)
    past = {
        "detected_at": detected_at,
        "acknowledged_at": acknowledged_at,
        "mitigated_at": mitigated_at,
        "resolved_at": resolved_at,
    }
    if retrospective:
        if started_at is None or resolved_at is None:
            raise click.UsageError("--retrospective needs --started-at and --resolved-at")
        incident = state.crashbot().declare_retrospective(
            title,
            actor=state.actor(),
            severity=severity,
            public=public,
            components=components,
            new_components=new_component,
            description=description,
            labels=dict(label),
            source="cli",
            started_at=started_at,
            detected_at=detected_at,
            acknowledged_at=acknowledged_at,
            mitigated_at=mitigated_at,
            resolved_at=resolved_at,
        )
        _say(incident, "recorded", as_json)
        return
    given = [name for name, value in past.items() if value is not None]
    if given:
        option = "--" + given[0].replace("_", "-")
        raise click.UsageError(f"{option} goes with --retrospective")
    incident = state.crashbot().declare(
        title,
        actor=state.actor(),
        severity=severity,
        public=public,
        components=components,
        new_components=new_component,
        description=description,
        labels=dict(label),
        source="cli",
        started_at=started_at,
    )
    _say(incident, "declared", as_json)


@click.command()
@click.argument("incident_id", metavar="ID", type=INCIDENT_ID)
@json_option
@pass_state
def ack(state: CliState, incident_id: str, as_json: bool) -> None:
    """Acknowledge an incident."""
    _say(state.crashbot().acknowledge(incident_id, actor=state.actor()), "acknowledged", as_json)


@click.command()
@click.argument("incident_id", metavar="ID", type=INCIDENT_ID)
@click.option("--status", type=STATUS, help="The new status; resolved resolves.")
@click.option("--severity", "-s", help="New severity.")
@click.option("--message", "-m", help="Update text.")
@click.option("--public", is_flag=True, help="Publish the message on the status page.")
@json_option
@pass_state
def update(
    state: CliState,
    incident_id: str,
    status: str | None,
    severity: str | None,
    message: str | None,
    public: bool,
    as_json: bool,
) -> None:
    """Change status or severity, or post an update (internal unless --public)."""
    incident = state.crashbot().update(
        incident_id,
        actor=state.actor(),
        status=status,
        severity=severity,
        message=message,
        public=public,
    )
    _say(incident, "updated", as_json)


@click.command()
@click.argument("incident_id", metavar="ID", type=INCIDENT_ID)
@click.argument("role")
@click.argument("user")
@json_option
@pass_state
def assign(state: CliState, incident_id: str, role: str, user: str, as_json: bool) -> None:
    """Give ROLE (commander/ic, communications/cl, technical-lead/tl, scribe) to USER."""
    bot = state.crashbot()
    person = Actor(platform="cli", id=user, name=user)
    incident = bot.assign_role(incident_id, role, person, actor=state.actor())
    role_name = bot.roles.parse(role).name
    _say(incident, f"{role_name}: {user}", as_json)


@click.command()
@click.argument("incident_id", metavar="ID", type=INCIDENT_ID)
@click.argument("role")
@json_option
@pass_state
def unassign(state: CliState, incident_id: str, role: str, as_json: bool) -> None:
    """Take ROLE away from whoever holds it."""
    bot = state.crashbot()
    incident = bot.unassign_role(incident_id, role, actor=state.actor())
    _say(incident, f"{bot.roles.parse(role).name} unassigned", as_json)


@click.command()
@click.argument("incident_id", metavar="ID", type=INCIDENT_ID)
@click.option("--message", "-m", help="Closing update.")
@json_option
@pass_state
def resolve(state: CliState, incident_id: str, message: str | None, as_json: bool) -> None:
    """Resolve an incident."""
    _say(
        state.crashbot().resolve(incident_id, actor=state.actor(), message=message),
        "resolved",
        as_json,
    )


@click.command()
@click.argument("incident_id", metavar="ID", type=INCIDENT_ID)
@click.option("--message", "-m", help="Why it is back.")
@json_option
@pass_state
def reopen(state: CliState, incident_id: str, message: str | None, as_json: bool) -> None:
    """Reopen a resolved incident."""
    _say(
        state.crashbot().reopen(incident_id, actor=state.actor(), message=message),
        "reopened",
        as_json,
    )


@click.command()
@click.argument("incident_id", metavar="ID", type=INCIDENT_ID)
@click.argument("url")
@json_option
@pass_state
def rca(state: CliState, incident_id: str, url: str, as_json: bool) -> None:
    """Link the RCA / postmortem of a resolved incident."""
    _say(
        state.crashbot().link_rca(incident_id, url, actor=state.actor()),
        f"RCA linked: {url}",
        as_json,
    )


@click.command()
@click.argument("incident_id", metavar="ID", type=INCIDENT_ID)
@click.option(
    "--message",
    "-m",
    help="The first public update (default: [crashbot] publish_message).",
)
@json_option
@pass_state
def publish(state: CliState, incident_id: str, message: str | None, as_json: bool) -> None:
    """Show the incident on the status page; internal updates stay internal."""
    _say(
        state.crashbot().publish(incident_id, actor=state.actor(), message=message),
        "published",
        as_json,
    )


@click.command()
@click.argument("incident_id", metavar="ID", type=INCIDENT_ID)
@json_option
@pass_state
def unpublish(state: CliState, incident_id: str, as_json: bool) -> None:
    """Take the incident off the status page and every public output."""
    _say(state.crashbot().unpublish(incident_id, actor=state.actor()), "unpublished", as_json)


def register(group: click.Group) -> None:
    """Add these commands to the CLI."""
    commands = (declare, ack, update, assign, unassign, resolve, reopen, rca, publish, unpublish)
    for command in commands:
        group.add_command(command)
