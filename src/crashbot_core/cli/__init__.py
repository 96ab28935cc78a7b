"""The ``crashbot`` command line (click).

Exit codes: 0 on success, 1 with a one-line reason on a domain or config
error (no such incident, illegal transition, bad setting), 2 on usage errors.
Plugins add commands through the ``crashbot_cli`` hook.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
import pluggy

from crashbot_core.errors import CrashbotError
from crashbot_core.models import Actor
from crashbot_core.plugins import get_plugin_manager
from crashbot_core.service import Crashbot

F = TypeVar("F", bound=Callable[..., Any])

#: Who the CLI acts as when ``--as`` is not given.
USER_ENV = "CRASHBOT_USER"


class CliState:
    """Shared by every command: the plugin manager, the config path and a lazily built service."""

    def __init__(self, pm: pluggy.PluginManager, config_path: str | None, user: str | None) -> None:
        self.pm = pm
        self.config_path = config_path
        self.user = user
        self._bot: Crashbot | None = None

    def crashbot(self) -> Crashbot:
        """The service, built on first use (so ``--help`` never touches the database)."""
        if self._bot is None:
            self._bot = Crashbot.from_config(self.config_path, pm=self.pm)
        return self._bot

    def actor(self) -> Actor:
        """The person running the command."""
        name = self.user or os.environ.get(USER_ENV) or _login_name()
        return Actor(platform="cli", id=name, name=name)

    def close(self) -> None:
        """Close the service if it was built."""
        if self._bot is not None:
            self._bot.close()
            self._bot = None


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


pass_state = click.make_pass_decorator(CliState)


def json_option(f: F) -> F:
    """``--json``: machine-readable output."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


def echo_json(data: Any) -> None:
    """Print data as indented JSON."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain-text table with aligned columns."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class CrashbotGroup(click.Group):
    """The top-level group: turns domain errors into one line and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a :class:`CrashbotError` prints ``error: …`` and exits 1."""
        try:
            return super().invoke(ctx)
        except CrashbotError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(1)
        finally:
            state = ctx.find_object(CliState)
            if state is not None:
                state.close()


def build_cli(pm: pluggy.PluginManager | None = None) -> click.Group:
    """The ``crashbot`` group with core commands and every plugin's ``crashbot_cli`` commands."""
    pm = pm or get_plugin_manager()

    @click.group(cls=CrashbotGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        envvar="CRASHBOT_CONFIG",
        help="Path to crashbot.toml (default: ./crashbot.toml if present).",
    )
    @click.option(
        "--as",
        "user",
        metavar="NAME",
        help=f"Act as this user (default: ${USER_ENV} or your login).",
    )
    @click.version_option(package_name="crashbot", prog_name="crashbot")
    @click.pass_context
    def cli(ctx: click.Context, config_path: str | None, user: str | None) -> None:
        """Declare, run and resolve incidents; serve the status page."""
        ctx.obj = CliState(pm, config_path, user)

    from crashbot_core.cli import admin, follow_ups, incidents, postmortem, reports

    for module in (admin, incidents, follow_ups, reports, postmortem):
        module.register(cli)
    pm.hook.crashbot_cli(group=cli)
    return cli


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli = build_cli()
    except CrashbotError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    cli.main(args=list(argv) if argv is not None else None, prog_name="crashbot")
