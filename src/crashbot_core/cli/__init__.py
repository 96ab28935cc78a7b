"""The ``crashbot`` command line (click).

Exit codes: 0 on success, 1 with a one-line reason on a domain or config
error (no such incident, illegal transition, bad setting) or any other
failure (an unwritable database), 2 on usage errors. With ``--json`` the
error is a JSON object on standard output, shaped as the HTTP API's:
``{"error": code, "reason": message}``. Plugins add commands through the
``crashbot_cli`` hook.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click
import pluggy

from crashbot_core.cli import (
    admin,
    follow_ups,
    incidents,
    maintenance,
    postmortem,
    record,
    reports,
    transfer,
)
from crashbot_core.cli.common import (
    DEBUG_ENV,
    JSON_KEY,
    USER_ENV,
    CliState,
    echo_json,
    exit_with_error,
    json_option,
    pass_state,
    printable,
    table,
    wants_json,
)
from crashbot_core.errors import CrashbotError
from crashbot_core.plugins import get_plugin_manager

__all__ = [
    "CliState",
    "build_cli",
    "echo_json",
    "exit_with_error",
    "json_option",
    "main",
    "pass_state",
    "printable",
    "table",
]


class CrashbotGroup(click.Group):
    """The top-level group: every failure becomes one line (or JSON) and an exit status.

    Domain errors and unexpected failures (a read-only database file, a
    server gone away) exit 1; usage errors exit 2 with click's usage message,
    or with ``--json`` as ``{"error": "usage_error", "reason": …}``.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Note whether the command asks for JSON, so even usage errors answer in it."""
        ctx.meta[JSON_KEY] = wants_json(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, turning :class:`CrashbotError` and surprises into exit 1."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except click.ClickException as exc:
            if not ctx.meta.get(JSON_KEY):
                raise
            code = "usage_error" if isinstance(exc, click.UsageError) else "error"
            exit_with_error(ctx, code, exc.format_message(), exc.exit_code)
        except CrashbotError as exc:
            exit_with_error(ctx, exc.code, exc.message, 1)
        except BrokenPipeError:
            # The reader went away (``crashbot show 1 | head``): nothing to tell it.
            # Python would fail again flushing stdout at exit; point it at devnull.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(1)
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            # Not a bug report for the user to read: what failed, in one line.
            first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
            name = type(exc).__name__
            reason = first if name in first else f"{name}: {first}" if first else name
            state = ctx.find_object(CliState)
            database = state.failed_store(exc) if state is not None else None
            if database is not None:
                # A read-only file, a server gone away: the deployment to fix, not a bug.
                exit_with_error(ctx, "store_error", f"database {database!r}: {reason}", 1)
            exit_with_error(
                ctx, "internal_error", f"{reason} (set {DEBUG_ENV}=1 for the traceback)", 1
            )
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

    for module in (
        admin,
        incidents,
        record,
        follow_ups,
        reports,
        postmortem,
        transfer,
        maintenance,
    ):
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
