"""``crashbot postmortem ID [--to markdown|confluence|github] [--out FILE]``."""

from __future__ import annotations

import click

from crashbot_core.cli.common import CliState, echo_json, json_option, pass_state, printable
from crashbot_core.cli.params import INCIDENT_ID
from crashbot_core.postmortem import postmortem_text


@click.command()
@click.argument("incident_id", metavar="ID", type=INCIDENT_ID)
@click.option(
    "--to",
    "to",
    default=None,
    metavar="EXPORTER",
    help="Publish with this exporter: markdown, confluence, github or any installed "
    "plugin's. Without --to (and --out), the Markdown document is printed.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    help="File to write (file exporters such as markdown); default: the configured folder.",
)
@json_option
@pass_state
def postmortem(
    state: CliState, incident_id: str, to: str | None, out: str | None, as_json: bool
) -> None:
    """Print an incident's postmortem in Markdown, or publish it with --to.

    Printing publishes and records nothing. Publishing prints where the
    document now lives, and a resolved incident without an RCA link gets the
    published URL as its RCA. ``--out FILE`` alone writes the Markdown file.
    """
    bot = state.crashbot()
    if to is None and out is None and not as_json:
        # Markdown needs no credentials, so it is the default; and on stdout it
        # can be piped or redirected without configuring a folder.
        text = printable(postmortem_text(bot, incident_id, actor=state.actor()), multiline=True)
        click.echo(text, nl=not text.endswith("\n"))
        return
    to = to or "markdown"
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
