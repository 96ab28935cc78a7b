"""``crashbot import csv FILE`` and ``crashbot export jsonl``.

``crashbot import statuspage URL_OR_FILE`` joins the ``import`` group from the
status plugin, which reads Statuspage's JSON.
"""

from __future__ import annotations

import json
from typing import IO

import click

from crashbot_core.cli.common import CliState, echo_json, json_option, pass_state
from crashbot_core.csv_import import read_csv
from crashbot_core.transfer import ImportResult


def report(result: ImportResult, as_json: bool) -> None:
    """Print what an import did."""
    if as_json:
        echo_json(
            {
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "components": result.components,
            }
        )
    else:
        click.echo(result.describe())


@click.group("import")
def import_group() -> None:
    """Import incident history (idempotent: importing again changes nothing)."""


@import_group.command("csv")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@json_option
@pass_state
def import_csv(state: CliState, file: IO[str], as_json: bool) -> None:
    """Import incidents from a spreadsheet saved as CSV (FILE, or - for standard input).

    Columns: title and started_at (required); id, severity, status,
    declared_at, acknowledged_at, mitigated_at, resolved_at, components,
    description, public, rca_url. See docs/import-export.md.
    """
    bot = state.crashbot()
    # Every row is checked before the first is written: a bad row imports nothing.
    incidents = list(read_csv(file, default_severity=bot.policy.default_level.key))
    report(bot.import_incidents(incidents, source="csv"), as_json)


@click.group("export")
def export_group() -> None:
    """Export what the store holds."""


@export_group.command("jsonl")
@click.option(
    "--out",
    type=click.File("w", encoding="utf-8", lazy=True),
    default="-",
    show_default=True,
    help="File to write; - is standard output.",
)
@pass_state
def export_jsonl(state: CliState, out: IO[str]) -> None:
    """Write everything as JSON Lines: one object per line with a "type" field.

    Components, incidents, events, follow-ups, alerts attached to incidents
    and API tokens (names and scopes, never their hashes); private incidents
    and internal events included. See docs/import-export.md.
    """
    for record in state.crashbot().export_records():
        out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")


def register(group: click.Group) -> None:
    """Add these commands to the CLI."""
    group.add_command(import_group)
    group.add_command(export_group)
