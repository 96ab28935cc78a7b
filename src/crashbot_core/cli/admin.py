"""Setup and operations: init, db upgrade, plugins, deliveries, worker."""

from __future__ import annotations

import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

import click

from crashbot_core import logs
from crashbot_core.cli.common import CliState, echo_json, json_option, pass_state, table
from crashbot_core.config import DEFAULT_CONFIG_FILE
from crashbot_core.errors import ConfigError
from crashbot_core.plugins import hook_names
from crashbot_core.serialize import delivery_dict, iso
from crashbot_core.store import Backups, IncidentFilter

CONFIG_TEMPLATE = """\
# crashbot.toml — written by `crashbot init`. Every setting is optional.
# Secrets and deployment settings come from the environment and override
# this file: CRASHBOT_DATABASE_URL, CRASHBOT_API_TOKEN, SLACK_BOT_TOKEN, ...

[crashbot]
# name = "Acme"                          # shown on the status page
# database_url = "sqlite:///crashbot.db" # or postgresql+psycopg://user@host/db
# ref_prefix = "INC"                     # incidents are INC-1, INC-2, ...
# default_severity = "SEV4"
# stale_after = "7d"                     # remind about incidents open this long
# rca_due_after = "48h"                  # remind about a missing RCA link
# delivery_retry_horizon = "24h"         # then a failing chat delivery is given up (dead)

# Severity levels: override fields of the built-in SEV1..SEV4, or add levels.
# [severity.SEV1]
# respond_within = "5m"        # or "next business day"
# first_update = "30m"
# update_every = "25m"
# postmortem = "required"      # required | optional | none
# public = true
# impact = "major_outage"      # degraded_performance | partial_outage | major_outage

# Roles: commander (ic), communications (cl), technical-lead (tl), scribe.
# [roles.commander]
# description = "You lead the response..."

# Components shown on the status page.
# [components.api]
# name = "API"
# group = "Core"

# The status site and `crashbot serve`.
# [status]
# public_url = "https://status.example.com"   # every absolute link; CRASHBOT_PUBLIC_URL
# trusted_proxies = ["127.0.0.1"]             # believe their X-Forwarded-* headers
# log_format = "text"                         # or "json"
"""


@click.command()
@click.option("--force", is_flag=True, help="Overwrite an existing crashbot.toml.")
@click.pass_context
def init(ctx: click.Context, force: bool) -> None:
    """Write a commented crashbot.toml and create the database."""
    state: CliState = ctx.ensure_object(CliState)
    path = Path(state.config_path or DEFAULT_CONFIG_FILE)
    if path.exists() and not force:
        click.echo(f"{path} exists; keeping it (use --force to overwrite)")
    else:
        path.write_text(CONFIG_TEMPLATE, encoding="utf-8")
        click.echo(f"wrote {path}")
    state.config_path = str(path)
    bot = state.crashbot()
    held = bot.store.count_incidents(IncidentFilter())
    if held:
        # Not a fresh start: say so before someone "initialises" production.
        click.echo(
            f"database at {bot.config.database_url} already holds {held} incident"
            f"{'' if held == 1 else 's'}; nothing in it was changed"
        )
        click.echo("next: crashbot list --open")
        return
    click.echo(f"database ready at {bot.config.database_url}")
    click.echo('next: crashbot declare "Something is broken" --severity SEV2')


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@pass_state
def upgrade(state: CliState) -> None:
    """Apply database migrations and say which (``serve`` and the other commands do it too).

    A database upgraded by a newer crashbot is refused, by this and by
    every other command, with the revision found and what to do.
    """
    bot = state.crashbot()
    if bot.capabilities.migrations is None:
        click.echo(f"store {bot.capabilities.store_name} has no schema migrations: nothing to do")
        return
    click.echo(bot.capabilities.migrations.upgrade().describe())


def _backups(state: CliState) -> Backups:
    bot = state.crashbot()
    if bot.capabilities.backups is None:
        raise ConfigError(
            f"store {bot.capabilities.store_name} cannot back itself up; use its own tools"
        )
    return bot.capabilities.backups


def _rows(rows: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in rows.items() if n) or "no rows"


