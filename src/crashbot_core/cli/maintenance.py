"""``crashbot maintenance schedule | list | show | update | start | complete | cancel``."""

from __future__ import annotations

from datetime import datetime

import click

from crashbot_core.cli.common import (
    CliState,
    echo_json,
    json_option,
    pass_state,
    printable,
    table,
)
from crashbot_core.cli.params import INSTANT
from crashbot_core.models import Maintenance
from crashbot_core.serialize import maintenance_dict

_STATUSES = ["scheduled", "in_progress", "verifying", "completed", "cancelled"]


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def _done(m: Maintenance, what: str, as_json: bool) -> None:
    if as_json:
        echo_json(maintenance_dict(m))
    else:
        click.echo(
            f"{m.ref} {what}: {printable(m.title)} ({m.status.value}, "
            f"{_when(m.scheduled_for)} to {_when(m.scheduled_until)} UTC)"
        )


@click.group()
def maintenance() -> None:
    """Scheduled maintenance windows shown on the status page."""


@maintenance.command()
@click.argument("title")
@click.option(
    "--starts-at", required=True, type=INSTANT, metavar="ISO8601", help="Start (UTC if no zone)."
)
@click.option(
    "--ends-at", required=True, type=INSTANT, metavar="ISO8601", help="End (UTC if no zone)."
)
@click.option(
    "--component",
    "-c",
    "components",
    multiple=True,
    metavar="KEY",
    help="A component under maintenance (repeatable).",
)
@click.option(
    "--message", "-m", help="First public update (default: [maintenance] scheduled_message)."
)
@click.option(
    "--manual", is_flag=True, help="Start and complete it by hand, not on time by the worker."
)
@json_option
@pass_state
def schedule(
    state: CliState,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    components: tuple[str, ...],
    message: str | None,
    manual: bool,
    as_json: bool,
) -> None:
    """Announce a maintenance window on COMPONENTs from --starts-at to --ends-at."""
    m = state.crashbot().schedule_maintenance(
        title,
        starts_at=starts_at,
        ends_at=ends_at,
        components=components,
        message=message,
        actor=state.actor(),
        auto=not manual,
    )
    _done(m, "scheduled", as_json)


@maintenance.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(_STATUSES),
    help="Only this status (repeatable).",
)
@json_option
@pass_state
def list_(state: CliState, statuses: tuple[str, ...], as_json: bool) -> None:
    """Maintenances, newest window first."""
    found = state.crashbot().list_maintenances(statuses=statuses)
    if as_json:
        echo_json([maintenance_dict(m) for m in found])
        return
    if not found:
        click.echo("no maintenances")
        return
    rows = [
        (
            m.ref,
            m.status.value,
            _when(m.scheduled_for),
            _when(m.scheduled_until),
            ",".join(m.components) or "-",
            printable(m.title),
        )
        for m in found
    ]
    click.echo(table(rows, ["REF", "STATUS", "STARTS (UTC)", "ENDS (UTC)", "COMPONENTS", "TITLE"]))


@maintenance.command()
@click.argument("maintenance_id", metavar="ID")
@json_option
@pass_state
def show(state: CliState, maintenance_id: str, as_json: bool) -> None:
    """One maintenance with its updates."""
    m = state.crashbot().get_maintenance(maintenance_id)
    if as_json:
        echo_json(maintenance_dict(m))
        return
    _done(m, "is", False)
    if m.components:
        click.echo(f"components: {', '.join(m.components)}")
    click.echo(f"timed by the worker: {'yes' if m.auto else 'no'}")
    for u in m.updates:
        click.echo(f"  {_when(u.at)} {u.status.value}: {printable(u.body, multiline=True)}")


@maintenance.command()
@click.argument("maintenance_id", metavar="ID")
@click.option("--message", "-m", help="A public update.")
@click.option("--status", type=click.Choice(["in_progress", "verifying"]), help="Move it on.")
@click.option("--title", help="A new title.")
@click.option(
    "--starts-at", type=INSTANT, metavar="ISO8601", help="A new start (before it starts)."
)
@click.option("--ends-at", type=INSTANT, metavar="ISO8601", help="A new end.")
@click.option(
    "--component",
    "-c",
    "components",
    multiple=True,
    metavar="KEY",
    help="Replace the components (repeatable).",
)
@json_option
@pass_state
def update(
    state: CliState,
    maintenance_id: str,
    message: str | None,
    status: str | None,
    title: str | None,
    starts_at: datetime | None,
    ends_at: datetime | None,
    components: tuple[str, ...],
    as_json: bool,
) -> None:
    """Post a public update, or change status, title, window or components."""
    m = state.crashbot().update_maintenance(
        maintenance_id,
        actor=state.actor(),
        message=message,
        status=status,
        title=title,
        starts_at=starts_at,
        ends_at=ends_at,
        components=components or None,
    )
    _done(m, "updated", as_json)


def _step(name: str, verb: str, setting: str, help_text: str) -> click.Command:
    @click.argument("maintenance_id", metavar="ID")
    @click.option("--message", "-m", help=f"The public update (default: [maintenance] {setting}).")
    @json_option
    @pass_state
    def command(state: CliState, maintenance_id: str, message: str | None, as_json: bool) -> None:
        method = getattr(state.crashbot(), f"{name}_maintenance")
        _done(method(maintenance_id, actor=state.actor(), message=message), verb, as_json)

    return click.command(name, help=help_text)(command)


for _name, _verb, _setting, _help in (
    ("start", "started", "start_message", "Start a scheduled maintenance now (before its time)."),
    (
        "complete",
        "completed",
        "complete_message",
        "Complete a maintenance in progress or verifying.",
    ),
    ("cancel", "cancelled", "cancel_message", "Cancel a maintenance that has not started."),
):
    maintenance.add_command(_step(_name, _verb, _setting, _help))


def register(group: click.Group) -> None:
    """Add ``crashbot maintenance`` to the CLI."""
    group.add_command(maintenance)
