"""``crashbot follow-up ID TITLE [--owner U] [--due DATE]`` and ``crashbot follow-up done FID``."""

from __future__ import annotations

from datetime import date

import click

from crashbot_core.cli.common import CliState, echo_json, json_option, pass_state, printable
from crashbot_core.cli.params import INCIDENT_ID
from crashbot_core.models import Actor
from crashbot_core.serialize import follow_up_dict


def _due(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date like 2026-12-31", param_hint="--due"
        ) from None


@click.command("follow-up", context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1, required=True, metavar="ID TITLE | done FID")
@click.option("--owner", "-o", help="Who owns it.")
@click.option("--due", help="Due date (YYYY-MM-DD).")
@click.option("--url", help="Where it is tracked (ticket URL).")
@json_option
@pass_state
def follow_up(
    state: CliState,
    args: tuple[str, ...],
    owner: str | None,
    due: str | None,
    url: str | None,
    as_json: bool,
) -> None:
    """Add an action item to an incident, or mark one done."""
    if args[0] == "done":
        if len(args) != 2 or not args[1].isdigit() or len(args[1]) > 18:
            raise click.UsageError("usage: crashbot follow-up done FID")
        fu = state.crashbot().complete_follow_up(int(args[1]), actor=state.actor())
        verb = "done"
    else:
        if len(args) != 2:
            raise click.UsageError('usage: crashbot follow-up ID "TITLE" [--owner U] [--due DATE]')
        try:
            incident_id = INCIDENT_ID.convert(args[0], None, click.get_current_context())
        except click.BadParameter as exc:
            exc.param_hint = "ID"
            raise
        due_date = _due(due)
        who = Actor(platform="cli", id=owner, name=owner) if owner else None
        fu = state.crashbot().add_follow_up(
            incident_id, args[1], actor=state.actor(), owner=who, due=due_date, url=url
        )
        verb = "added"
    if as_json:
        echo_json(follow_up_dict(fu))
    else:
        click.echo(f"follow-up #{fu.id} {verb}: {printable(fu.title)}")


def register(group: click.Group) -> None:
    """Add this command to the CLI."""
    group.add_command(follow_up)
