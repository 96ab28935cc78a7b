"""Incident commands: declare, ack, update, assign, resolve, reopen, rca."""

from __future__ import annotations

import click

from crashbot_core.cli import CliState, echo_json, json_option, pass_state
from crashbot_core.errors import InvalidInput
from crashbot_core.models import Actor, Impact, Incident
from crashbot_core.serialize import incident_dict, parse_iso


def _say(incident: Incident, what: str, as_json: bool) -> None:
    if as_json:
        echo_json(incident_dict(incident))
    else:
        click.echo(f"{incident.ref} {what} ({incident.severity}, {incident.status.value})")


def _components(values: tuple[str, ...]) -> dict[str, Impact | str | None]:
    """``api`` or ``api=major_outage`` per value."""
    result: dict[str, Impact | str | None] = {}
    for value in values:
        key, sep, impact = value.partition("=")
        result[key.strip()] = Impact.parse(impact) if sep else None
    return result


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"label {value!r} must look like key=value")
        labels[key.strip()] = val.strip()
    return labels


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
    metavar="KEY[=IMPACT]",
    help="Affected component; repeatable.",
)
@click.option("--description", "-d", default="", help="What is happening, for responders.")
@click.option("--label", "-l", multiple=True, metavar="KEY=VALUE", help="Label; repeatable.")
@click.option("--started-at", metavar="ISO8601", help="When impact began (default: now).")
@json_option
@pass_state
def declare(
    state: CliState,
    title: str,
    severity: str | None,
    public: bool | None,
    component: tuple[str, ...],
    description: str,
    label: tuple[str, ...],
    started_at: str | None,
    as_json: bool,
) -> None:
    """Declare a new incident."""
    try:
        started = parse_iso(started_at) if started_at else None
    except ValueError:
        raise InvalidInput(f"--started-at {started_at!r} is not an ISO 8601 time") from None
    incident = state.crashbot().declare(
        title,
        actor=state.actor(),
        severity=severity,
        public=public,
        components=_components(component),
        description=description,
        labels=_labels(label),
        source="cli",
        started_at=started,
    )
    _say(incident, "declared", as_json)


@click.command()
@click.argument("incident_id", metavar="ID")
@json_option
@pass_state
def ack(state: CliState, incident_id: str, as_json: bool) -> None:
    """Acknowledge an incident."""
    _say(state.crashbot().acknowledge(incident_id, actor=state.actor()), "acknowledged", as_json)


@click.command()
@click.argument("incident_id", metavar="ID")
@click.option("--status", help="investigating, identified, monitoring or resolved.")
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
@click.argument("incident_id", metavar="ID")
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
@click.argument("incident_id", metavar="ID")
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
@click.argument("incident_id", metavar="ID")
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
@click.argument("incident_id", metavar="ID")
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


def register(group: click.Group) -> None:
    """Add these commands to the CLI."""
    for command in (declare, ack, update, assign, resolve, reopen, rca):
        group.add_command(command)