@db.command()
@click.argument("file", type=click.Path(dir_okay=False))
@pass_state
def backup(state: CliState, file: str) -> None:
    """Copy the database to a new FILE, consistently, while the server keeps writing.

    SQLite uses its online backup API. For PostgreSQL the command prints the
    pg_dump line to run instead.
    """
    done = _backups(state).backup(file)
    click.echo(f"backed up to {done.path} at schema revision {done.revision}: {_rows(done.rows)}")


@db.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace a database that holds data.")
@pass_state
def restore(state: CliState, file: str, force: bool) -> None:
    """Replace the database with the backup in FILE, then upgrade it to this version's schema.

    Refuses a database that holds data unless --force, and a backup written
    by a newer crashbot. Stop ``crashbot serve`` and workers first. For
    PostgreSQL the command prints the pg_restore line to run instead.
    """
    done = _backups(state).restore(file, force=force)
    click.echo(
        f"restored {done.path} (schema revision {done.revision}, now {done.upgraded_to}): "
        f"{_rows(done.rows)}"
    )


@click.command()
@json_option
@pass_state
def plugins(state: CliState, as_json: bool) -> None:
    """List plugins, their versions and the hooks they implement."""
    pm = state.pm
    dists = getattr(pm, "distributions", {})
    rows = []
    disabled: list[str] = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda np: np[0]):
        if plugin is None:  # pluggy keeps blocked names with no plugin
            disabled.append(name)
            continue
        dist = dists.get(name)
        version = f"{dist.metadata['Name']} {dist.version}" if dist else "—"
        rows.append({"name": name, "distribution": version, "hooks": hook_names(pm, plugin)})
    unavailable = [{"name": u.name, "reason": u.reason} for u in getattr(pm, "unavailable", [])]
    if as_json:
        echo_json({"plugins": rows, "unavailable": unavailable, "disabled": disabled})
        return
    click.echo(
        table(
            [(r["name"], r["distribution"], ", ".join(r["hooks"])) for r in rows],
            ["PLUGIN", "FROM", "HOOKS"],
        )
    )
    for u in unavailable:
        click.echo(f"not loaded: {u['name']} ({u['reason']})")
    for name in disabled:
        click.echo(f"disabled: {name} (CRASHBOT_DISABLED_PLUGINS)")


@click.command()
@click.option("--failed", is_flag=True, help="Only failed and abandoned deliveries.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
@pass_state
def deliveries(state: CliState, failed: bool, limit: int, as_json: bool) -> None:
    """Event deliveries to plugins and their retries."""
    items = state.crashbot().deliveries(failed_only=failed, limit=limit)
    if as_json:
        echo_json([delivery_dict(d) for d in items])
        return
    if not items:
        click.echo("no failed deliveries" if failed else "no deliveries")
        return
    rows = [
        (
            d.event_id,
            d.incident_id,
            d.plugin,
            d.state.value,
            d.attempts,
            iso(d.next_attempt_at) or "—",
            (d.last_error or "")[:60],
        )
        for d in items
    ]
    click.echo(
        table(
            rows, ["EVENT", "INCIDENT", "PLUGIN", "STATE", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR"]
        )
    )


@click.command()
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=15.0,
    show_default=True,
    help="Seconds between rounds.",
)
@click.option("--once", is_flag=True, help="Run one round and exit.")
@click.option(
    "--lease",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds a claimed delivery or reminder stays ours (default 120); "
    "a dead worker's claims are taken over after this long.",
)
@pass_state
def worker(state: CliState, interval: float, once: bool, lease: float | None) -> None:
    """Send due reminders and deliver or retry outbox events.

    Run as many as you like against one PostgreSQL database: each reminder
    fires once and each delivery succeeds once. SIGTERM lets the item in
    progress finish and hands the rest back for another worker.
    """
    from datetime import timedelta

    from crashbot_core.worker import Worker

    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        click.echo("stopping: finishing the delivery in progress", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    bot = state.crashbot()
    logs.configure_from(bot.config.logging, long_running=True)
    if lease is not None:
        bot.lease = timedelta(seconds=lease)
    w = Worker(bot, interval=interval)
    try:
        if once:
            result = w.run_once(stop)
            click.echo(f"reminders sent: {result.reminders}, deliveries made: {result.deliveries}")
            return
        click.echo(f"worker {bot.instance_id} running every {interval:g}s", err=True)
        w.run(stop)
    finally:
        bot.close()


def register(group: click.Group) -> None:
    """Add these commands to the CLI."""
    for command in (init, db, plugins, deliveries, worker):
        group.add_command(command)
