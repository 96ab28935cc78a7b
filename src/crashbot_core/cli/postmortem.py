"""``crashbot postmortem ID --to markdown|confluence|github [--out FILE]``."""

from __future__ import annotations

import click

from crashbot_core.cli.common import CliState, echo_json, json_option, pass_state, printable
from crashbot_core.cli.params import INCIDENT_ID


@click.command()
@click.argument("incident_id", metavar="ID", type=INCIDENT_ID)
@click.option(
    "--to",
    "to",
    required=True,
    metavar="EXPORTER",
    help="Exporter: markdown, confluence, github or any installed plugin's.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    help="File to write (file exporters such as markdown); default: the configured folder.",
)
@json_option
@pass_state
def postmortem(state: CliState, incident_id: str, to: str, out: str | None, as_json: bool) -> None:
    """Publish an incident's postmortem and print where it now lives.

    A resolved incident without an RCA link gets the published URL as its RCA.
    """
    bot = state.crashbot()
    location = bot.export_postmortem(incident_id, to, actor=state.actor(), out=out)
    incident = bot.get(incident_id)
    if as_json:
        echo_json(
            {
                "incident": incident.ref,
                "exporter": to,
                "location": location,
                "rca_url": incident.rca_url,
            }
        )
    else:
        click.echo(f"{incident.ref} postmortem exported to {printable(to)}: {printable(location)}")


def register(group: click.Group) -> None:
    """Add this command to the CLI."""
    group.add_command(postmortem)
