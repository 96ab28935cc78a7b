"""``crashbot follow-up ID TITLE [--owner U] [--due DATE]``, ``crashbot follow-up done FID``
and ``crashbot follow-ups [--overdue] [--owner U] [--all]``."""

from __future__ import annotations

from datetime import date

import click

from crashbot_core.cli.common import (
    CliState,
    echo_json,
    json_option,
    pass_state,
    printable,
    table,
)
from crashbot_core.cli.params import INCIDENT_ID
from crashbot_core.models import Actor, FollowUp
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


def _state(fu: FollowUp, today: date) -> str:
    if fu.done:
        return "done"
    if fu.due is not None and fu.overdue_on(today):
        days = (today - fu.due).days
        return f"overdue {days} {'day' if days == 1 else 'days'}"
    return "open"


@click.command("follow-ups")
@click.option(
    "--overdue", is_flag=True, help="Only open ones due before today ([crashbot] time_zone)."
)
@click.option("--owner", "-o", metavar="NAME", help="Only those owned by NAME (name or id).")
@click.option("--all", "show_all", is_flag=True, help="Done ones too.")
@json_option
@pass_state
def follow_ups(
    state: CliState, overdue: bool, owner: str | None, show_all: bool, as_json: bool
) -> None:
    """Follow-ups of every incident, soonest due first (open ones unless --all)."""
    bot = state.crashbot()
    today = bot.today()
    who = owner.strip().lstrip("@") if owner is not None else None
    if who is not None and not who:
        raise click.BadParameter("give a name or id", param_hint="--owner")
    found = bot.list_follow_ups(
        done=None if show_all and not overdue else False,
        due_before=today if overdue else None,
        owner=who,
    )
    if as_json:
        echo_json(
            [
                {
                    **follow_up_dict(fu),
                    "incident": {"id": inc.id, "ref": inc.ref, "title": inc.title},
                    "overdue": fu.overdue_on(today),
                }
                for fu, inc in found
            ]
        )
        return
    if not found:
        kind = "overdue" if overdue else "open" if not show_all else ""
        owned = f" owned by {printable(who)}" if who else ""
        click.echo(f"no {kind} follow-ups{owned}".replace("  ", " "))
        return
    rows = [
        (
            fu.id,
            inc.ref,
            fu.title if len(fu.title) <= 60 else fu.title[:59] + "…",
            fu.owner.display if fu.owner else "—",
            fu.due.isoformat() if fu.due else "—",
            _state(fu, today),
        )
        for fu, inc in found
    ]
    click.echo(table(rows, ["ID", "INCIDENT", "TITLE", "OWNER", "DUE", "STATE"]))


def register(group: click.Group) -> None:
    """Add these commands to the CLI."""
    group.add_command(follow_up)
    group.add_command(follow_ups)
