"""Correcting the record: close as invalid or duplicate, edit."""

from __future__ import annotations

from datetime import datetime

import click

from crashbot_core.cli.common import CliState, F, echo_json, json_option, pass_state, printable
from crashbot_core.cli.params import COMPONENT, INCIDENT_ID, INSTANT
from crashbot_core.models import Impact, Incident
from crashbot_core.serialize import incident_dict


def _say(incident: Incident, what: str, as_json: bool) -> None:
    if as_json:
        echo_json(incident_dict(incident))
    else:
        click.echo(f"{incident.ref} {printable(what)}")


@click.command()
@click.argument("incident_id", metavar="ID", type=INCIDENT_ID)
@click.option("--invalid", is_flag=True, help="A false alarm: it counts nowhere.")
@click.option(
    "--duplicate-of",
    metavar="OTHER",
    type=INCIDENT_ID,
    help="Merge it into OTHER: alerts and follow-ups move there.",
)
@click.option("--message", "-m", help="Why (kept on the timeline).")
@json_option
@pass_state
def close(
    state: CliState,
    incident_id: str,
    invalid: bool,
    duplicate_of: str | None,
    message: str | None,
    as_json: bool,
) -> None:
    """Close an incident as invalid, or as a duplicate of another.

    Either way it is resolved and left out of the metrics, /api/list and the
    status page (`crashbot list --all` still shows it).
    """
    if invalid == (duplicate_of is not None):
        raise click.UsageError("give one of --invalid and --duplicate-of OTHER")
    bot = state.crashbot()
    if invalid:
        inc = bot.close_incident(incident_id, "invalid", actor=state.actor(), message=message)
        _say(inc, "closed as invalid", as_json)
        return
    assert duplicate_of is not None
    inc = bot.close_incident(
        incident_id, "duplicate", actor=state.actor(), message=message, duplicate_of=duplicate_of
    )
    original = bot.get(duplicate_of)
    _say(inc, f"closed as a duplicate of {original.ref}", as_json)


def time_options(f: F) -> F:
    """``--detected-at`` … ``--resolved-at``: the incident's times (ISO 8601, naive is UTC)."""
    helps = {
        "resolved-at": "When it was over.",
        "mitigated-at": "When the impact was mitigated.",
        "acknowledged-at": "When someone took it on.",
        "started-at": "When the impact began.",
        "detected-at": "When the problem was noticed.",
    }
    for name, text in helps.items():
        f = click.option(f"--{name}", type=INSTANT, metavar="ISO8601", help=text)(f)
    return f


@click.command()
@click.argument("incident_id", metavar="ID", type=INCIDENT_ID)
@click.option("--title", help="The corrected title.")
@click.option("--description", "-d", help="The corrected description.")
@click.option(
    "--component",
    "-c",
    multiple=True,
    type=COMPONENT,
    metavar="KEY[=IMPACT]",
    help="Add a component or set its impact; repeatable.",
)
@click.option("--remove-component", multiple=True, metavar="KEY", help="Take a component off.")
@click.option(
    "--new-component",
    is_flag=True,
    help="Add --component keys that [components] in crashbot.toml does not list.",
)
@time_options
@json_option
@pass_state
def edit(
    state: CliState,
    incident_id: str,
    title: str | None,
    description: str | None,
    component: tuple[tuple[str, Impact | None], ...],
    remove_component: tuple[str, ...],
    new_component: bool,
    detected_at: datetime | None,
    started_at: datetime | None,
    acknowledged_at: datetime | None,
    mitigated_at: datetime | None,
    resolved_at: datetime | None,
    as_json: bool,
) -> None:
    """Correct an incident's record; each change is on its timeline (who, old → new).

    Times must keep the order started ≤ detected ≤ acknowledged ≤ mitigated ≤
    resolved, and none may be in the future.
    """
    components: dict[str, Impact | str | None] = dict(component)
    inc = state.crashbot().edit(
        incident_id,
        actor=state.actor(),
        title=title,
        description=description,
        components=components,
        remove_components=remove_component,
        new_components=new_component,
        detected_at=detected_at,
        started_at=started_at,
        acknowledged_at=acknowledged_at,
        mitigated_at=mitigated_at,
        resolved_at=resolved_at,
    )
    _say(inc, "edited", as_json)


def register(group: click.Group) -> None:
    """Add these commands to the CLI."""
    for command in (close, edit):
        group.add_command(command)
